"""What this machine can measure, before a grid runs: ``python -m mpbench doctor`` (``make doctor``).

It reports, without crashing when a framework, NVML, SLURM or the Edge TPU tools are absent:

- the CPU: model, cores and the features that decide low-precision speed (AVX2, AVX-512,
  AVX512_BF16, AVX512_FP16, AMX), and whether bf16/fp16 run natively on it;
- per framework (PyTorch, TensorFlow), each imported only when installed, in its own time-boxed
  subprocess: version, CUDA build, the GPUs it sees (name, memory, compute capability and so the
  TF32/bf16/fp16 tensor cores) and a measured bf16/fp16 convolution on the CPU against fp32;
- NVML (GPU energy), the SLURM client, ``edgetpu_compiler``, ``libedgetpu`` and a Coral device;
- for the chosen config: which cells will be unavailable here and which will run emulated (slowly),
  each with its fix.

``quick=True`` (the workflow's start, which logs it once) imports no framework: what the frameworks
would see is inferred from the installed packages and the CPU flags instead of measured.
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
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import CLUSTER_INSTALL, grid, support

REPO = Path(__file__).resolve().parents[2]
PROBE_TIMEOUT_S = 90
FRAMEWORK_LABELS = {"pytorch": "PyTorch", "tensorflow": "TensorFlow"}
MODULES = {"pytorch": "torch", "tensorflow": "tensorflow"}
# x86 /proc/cpuinfo flags that matter here, as the report names them
X86_FEATURES = support.FEATURE_NAMES
CORAL_USB_IDS = {("1a6e", "089a"), ("18d1", "9302")}     # Coral USB Accelerator before/after its firmware loads
# A measured low-precision convolution (forward and backward) this much slower than float32 is "emulated".
EMULATED_RATIO = 1.5
BF16_CPUS = "a CPU with AVX512_BF16 or AMX (Intel Xeon Sapphire Rapids or newer, AMD Zen 4 or newer)"
FP16_CPUS = "a CPU with AVX512_FP16 or AMX_FP16 (Intel Xeon Sapphire Rapids or newer)"


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
    one table is :func:`mpbench.support.cpu_level_from_flags`, which also labels the result records."""
    return {fmt: support.cpu_level_from_flags(flags, fmt) for fmt in ("bf16", "fp16")}


# --------------------------------------------------------------------------- the frameworks

_PROBE = r'''
import json, os, sys, time
name = sys.argv[1]
out = {"gpus": [], "cpu_ratio": {}}

def timed(fn):
    t0 = time.perf_counter(); fn(); return time.perf_counter() - t0

def best(fn, reps=3, ref=None):
    """Best of reps after a warm-up; a warm-up already 10x slower than ref is the answer (emulated: no need to wait)."""
    first = timed(fn)
    if ref is not None and first > 10 * ref:
        return first
    return min(timed(fn) for _ in range(reps))

if name == "pytorch":
    import torch
    out["version"] = torch.__version__
    out["cuda"] = torch.version.cuda
    for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        p = torch.cuda.get_device_properties(i)
        out["gpus"].append({"name": p.name, "memory_gb": round(p.total_memory / 2**30, 1), "cc": [p.major, p.minor]})
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    conv = torch.nn.Conv2d(16, 16, 3, padding=1)
    x = torch.randn(8, 16, 64, 64)
    def step(dtype):
        def run():
            conv.zero_grad()
            with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                y = conv(x)
            y.float().sum().backward()
        return run
    fp32 = best(step(None))
    for fmt, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        try:
            out["cpu_ratio"][fmt] = round(best(step(dtype), ref=fp32) / fp32, 2)
        except Exception as e:
            out["cpu_ratio"][fmt] = None
            out.setdefault("cpu_errors", {})[fmt] = str(e).splitlines()[0][:200]
else:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    out["version"] = tf.__version__
    out["cuda"] = tf.sysconfig.get_build_info().get("cuda_version")
    for g in tf.config.list_physical_devices("GPU"):
        d = tf.config.experimental.get_device_details(g)
        out["gpus"].append({"name": d.get("device_name", g.name), "cc": list(d.get("compute_capability") or [])})
    tf.config.threading.set_intra_op_parallelism_threads(min(4, os.cpu_count() or 1))
    with tf.device("/CPU:0"):
        x = tf.random.normal([8, 64, 64, 16]); w = tf.Variable(tf.random.normal([3, 3, 16, 16]))
        def step(dtype):
            def run():
                with tf.GradientTape() as tape:
                    y = tf.nn.conv2d(tf.cast(x, dtype), tf.cast(w, dtype), 1, "SAME")
                    loss = tf.reduce_sum(tf.cast(y, tf.float32))
                tape.gradient(loss, w).numpy()
            return run
        fp32 = best(step(tf.float32))
        for fmt, dtype in (("bf16", tf.bfloat16), ("fp16", tf.float16)):
            try:
                out["cpu_ratio"][fmt] = round(best(step(dtype), ref=fp32) / fp32, 2)
            except Exception as e:
                out["cpu_ratio"][fmt] = None
                out.setdefault("cpu_errors", {})[fmt] = str(e).splitlines()[0][:200]
print("MPBENCH-PROBE " + json.dumps(out))
'''


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


