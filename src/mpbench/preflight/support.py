"""Whether a precision ran natively on the hardware that measured it, from the flags the record carries.

A bfloat16 or float16 number from a CPU without the instructions for it is real — it is what that
precision costs there — but it measures an emulation, not the precision: on an AVX-only CPU PyTorch's
mixed bf16 trains several times slower than fp32. Every job's provenance therefore records the CPU's
relevant feature flags (``cpu_flags``, :func:`cpu_flags`) and the levels derived from them
(``cpu_precision_support``), and the summary labels each training and inference row with
``precision_support``:

- ``native``: the hardware computes in that precision (fp32 always; bf16 with AVX512_BF16/AMX_BF16 or
  Arm bf16; fp16 with AMX_FP16; on a GPU bf16 from compute capability 8.0, fp16 from 7.0);
- ``converted``: bf16 on AVX-512 without AVX512_BF16: oneDNN converts to fp32 (about fp32 speed, no gain);
- ``emulated``: slow fallback kernels (bf16 without AVX-512; fp16 on almost every CPU; bf16/fp16 on an
  older GPU);
- ``unknown``: the record carries no flags (written by an older mpbench) or no compute capability.

The same table decides the doctor's expectation (:func:`cpu_level_from_flags`); the doctor also measures.

``ONEDNN_MAX_CPU_ISA`` (oneDNN, used by both frameworks), ``ATEN_CPU_CAPABILITY`` (PyTorch's own
kernels) and ``TF_ENABLE_ONEDNN_OPTS=0`` (TensorFlow without oneDNN: its own kernels, built for AVX)
cap the instructions the frameworks use; a capped CPU is recorded as what it then is
(:func:`effective_flags`), so a run that imitates an older CPU is labelled like one.

``train.emulated_max_epochs`` (the demo's answer to a CPU that emulates bf16) limits the epochs of a
training cell whose precision is emulated where it runs (:func:`here`); the record says so
(``epoch_cap``, ``note``), the summary's ``epoch_cap`` column too, and its IoU is then not
compared with full-length runs (:mod:`mpbench.results.accuracy`).
"""
from __future__ import annotations

import os
from pathlib import Path

from ..precisions import PRECISIONS

# The flags that decide low-precision speed (x86 and Arm), as /proc/cpuinfo spells them.
RELEVANT_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                  "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16", "asimd", "asimdhp", "bf16", "sve")
SUPPORT_LEVELS = ("native", "converted", "emulated", "unknown")
# How reports name the x86 flags.
FEATURE_NAMES = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_bf16": "AVX512_BF16", "avx512_fp16": "AVX512_FP16",
                 "amx_bf16": "AMX_BF16", "amx_fp16": "AMX_FP16", "amx_int8": "AMX_INT8", "f16c": "F16C", "fma": "FMA"}
# oneDNN's ISA names (ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA) → the flags a cap at that ISA takes away.
_AVX512 = {"avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16"}
_AMX = {"amx_tile", "amx_bf16", "amx_int8", "amx_fp16"}
ISA_CAPS = {
    "SSE41": {"avx", "avx2", "fma", "f16c"} | _AVX512 | _AMX,
    "AVX": {"avx2", "fma"} | _AVX512 | _AMX,
    "AVX2": _AVX512 | _AMX, "AVX2_VNNI": _AVX512 | _AMX, "AVX2_VNNI_2": _AVX512 | _AMX,
    "AVX512_CORE": {"avx512_vnni", "avx512_bf16", "avx512_fp16"} | _AMX,
    "AVX512_CORE_VNNI": {"avx512_bf16", "avx512_fp16"} | _AMX,
    "AVX512_CORE_BF16": {"avx512_fp16"} | _AMX,
    "AVX512_CORE_FP16": _AMX, "AVX10_1_512": _AMX,
    "AVX512_CORE_AMX": {"amx_fp16"}, "AVX10_1_512_AMX": {"amx_fp16"},
}
# PyTorch's ATEN_CPU_CAPABILITY: its own vectorised kernels at most at this level.
ATEN_CAPS = {"default": {"avx2", "fma"} | _AVX512 | _AMX, "avx2": _AVX512 | _AMX}
ISA_ENV = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "TF_ENABLE_ONEDNN_OPTS")


