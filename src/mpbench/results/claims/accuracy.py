"""The accuracy claims: IoU unchanged by mixed precision, pure half precision's drop, the same IoU at
every model size, and small models needing more epochs.

Accuracy claims pair two models on the same validation images (:mod:`mpbench.results.accuracy`:
per-image IoU by HDF5 row, :func:`mpbench.stats.paired_difference` per fold, folds as the unit over
folds). The mixed precisions are judged for an unchanged IoU; pure half precision for the drop the
paper reports (:mod:`~mpbench.results.claims.evidence` says which precisions are which).
"""
from __future__ import annotations

from ... import stats
from .. import accuracy
from .evidence import Evidence
from .verdicts import ci_verdict, combine, equivalence


def iou_equivalent_to_baseline(evidence: Evidence, claim: dict) -> dict:
    mixed = evidence.mixed_precisions()
    cells = accuracy.over_folds(evidence.accuracy, "precision vs baseline", precision=mixed)
    if cells.empty:
        return {"detail": f"no pair of {evidence.baseline} and a mixed precision ({', '.join(mixed) or 'none'})"
                          " trained in this grid"}
    return equivalence(cells, "IoU(mixed precision) − IoU(baseline) on the same images, per framework/device/f",
                       evidence.margin, between_runs=True)


def iou_drop(evidence: Evidence, claim: dict) -> dict:
    """Pure half precision: a clear IoU drop, i.e. the CI of IoU(fp16) − IoU(baseline) below −margin
    (contradicted when it lies above −margin: no drop beyond the margin)."""
    cells = accuracy.over_folds(evidence.accuracy, "precision vs baseline", precision=evidence.pure_half_precisions())
    if cells.empty:
        return {"detail": f"no pure half-precision run (fp16, apex_o3) beside {evidence.baseline} in this grid"}
    margin = evidence.margin
    verdicts = [ci_verdict(r.ci_low, r.ci_high, -margin, above=False) for r in cells.itertuples()]
    least = cells.loc[cells["delta"].idxmax()]
    return {"measured": least["delta"], "ci_low": least["ci_low"], "ci_high": least["ci_high"], "n": len(cells),
            "verdict": combine(verdicts),
            "detail": f"IoU(pure half) − IoU({evidence.baseline}) on the same images; smallest drop: "
                      f"{least['framework']}/{least['device']}/{least['precision']}/f{least['filters']} "
                      f"({least['method']}); a drop when the 95 % CI lies below −{margin} (stats.iou_margin)"
                      + (f"; {accuracy.caveat(cells)}" if accuracy.caveat(cells) else "")}


def iou_same_across_f(evidence: Evidence, claim: dict) -> dict:
    cells = accuracy.over_folds(evidence.accuracy, "f vs largest f")
    if cells.empty:
        return {"detail": "the grid has one model size, or no pair of model sizes trained on the same fold"}
    return equivalence(cells, "IoU(f) − IoU(largest f) on the same images, per framework/device/precision",
                       evidence.margin)


def epochs_fall_with_f(evidence: Evidence, claim: dict) -> dict:
    """Small models need more epochs: the epoch of the best validation IoU at the smallest f minus at
    the largest, per framework/device/precision, over folds (t-interval); supported above 0."""
    fs = sorted(evidence.config["train"]["filters"])
    if len(fs) < 2:
        return {"detail": "the grid has one model size"}
    rows = evidence.rows(phase="train")
    rows = rows[rows["best_epoch"].notna() & rows["epoch_cap"].isna()] if len(rows) else rows
    out = []
    for (fw, dev, p), g in rows.groupby(["framework", "device", "precision"]) if len(rows) else []:
        small = g[g["filters"] == fs[0]].set_index("fold")["best_epoch"]
        big = g[g["filters"] == fs[-1]].set_index("fold")["best_epoch"]
        both = small.index.intersection(big.index)
        if len(both):
            out.append({"cell": f"{fw}/{dev}/{p}", **stats.over_folds([float(small[k] - big[k]) for k in both])})
    if not out:
        return {"detail": f"no fold trained at both f={fs[0]} and f={fs[-1]} (runs cut short not counted)"}
    least = min(out, key=lambda s: s["mean"])
    return {"measured": least["mean"], "ci_low": least["ci_low"], "ci_high": least["ci_high"], "n": len(out),
            "verdict": combine([ci_verdict(s["ci_low"], s["ci_high"], 0.0) for s in out]),
            "detail": f"best epoch at f={fs[0]} minus at f={fs[-1]} (early stopping on the validation IoU), "
                      f"folds as the unit (one fold: no CI); smallest: {least['cell']}"}


TESTS = (iou_equivalent_to_baseline, iou_drop, iou_same_across_f, epochs_fall_with_f)
