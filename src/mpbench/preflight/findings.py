"""Which cells of a config will be unavailable, emulated or worth a note on this machine, each with its
fix, from the facts :func:`mpbench.preflight.facts.collect` gathers. The precisions of each low-precision
format, the Apex precisions and the GPU generations that run a format natively come from
:mod:`mpbench.precisions` and :mod:`mpbench.preflight.support`, not from lists written here.
"""
from __future__ import annotations

from collections import Counter

from .. import CLUSTER_INSTALL, grid
from .support import APEX_PRECISIONS, GPU_NATIVE_CC, TF32_CC, float32_precisions_using_tf32, precisions_of

FRAMEWORK_LABELS = {"pytorch": "PyTorch", "tensorflow": "TensorFlow"}
# A measured low-precision convolution (forward and backward) this much slower than float32 is "emulated".
EMULATED_RATIO = 1.5
CPUS_WITH = {"bf16": "a CPU with AVX512_BF16 or AMX (Intel Xeon Sapphire Rapids or newer, AMD Zen 4 or newer)",
             "fp16": "a CPU with AVX512_FP16 or AMX_FP16 (Intel Xeon Sapphire Rapids or newer)"}
GPU_GENERATION = {"fp16": "Volta", "bf16": "Ampere"}



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
        for fmt, first in GPU_NATIVE_CC.items():
            if cc < first:
                precs, gen = precisions_of(fmt), GPU_GENERATION[fmt]
                add("emulated", f"{dev}: {label} {'/'.join(precs)} cells", [fw], dev, precs,
                    f"compute capability {cc[0]}.{cc[1]}: no {fmt} tensor cores ({gen}, {first[0]}.{first[1]}, "
                    "has them)", f"run {fmt} on a {gen} or newer GPU")
        if cc < TF32_CC:
            precs = float32_precisions_using_tf32()
            add("note", f"{dev}: {label} {'/'.join(precs)} cells", [fw], dev, precs,
                "no TF32 tensor cores before Ampere: tf32 runs as fp32", "an Ampere or newer GPU")
    if not facts["packages"]["apex"]:
        add("unavailable", f"{dev}: PyTorch Apex cells", ["pytorch"], dev, APEX_PRECISIONS,
            "NVIDIA Apex is not importable (recorded as unavailable)",
            "build Apex from NVIDIA's source with its CUDA extensions (not on PyPI), or use mixed_fp16")


def _cpu_findings(add, facts: dict, t: dict, dev: str) -> None:
    fws = t["frameworks"]
    add("unavailable", f"{dev}: Apex cells", fws, dev, APEX_PRECISIONS,
        "Apex is CUDA-only (recorded as unavailable)", "run Apex precisions on a CUDA device")
    add("note", f"{dev}: tf32 cells", fws, dev, float32_precisions_using_tf32(),
        "a CPU has no TF32 units: tf32 runs as fp32",
        "none needed (it is fp32 here)")
    for fw in fws:
        label = FRAMEWORK_LABELS[fw]
        for fmt, cpus in CPUS_WITH.items():
            precs = precisions_of(fmt, apex=False)
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


