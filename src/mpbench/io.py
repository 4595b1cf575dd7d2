"""Files: atomic writes (a file under its final name is always complete), and errors that name the file.

A write that fails (disk full, quota, I/O error, or a writer such as ``torch.save`` reporting it as
``unexpected pos``) raises :class:`WriteError` naming the file and the free space there; its partial
temporary file is removed. A file that exists but cannot be read raises :class:`DamagedFileError`
(from :func:`damaged`) naming the file and the rule that writes it again.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

# What a writer says when the disk filled up under it (torch's zip writer does not raise OSError) …
_DISK_FULL_TEXT = ("no space left", "unexpected pos", "disk quota", "file write failed")
# … and what marks a RuntimeError as a failed write at all (others, e.g. a plotting error, pass through).
_WRITE_FAILED_TEXT = (*_DISK_FULL_TEXT, "pytorchstreamwriter", "inline_container", "input/output error")


class WriteError(OSError):
    """Writing a file failed; the message names the file, the free space there and the fix."""


class DamagedFileError(RuntimeError):
    """A file exists but cannot be read; the message names it and the job that writes it again."""


def first_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message`` (for messages and records)."""
    lines = str(exc).splitlines()
    return f"{type(exc).__name__}: {(lines[0] if lines else '')[:limit]}"


def free_space(path: str | Path) -> str:
    """``'1.2 GiB free of 20.0 GiB on /mount/point'`` for the filesystem holding ``path`` (or its parent)."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        du = shutil.disk_usage(p)
    except OSError as e:
        return f"free space unknown ({e})"
    return f"{_size(du.free)} free of {_size(du.total)} there"


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or quota) is full: ENOSPC/EDQUOT, or a writer's text for it."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return any(t in str(exc).lower() for t in _DISK_FULL_TEXT)


def write_error(path: str | Path, exc: BaseException) -> WriteError:
    """One message for any failed write of ``path``: what the writer said, the free space, the fix."""
    hint = ("the disk is full: free space there (or set results_dir to a larger disk) and rerun"
            if disk_full(exc) else "check that the folder is writable and the disk healthy, then rerun")
    err = WriteError(f"could not write {path} ({first_line(exc)}); {free_space(path)}; {hint}. "
                     "Nothing was left under that name.")
    if isinstance(exc, OSError):
        err.errno = exc.errno
    return err


def damaged(path: str | Path, exc: BaseException, what: str, rule: str) -> DamagedFileError:
    """The error for a ``what`` file at ``path`` that exists but does not load (``exc``)."""
    return DamagedFileError(
        f"{path} is damaged: it exists ({Path(path).stat().st_size} bytes) but does not load as {what} "
        f"({first_line(exc)}). Delete it and rerun snakemake: its job (rule {rule}) writes it again.")


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    An ``OSError`` in the block, or a ``RuntimeError`` that reports a failed write (torch's "unexpected
    pos", "file write failed"), becomes a :class:`WriteError` naming ``path`` and the free space; the
    temporary file is removed either way.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(path, e) from e
    base, dot, rest = path.name.partition(".")
    # Keep every suffix (Keras insists on ".keras"; np.savez would append ".npz" to a name without it).
    tmp = path.with_name(f".{base}.{os.getpid()}.tmp{dot}{rest}")
    try:
        yield tmp
        os.replace(tmp, path)
    except WriteError:
        raise
    except OSError as e:
        raise write_error(path, e) from e
    except RuntimeError as e:
        if not any(t in str(e).lower() for t in _WRITE_FAILED_TEXT):
            raise
        raise write_error(path, e) from e
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())


def _jsonable(o):
    try:
        import numpy as np
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