def probe_framework(name: str, timeout_s: float = PROBE_TIMEOUT_S) -> dict:
    """Import the framework in a subprocess (at most ``timeout_s``) and report what it sees."""
    info = framework_packages(name)
    if not info["installed"]:
        return {**info, "error": "not installed"}
    env = {**os.environ, "CUDA_DEVICE_ORDER": os.environ.get("CUDA_DEVICE_ORDER", "PCI_BUS_ID")}
    try:
        run = subprocess.run([sys.executable, "-c", _PROBE, name], capture_output=True, text=True, timeout=timeout_s,
                             env=env)
    except subprocess.TimeoutExpired:
        return {**info, "error": f"no answer within {timeout_s:.0f} s (import or probe hung)"}
    line = next((x for x in run.stdout.splitlines() if x.startswith("MPBENCH-PROBE ")), None)
    if line is None:
        tail = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return {**info, "error": f"probe failed (exit {run.returncode}): {tail[:300]}"}
    return {**info, **json.loads(line[len("MPBENCH-PROBE "):])}


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
    from .edgetpu.compiler import find_compiler
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


# --------------------------------------------------------------------------- the config's cells

def _cc_of(facts: dict, framework: str | None = None):
    """Compute capability of the first GPU the framework (else NVML) sees, or None."""
    fw = facts["frameworks"].get(framework or "", {})
    for g in fw.get("gpus") or (facts["nvml"].get("gpus") or []):
        if g.get("cc"):
            return tuple(g["cc"])
    return None


def _sees_gpu(facts: dict, framework: str) -> bool | None:
    """Whether the framework sees a GPU: measured (full), or inferred (quick; None: cannot tell)."""
    fw = facts["frameworks"][framework]
    if not fw.get("installed"):
        return False
    if "gpus" in fw:
        return bool(fw["gpus"])
    if not facts["nvml"].get("gpus") and not facts["nvml"].get("nvidia_smi"):
        return False
    if framework == "pytorch" and fw.get("cpu_only_build"):
        return False
    if framework == "tensorflow" and not fw.get("cuda_libraries"):
        return False
    return None


def cpu_level(facts: dict, framework: str, fmt: str) -> tuple[str, str]:
    """("native"|"converted"|"emulated", how it is known) of bf16/fp16 on this CPU for a framework."""
    fw = facts["frameworks"].get(framework, {})
    ratio = (fw.get("cpu_ratio") or {}).get(fmt)
    if ratio is not None:
        level = "emulated" if ratio >= EMULATED_RATIO else "native"
        return level, f"measured: a {fmt} convolution takes ×{ratio:g} the fp32 time"
    level, why = facts["cpu_support"][fmt]
    return level, f"expected from the CPU flags: {why}"


