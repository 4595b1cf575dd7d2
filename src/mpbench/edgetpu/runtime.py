"""Edge TPU inference through the LiteRT interpreter with the libedgetpu delegate."""
from __future__ import annotations

import platform

DELEGATE_LIB = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}[platform.system()]
RUNTIME_HELP = (f"the Edge TPU runtime ({DELEGATE_LIB}, Debian package libedgetpu1-std from Coral's repository) "
                "is not installed or no Coral device is attached")


class EdgeTPUUnavailable(RuntimeError):
    pass


def load_delegate():
    """The libedgetpu delegate, or :class:`EdgeTPUUnavailable` saying what is missing."""
    from ai_edge_litert.interpreter import load_delegate as _load
    try:
        return _load(DELEGATE_LIB)
    except (ValueError, OSError, RuntimeError) as e:
        raise EdgeTPUUnavailable(f"{RUNTIME_HELP}: {e}") from e
