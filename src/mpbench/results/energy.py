"""energy.csv: the energy each training and inference cell used, to train, to a target IoU and per
sample, with its grams of CO2, per cell and for the whole grid; GPU and CPU separately.

Energy is what the meters measured (:mod:`mpbench.energy`): ``gpu`` rows from NVML's counter,
``cpu`` rows from the powercap (RAPL) counters of the CPU packages and their DRAM. Where a meter did
not measure, ``joules``, ``kwh`` and ``g_co2`` are empty and ``reason`` says why (the meter's own
reason: no GPU, no NVML, no powercap tree, counters not readable; or a missing epoch, a target never
reached). Nothing is estimated.

One row per (``scope``, cell, ``quantity``, ``meter``); ``scope`` is ``cell`` (one training run, one
inference batch size) or ``grid`` (the sum over every cell of the results read). ``quantity``:

- ``to_train`` (training): every epoch the run trained, the first (warm-up) epoch and every
  validation pass included (``covers`` says so): what the run cost. ``seconds`` is the time of those
  passes, ``epochs`` their number.
- ``to_target`` (training): MLPerf-style time and energy to train — from the first epoch to the end of
  the validation that first reaches ``energy.target_iou`` (``target_iou``; ``epochs`` is that epoch);
  empty with the reason when no epoch reached it.
- ``per_sample``: joules per training sample over the timed epochs' training passes (the first epoch
  of each process excluded; the record's ``joules_per_sample``/``cpu_joules_per_sample``), or per
  inference image over the timed passes (warm-up excluded); ``seconds`` is the mean time per sample.
- ``timed_passes`` (inference, grid only): the joules of every timed inference pass.

``kwh`` = joules / 3.6e6; ``g_co2`` = kWh × ``carbon_intensity_g_per_kwh`` (config ``energy``, with
``carbon_intensity_source``; :mod:`mpbench.energy.co2`). A grid total is empty when any of its cells'
is (``reason``: how many cells lack it and the first cell's reason): a sum missing a cell would
understate the cost. ``meter_note`` on CPU rows: RAPL counts whole packages, so on a shared node
other jobs' work is in the joules (the job's CPU share is stated, never used to scale them).
"""
from __future__ import annotations

import pandas as pd

from .. import record
from ..energy import co2, target

METERS = {"gpu": ("GPU", "NVML"), "cpu": ("CPU", "powercap")}
KEYS = ["framework", "device", "run_device", "precision", "filters", "fold", "batch_size"]
COLUMNS = ["scope", "phase", "quantity", "meter", *KEYS, "status", "joules", "kwh", "g_co2", "seconds", "epochs",
           "target_iou", "covers", "reason", "meter_note", "carbon_intensity_g_per_kwh", "carbon_intensity_source"]
PER_SAMPLE_TRAIN = "training passes of the timed epochs (first epoch of each process excluded), per training sample"
PER_SAMPLE_INFER = "timed inference passes (warm-up excluded), per image"
TIMED_PASSES = "every timed inference pass of the grid (warm-up excluded)"
ENERGY_STAGES = ("train", "infer")


def meter_reason(rec: record.Record, meter: str) -> str | None:
    """Why ``rec`` has no ``meter`` energy at all (None: the meter was available)."""
    what, source = METERS[meter]
    desc = rec.energy_meter if meter == "gpu" else rec.cpu_energy_meter
    if not desc:
        return f"{what} energy not measured: the record names no {source} meter (made by an mpbench without it)"
    if desc.get("available"):
        return None
    return f"{what} energy not measured: {desc.get('reason') or 'meter unavailable'}"


def _note(rec: record.Record, meter: str) -> str | None:
    return (rec.cpu_energy_meter or {}).get("note") if meter == "cpu" else None


def _row(rec: record.Record, phase: str, quantity: str, meter: str, joules, reason, **extra) -> dict:
    s = rec.settings
    return {"scope": "cell", "phase": phase, "quantity": quantity, "meter": meter,
            "framework": s.get("framework"), "device": s.get("device"), "run_device": rec.run_device,
            "precision": s.get("precision"), "filters": s.get("filters"), "fold": s.get("fold"),
            "batch_size": rec.batch_size if phase == "infer" else None, "status": rec.status,
            "joules": joules, "reason": None if joules is not None else reason, "meter_note": _note(rec, meter),
            **extra}


def _why(joules, meter_why: str | None, own: str | None, status: str) -> str | None:
    """The reason a value is empty: the meter's, else the quantity's own (a missing epoch, a target
    never reached), else the run's status."""
    if joules is not None:
        return None
    return meter_why or own or f"no timed epoch or pass (status {status})"


def _per_sample(rec: record.Record, phase: str, meter: str) -> dict:
    joules = rec.joules_per_sample if meter == "gpu" else rec.cpu_joules_per_sample
    mean = ((rec.latency or {}).get("per_sample_s") or {}).get("mean")
    return _row(rec, phase, "per_sample", meter, joules, _why(joules, meter_reason(rec, meter), None, rec.status),
                seconds=mean, covers=PER_SAMPLE_TRAIN if phase == "train" else PER_SAMPLE_INFER)