def findings(config: dict, facts: dict, executor: str = "local") -> list[dict]:
    """The config's cells that will be unavailable or emulated here (or whose check needs the nodes), with the fix.

    Each finding: ``status`` (unavailable | emulated | note), ``what``, ``cells`` (training and
    inference cells; quantization cells for the Edge TPU and QAT), ``why``, ``fix``.
    ``executor="slurm"``: jobs with SLURM keys run on the cluster's nodes, not here.
    """
    out = []
    t = config["train"]
    cells = Counter((r["framework"], r["device"], r["precision"]) for r in grid.train_runs(config))
    cells.update((r["framework"], r["device"], r["precision"]) for r in grid.infer_runs(config))

    def add(status, what, fws, dev, precs, why, fix):
        n = sum(cells[fw, dev, p] for fw in fws for p in precs)
        if n:
            out.append({"status": status, "what": what, "cells": n, "why": why, "fix": fix})

    for dev in dict.fromkeys(t["devices"]):
        spec = grid.device_spec(config, dev)
        on_nodes = executor == "slurm" and any(spec.get(k) for k in ("gres", "partition", "cluster"))
        if on_nodes:
            add("note", f"{dev}: every cell", t["frameworks"], dev, t["precisions"],
                "runs on the cluster's nodes (devices." + dev + "), whose GPU and CPU are not checked here",
                "run the doctor in a job there: srun " + " ".join(
                    f"{flag}{spec[k]}" for k, flag in (("cluster", "--clusters="), ("partition", "-p "),
                                                       ("gres", "--gres=")) if spec.get(k))
                + " python -m mpbench doctor")
            continue
        if spec["type"] == "cuda":
            _gpu_findings(add, facts, t, dev)
        else:
            _cpu_findings(add, facts, t, dev)

    q = config.get("quantize") or {}
    n_quant = len(grid.quantize_runs(config))
    if n_quant and "int8" in q.get("variants", ()):
        required = bool((config.get("edgetpu") or {}).get("required", True))
        consequence = ("the jobs fail (edgetpu.required: true)" if required else
                       "recorded as unavailable; the int8 model is timed on the CPU as cpu-int8 instead")
        lab = ("run the Edge TPU stage on the lab machine with a Coral USB Accelerator, Coral's edgetpu-compiler "
               "and libedgetpu1-std packages (x86-64 Debian/Ubuntu, Coral's apt repository)"
               + ("; or edgetpu.required: false to record it as unavailable" if required else ""))
        cpu = grid.device_spec(config, "cpu")
        e = facts["edgetpu"]
        if executor == "slurm" and any(cpu.get(k) for k in ("gres", "partition", "cluster")):
            out.append({"status": "unavailable", "what": "Edge TPU: edgetpu_compile and edgetpu_infer cells",
                        "cells": 2 * n_quant, "fix": lab, "why": "they run on the cluster's nodes (devices.cpu), "
                                                                 f"which have no Coral device: {consequence}"})
        else:
            if not e["compiler"]:
                out.append({"status": "unavailable", "what": "Edge TPU: edgetpu_compile cells", "cells": n_quant,
                            "why": f"edgetpu_compiler not found here: {consequence}",
                            "fix": lab + "; edgetpu.compiler may name the compiler's path"})
            if not e["libedgetpu"] or not e["devices"]:
                missing = "libedgetpu (libedgetpu1-std)" if not e["libedgetpu"] else "Coral device"
                out.append({"status": "unavailable", "what": "Edge TPU: edgetpu_infer cells", "cells": n_quant,
                            "why": f"no {missing} here: {consequence}", "fix": lab})
    n_torch = sum(r["framework"] == "pytorch" for r in grid.quantize_runs(config))
    if n_torch and not facts["packages"]["edge_torch"]:
        out.append({"status": "unavailable", "what": "quantize cells of PyTorch models", "cells": n_torch,
                    "why": "litert-torch (with ai-edge-quantizer) is not installed: those quantize jobs stop at once "
                           "naming it, and their Edge TPU jobs do not run",
                    "fix": "pip install -e '.[edge-torch]' (part of the cluster install line; with --sdm conda the "
                           "rule's envs/edge-torch.yaml has it), or quantize.frameworks: [tensorflow]"})
    n_qat = len(grid.qat_runs(config))
    if n_qat and not facts["packages"]["qat"]:
        out.append({"status": "unavailable", "what": "qat cells", "cells": n_qat,
                    "why": "tensorflow-model-optimization or tf_keras is not installed: the qat jobs fail",
                    "fix": "pip install -e '.[qat]' (part of the cluster install line)"})
    gpu_cells = sum(n for (_, dev, _), n in cells.items() if grid.device_spec(config, dev)["type"] == "cuda")
    if gpu_cells and not facts["nvml"].get("energy") and executor != "slurm":
        out.append({"status": "note", "what": "energy of GPU cells", "cells": gpu_cells,
                    "why": f"not measured here: {facts['nvml'].get('reason')}",
                    "fix": f"on the GPU machine: {CLUSTER_INSTALL} (energy extra: nvidia-ml-py)"})
    return out


