"""Everything the doctor reads off this machine, without crashing when a framework, NVML, SLURM or
the Edge TPU tools are absent: the CPU (model, cores, the features that decide low-precision speed),
per framework what it sees (measured in a time-boxed child process, :mod:`.probe`, or with
``quick=True`` inferred from the installed packages), NVML, the SLURM client, ``edgetpu_compiler``,
``libedgetpu`` and a Coral device. :func:`collect` gathers them for :mod:`.findings` and :mod:`.report`.
"""
from __future__ import annotations

import ctypes.util
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import probe, support

PROBE_MODULE = "mpbench.preflight.probe"
PROBE_TIMEOUT_S = 90
MODULES = {"pytorch": "torch", "tensorflow": "tensorflow"}
CORAL_USB_IDS = {("1a6e", "089a"), ("18d1", "9302")}     # Coral USB Accelerator before/after its firmware loads


# --------------------------------------------------------------------------- the CPU

def cpu_info(cpuinfo: str | None = None) -> dict:
    """Model, architecture, cores and feature flags (``/proc/cpuinfo`` on Linux; ``cpuinfo`` for tests)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    fields = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    return {"model": fields.get("model name") or fields.get("Model") or platform.processor() or "unknown",
            "arch": platform.machine(), "cores": os.cpu_count() or 1, "flags": sorted(flags)}


def cpu_precision_support(flags) -> dict:
    """Whether bf16 and fp16 convolutions can run natively on a CPU with these flags (x86 or Arm):
    ``{fmt: (native | converted | emulated, why)}``, an expectation (the full doctor measures); the
    one table is :func:`mpbench.preflight.support.cpu_level_from_flags`, which also labels the result records."""
    return {fmt: support.cpu_level_from_flags(flags, fmt) for fmt in support.LOW_FORMATS}


# --------------------------------------------------------------------------- the frameworks

def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def framework_packages(name: str) -> dict:
    """What is installed for a framework, read from package metadata (no import)."""
    module = MODULES[name]
    info = {"installed": importlib.util.find_spec(module) is not None,
            "version": _dist_version("torch" if name == "pytorch" else "tensorflow")}
    if name == "pytorch":
        info["cpu_only_build"] = bool(info["version"] and "+cpu" in info["version"])
    else:   # pip's GPU TensorFlow is tensorflow[and-cuda]: the NVIDIA libraries come as nvidia-* packages
        info["cuda_libraries"] = _dist_version("nvidia-cudnn-cu12") is not None
    return info


def probe_command(name: str) -> list[str]:
    """The child process that probes a framework (:mod:`.probe`)."""
    return [sys.executable, "-m", PROBE_MODULE, name]


def probe_framework(name: str, timeout_s: float = PROBE_TIMEOUT_S) -> dict:
    """Import the framework in a subprocess (at most ``timeout_s``) and report what it sees."""
    info = framework_packages(name)
    if not info["installed"]:
        return {**info, "error": "not installed"}
    env = {**os.environ, "CUDA_DEVICE_ORDER": os.environ.get("CUDA_DEVICE_ORDER", "PCI_BUS_ID")}
    try:
        run = subprocess.run(probe_command(name), capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return {**info, "error": f"no answer within {timeout_s:.0f} s (import or probe hung)"}
    line = next((x for x in run.stdout.splitlines() if x.startswith(probe.MARKER)), None)
    if line is None:
        tail = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return {**info, "error": f"probe failed (exit {run.returncode}): {tail[:300]}"}
    return {**info, **json.loads(line[len(probe.MARKER):])}


# --------------------------------------------------------------------------- NVML, SLURM, Edge TPU

def nvml_info() -> dict:
    """GPUs NVML sees and whether their energy counter works; never raises."""
    try:
        import pynvml
    except ImportError:
        smi = shutil.which("nvidia-smi")
        return {"available": False, "gpus": [], "nvidia_smi": smi,
                "reason": "nvidia-ml-py not installed (the energy extra; part of the cluster install line)"}
    try:
        pynvml.nvmlInit()
    except Exception as e:          # NVMLError: no driver, no library
        return {"available": False, "gpus": [], "reason": f"NVML not usable: {e}"}
    gpus = []
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            gpu = {"name": name.decode() if isinstance(name, bytes) else name,
                   "memory_gb": round(pynvml.nvmlDeviceGetMemoryInfo(h).total / 2**30, 1)}
            try:
                gpu["cc"] = list(pynvml.nvmlDeviceGetCudaComputeCapability(h))
            except Exception:
                pass
            try:
                pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
                gpu["energy"] = True
            except Exception:
                gpu["energy"] = False
            gpus.append(gpu)
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass
    energy = any(g.get("energy") for g in gpus)
    return {"available": True, "driver": driver if isinstance(driver, str) else driver.decode(), "gpus": gpus,
            "energy": energy, "reason": None if energy else "no GPU with NVML's energy counter (Volta or newer)"}


def slurm_info() -> dict:
    """The SLURM client: sbatch, its version (it needs a cluster configuration to answer), and the plugin."""
    sbatch = shutil.which("sbatch")
    version = problem = None
    if sbatch:
        try:
            run = subprocess.run([sbatch, "--version"], capture_output=True, text=True, timeout=5)
            version = run.stdout.strip() or None
            if run.returncode:
                problem = (run.stderr.strip().splitlines() or ["no answer"])[-1]
        except (OSError, subprocess.TimeoutExpired) as e:
            problem = str(e)
    return {"sbatch": sbatch, "version": version, "problem": problem, "in_job": os.environ.get("SLURM_JOB_ID"),
            "plugin": importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None}


def coral_devices() -> list[str]:
    """Coral Edge TPUs attached: USB accelerators (by vendor:product id) and PCIe/M.2 ones (/dev/apex_*)."""
    found = []
    for dev in Path("/sys/bus/usb/devices").glob("*"):
        try:
            ids = ((dev / "idVendor").read_text().strip(), (dev / "idProduct").read_text().strip())
        except OSError:
            continue
        if ids in CORAL_USB_IDS:
            found.append(f"USB {ids[0]}:{ids[1]}")
    found += sorted(str(p) for p in Path("/dev").glob("apex_*"))
    return found


def edgetpu_info(compiler: str = "edgetpu_compiler") -> dict:
    from ..edgetpu.compiler import find_compiler
    lib = ctypes.util.find_library("edgetpu")
    if lib is None:
        for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/local/lib"):
            if (Path(d) / "libedgetpu.so.1").exists():
                lib = str(Path(d) / "libedgetpu.so.1")
                break
    return {"compiler": find_compiler(compiler), "libedgetpu": lib, "devices": coral_devices()}


def packages() -> dict:
    spec = lambda m: importlib.util.find_spec(m) is not None  # noqa: E731
    return {"qat": spec("tensorflow_model_optimization") and spec("tf_keras"), "apex": spec("apex"),
            "litert": spec("ai_edge_litert"), "edge_torch": spec("litert_torch") and spec("ai_edge_quantizer")}


def collect(config: dict | None = None, quick: bool = False, timeout_s: float = PROBE_TIMEOUT_S) -> dict:
    """Every fact the report shows. ``quick``: no framework import (inferred from packages and CPU flags)."""
    cpu = cpu_info()
    cpu["isa_limits"] = support.isa_limits()     # e.g. ONEDNN_MAX_CPU_ISA=AVX: the frameworks see a smaller CPU
    facts = {"cpu": cpu, "cpu_support": cpu_precision_support(support.effective_flags(cpu["flags"])), "quick": quick}
    names = list(MODULES)
    if quick:
        facts["frameworks"] = {n: framework_packages(n) for n in names}
    else:
        with ThreadPoolExecutor(len(names)) as pool:
            facts["frameworks"] = dict(zip(names, pool.map(lambda n: probe_framework(n, timeout_s), names),
                                           strict=True))
    facts["nvml"] = nvml_info()
    facts["slurm"] = slurm_info()
    facts["edgetpu"] = edgetpu_info(((config or {}).get("edgetpu") or {}).get("compiler", "edgetpu_compiler"))
    facts["packages"] = packages()
    return facts

