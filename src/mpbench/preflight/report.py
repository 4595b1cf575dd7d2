"""The doctor's report as text: the facts (:mod:`.facts`) and, for a config, its findings (:mod:`.findings`);
the quick report the workflow logs once at its start (:func:`startup_report`)."""
from __future__ import annotations

import platform
from pathlib import Path

from .. import grid
from . import support
from .facts import MODULES, PROBE_TIMEOUT_S, collect
from .findings import FRAMEWORK_LABELS, cpu_level, findings

X86_FEATURES = support.FEATURE_NAMES   # x86 /proc/cpuinfo flags that matter here, as the report names them



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
    for fmt in support.LOW_FORMATS:
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
    cores = ([] if not cc else [*(fmt for fmt, first in support.GPU_NATIVE_CC.items() if cc >= first),
                                "TF32" if cc >= support.TF32_CC else None])
    mem = f", {g['memory_gb']} GB" if g.get("memory_gb") else ""
    tc = ", tensor cores: " + ("/".join(c for c in cores if c) or "none") if cc else ""
    return f"{g['name']}{mem}" + (f", compute capability {cc[0]}.{cc[1]}" if cc else "") + tc



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