def _gpu_findings(add, facts: dict, t: dict, dev: str) -> None:
    no_gpu = not facts["nvml"].get("gpus") and not facts["nvml"].get("nvidia_smi") and not any(
        fw.get("gpus") for fw in facts["frameworks"].values())
    blind = [fw for fw in t["frameworks"] if _sees_gpu(facts, fw) is False]
    if no_gpu and blind:
        add("unavailable", f"{dev}: every cell", blind, dev, t["precisions"], "no NVIDIA GPU on this machine",
            f"run them where device {dev} is: on the cluster `snakemake --profile slurm` (devices.{dev} needs "
            f"partition and gres), on a workstation `snakemake --cores N --resources gpu=1`; there install with "
            f"{CLUSTER_INSTALL}")
    else:
        for fw in blind:
            add("unavailable", f"{dev}: {FRAMEWORK_LABELS[fw]} cells", [fw], dev, t["precisions"],
                f"{FRAMEWORK_LABELS[fw]} sees no GPU here (a CPU-only build or missing CUDA libraries)",
                f"install the GPU stack in a Python 3.11 venv at the repository root: {CLUSTER_INSTALL}")
    for fw in t["frameworks"]:
        cc = None if fw in blind else _cc_of(facts, fw)
        if cc is None:
            continue
        label = FRAMEWORK_LABELS[fw]
        if cc < (8, 0):
            add("emulated", f"{dev}: {label} mixed_bf16 cells", [fw], dev, ["mixed_bf16"],
                f"compute capability {cc[0]}.{cc[1]}: no bf16 tensor cores (Ampere, 8.0, has them)",
                "run bf16 on an Ampere or newer GPU (A100, A40, RTX 30xx)")
            add("note", f"{dev}: {label} tf32 cells", [fw], dev, ["tf32"],
                "no TF32 tensor cores before Ampere: tf32 runs as fp32", "an Ampere or newer GPU")
        if cc < (7, 0):
            add("emulated", f"{dev}: {label} fp16 cells", [fw], dev, ["mixed_fp16", "fp16", "apex_o1", "apex_o3"],
                f"compute capability {cc[0]}.{cc[1]}: no fp16 tensor cores (Volta, 7.0, has them)",
                "a Volta or newer GPU")
    if not facts["packages"]["apex"]:
        add("unavailable", f"{dev}: PyTorch Apex cells", ["pytorch"], dev, ["apex_o1", "apex_o3"],
            "NVIDIA Apex is not importable (recorded as unavailable)",
            "build Apex from NVIDIA's source with its CUDA extensions (not on PyPI), or use mixed_fp16")


def _cpu_findings(add, facts: dict, t: dict, dev: str) -> None:
    fws = t["frameworks"]
    add("unavailable", f"{dev}: Apex cells", fws, dev, ["apex_o1", "apex_o3"],
        "Apex is CUDA-only (recorded as unavailable)", "run Apex precisions on a CUDA device")
    add("note", f"{dev}: tf32 cells", fws, dev, ["tf32"], "a CPU has no TF32 units: tf32 runs as fp32",
        "none needed (it is fp32 here)")
    for fw in fws:
        label = FRAMEWORK_LABELS[fw]
        for fmt, precs, cpus in (("bf16", ["mixed_bf16"], BF16_CPUS), ("fp16", ["mixed_fp16", "fp16"], FP16_CPUS)):
            level, how = cpu_level(facts, fw, fmt)
            what = f"{dev}: {label} {'/'.join(precs)} cells"
            if level == "emulated":
                add("emulated", what, [fw], dev, precs, f"{fmt} is emulated on this CPU, slower than fp32 ({how}); "
                    "the tables and figures label them emulated",
                    f"run them on {cpus}, or leave {', '.join(precs)} out of train.precisions here, or set "
                    "train.emulated_max_epochs to train them fewer epochs (still timed; IoU not compared)")
            elif level == "converted":
                add("note", what, [fw], dev, precs,
                    f"no native {fmt} on this CPU: about fp32 speed, no speed-up to measure ({how})",
                    f"{cpus} for a native {fmt}")