def read_flags(cpuinfo: str | None = None) -> set[str]:
    """Every feature flag of the first CPU in ``/proc/cpuinfo`` (x86 ``flags``, Arm ``Features``)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def isa_limits(env=None) -> dict:
    """The environment variables that cap the instructions the frameworks use, where set."""
    env = os.environ if env is None else env
    return {k: env[k] for k in ISA_ENV if env.get(k)}


def _onednn_cap(limits: dict) -> str:
    """oneDNN's ISA cap in :data:`ISA_CAPS` spelling ("" for none)."""
    return (limits.get("ONEDNN_MAX_CPU_ISA") or limits.get("DNNL_MAX_CPU_ISA") or "").upper()


def effective_flags(flags, env=None, framework: str | None = None) -> list[str]:
    """The :data:`RELEVANT_FLAGS` of ``flags`` the frameworks may use under the ISA caps of ``env``
    (``ATEN_CPU_CAPABILITY`` caps PyTorch only: it counts unless ``framework`` is another one)."""
    have = set(flags) & set(RELEVANT_FLAGS)
    limits = isa_limits(env)
    onednn = _onednn_cap(limits)
    have -= ISA_CAPS.get(onednn, set())
    if framework in (None, "pytorch"):
        have -= ATEN_CAPS.get((limits.get("ATEN_CPU_CAPABILITY") or "").lower(), set())
    if framework in (None, "tensorflow") and limits.get("TF_ENABLE_ONEDNN_OPTS") == "0":
        have -= ISA_CAPS["AVX"]        # TensorFlow's own (Eigen) kernels, which its wheels build for AVX
    return sorted(have)


def cap_conflict(flags, env=None) -> str | None:
    """Why the ISA caps of ``env`` break TensorFlow's bfloat16 on a CPU with these flags, or None.

    TensorFlow picks its oneDNN bfloat16 kernels from the CPU's own flags (AVX-512), not from oneDNN's
    cap: under ``ONEDNN_MAX_CPU_ISA=AVX`` on an AVX-512 EPYC its mixed_bf16 training failed at the first
    convolution ("could not create a primitive descriptor for the convolution forward propagation
    primitive"). With ``TF_ENABLE_ONEDNN_OPTS=0`` as well it uses its own kernels and runs (emulated)."""
    limits = isa_limits(env)
    onednn = _onednn_cap(limits)
    if "avx512f" in set(flags) and "avx512f" in ISA_CAPS.get(onednn, set()) \
            and limits.get("TF_ENABLE_ONEDNN_OPTS") != "0":
        return (f"ONEDNN_MAX_CPU_ISA={onednn} hides AVX-512 from oneDNN but not from TensorFlow, whose bf16 "
                "convolutions then fail; set TF_ENABLE_ONEDNN_OPTS=0 as well (TensorFlow's own kernels)")
    return None


def cpu_flags(framework: str | None = None, env=None, cpuinfo: str | None = None) -> list[str]:
    """This CPU's relevant flags as ``framework`` may use them here (provenance ``cpu_flags``)."""
    return effective_flags(read_flags(cpuinfo), env, framework)


def cpu_level_from_flags(flags, fmt: str) -> tuple[str, str]:
    """(native | converted | emulated, why) of ``fmt`` ("bf16" or "fp16") on a CPU with these flags.

    bf16: native with AVX512_BF16/AMX_BF16 (Arm: bf16); converted on AVX-512 without them (oneDNN
    converts to fp32: about fp32 speed, no gain); emulated otherwise. fp16 training on a CPU is
    emulated even with AVX512_FP16 (measured on a Sapphire Rapids Xeon: PyTorch and TensorFlow fp16
    convolutions over 100x slower than fp32); only AMX_FP16 is taken as native.
    """
    f = set(flags)
    if fmt == "bf16":
        native = f & {"avx512_bf16", "amx_bf16", "bf16"}
        if native:
            return "native", ", ".join(FEATURE_NAMES.get(x, x) for x in sorted(native))
        if "avx512f" in f:
            return "converted", "AVX-512 without AVX512_BF16/AMX: converted to fp32"
        return "emulated", "no AVX-512: bf16 runs in slow fallback kernels"
    if fmt == "fp16":
        if "amx_fp16" in f:
            return "native", "AMX_FP16"
        return "emulated", "no AMX_FP16: fp16 runs in slow fallback kernels"
    raise ValueError(f"unknown format {fmt!r}; bf16 or fp16")


