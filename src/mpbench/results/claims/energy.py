"""The energy claims: mixed precision lowers the GPU energy per training sample and to a target IoU.

They read the GPU energy of :mod:`mpbench.results.energy` (energy.csv's cells): per training sample
and to ``energy.target_iou``, mixed / baseline per framework/device/f/fold, over folds; the CPU
packages' energy (powercap) is stated beside it where measured. Without GPU energy they are
``not measured`` and the detail gives the meter's reason.
"""
from __future__ import annotations

import pandas as pd

from ... import stats
from ...record import Verdict
from .. import speedups
from ..tables import TRAINED_CELL
from .evidence import Evidence
from .verdicts import combine, ratio_verdict


def meter_reasons(rows: pd.DataFrame, shown: int = 3) -> str:
    """The distinct reasons of energy rows without joules (:mod:`mpbench.results.energy`), each once."""
    found = list(dict.fromkeys(r for r in rows["reason"] if isinstance(r, str) and r))
    return "; ".join(found[:shown]) + ("; …" if len(found) > shown else "") if found else "no reason recorded"


def vs_baseline(rows: pd.DataFrame, names, baseline: str, keys):
    """``(row of precision p, row of the baseline)`` for each p and each group of ``keys`` holding both."""
    for p in names:
        for _, g in rows.groupby(keys):
            a, b = g[g["precision"] == p], g[g["precision"] == baseline]
            if len(a) and len(b):
                yield a.iloc[0], b.iloc[0]


def energy_pairs(evidence: Evidence, quantity: str) -> tuple[list, str | None]:
    """``(pairs, why)``: (mixed row, baseline row) of the GPU energy ``quantity`` (energy.csv's) per
    framework/device/f/fold, from ok training runs on this grid's GPUs; ``why`` when there is nothing
    to judge — no GPU, no run yet, or no GPU energy at all (then the meters' reasons)."""
    e = evidence.energy
    rows = e[(e["phase"] == "train") & (e["quantity"] == quantity) & (e["status"] == "ok") & (e["meter"] == "gpu")]
    if not evidence.gpus:
        return [], "no GPU device in this grid (train.devices has none of type cuda): no GPU energy (NVML) here"
    rows = rows[rows["device"].isin(evidence.gpus)]
    if rows.empty:
        return [], "no GPU training results in this grid yet"
    if rows["joules"].isna().all():
        return [], f"no GPU energy in these results: {meter_reasons(rows)}"
    keys = ["framework", "device", "filters", "fold"]
    return list(vs_baseline(rows, evidence.mixed_precisions(), evidence.baseline, keys)), None


def with_cpu(evidence: Evidence, pairs, quantity: str) -> str:
    """The mixed / baseline ratio with the CPU packages' energy (powercap) added to both sides, or why
    it is left out: the GPU claims are judged on the GPU's energy, the host's is stated beside it."""
    e = evidence.energy
    cpu = e[(e["phase"] == "train") & (e["quantity"] == quantity) & (e["meter"] == "cpu")]
    cpu = {speedups.key(cell): r for cell, r in zip(cpu[TRAINED_CELL].itertuples(index=False),
                                                     cpu.to_dict("records"), strict=True)}
    ratios, missing = [], []
    for a, b in pairs:
        ca, cb = (cpu.get(speedups.key(tuple(r[k] for k in TRAINED_CELL))) for r in (a, b))
        if ca is None or cb is None or pd.isna(ca["joules"]) or pd.isna(cb["joules"]):
            missing += [c for c in (ca, cb) if c is not None and pd.isna(c["joules"])]
            continue
        ratios.append((a["joules"] + ca["joules"]) / (b["joules"] + cb["joules"]))
    if missing or not ratios:
        return "CPU energy not added (" + (meter_reasons(pd.DataFrame(missing)) if missing else "no CPU rows") + ")"
    s = stats.over_folds(ratios)
    return f"GPU + CPU packages (powercap): {s['mean']:.3g} over {s['n']} pairs"


def metered(pairs) -> list:
    """The pairs with GPU energy on both sides."""
    return [(a, b) for a, b in pairs if pd.notna(a["joules"]) and pd.notna(b["joules"])]


def energy_lower(evidence: Evidence, claim: dict) -> dict:
    """Mixed precision lowers the GPU energy per training sample (NVML, the timed epochs' training
    passes): mixed / baseline per framework/device/f/fold, over folds; supported when its CI lies below 1."""
    pairs, why = energy_pairs(evidence, "per_sample")
    if why:
        return {"detail": why}
    measured = metered(pairs)
    if not measured:
        return {"detail": "no mixed/baseline pair with GPU energy on both sides: "
                          + meter_reasons(pd.DataFrame([r for pair in pairs for r in pair]))}
    out = ratio_verdict([a["joules"] / b["joules"] for a, b in measured], above=False,
                        detail=f"GPU J per training sample (NVML) mixed / {evidence.baseline}, timed epochs' "
                               "training passes")
    out["detail"] += f"; {with_cpu(evidence, measured, 'per_sample')}"
    return out


def energy_to_target_lower(evidence: Evidence, claim: dict) -> dict:
    """Mixed precision lowers the GPU energy to reach ``energy.target_iou`` (MLPerf-style, validation
    included): mixed / baseline over folds, supported when its CI lies below 1. A pair where only the
    baseline reaches the target contradicts, one where only the mixed run does supports; where
    neither does (or a side is unmetered) it is named and not counted."""
    target = evidence.target_iou
    if target is None:
        return {"detail": "no energy.target_iou in the config"}
    pairs, why = energy_pairs(evidence, "to_target")
    if why:
        return {"detail": f"{why} (target IoU {target})"}
    measured, one_sided, left = [], [], []
    for a, b in pairs:
        ra, rb = pd.notna(a["epochs"]), pd.notna(b["epochs"])
        if ra and rb and pd.notna(a["joules"]) and pd.notna(b["joules"]):
            measured.append((a, b))
            continue
        if ra != rb:
            one_sided.append(Verdict.SUPPORTED if ra else Verdict.CONTRADICTED)
        why = (f"only {(a if ra else b)['precision']} reached it" if ra != rb
               else meter_reasons(pd.DataFrame([a, b]), shown=1))
        left.append(f"{a['framework']}/{a['device']}/f{a['filters']}/fold{a['fold']} {a['precision']} vs "
                    f"{b['precision']}: {why}")
    if not measured and not one_sided:
        return {"detail": f"no mixed/baseline pair reached validation IoU {target} with GPU energy: "
                          + "; ".join(left[:3])}
    detail = (f"GPU J (NVML) to reach validation IoU {target} (energy.target_iou; "
              f"{pairs[0][0]['covers']}) mixed / {evidence.baseline}")
    out = ratio_verdict([a["joules"] / b["joules"] for a, b in measured], above=False, detail=detail)
    out.update(verdict=combine(([out["verdict"]] if measured else []) + one_sided), n=out["n"] + len(one_sided))
    if measured:
        out["detail"] += f"; {with_cpu(evidence, measured, 'to_target')}"
    if left:
        out["detail"] += "; not in the ratio: " + "; ".join(left[:3]) + ("; …" if len(left) > 3 else "")
    return out


TESTS = (energy_lower, energy_to_target_lower)
