"""GPU energy and state from NVML.

:class:`EnergyMeter` reads NVML's total-energy counter (millijoules since driver load; Volta and
newer). :func:`gpu_state` reads what sets a GPU's speed and power at one moment: power limit, SM and
memory clocks, temperature — read at the start and end of a job, so a throttled or power-capped run
shows in its record.

Absent NVML, GPU or counter support → :attr:`EnergyMeter.available` is False, readings are None and
:attr:`reason` says why; :func:`gpu_state` likewise gives None values and the reason. Energy is never
estimated.
"""
from __future__ import annotations

from datetime import UTC, datetime

INSTALL_HINT = "nvidia-ml-py not installed (pip install 'mpbench[energy]')"


def open_gpu(gpu_index: int | None):
    """``(pynvml, handle, None)`` for GPU ``gpu_index``, or ``(None, None, reason)`` where NVML or the GPU
    is not there (NVML initialised; its init is reference-counted, so every caller may open it)."""
    if gpu_index is None:
        return None, None, "no GPU: NVML not applicable"
    try:
        import pynvml
    except ImportError:
        return None, None, INSTALL_HINT
    try:
        pynvml.nvmlInit()
        return pynvml, pynvml.nvmlDeviceGetHandleByIndex(gpu_index), None
    except Exception as e:  # NVMLError subclasses: no driver, no such GPU, ...
        return None, None, f"NVML unavailable for GPU {gpu_index}: {e}"


class EnergyMeter:
    def __init__(self, gpu_index: int | None):
        self.available = False
        self.reason = None
        self._handle = None
        self._nvml = None
        if gpu_index is None:
            self.reason = "no GPU: NVML energy counter not applicable"
            return
        nvml, handle, why = open_gpu(gpu_index)
        if nvml is None:
            self.reason = why
            return
        try:
            nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        except Exception as e:  # NVMLError_NotSupported before Volta, ...
            self.reason = f"NVML energy counter unavailable: {e}"
            return
        self._nvml, self._handle, self.available = nvml, handle, True

    def read_joules(self) -> float | None:
        if not self.available:
            return None
        return self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1000.0

    def describe(self) -> dict:
        return {"available": self.available, "reason": self.reason, "source": "nvml_total_energy"}


# field → (NVML call, scale to the unit in the field's name); every call takes the handle first
def _state_fields(nvml) -> dict:
    return {
        "power_limit_w": (lambda h: nvml.nvmlDeviceGetPowerManagementLimit(h), 1e-3),       # mW
        "enforced_power_limit_w": (lambda h: nvml.nvmlDeviceGetEnforcedPowerLimit(h), 1e-3),
        "power_w": (lambda h: nvml.nvmlDeviceGetPowerUsage(h), 1e-3),
        "sm_clock_mhz": (lambda h: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM), 1),
        "memory_clock_mhz": (lambda h: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_MEM), 1),
        "temperature_c": (lambda h: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU), 1),
    }


STATE_FIELDS = ("power_limit_w", "enforced_power_limit_w", "power_w", "sm_clock_mhz", "memory_clock_mhz",
                "temperature_c")


def gpu_state(gpu_index: int | None) -> dict:
    """The GPU's power limit (configured and enforced, W), power draw (W), SM and memory clocks (MHz) and
    temperature (°C) now, with the time read (``at``, UTC). A field the GPU does not report is None and
    ``unread`` names it with NVML's reason; without NVML or a GPU every field is None and ``reason`` says
    why."""
    out = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **dict.fromkeys(STATE_FIELDS), "reason": None}
    nvml, handle, why = open_gpu(gpu_index)
    if nvml is None:
        out["reason"] = why
        return out
    unread = {}
    for name, (call, scale) in _state_fields(nvml).items():
        try:
            out[name] = float(call(handle)) * scale
        except Exception as e:  # NVMLError_NotSupported on some boards (e.g. clocks under MIG)
            unread[name] = str(e)
    if unread:
        out["unread"] = unread
    return out
