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
    ``ONEDNN_MAX_CPU_ISA`` applied) and the bf16/fp16 support they give (:mod:`mpbench.preflight.support`)."""
    from .preflight import support
    flags = support.cpu_flags(framework)
    facts = {"cpu_flags": flags, "cpu_precision_support": support.cpu_support(flags)}
    limits = support.isa_limits()
    if limits:
        facts["cpu_isa_limits"] = limits
    return facts


# x86-64 MXCSR bits: flush results that underflow to zero (FTZ), read denormal inputs as zero (DAZ).
_MXCSR_FTZ, _MXCSR_DAZ = 1 << 15, 1 << 6
_MXCSR_OFFSET = 28   # of __mxcsr in glibc's x86-64 fenv_t (32 bytes)
_PROBE_ELEMENTS = 1 << 18   # large enough that the frameworks split the probe over their intra-op threads


def mxcsr() -> int | None:
    """The calling thread's MXCSR (x86-64 SSE/AVX control and status), read with glibc's ``fegetenv``;
    None elsewhere (another architecture or C library)."""
    import ctypes
    import ctypes.util
    if platform.machine().lower() not in ("x86_64", "amd64") or not sys.platform.startswith("linux"):
        return None
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        env = (ctypes.c_uint8 * 32)()
        if libm.fegetenv(env) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return int.from_bytes(bytes(env[_MXCSR_OFFSET:_MXCSR_OFFSET + 4]), "little")


def _kernel_probe(framework: str | None) -> dict | None:
    """What the framework's own float32 kernels do with denormals now, over :data:`_PROBE_ELEMENTS`
    elements (so every intra-op thread computes a part): the share of results flushed to zero when the
    input is denormal (DAZ) and when a normal product underflows (FTZ). None where the framework is not
    running in this process — a probe must not start it (TensorFlow's threads are fixed at its start)."""
    n = _PROBE_ELEMENTS
    if framework == "pytorch" and "torch" in sys.modules:
        import torch
        daz = torch.full((n,), 1e-39, dtype=torch.float32) + 0.0
        ftz = torch.full((n,), 1.5e-38, dtype=torch.float32) * 0.1
        return {"framework": framework, "elements": n, "denormal_inputs_zeroed": float((daz == 0).float().mean()),
                "underflows_zeroed": float((ftz == 0).float().mean())}
    if framework == "tensorflow" and "tensorflow" in sys.modules:
        from tensorflow.python.eager import context
        if context.context()._context_handle is None:   # not started: probing would start it
            return None
        import tensorflow as tf
        with tf.device("/CPU:0"):   # the CPU's mode, also in a job that trains on a GPU
            daz = tf.fill([n], tf.constant(1e-39, tf.float32)) + 0.0
            ftz = tf.fill([n], tf.constant(1.5e-38, tf.float32)) * 0.1
        share = lambda t: float(tf.reduce_mean(tf.cast(tf.equal(t, 0.0), tf.float32)))  # noqa: E731
        return {"framework": framework, "elements": n, "denormal_inputs_zeroed": share(daz),
                "underflows_zeroed": share(ftz)}
    return None


def denormals(framework: str | None = None) -> dict:
    """How this job's CPU treats float32 denormals: flush-to-zero (FTZ) and denormals-are-zero (DAZ).

    ``flush_to_zero`` / ``denormals_are_zero`` are the MXCSR bits of the job's main thread (x86-64,
    glibc), which the TFLite interpreter's threads start from; ``kernels`` is what the framework's own
    kernels did with denormals just now, over all its intra-op threads (a share of 1 flushed, 0 not,
    between: some threads flush). Their speed differs by up to 5x where a computation runs into
    denormals (PyTorch eager training on random inputs), so a timing is read with its mode.

    mpbench sets neither: TensorFlow flushes in its own threads by default, PyTorch does not (its
    ``torch.set_flush_denormal`` changes only the calling thread and the threads started after it), and
    flushing changes numeric results — tiny values become 0 — which a reproduction of the frameworks'
    defaults must not do silently. The record says which mode each timing ran in instead.
    """
    reg = mxcsr()
    out = {"flush_to_zero": None if reg is None else bool(reg & _MXCSR_FTZ),
           "denormals_are_zero": None if reg is None else bool(reg & _MXCSR_DAZ),
           "how": ("MXCSR of the main thread, read with glibc fegetenv" if reg is not None
                   else f"not read: MXCSR is read on x86-64 Linux only (this is {platform.machine()}, {sys.platform})")}
    if reg is not None:
        out["mxcsr"] = f"0x{reg:04x}"
    probe = _kernel_probe(framework)
    if probe:
        out["kernels"] = probe
    return out


def compute_threads(framework: str | None) -> dict:
    """The threads the framework computes with now, as it reports them (none where it is not running)."""
    if framework == "pytorch" and "torch" in sys.modules:
        import torch
        return {"torch_intra_op": torch.get_num_threads(), "torch_inter_op": torch.get_num_interop_threads()}
    if framework == "tensorflow" and "tensorflow" in sys.modules:
        import tensorflow as tf
        return {"tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
    return {}


_INHERITED_JOB: dict | None = None   # scheduled_job() of the job a child process works for (isolation)


def inherit_job(job: dict | None) -> None:
    """In a child process doing a job's work (:mod:`mpbench.isolation`): the job it works for."""
    global _INHERITED_JOB
    _INHERITED_JOB = job


def scheduled_job() -> dict | None:
    """The Snakemake job this process runs, as Snakemake gave it to the job's script (the ``snakemake``
    object of ``__main__``) or to the parent of a child doing its work: its rule, the cores it holds
    (``threads``) and its resources. None outside one."""
    if _INHERITED_JOB is not None:
        return _INHERITED_JOB
    job = getattr(sys.modules.get("__main__"), "snakemake", None)
    if job is None or not all(hasattr(job, a) for a in ("rule", "threads", "resources")):
        return None
    resources = {k: v for k, v in dict(job.resources.items()).items() if not k.startswith("_")}
    return {"rule": job.rule, "threads": int(job.threads), "resources": resources}


def concurrency(framework: str | None = None, threads: int | None = None) -> dict:
    """The threads this timing computed with and what else could run beside it.

    ``threads``: as the framework reports them (:func:`compute_threads`), or ``{"tflite": threads}`` for
    the TFLite interpreter, which reports none. Under the workflow's local scheduler a timed job holds every
    core Snakemake may use (rules/common.smk ``device_resources``: ``timing_slot``), so no other job of the
    workflow runs beside it: ``exclusive`` true, ``cores_held`` its cores. Under SLURM the job is its own
    allocation of ``cores_held`` CPUs (``SLURM_CPUS_PER_TASK``); ``exclusive`` is true only when the node
    is the job's alone (SLURM gives it every CPU of the node, ``slurm.exclusive``), false when other jobs
    may share the node's memory bandwidth and caches. Outside the workflow (tests, benchmarks) nothing is
    known of what ran beside it: ``exclusive`` None. Processes outside the workflow are never known.
    """
    used = compute_threads(framework)
    if threads is not None:
        used["tflite"] = int(threads)
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = os.cpu_count()
    job = scheduled_job()
    out = {"threads": used, "cpus_allowed": allowed, "scheduler": None, "rule": None, "cores_held": None,
           "exclusive": None, "beside": "unknown: not run as a timed job of the workflow"}
    if os.environ.get("SLURM_JOB_ID"):
        held = os.environ.get("SLURM_CPUS_PER_TASK")
        on_node = os.environ.get("SLURM_CPUS_ON_NODE")
        whole = on_node is not None and int(on_node) >= (os.cpu_count() or 0)
        out.update(scheduler="slurm", cores_held=int(held) if held else allowed, exclusive=whole,
                   beside="nothing: the node is this job's alone" if whole else
                   "other SLURM jobs on the node's other CPUs (shared memory bandwidth, caches)")
    elif job is not None and job["resources"].get("timing_slot"):
        out.update(scheduler="snakemake", cores_held=job["threads"], exclusive=True,
                   beside="no other job of the workflow: a timed job holds every core it may use")
    elif job is not None:
        out.update(scheduler="snakemake", cores_held=job["threads"], exclusive=False,
                   beside="other jobs of the workflow on the remaining cores")
    if job is not None:
        out["rule"] = job["rule"]
    return out


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


def collect(framework: str | None = None, edge: bool = False, threads: int | None = None) -> dict:
    """Provenance of a job: machine, versions, GPU, what its timings ran with and beside
    (:func:`concurrency`, :func:`denormals`); ``edge``: the TFLite tool chain's versions too, and
    ``threads`` the TFLite interpreter's."""
    import numpy
    prov = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "mpbench": __version__, "git_commit": git_commit(),
        "python": sys.version.split()[0], "numpy": numpy.__version__,
        "platform": platform.platform(), "hostname": socket.gethostname(), "cpu": cpu_name(),
        "cpu_count": os.cpu_count(), **cpu_facts(framework),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"), "slurm_cluster": os.environ.get("SLURM_CLUSTER_NAME"),
        "nvidia_driver": nvidia_driver(),
        "concurrency": concurrency(framework, threads), "denormals": denormals(framework),
    }
    if framework == "pytorch":
        prov.update(torch_info())
    elif framework == "tensorflow":
        prov.update(tensorflow_info())
    if edge:
        prov.update(edge_info())
    return prov
