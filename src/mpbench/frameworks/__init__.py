"""What each framework provides to every stage: one runtime per framework, described by :class:`Runtime`.

A runtime sets up threads, device and precision for one :class:`~mpbench.settings.RunSettings`,
moves uint8 frames to the device normalised (data.normalisation), synchronises the device, recognises
out-of-memory errors, reports peak memory, builds/saves/loads the U-Net and gives a compiled predict.
The training backends, the inference runners and the benchmarks all go through it; quantization
(CPU-only Keras work) uses :func:`keras_runtime.cpu_only`.
"""
from __future__ import annotations

from typing import Any, Protocol

from .table import FRAMEWORKS, Framework


class Runtime(Protocol):
    gpu_index: int | None

    def to_device(self, images, masks=None, device=None) -> Any: ...
    def batch_to_device(self, x) -> Any: ...
    def sync(self) -> None: ...
    def is_oom(self, exc: BaseException) -> bool: ...
    def reset_peak_memory(self) -> None: ...
    def peak_memory_bytes(self) -> int | None: ...
    def save_model(self, model, path) -> None: ...
    def load_model(self, path) -> Any: ...
    def predictor(self, model): ...


def runtime(settings) -> Runtime:
    """The runtime of ``settings.framework``, set up for its device and precision."""
    if settings.framework == "pytorch":
        from .torch_runtime import TorchRuntime
        return TorchRuntime(settings)
    from .keras_runtime import KerasRuntime
    return KerasRuntime(settings)


def says_out_of_memory(exc: BaseException) -> bool:
    return "out of memory" in str(exc).lower()


def host_peak_memory_bytes() -> int:
    """Peak resident memory of this process (CPU runs)."""
    import resource
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


__all__ = ["FRAMEWORKS", "Framework", "Runtime", "runtime", "says_out_of_memory", "host_peak_memory_bytes"]
