"""From intervals to verdicts, and the words that go with them, shared by every claim test.

Verdicts: ``supported`` (the CI lies on the claimed side of the threshold, or inside the equivalence
margin), ``contradicted`` (on the other side), ``inconclusive`` (the CI spans the threshold), or
``not measured`` with the reason — the hardware the claim is about is not in this grid, or only a
stand-in ran (a ``cpu-int8`` row is not Edge TPU evidence, a CPU row is not GPU evidence, and no
Cloud TPU runs here at all).

A claim over several cells (every GPU, every framework) is supported only when every cell is,
contradicted when any is (:func:`combine`); a claim with a part that cannot be checked here is at most
inconclusive, the detail says which part (:func:`combine_parts`). A speed cell whose
``inconclusive_because`` is set is never judged (:func:`judged`, :func:`within`); the detail says why
(:func:`with_why_not`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ... import stats
from ...record import Verdict
from .. import accuracy

NOT_MEASURED = Verdict.NOT_MEASURED


def ci_verdict(low, high, threshold: float, above: bool = True) -> str:
    """A CI against a threshold: supported on the claimed side (``above`` it, or below), contradicted on
    the other, inconclusive when it spans it or is missing."""
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return Verdict.INCONCLUSIVE
    if (low > threshold) if above else (high < threshold):
        return Verdict.SUPPORTED
    if (high < threshold) if above else (low > threshold):
        return Verdict.CONTRADICTED
    return Verdict.INCONCLUSIVE


def blocked_because(cell: dict) -> str | None:
    """Why a speed cell may not be judged (its ``inconclusive_because``), or None."""
    why = cell.get("inconclusive_because")
    return why if isinstance(why, str) and why else None


def judged(cell: dict, threshold: float, above: bool = True) -> str:
    """A speed cell against a threshold; ``inconclusive`` when the cell may not be judged (one run,
    noisy timings, settings that differ: its ``inconclusive_because``)."""
    if blocked_because(cell):
        return Verdict.INCONCLUSIVE
    return ci_verdict(cell["ci_low"], cell["ci_high"], threshold, above)


def within(cell: dict, value: float, tolerance: float) -> str:
    """Two-sided: the CI inside value × (1 ± tolerance) supports, entirely outside contradicts."""
    lo, hi = value * (1 - tolerance), value * (1 + tolerance)
    if blocked_because(cell) or cell["ci_low"] is None or pd.isna(cell["ci_low"]):
        return Verdict.INCONCLUSIVE
    if lo < cell["ci_low"] and cell["ci_high"] < hi:
        return Verdict.SUPPORTED
    if cell["ci_high"] < lo or cell["ci_low"] > hi:
        return Verdict.CONTRADICTED
    return Verdict.INCONCLUSIVE


def combine(verdicts: list[str]) -> str:
    """Every cell supported: supported; any contradicted: contradicted; none at all: not measured."""
    if not verdicts:
        return NOT_MEASURED
    if Verdict.CONTRADICTED in verdicts:
        return Verdict.CONTRADICTED
    return Verdict.SUPPORTED if all(v == Verdict.SUPPORTED for v in verdicts) else Verdict.INCONCLUSIVE


def combine_parts(verdicts: list[str], unchecked: list[str]) -> str:
    """A claim of several parts: contradicted by any part; at most inconclusive with a part unchecked."""
    if Verdict.CONTRADICTED in verdicts:
        return Verdict.CONTRADICTED
    if unchecked:
        return Verdict.INCONCLUSIVE if verdicts else NOT_MEASURED
    return combine(verdicts)


def ci_text(s: dict) -> str:
    """A speed-up and its CI in words: ``1.6 [1.5, 1.7]``, or ``(no CI)``."""
    lo, hi = s.get("ci_low"), s.get("ci_high")
    have = lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi)
    return f"{s['speedup_mean']:.3g} [{lo:.3g}, {hi:.3g}]" if have else f"{s['speedup_mean']:.3g} (no CI)"


def cell_name(cell: dict) -> str:
    """A cell in words: ``train/pytorch/a100/mixed_bf16/f64/batch 128`` (the keys it has)."""
    parts = [str(cell[k]) for k in ("phase", "framework", "device", "precision") if cell.get(k) is not None]
    parts += [f"f{cell['filters']}"] if cell.get("filters") is not None else []
    parts += [f"batch {cell['batch_size']}"] if cell.get("batch_size") is not None else []
    return "/".join(parts)


def why_not_judged(cells: list[dict]) -> str:
    """Why some speed cells could not be judged: each reason once, with the cells it holds for."""
    reasons: dict[str, list[str]] = {}
    for cell in cells:
        for why in filter(None, (blocked_because(cell) or "").split(" | ")):
            reasons.setdefault(why, []).append(cell_name(cell))
    return "; ".join(f"{len(names)} of {len(cells)} cells not judged ({', '.join(names[:3])}"
                     f"{', …' if len(names) > 3 else ''}): {why}" for why, names in reasons.items())


def with_why_not(detail: str, cells: list[dict]) -> str:
    """``detail`` and, where some of ``cells`` could not be judged, why (:func:`why_not_judged`)."""
    note = why_not_judged(cells)
    return f"{detail}; {note}" if note else detail


def ratio_verdict(ratios: list[float], above: bool, detail: str) -> dict:
    """Ratios over folds/cells: mean, t-interval and the verdict against 1 (above or below)."""
    s = stats.over_folds(ratios)
    return {"measured": s["mean"], "ci_low": s["ci_low"], "ci_high": s["ci_high"], "n": s["n"],
            "verdict": ci_verdict(s["ci_low"], s["ci_high"], 1.0, above=above), "detail": detail}


def judge_cells(cells: list[dict], threshold: float, pick: str, detail: str = "") -> dict:
    """Speed cells each judged against ``threshold`` (:func:`judged`); the min or max cell reported."""
    if not cells:
        return {"detail": "no cell with both sides measured"}
    verdicts = [judged(s, threshold) for s in cells]
    key = min if pick == "min" else max
    worst = key(cells, key=lambda s: s["speedup_mean"])
    return {"measured": worst["speedup_mean"], "ci_low": worst["ci_low"], "ci_high": worst["ci_high"],
            "n": len(cells), "verdict": combine(verdicts),
            "detail": with_why_not(f"{pick} over {len(cells)} cells ({cell_name(worst)})"
                                   f"{'; ' + detail if detail else ''}", cells)}


def equivalence(cells: pd.DataFrame, what: str, margin: float, between_runs: bool = False) -> dict:
    """Equivalence over the cells (over-folds rows of the accuracy table): supported when every
    cell's 95 % CI lies within ±margin. The row reports the cell that decides the verdict — of the cells
    whose own verdict is the combined one (a contradicted cell when any is), the one furthest from 0 —
    p its TOST p: a contradicted row never shows a CI that alone would be inconclusive.

    ``between_runs``: the two sides are models of separate training runs (not one model and its own
    quantized copy). On one fold their per-image CI covers the images, not how much two training runs
    of the same setting differ: such a cell gives no verdict (``inconclusive``) until more folds ran."""
    verdict = combine(list(cells["verdict"]))
    deciding = cells[cells["verdict"] == verdict]
    deciding = deciding if len(deciding) else cells
    worst = deciding.loc[deciding["delta"].abs().idxmax()]
    desc = "/".join(str(worst[k]) for k in ("framework", "device", "precision") if pd.notna(worst[k]))
    desc += f"/f{worst['filters']}" if pd.notna(worst["filters"]) else ""
    shown = "furthest from 0" if len(deciding) == len(cells) else f"{verdict}, furthest from 0"
    out = {"measured": worst["delta"], "ci_low": worst["ci_low"], "ci_high": worst["ci_high"], "n": len(cells),
           "p": worst["tost_p"], "verdict": verdict,
           "detail": f"{what}; cells: {len(cells)}, {shown}: {desc} ({worst['method']}); equivalent when "
                     f"the 95 % CI lies within ±{margin} (stats.iou_margin); p: TOST".lstrip("; ")
                     + (f"; {accuracy.caveat(cells)}" if accuracy.caveat(cells) else "")}
    one_run = cells[pd.to_numeric(cells["n"], errors="coerce").fillna(0) < 2] if between_runs else cells.iloc[:0]
    if len(one_run):
        out.update(verdict=Verdict.INCONCLUSIVE, detail=f"{out['detail']}; {len(one_run)} of {len(cells)} cells "
                   "from one training run per side (1 fold): the difference of two trained models on one fold "
                   "mixes the precision's effect with the variation between training runs; a verdict needs more "
                   "folds")
    return out
