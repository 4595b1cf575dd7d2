"""Accuracy differences paired on identical images, per fold and over folds (``accuracy.csv``).

Every model's record stores the IoU of each validation image it scored, keyed by HDF5 row
(:func:`mpbench.record.per_image`). Two models of the same fold are compared on the rows both
scored: Δ = mean over those images of IoU(A) − IoU(B), with :func:`mpbench.stats.paired_difference`
(95 % bootstrap CI, Wilcoxon p, TOST against ``stats.iou_margin``). Over folds the fold is the unit
(:func:`mpbench.stats.difference_over_folds`). The comparisons:

- ``precision vs baseline``: a training run in precision A vs the baseline (``figures.baseline``)
  run of the same framework, device, f and fold (best weights of each);
- ``tflite_cpu vs float``, ``qat vs float``, ``edgetpu vs float``: a derived model (each TFLite
  variant, the QAT int8 model, the int8 model on the Edge TPU or its ``cpu-int8`` stand-in, named in
  ``run_device``) vs the trained model it comes from (its training record's best weights);
- ``tflite_cpu: precision vs baseline``: the same TFLite variant of a model trained in precision A vs
  of the baseline-trained one;
- ``f vs largest f``: a training run at model size f vs the run of the same framework, device,
  precision and fold at the grid's largest f (Fig. 3: "all model sizes reach about the same IoU").

A pair without per-image IoU on both sides (results from before they were stored) falls back to the
difference of the two mean IoUs (for a derived model: its IoU minus the float IoU in its record),
with no CI for that fold; ``method`` says so.

A precision comparison with a model whose training was cut short because its precision is emulated
on that CPU (``epoch_cap``, ``train.emulated_max_epochs``) is not comparable: its row keeps the
difference of the fold means for the record, with no CI (verdict ``inconclusive``), and ``method``
says why. Derived models against their own float model are still compared.

Models scored on other data (``data_sha256``, the HDF5's content: e.g. results merged from a site that
preprocessed with another seed, :mod:`mpbench.merge`) are not comparable either — the same HDF5 row is
another image there —, and are kept the same way. Every row names in ``differs`` what else differs
between the two models' records (:data:`mpbench.results.speedups.PROVENANCE`: the framework version,
the mpbench version and commit; a derived model against its float model: mpbench and data only, its
converter's framework being another by design); :func:`caveat` says it for a claim.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import record, stats
from . import speedups

COLUMNS = ["comparison", "framework", "device", "precision", "filters", "variant", "run_device", "fold", "n",
           "delta", "ci_low", "ci_high", "wilcoxon_p", "tost_p", "margin", "verdict", "method", "differs"]
CELL = ["comparison", "framework", "device", "precision", "filters", "variant", "run_device"]
DERIVED = ("tflite_cpu", "qat", "edgetpu")


def paired_iou(a: dict | None, b: dict | None, margin: float) -> dict | None:
    """:func:`~mpbench.stats.paired_difference` of two packed per-image IoU blocks on the HDF5 rows
    both scored (finite on both sides); ``None`` when either is missing or fewer than 2 rows are shared."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return None
    (ia, va), (ib, vb) = record.unpack_per_image(a), record.unpack_per_image(b)
    _, ka, kb = np.intersect1d(ia, ib, assume_unique=True, return_indices=True)
    xa, xb = va[ka], vb[kb]
    keep = np.isfinite(xa) & np.isfinite(xb)
    if keep.sum() < 2:
        return None
    return stats.paired_difference(xa[keep], xb[keep], margin)


def _number(v) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def fold_difference(a, b, margin: float, fallback_ref: float | None = None) -> dict | None:
    """Δ of measurement row ``a`` against row ``b`` on one fold, paired per image; without per-image
    IoU, ``a``'s mean IoU minus ``fallback_ref`` (no CI); None when neither can be had."""
    r = paired_iou(a.get("per_image"), None if b is None else b.get("per_image"), margin)
    if r is not None:
        return {**r, "method": f"paired bootstrap over {r['n']} images"}
    mine, ref = _number(a.get("val_iou")), _number(fallback_ref)
    if mine is None or ref is None:
        return None
    return {"n": None, "delta": mine - ref, "ci_low": None, "ci_high": None, "wilcoxon_p": None,
            "tost_p": None, "margin": margin, "method": "fold means (no per-image IoU): no CI"}


def _value(row, key):
    v = row.get(key)
    return None if v is None or (np.ndim(v) == 0 and pd.isna(v)) else v


def _cut_short(*train_rows) -> str | None:
    """Why training rows' IoUs are not comparable (a run cut short where its precision is emulated), or None."""
    cut = [r for r in train_rows if r is not None and _value(r, "epoch_cap") is not None]
    why = [f"{r['precision']} trained {int(_value(r, 'epochs') or 0)} epochs (emulated on its CPU: "
           f"train.emulated_max_epochs {int(_value(r, 'epoch_cap'))})" for r in cut]
    return "not comparable: " + "; ".join(why) if why else None


def _other_data(a, b) -> str | None:
    """Why rows ``a`` and ``b`` may not be paired by HDF5 row: they were scored on other data; else None."""
    other = [] if b is None else speedups.differences(b, a, ["data_sha256"])
    return f"not comparable: other data ({other[0]}): the same HDF5 rows are other images" if other else None


