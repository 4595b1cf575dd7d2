"""GPU energy from NVML's total-energy counter (millijoules since driver load; Volta and newer).

Absent NVML, GPU or counter support → :attr:`EnergyMeter.available` is False, readings are None and
:attr:`reason` says why. Energy is never estimated.
"""
from __future__ import annotations


class EnergyMeter:
    def __init__(self, gpu_index: int | None):
        self.available = False
        self.reason = None
        self._handle = None
        self._nvml = None
        if gpu_index is None:
            self.reason = "no GPU: NVML energy counter not applicable"
            return
        try:
            import pynvml
        except ImportError:
            self.reason = "nvidia-ml-py not installed (pip install 'mpbench[energy]')"
            return
        try:
            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(gpu_index)
            pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
            self._nvml = pynvml
            self.available = True
        except Exception as e:  # NVMLError subclasses: not supported, no driver, ...
            self.reason = f"NVML energy counter unavailable: {e}"

    def read_joules(self) -> float | None:
        if not self.available:
            return None
        return self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1000.0

    def describe(self) -> dict:
        return {"available": self.available, "reason": self.reason, "source": "nvml_total_energy"}