def cpu_support(flags) -> dict:
    """``{"bf16": level, "fp16": level}`` for a CPU with these flags (provenance ``cpu_precision_support``)."""
    return {fmt: cpu_level_from_flags(flags, fmt)[0] for fmt in LOW_FORMATS}


_FORMATS = {"bfloat16": "bf16", "float16": "fp16"}
LOW_FORMATS = tuple(_FORMATS.values())   # the low-precision formats whose support is judged
# The first GPU generation (CUDA compute capability) with tensor cores for each format, and for TF32.
GPU_NATIVE_CC = {"fp16": (7, 0), "bf16": (8, 0)}
TF32_CC = (8, 0)
APEX_PRECISIONS = [name for name, p in PRECISIONS.items() if p.apex_level]


def low_format(precision: str, stage: str = "train") -> str | None:
    """"bf16"/"fp16": the low-precision format the precision computes in (inference: the precision a
    model of this kind is timed in); None for float32 (and TF32, which is float32 on a CPU)."""
    spec = PRECISIONS.get(precision)
    if spec is None:
        return None
    if stage == "infer":
        spec = PRECISIONS.get(spec.inference, spec)
    return _FORMATS.get(spec.compute_dtype)


def precisions_of(fmt: str, apex: bool = True) -> list[str]:
    """The precisions that compute in ``fmt`` (``"bf16"``/``"fp16"``), in the precision table's order;
    ``apex=False`` leaves out the Apex ones (CUDA only)."""
    return [name for name in PRECISIONS if low_format(name) == fmt and (apex or name not in APEX_PRECISIONS)]


def float32_precisions_using_tf32() -> list[str]:
    """Precisions that compute in float32 with TF32 tensor cores where a GPU has them (``tf32``)."""
    return [name for name, p in PRECISIONS.items() if p.tf32 and low_format(name) is None and not p.apex_level]


def _cc(value) -> tuple[int, int] | None:
    """A compute capability as PyTorch ("8.0") or TensorFlow ([8, 0]) records it."""
    try:
        if isinstance(value, str):
            major, minor = value.split(".")[:2]
            return int(major), int(minor)
        if isinstance(value, (list, tuple)) and len(value) >= 2:
            return int(value[0]), int(value[1])
    except (TypeError, ValueError):
        pass
    return None


def of_record(rec) -> str | None:
    """``precision_support`` of a training or inference :class:`~mpbench.record.Record` (see the module doc);
    None for other stages."""
    if rec.stage not in ("train", "infer"):
        return None
    s, prov = rec.settings or {}, rec.provenance or {}
    fmt = low_format(s.get("precision"), rec.stage)
    if fmt is None:
        return "native" if s.get("precision") in PRECISIONS else "unknown"
    if s.get("device_type") == "cuda":
        cc = _cc(prov.get("compute_capability"))
        if cc is None:
            return "unknown"
        return "native" if cc >= GPU_NATIVE_CC[fmt] else "emulated"
    levels = prov.get("cpu_precision_support")
    if isinstance(levels, dict) and levels.get(fmt) in SUPPORT_LEVELS:
        return levels[fmt]
    flags = prov.get("cpu_flags")
    if flags is None:
        return "unknown"
    return cpu_level_from_flags(flags, fmt)[0]


def here(precision: str, device_type: str, framework: str | None = None, stage: str = "train") -> tuple[str, str]:
    """(level, why) of a precision on this machine, before a job runs: on a CPU from this CPU's flags as
    ``framework`` may use them (:func:`cpu_flags`), as its record will be labelled; on a GPU ``unknown``
    (the record judges it by compute capability)."""
    fmt = low_format(precision, stage)
    if fmt is None:
        return "native", "float32"
    if device_type != "cpu":
        return "unknown", "judged on the GPU by its compute capability"
    level, why = cpu_level_from_flags(cpu_flags(framework), fmt)
    return level, f"{fmt}: {why}"


def combine(levels) -> str | None:
    """One label for several rows (folds): the worst present (emulated > converted > unknown > native)."""
    present = {v for v in levels if isinstance(v, str)}
    for level in ("emulated", "converted", "unknown", "native"):
        if level in present:
            return level
    return None