# --------------------------------------------------------------------------- the report

def _yes(v) -> str:
    return "yes" if v else "no"


def render(facts: dict, config: dict | None = None, config_name: str = "", executor: str = "local") -> str:
    cpu = facts["cpu"]
    flags = set(cpu["flags"])
    lines = [f"mpbench doctor: what this machine ({platform.node() or 'this host'}) can measure"
             + (" [quick: frameworks not imported]" if facts.get("quick") else "")]
    lines.append(f"CPU         {cpu['model']} ({cpu['arch']}, {cpu['cores']} cores)")
    feats = ["AVX2", "AVX-512", "AVX512_BF16", "AVX512_FP16", "AMX"]
    have = {X86_FEATURES.get(f, f) for f in flags}
    if flags & {"amx_bf16", "amx_int8", "amx_fp16"}:
        have.add("AMX")
    lines.append("  features  " + ", ".join(f"{f} {_yes(f in have)}" for f in feats))
    if cpu.get("isa_limits"):
        lines.append("  capped    " + ", ".join(f"{k}={v}" for k, v in cpu["isa_limits"].items())
                     + ": the frameworks use fewer instructions than the CPU has (judged below as capped)")
        conflict = support.cap_conflict(flags, cpu["isa_limits"])
        if conflict:
            lines.append("  warning   " + conflict)
    for fmt in ("bf16", "fp16"):
        levels = {fw: cpu_level(facts, fw, fmt) for fw in MODULES}
        if len(set(levels.values())) == 1:
            level, how = next(iter(levels.values()))
            lines.append(f"  {fmt:<8}  {level} in both frameworks ({how})")
        else:
            lines.append(f"  {fmt:<8}  " + "; ".join(f"{FRAMEWORK_LABELS[fw]} {level} ({how})"
                                                  for fw, (level, how) in levels.items()))
    for fw, info in facts["frameworks"].items():
        label = f"{FRAMEWORK_LABELS[fw]:<11} "
        if not info.get("installed"):
            lines.append(label + "not installed")
            continue
        if info.get("error"):
            lines.append(label + f"{info.get('version')}: {info['error']}")
            continue
        if "gpus" not in info:       # quick
            hint = (" (CPU-only build)" if info.get("cpu_only_build") else
                    " (no nvidia-* CUDA libraries: tensorflow[and-cuda] not installed)"
                    if fw == "tensorflow" and not info.get("cuda_libraries") else "")
            lines.append(label + f"{info.get('version')}{hint}; GPUs it sees: not probed")
            continue
        gpus = "; ".join(_gpu_text(g) for g in info["gpus"]) or "none"
        lines.append(label + f"{info['version']} (CUDA build: {info.get('cuda') or 'none'}); GPUs it sees: {gpus}")
    n = facts["nvml"]
    if n["available"]:
        lines.append(f"NVML        driver {n.get('driver')}; GPUs: " + ("; ".join(
            f"{g['name']} ({g['memory_gb']} GB, energy counter {_yes(g.get('energy'))})" for g in n["gpus"]) or "none"))
    else:
        lines.append(f"NVML        not available: {n['reason']}; GPU energy is not measured here")
    s = facts["slurm"]
    client = f"{s['version'] or 'sbatch'} ({s['sbatch']})" if s["sbatch"] else "no sbatch on PATH"
    if s.get("problem"):
        client += f", no cluster configured here ({s['problem']})"
    plugin = "installed" if s["plugin"] else "not installed"
    lines.append(f"SLURM       {client}; Snakemake SLURM executor plugin {plugin}"
                 + (f"; inside job {s['in_job']}" if s.get("in_job") else ""))
    e = facts["edgetpu"]
    lines.append(f"Edge TPU    edgetpu_compiler: {e['compiler'] or 'not found'}; libedgetpu: "
                 f"{e['libedgetpu'] or 'not found'}; Coral device: {', '.join(e['devices']) or 'none'}")
    if config is not None:
        found = findings(config, facts, executor)
        runs = list(grid.train_runs(config))
        lines.append("")
        lines.append(f"Cells of {config_name or 'the config'} here ({len(runs)} training, "
                     f"{len(grid.infer_runs(config))} inference, {len(grid.quantize_runs(config))} quantization cells"
                     + (", executor slurm" if executor == "slurm" else "") + "):")
        if not found:
            lines.append("  every cell can run here as configured")
        for f in found:
            lines.append(f"  {f['status']:<11} {f['what']} ({f['cells']} cells): {f['why']}")
            lines.append(f"  {'':<11} fix: {f['fix']}")
    return "\n".join(lines)


