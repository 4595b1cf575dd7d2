"""The experiment grid: which runs exist, their batch sizes, and what each device asks the scheduler for.

Pure functions of the (validated) config, shared by the Snakefile and the tests.
"""
from __future__ import annotations

from itertools import product

CPU_DEVICE = {"type": "cpu"}


def batch_size(train_cfg: dict, framework: str, device: str, precision: str, filters: int) -> int:
    """The configured batch size; the first matching ``batch_size_overrides`` entry wins."""
    return batch_size_source(train_cfg, framework, device, precision, filters)[0]


def batch_size_source(train_cfg: dict, framework: str, device: str, precision: str, filters: int) -> tuple[int, str]:
    """(batch size, the config key it comes from: ``train.batch_size`` or ``train.batch_size_overrides[i]``)."""
    run = {"framework": framework, "device": device, "precision": precision, "filters": int(filters)}
    for i, entry in enumerate(train_cfg.get("batch_size_overrides", [])):
        if all(run[k] == v for k, v in entry.items() if k != "batch_size"):
            return int(entry["batch_size"]), f"train.batch_size_overrides[{i}]"
    return int(train_cfg["batch_size"]), "train.batch_size"


def device_spec(config: dict, device: str) -> dict:
    return config.get("devices", {}).get(device, CPU_DEVICE)


def train_runs(config: dict):
    """Every training run of the grid as a dict of wildcards."""
    t = config["train"]
    for fw, dev, prec, f, fold in product(t["frameworks"], t["devices"], t["precisions"], t["filters"], t["folds"]):
        yield {"framework": fw, "device": dev, "precision": prec, "filters": f, "fold": fold}


def infer_runs(config: dict):
    folds = set(config["infer"]["folds"])
    return [r for r in train_runs(config) if r["fold"] in folds]


def quantize_runs(config: dict):
    """Post-training quantization (and the Edge TPU) of the inference folds' models, for the frameworks of
    ``quantize.frameworks`` (the paper: TensorFlow only)."""
    frameworks = (config.get("quantize") or {}).get("frameworks", ("tensorflow", "pytorch"))
    return [r for r in infer_runs(config) if r["framework"] in frameworks]


def qat_runs(config: dict):
    """Quantization-aware fine-tuning: TensorFlow models only (tfmot), when ``quantize.qat_epochs`` > 0, of the
    precisions in ``quantize.qat_precisions`` (absent or null: every trained precision)."""
    q = config.get("quantize") or {}
    if q.get("qat_epochs", 0) <= 0:
        return []
    precisions = q.get("qat_precisions")
    return [r for r in quantize_runs(config)
            if r["framework"] == "tensorflow" and (precisions is None or r["precision"] in precisions)]


def slurm_resources(config: dict, device: str) -> dict:
    """Snakemake resources for a job on ``device``: ``gpu`` for local runs, SLURM keys for the cluster.

    ``gpu=1`` lets a local ``--resources gpu=N`` limit concurrent GPU jobs; the SLURM profile sets
    ``gpu: 0`` and uses ``gres`` instead (the plugin rejects both at once).
    """
    spec = device_spec(config, device)
    res = {"gpu": 1 if spec["type"] == "cuda" else 0}
    for key, res_key in (("partition", "slurm_partition"), ("gres", "gres"), ("cluster", "slurm_cluster"),
                         ("constraint", "constraint"), ("runtime_min", "runtime"), ("mem_mb", "mem_mb"),
                         ("cpus_per_task", "cpus_per_task")):
        if key in spec:
            res[res_key] = spec[key]
    account = config.get("slurm", {}).get("account")
    if account:
        res["slurm_account"] = account
    return res
