import os
import sys
from pathlib import Path

# The library lives in src/; make it importable here and in every job's script.
_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _SRC)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p)

from mpbench import grid
from mpbench.figures import FIGURE_NAMES

RESULTS = config["results_dir"].rstrip("/")
DATA = config["data"]
H5 = f"{RESULTS}/data/bagls_{DATA['crop']['size']}.h5"


wildcard_constraints:
    framework="tensorflow|pytorch",
    device="[A-Za-z0-9_]+",
    precision="fp32|tf32|mixed_fp16|mixed_bf16|fp16|apex_o1|apex_o3",
    filters=r"\d+",
    fold=r"\d+",


def bagls_input(wildcards):
    """The BAGLS folder: made by rule synthetic_bagls, or the user's (may not exist at dry-run)."""
    if DATA["synthetic_frames"] > 0:
        return DATA["bagls_dir"]
    if not os.path.isdir(DATA["bagls_dir"]):
        return []  # preprocess then fails with a message naming data.bagls_dir
    return DATA["bagls_dir"]


def train_params(framework):
    from mpbench.training.settings import TrainSettings

    return lambda wc: TrainSettings.from_config(
        config, framework, wc.device, wc.precision, int(wc.filters), int(wc.fold)
    ).to_dict()


SLURM_KEYS = ("slurm_partition", "gres", "slurm_cluster", "constraint", "runtime", "mem_mb", "cpus_per_task",
              "slurm_account")


def device_resources(device=None):
    """Resources of a job on the ``{device}`` wildcard's device, or on a fixed one (``"cpu"``).

    ``gpu`` (1 on CUDA devices) lets ``--resources gpu=N`` limit concurrent GPU jobs locally; the
    SLURM keys (partition, gres, cluster, …) come from ``devices.<name>`` in the config, so no rule
    names a partition. Keys a device does not set are left out (None is dropped by Snakemake) and
    the profile's default-resources apply.
    """
    slurm = config.get("slurm", {})
    numeric = {"runtime": slurm.get("default_runtime_min", 120), "mem_mb": slurm.get("default_mem_mb", 16000),
               "cpus_per_task": slurm.get("default_cpus_per_task", 2)}   # Snakemake needs a number here

    def get(key, default=None):
        return lambda wc: grid.slurm_resources(config, device or wc.device).get(key, default)
    return {"gpu": get("gpu", 0), **{k: get(k, numeric.get(k)) for k in SLURM_KEYS}}


def run_dir(phase, run):
    """Result folder of one grid cell, e.g. results/train/pytorch/a100/mixed_fp16/f64/fold0."""
    return f"{RESULTS}/{phase}/{run['framework']}/{run['device']}/{run['precision']}/f{run['filters']}/fold{run['fold']}"


def train_result(run):
    return f"{run_dir('train', run)}/result.json"


def quantize_dir(run):
    return f"{RESULTS}/quantize/{run['device']}/{run['precision']}/f{run['filters']}/fold{run['fold']}"


def result_files():
    """Every result JSON of the configured grid (what summary.csv gathers)."""
    out = [train_result(r) for r in grid.train_runs(config)]
    out += [f"{run_dir('infer', r)}/result.json" for r in grid.infer_runs(config)]
    for r in grid.quantize_runs(config):
        out.append(f"{quantize_dir(r)}/result.json")
        if config["quantize"].get("qat_epochs", 0) > 0:
            out.append(f"{quantize_dir(r)}/qat.json")
        if "int8" in config["quantize"]["variants"]:
            out.append(f"{quantize_dir(r)}/edgetpu_infer.json")
    return out


def summary_inputs(wildcards):
    """Every result the grid defines; with figures.only_existing, just those already on disk
    (regenerate figures from copied results without rerunning anything)."""
    wanted = result_files()
    if config["figures"].get("only_existing", False):
        return [p for p in wanted if os.path.exists(p)]
    return wanted


def all_outputs():
    return [H5] + result_files() + expand(f"{RESULTS}/figures/{{figure}}.{{ext}}", figure=FIGURE_NAMES, ext=("png", "pdf"))