def train_rows(rec: record.Record, target_iou: float | None) -> list[dict]:
    """The rows of one training record: per sample, to train and (with ``target_iou``) to target, per meter."""
    history = rec.details.get("history") or []
    rows = []
    for meter in METERS:
        why = meter_reason(rec, meter)
        rows.append(_per_sample(rec, "train", meter))
        run = target.to_train(history, meter)
        rows.append(_row(rec, "train", "to_train", meter, run["joules"],
                         _why(run["joules"], why, run["reason"], rec.status), seconds=run["seconds"],
                         epochs=run["epochs"], covers=target.VALIDATION_INCLUDED))
        if target_iou is not None:
            hit = target.to_target(history, target_iou, meter)
            if hit["epoch"] is None:   # never reached: that first, the meter's reason (if any) beside it
                why = "; ".join(filter(None, (hit["reason"], why)))
            rows.append(_row(rec, "train", "to_target", meter, hit["joules"],
                             _why(hit["joules"], why, hit["reason"], rec.status), seconds=hit["seconds"],
                             epochs=hit["epoch"], target_iou=target_iou, covers=target.TARGET_SCOPE))
    return rows


def cell_rows(records: list[record.Record], target_iou: float | None = None) -> pd.DataFrame:
    """Every cell row (``scope`` cell) of the training and inference records, without CO2 (the claims
    read these; :func:`table` adds the grid totals and the grams)."""
    rows = []
    for rec in records:
        if rec.stage == "train":
            rows += train_rows(rec, target_iou)
        elif rec.stage == "infer":
            rows += [_per_sample(rec, "infer", meter) for meter in METERS]
    return pd.DataFrame(rows, columns=COLUMNS)


def _timed_pass_joules(rec: record.Record, meter: str) -> float | None:
    """Joules of all timed passes of one inference record (per-image joules × images timed)."""
    per_image = rec.joules_per_sample if meter == "gpu" else rec.cpu_joules_per_sample
    repeats = rec.details.get("repeats")
    return None if per_image is None or repeats is None else per_image * repeats * rec.batch_size


def _total(values: list[float | None], reasons: list[str | None], what: str) -> tuple[float | None, str | None]:
    """Sum of ``values``, or None with the reason when any is None."""
    missing = [r for v, r in zip(values, reasons, strict=True) if v is None]
    if not values:
        return None, f"no {what} in these results"
    if missing:
        return None, f"{len(missing)} of {len(values)} {what} have none (first: {missing[0]})"
    return float(sum(values)), None


def grid_rows(cells: pd.DataFrame, records: list[record.Record]) -> list[dict]:
    """The grid totals (``scope`` grid): energy to train and to target summed over every training cell,
    and the joules of every timed inference pass, per meter."""
    rows = []
    for meter in METERS:
        for quantity, covers in (("to_train", target.VALIDATION_INCLUDED), ("to_target", target.TARGET_SCOPE)):
            part = cells[(cells["phase"] == "train") & (cells["quantity"] == quantity) & (cells["meter"] == meter)]
            if quantity == "to_target" and part.empty:
                continue
            joules, reason = _total([None if pd.isna(j) else j for j in part["joules"]], list(part["reason"]),
                                    "training cells")
            seconds, epochs = ((None, None) if part.empty or part[["seconds", "epochs"]].isna().any().any()
                               else (float(part["seconds"].sum()), int(part["epochs"].sum())))
            rows.append({"scope": "grid", "phase": "train", "quantity": quantity, "meter": meter, "joules": joules,
                         "seconds": seconds, "epochs": epochs, "covers": covers, "reason": reason,
                         "target_iou": part["target_iou"].iloc[0] if quantity == "to_target" else None})
        infer = [r for r in records if r.stage == "infer"]
        values = [_timed_pass_joules(r, meter) for r in infer]
        reasons = [_why(v, meter_reason(r, meter), None, r.status) for v, r in zip(values, infer, strict=True)]
        joules, reason = _total(values, reasons, "inference cells")
        rows.append({"scope": "grid", "phase": "infer", "quantity": "timed_passes", "meter": meter,
                     "joules": joules, "covers": TIMED_PASSES, "reason": reason})
    return rows


def table(records: list[record.Record], energy_config: dict) -> pd.DataFrame:
    """energy.csv (module doc) from ``records``; ``energy_config``: the config's ``energy`` section."""
    g_per_kwh = energy_config["carbon_intensity_g_per_kwh"]
    cells = cell_rows(records, energy_config["target_iou"])
    out = pd.concat([cells, pd.DataFrame(grid_rows(cells, records), columns=COLUMNS)], ignore_index=True)
    joules = [None if pd.isna(j) else float(j) for j in out["joules"]]
    out["kwh"] = [co2.kwh(j) for j in joules]
    out["g_co2"] = [co2.grams_co2(j, g_per_kwh) for j in joules]
    out["carbon_intensity_g_per_kwh"] = g_per_kwh
    out["carbon_intensity_source"] = energy_config["carbon_intensity_source"]
    for c in ("filters", "fold", "batch_size", "epochs"):
        out[c] = out[c].astype("Int64")
    return out


def write(paths, energy_csv, energy_config: dict) -> pd.DataFrame:
    """energy.csv from the result files ``paths`` (the summary's inputs; training and inference records)."""
    from .. import io
    records = [rec for p in sorted(map(str, paths)) for rec in record.read(p) if rec.stage in ENERGY_STAGES]
    out = table(records, energy_config)
    io.write_text(energy_csv, out.to_csv(index=False))
    return out


def read(energy_csv) -> pd.DataFrame:
    return pd.read_csv(energy_csv)
