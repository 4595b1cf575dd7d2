"""Checks the Snakefile runs before any job: names that must exist, folds that must fit, folders that must be writable,
and what each job would ask a SLURM cluster for.

The schema checks each key on its own; :func:`config_problems` checks what keys say about each
other (a device name in ``train.devices`` that ``devices:`` does not define would train on the CPU
under that name; an override for ``precision: fp23`` would never match). :func:`unwritable_dirs`
finds the folders Snakemake would fail to write or clean up in, before it starts removing outputs.
:func:`slurm_problems` finds the jobs a SLURM cluster would run without the GPU they need, or refuse.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import re
import sys
import textwrap
from collections.abc import Iterable
from itertools import product
from pathlib import Path

from .. import grid, stages
from ..frameworks.table import FRAMEWORKS
from ..precisions import NAMES as PRECISIONS


class ConfigError(ValueError):
    """The config is inconsistent; the message lists every problem, each naming the key and the fix."""


def _known(names) -> str:
    return ", ".join(sorted(map(str, names))) or "none"


def config_problems(config: dict) -> list[str]:
    """Every inconsistency of a (schema-validated) config, one line each; [] when there is none."""
    problems = []
    devices = config.get("devices") or {}
    train, data, infer = config["train"], config["data"], config.get("infer") or {}
    for dev in train["devices"]:
        if dev not in devices:
            problems.append(f"train.devices: {dev!r} is not defined under devices: (known: {_known(devices)}); "
                            f"fix the name or add devices.{dev} (e.g. {{type: cuda, partition: …, gres: …}})")
    tables = {"device": (devices, "devices:"), "framework": (FRAMEWORKS, "the frameworks"),
              "precision": (PRECISIONS, "the precisions")}
    for i, entry in enumerate(train.get("batch_size_overrides") or []):
        for key, (known, where) in tables.items():
            if key in entry and entry[key] not in known:
                problems.append(f"train.batch_size_overrides[{i}]: {key} {entry[key]!r} is not one of {where} "
                                f"({_known(known)}), so this override would never match; fix the name")
    n_folds, n_samples = int(data.get("n_folds", 4)), int(data["n_samples"])
    if n_folds > n_samples:
        problems.append(f"data.n_folds ({n_folds}) is larger than data.n_samples ({n_samples}): some folds would "
                        "hold no frame; lower n_folds or draw more samples")
    for section, folds in (("train", train["folds"]), ("infer", infer.get("folds") or [])):
        for fold in folds:
            if not 0 <= int(fold) < n_folds:
                problems.append(f"{section}.folds: fold {fold} does not exist: data.n_folds is {n_folds} "
                                f"(folds 0..{n_folds - 1})")
    for fold in infer.get("folds") or []:
        if fold not in train["folds"] and 0 <= int(fold) < n_folds:
            problems.append(f"infer.folds: fold {fold} is not in train.folds ({list(train['folds'])}): no model is "
                            "trained for it; add it to train.folds or remove it from infer.folds")
    for precision in (config.get("quantize") or {}).get("qat_precisions") or []:
        if precision not in train["precisions"]:
            problems.append(f"quantize.qat_precisions: {precision!r} is not in train.precisions "
                            f"({list(train['precisions'])}): no model of it is trained to fine-tune; add it to "
                            "train.precisions or remove it from quantize.qat_precisions")
    problems += non_finite_numbers(config)
    from ..data.preprocess import crop_size_problem
    crop = crop_size_problem(int((data.get("crop") or {}).get("size", 224)))
    if crop:
        problems.append(crop)
    if n_folds <= n_samples:
        problems += batch_size_problems(config)
    return problems


def non_finite_numbers(config, path: str = "") -> list[str]:
    """Every NaN or infinite number in the config, by key (the schema's bounds let NaN through)."""
    if isinstance(config, dict):
        return [p for k, v in config.items() for p in non_finite_numbers(v, f"{path}.{k}" if path else str(k))]
    if isinstance(config, list):
        return [p for i, v in enumerate(config) for p in non_finite_numbers(v, f"{path}[{i}]")]
    if isinstance(config, float) and not math.isfinite(config):
        return [f"{path} is {config}, not a finite number: set a number (config/schema.yaml gives the default "
                "and bounds)"]
    return []


def batch_size_problems(config: dict) -> list[str]:
    """Batch sizes larger than the training frames of a fold (folds by frame: their sizes are known now).

    Such a run trains one short batch per epoch while its record states the configured size. Folds
    by video are sized when the HDF5 is written; the training job checks them (``mpbench.training.loop``).
    """
    from ..data.preprocess import frame_fold_sizes
    train, data = config["train"], config["data"]
    if data.get("folds_by", "frame") != "frame" or "batch_size" not in train:
        return []
    n, n_folds, limit = int(data["n_samples"]), int(data.get("n_folds", 4)), train.get("samples_limit")
    sizes = frame_fold_sizes(n, n_folds)
    folds = [int(k) for k in train["folds"] if 0 <= int(k) < n_folds]
    if not folds:
        return []
    fold = max(folds, key=lambda k: sizes[k])     # the fold with the fewest training frames
    n_train = n - sizes[fold] if limit is None else min(int(limit), n - sizes[fold])
    too_large: dict[str, int] = {}
    for fw, dev, prec, f in product(train["frameworks"], train["devices"], train["precisions"], train["filters"]):
        size, key = grid.batch_size_source(train, fw, dev, prec, f)
        if size > n_train:
            too_large[key] = size
    where = f"data.n_samples {n} in data.n_folds {n_folds} folds" + (f", train.samples_limit {limit}" if limit else "")
    return [f"{key} is {size}, larger than the {n_train} training frames of fold {fold} ({where}): every epoch "
            f"would train one batch of {n_train} while the record says {size}. Set {key} to at most {n_train}, "
            "or draw more frames (data.n_samples)" for key, size in too_large.items()]


def config_message(config: dict) -> str | None:
    """Every problem :func:`config_problems` finds, as one message (None: there is none)."""
    problems = config_problems(config)
    if problems:
        return "the config is inconsistent (nothing was run):\n  " + "\n  ".join(problems)
    return None


def check_config(config: dict) -> None:
    """Raise :class:`ConfigError` listing every problem :func:`config_problems` finds."""
    message = config_message(config)
    if message:
        raise ConfigError(message)


def unwritable_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """The folders in which ``paths`` (files about to be written, or removed and rewritten) cannot be.

    For each path: its folder, or that folder's nearest existing ancestor when it does not exist yet
    (the folders below it are created); a folder that exists but is not writable is reported once.
    """
    bad, seen = [], set()
    for p in paths:
        d = Path(p).absolute().parent
        while not d.exists() and d != d.parent:
            d = d.parent
        if d in seen:
            continue
        seen.add(d)
        if not os.access(d, os.W_OK | os.X_OK):
            bad.append(d)
    return sorted(bad)


def check_writable(paths: Iterable[str | Path], results_dir: str | Path) -> None:
    """Raise :class:`PermissionError` naming the read-only folders among those ``paths`` need."""
    bad = unwritable_dirs(paths)
    if bad:
        shown = "\n  ".join(map(str, bad[:20])) + (f"\n  … and {len(bad) - 20} more" if len(bad) > 20 else "")
        raise PermissionError(
            f"{len(bad)} folder(s) that jobs of this run write in are read-only:\n  {shown}\n"
            "Snakemake would fail while removing those jobs' old outputs (and mark jobs running beside them "
            f"incomplete). Make them writable (e.g. chmod -R u+w {results_dir}, or remount read-write), or "
            "leave those jobs out of this run. Nothing was changed.")


# --------------------------------------------------------------------------- SLURM requests

def asks_for_gpu(resources: dict) -> bool:
    """Whether a job with these Snakemake resources requests a GPU from SLURM: ``gres`` naming a GPU
    (``--gres=gpu:a100:1``), or ``gpu``/``gpus`` > 0 (the SLURM plugin's ``--gpus``)."""
    if "gpu" in str(resources.get("gres") or ""):
        return True
    for key in ("gpu", "gpus"):
        try:
            if int(resources.get(key) or 0) > 0:
                return True
        except (TypeError, ValueError):
            return True          # e.g. gpus="a100:1"
    return False


def job_label(rule: str, run: dict) -> str:
    """``rule[device/precision/fN/foldK]`` (the cell's folder, after ``framework/`` for a rule serving
    both frameworks; without a rule just the cell), or just the rule for preprocess."""
    if not run:
        return rule
    cell = f"{run['device']}/{run['precision']}/f{run['filters']}/fold{run['fold']}"
    if "framework" in run:   # quantize and the Edge TPU rules serve both frameworks
        cell = f"{run['framework']}/{cell}"
    return f"{rule}[{cell}]" if rule else cell


def _rule_order(item):
    rule = item[0]
    return stages.rule_order(rule), rule


def _cell_order(cell: str):
    """device/precision/fN/foldK sorted with N and K as numbers."""
    return [(0, int(m.group(1)), "") if (m := re.fullmatch(r"(?:fold|f)(\d+)", p)) else (1, 0, p)
            for p in cell.split("/")]


def slurm_problems(config: dict, jobs: Iterable[tuple[str, dict, str, dict]]) -> list[str]:
    """What a SLURM cluster would do wrong with ``jobs``, one entry per device and kind, each naming every job.

    ``jobs``: ``(rule, run, device, resources)`` of each job that would be submitted (``resources``:
    what it asks Snakemake/SLURM for). Two kinds of problem:

    - a job on a ``cuda`` device that asks for no GPU (the device has no ``gres``, e.g. the paper's
      desktop ``rtx3090``): it would run on a node without a GPU and fail;
    - with ``slurm.gpu_only: true`` (a cluster that takes only jobs requesting a GPU, as NHR@FAU's
      TinyGPU), a job that asks for no GPU: sbatch would refuse it.
    """
    gpu_only = bool((config.get("slurm") or {}).get("gpu_only", False))
    groups: dict[tuple[str, str], list[str]] = {}
    for rule, run, device, resources in jobs:
        if asks_for_gpu(resources):
            continue
        if grid.device_spec(config, device)["type"] == "cuda":
            kind = "no_gpu"
        elif gpu_only:
            kind = "refused"
        else:
            continue
        groups.setdefault((kind, device), {}).setdefault(rule, []).append(job_label("", run) or rule)
    problems = []
    for (kind, device), by_rule in sorted(groups.items()):
        n = sum(map(len, by_rule.values()))
        if kind == "no_gpu":
            head = (f"{n} job(s) on devices.{device} (type cuda) ask SLURM for no GPU (devices.{device} "
                    "sets no gres): they would run on a node without a GPU and fail. Fix: give devices."
                    f"{device} the cluster's partition and gres (e.g. partition: a40, gres: \"gpu:a40:1\"), or "
                    f"leave {device} out of train.devices on the cluster (config/cluster.yaml, which the slurm "
                    f"profile loads, does) and run those cells on the machine that has that GPU "
                    "(snakemake --cores N --resources gpu=1).")
        else:
            head = (f"{n} job(s) on devices.{device} ask for no GPU, but slurm.gpu_only is true (the "
                    "cluster takes only jobs that request a GPU): sbatch would refuse them. Fix: give "
                    f"devices.{device} a GPU share (e.g. partition: a40, gres: \"gpu:a40:1\"; config/cluster.yaml "
                    f"does), or point devices.{device} at a CPU partition/cluster (partition, cluster) and set "
                    "slurm.gpu_only: false.")
        lines = [textwrap.fill(", ".join(sorted(cells, key=_cell_order)), width=118, subsequent_indent="      ",
                               initial_indent=f"    {rule} ({len(cells)}): ", break_on_hyphens=False)
                 if cells != [rule] else f"    {rule}" for rule, cells in sorted(by_rule.items(), key=_rule_order)]
        problems.append("\n".join([textwrap.fill(head, width=118, subsequent_indent="  "), *lines]))
    return problems


def slurm_message(problems: list[str], dry_run: bool) -> str | None:
    """The problems of :func:`slurm_problems` as one message; None when there is none."""
    if not problems:
        return None
    head = ("dry run with the SLURM executor: these jobs would get no GPU or be refused once submitted"
            if dry_run else "not submitted: these jobs would get no GPU or be refused by SLURM (nothing was submitted)")
    return head + ":\n  " + "\n  ".join(p.replace("\n", "\n  ") for p in problems)


def requested_executor(argv: list[str] | None = None) -> tuple[str, bool] | None:
    """``(executor, dry_run)`` of the snakemake command line this process runs (profiles applied), or None.

    Snakemake parses the Snakefile before it hands the workflow its executor, so a check at parse
    time (the only time a dry run gives a workflow) reads the command line the way Snakemake does.
    None when this process is not the ``snakemake`` command line (the API, a job step) or it cannot
    be parsed.
    """
    argv = sys.argv[1:] if argv is None else argv
    try:
        from snakemake.cli import parse_args
        from snakemake_interface_executor_plugins.settings import ExecMode
        with contextlib.redirect_stderr(io.StringIO()):      # it prints "Using profile …" once more
            _, args = parse_args(argv)
    except (Exception, SystemExit):
        return None
    if getattr(args, "mode", ExecMode.DEFAULT) != ExecMode.DEFAULT:
        return None
    return (args.executor or "local"), bool(args.dryrun)