def _differs(comparison: str, a, b) -> list[str]:
    """What differs between the two models' records (module doc)."""
    if b is None:
        return []
    derived = comparison.endswith(" vs float")
    return speedups.differences(b, a, speedups.SAME_EXPERIMENT if derived else speedups.PROVENANCE)


def caveat(cells: pd.DataFrame) -> str:
    """A claim's caveat when some of the comparisons it rests on (accuracy rows) cross a difference
    between the models' records (``differs``), else ""."""
    crossing = [(r, d) for r, d in zip(cells.itertuples(), cells["differs"], strict=True)
                if isinstance(d, str) and d]
    if not crossing:
        return ""
    r, d = crossing[0]
    return (f"caveat: {len(crossing)} of {len(cells)} cells compare models whose records differ "
            f"(e.g. {r.framework}/{r.device}/{r.precision}/f{r.filters}: {d})")


def _without_interval(result: dict, why: str) -> dict:
    """``result`` with its CI and tests removed, ``method`` saying why (a comparison that is not comparable)."""
    return {**result, "ci_low": None, "ci_high": None, "wilcoxon_p": None, "tost_p": None, "method": why}


def pairs(m: pd.DataFrame, baseline: str):
    """``(comparison, row A, row B or None, fallback reference IoU, why not comparable or None)`` for every
    comparison of the module doc."""
    if m.empty:
        return
    train = m[m["phase"] == "train"]
    by_cell = {(r["framework"], r["device"], r["precision"], r["filters"], r["fold"]): r
               for _, r in train.iterrows()}
    for _, a in train[train["precision"] != baseline].iterrows():
        b = by_cell.get((a["framework"], a["device"], baseline, a["filters"], a["fold"]))
        if b is not None:
            yield "precision vs baseline", a, b, b.get("val_iou"), _cut_short(a, b) or _other_data(a, b)
    for _, a in m[m["phase"].isin(DERIVED)].iterrows():
        b = by_cell.get((a["framework"], a["device"], a["precision"], a["filters"], a["fold"]))
        ref = _number(a.get("float_iou"))
        yield (f"{a['phase']} vs float", a, b, ref if ref is not None or b is None else b.get("val_iou"),
               _other_data(a, b))
    largest = train.groupby(["framework", "device", "precision"])["filters"].transform("max")
    for _, a in train[train["filters"] < largest].iterrows():
        b = by_cell.get((a["framework"], a["device"], a["precision"], largest[a.name], a["fold"]))
        if b is not None:
            yield "f vs largest f", a, b, b.get("val_iou"), _cut_short(a, b) or _other_data(a, b)
    tfl = m[m["phase"] == "tflite_cpu"]
    base = {(r["framework"], r["device"], r["variant"], r["filters"], r["fold"]): r
            for _, r in tfl[tfl["precision"] == baseline].iterrows()}
    for _, a in tfl[tfl["precision"] != baseline].iterrows():
        b = base.get((a["framework"], a["device"], a["variant"], a["filters"], a["fold"]))
        if b is not None:
            trained = [by_cell.get((r["framework"], r["device"], r["precision"], r["filters"], r["fold"]))
                       for r in (a, b)]
            yield ("tflite_cpu: precision vs baseline", a, b, b.get("val_iou"),
                   _cut_short(*trained) or _other_data(a, b))


def accuracy_table(m: pd.DataFrame, baseline: str, margin: float) -> pd.DataFrame:
    """One row per fold of every comparison and one over its folds (``fold`` = ``all``)."""
    cells: dict[tuple, list[tuple[int, dict]]] = {}
    for comparison, a, b, ref, not_comparable in pairs(m, baseline):
        r = fold_difference(a, b, margin, ref)
        if r is not None and not_comparable:
            r = _without_interval(r, not_comparable)
        if r is not None:
            r["differs"] = "; ".join(_differs(comparison, a, b)) or None
            key = (comparison, a["framework"], a["device"], a["precision"], _value(a, "filters"),
                   _value(a, "variant"), a["run_device"])
            cells.setdefault(key, []).append((a["fold"], r))
    rows = []
    for key, folds in cells.items():
        folds.sort(key=lambda t: t[0])
        results = [r for _, r in folds]
        for (fold, r) in folds:
            rows.append({**dict(zip(CELL, key, strict=True)), **r, "fold": fold,
                         "verdict": stats.equivalence_verdict(r["ci_low"], r["ci_high"], margin)})
        s = stats.difference_over_folds(results, margin)
        cut = [r["method"] for r in results if str(r["method"]).startswith("not comparable")]
        if cut:   # no interval from folds that are not comparable
            s = _without_interval(s, cut[0])
        s["differs"] = "; ".join(sorted({d for r in results for d in (r["differs"] or "").split("; ") if d})) or None
        rows.append({**dict(zip(CELL, key, strict=True)), **s, "fold": "all",
                     "verdict": stats.equivalence_verdict(s["ci_low"], s["ci_high"], margin)})
    return pd.DataFrame(rows, columns=COLUMNS)


def over_folds(table: pd.DataFrame, comparison: str, **where) -> pd.DataFrame:
    """The over-folds rows of one comparison (optionally narrowed by column values)."""
    t = table[(table["comparison"] == comparison) & (table["fold"] == "all")]
    for k, v in where.items():
        t = t[t[k].isin(v) if isinstance(v, (list, tuple, set)) else t[k] == v]
    return t
