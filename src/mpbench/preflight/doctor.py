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

import json
from pathlib import Path

from .facts import PROBE_TIMEOUT_S, collect
from .findings import findings
from .report import render


def load_config(configfiles=()) -> tuple[dict | None, str]:
    """config/config.yaml (of the current folder, else of this package's repository) with ``configfiles``
    laid over it and validated, as the workflow reads it (:func:`mpbench.config.load`); ``(config, the files'
    names)``, or ``(None, why)`` without a config or when it does not validate."""
    from .. import config
    try:
        base = config.base_config()
        return config.load(*configfiles, base=base), " + ".join([str(base), *map(str, configfiles)])
    except (FileNotFoundError, config.ConfigError) as e:
        return None, str(e)


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
