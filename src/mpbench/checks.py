"""Checks the Snakefile runs before any job: names that must exist, folds that must fit, folders that must be writable.

The schema checks each key on its own; :func:`config_problems` checks what keys say about each
other (a device name in ``train.devices`` that ``devices:`` does not define would train on the CPU
under that name; an override for ``precision: fp23`` would never match). :func:`unwritable_dirs`
finds the folders Snakemake would fail to write or clean up in, before it starts removing outputs.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .frameworks.table import FRAMEWORKS
from .precisions import NAMES as PRECISIONS


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
    return problems


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
