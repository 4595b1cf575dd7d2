"""Where and with what a result was produced: versions, hardware, scheduler, code, config."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from . import __version__


def config_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_facts(framework: str | None = None) -> dict:
    """The CPU's flags that decide low-precision speed (as ``framework`` may use them: ISA caps such as
    ``ONEDNN_MAX_CPU_ISA`` applied) and the bf16/fp16 support they give (:mod:`mpbench.support`)."""
    from . import support
    flags = support.cpu_flags(framework)
    facts = {"cpu_flags": flags, "cpu_precision_support": support.cpu_support(flags)}
    limits = support.isa_limits()
    if limits:
        facts["cpu_isa_limits"] = limits
    return facts


def nvidia_driver() -> str | None:
    try:
        import pynvml
        pynvml.nvmlInit()
        v = pynvml.nvmlSystemGetDriverVersion()
        return v.decode() if isinstance(v, bytes) else v
    except Exception:
        pass
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


def torch_info() -> dict:
    import torch
    info = {"torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None}
    if torch.cuda.is_available():
        i = torch.cuda.current_device()
        p = torch.cuda.get_device_properties(i)
        info.update(gpu=p.name, gpu_memory_gb=round(p.total_memory / 2**30, 1),
                    compute_capability=f"{p.major}.{p.minor}")
    return info


def tensorflow_info() -> dict:
    import keras
    import tensorflow as tf
    build = tf.sysconfig.get_build_info()
    info = {"tensorflow": tf.__version__, "keras": keras.__version__,
            "cuda": build.get("cuda_version"), "cudnn": build.get("cudnn_version")}
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        info.update(gpu=details.get("device_name"), compute_capability=details.get("compute_capability"))
    return info


# The TFLite tool chain: the interpreter every .tflite result ran in, and PyTorch's converter and quantizer.
EDGE_PACKAGES = ("ai-edge-litert", "litert-torch", "ai-edge-quantizer")


def edge_info() -> dict:
    """Versions of the installed :data:`EDGE_PACKAGES` (a missing one is left out)."""
    from importlib import metadata
    info = {}
    for name in EDGE_PACKAGES:
        try:
            info[name.replace("-", "_")] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return info


def collect(framework: str | None = None, edge: bool = False) -> dict:
    """Provenance of a job: machine, versions, GPU; ``edge``: the TFLite tool chain's versions too."""
    import numpy
    prov = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "mpbench": __version__, "git_commit": git_commit(),
        "python": sys.version.split()[0], "numpy": numpy.__version__,
        "platform": platform.platform(), "hostname": socket.gethostname(), "cpu": cpu_name(),
        "cpu_count": os.cpu_count(), **cpu_facts(framework),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"), "slurm_cluster": os.environ.get("SLURM_CLUSTER_NAME"),
        "nvidia_driver": nvidia_driver(),
    }
    if framework == "pytorch":
        prov.update(torch_info())
    elif framework == "tensorflow":
        prov.update(tensorflow_info())
    if edge:
        prov.update(edge_info())
    return prov
