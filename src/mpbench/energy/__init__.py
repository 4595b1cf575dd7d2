"""Energy: GPU joules and state from NVML (:mod:`.nvml`), CPU package and DRAM joules from powercap
counters (:mod:`.powercap`), energy and time to train and to a target IoU (:mod:`.target`), and grams
of CO2 from measured kWh (:mod:`.co2`). Energy is measured or absent (None, with the reason), never
estimated.
"""
from .nvml import EnergyMeter, gpu_state
from .powercap import PowercapMeter

__all__ = ["EnergyMeter", "PowercapMeter", "gpu_state"]