def _gpu_text(g: dict) -> str:
    cc = tuple(g.get("cc") or ())
    cores = ([] if not cc else ["fp16" if cc >= (7, 0) else None, "bf16" if cc >= (8, 0) else None,
                                "TF32" if cc >= (8, 0) else None])
    mem = f", {g['memory_gb']} GB" if g.get("memory_gb") else ""
    tc = ", tensor cores: " + ("/".join(c for c in cores if c) or "none") if cc else ""
    return f"{g['name']}{mem}" + (f", compute capability {cc[0]}.{cc[1]}" if cc else "") + tc


# --------------------------------------------------------------------------- config and command line

def load_config(configfiles=()) -> tuple[dict | None, str]:
    """config/config.yaml with ``configfiles`` laid over it as Snakemake does (mappings merged, the rest
    replaced); from the current folder, else the repository of this package. (None, reason) without one."""
    import yaml

    def merge(a, b):
        return {**a, **{k: merge(a[k], v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
                        for k, v in b.items()}}
    base = Path("config/config.yaml")
    if not base.is_file():
        base = REPO / "config" / "config.yaml"
    if not base.is_file():
        return None, "no config/config.yaml here"
    config = yaml.safe_load(base.read_text())
    for f in configfiles:
        config = merge(config, yaml.safe_load(Path(f).read_text()) or {})
    return config, " + ".join([str(base), *map(str, configfiles)])


def report(config: dict | None = None, quick: bool = False, executor: str = "local", config_name: str = "",
           timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """The doctor's report as text (what the workflow logs at its start with ``quick=True``)."""
    return render(collect(config, quick=quick, timeout_s=timeout_s), config, config_name, executor)


def startup_report(config: dict, executor: str = "local", configfiles=()) -> str:
    """The quick report the workflow logs at its start; never raises (a broken probe must not stop a run).

    ``configfiles``: Snakemake's (the command line's overlays, then the Snakefile's config/config.yaml).
    """
    try:
        files = [str(f) for f in configfiles]
        base = [f for f in files if Path(f).name == "config.yaml" and Path(f).parent.name == "config"]
        name = " + ".join(base[-1:] + [f for f in files if f not in base[-1:]])
        return report(config, quick=True, executor=executor, config_name=name)
    except Exception as e:  # noqa: BLE001
        return f"mpbench doctor could not run ({type(e).__name__}: {e}); `python -m mpbench doctor` shows why"


def main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="python -m mpbench doctor", description=__doc__.splitlines()[0])
    p.add_argument("--configfile", nargs="*", default=[],
                   help="overlays laid over config/config.yaml, as snakemake --configfile")
    p.add_argument("--quick", action="store_true", help="import no framework (as at workflow start)")
    p.add_argument("--slurm", action="store_true", help="the cells as `snakemake --profile slurm` runs them")
    p.add_argument("--json", action="store_true", help="the facts as JSON")
    p.add_argument("--timeout", type=float, default=PROBE_TIMEOUT_S, help="seconds per framework probe")
    args = p.parse_args(argv)
    configfiles = args.configfile
    if args.slurm and not configfiles:
        configfiles = ["config/cluster.yaml"] if Path("config/cluster.yaml").is_file() else []
    config, name = load_config(configfiles)
    facts = collect(config, quick=args.quick, timeout_s=args.timeout)
    executor = "slurm" if args.slurm else "local"
    if args.json:
        out = {**facts, "findings": findings(config, facts, executor) if config else None}
        print(json.dumps(out, indent=1, default=str))
    else:
        print(render(facts, config, name, executor))
    return 0
