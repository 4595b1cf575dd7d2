"""The speed claims: mixed precision against the baseline, model sizes, frameworks, int8 models alike.

Speed-ups come from :func:`mpbench.results.speedups.pair`, the same pairing ``speedups.csv`` uses:
the paper's throughput ratio (mean times), per run, then over runs (the run as the unit). A speed
cell whose ``inconclusive_because`` is set — one run per side (its CI covers no run-to-run drift),
timings noisier than ``stats.max_cv``, or timing-relevant settings that differ between the paired
runs — gives ``inconclusive``, never supported or contradicted; the detail says why. Claims about a
size of effect use ``stats.min_speedup_effect`` δ: a *gain* is supported when the CI lies above
1 + δ and contradicted when it lies below; *no gain* the other way round. A stated value ("up to
1.9x") is judged two-sided within the claim's ``tolerance``: supported when the CI lies inside
value × (1 ± tolerance), contradicted when it lies entirely outside.

Each test takes the :class:`~mpbench.results.claims.evidence.Evidence` and the claim (its entry of
config/claims.yaml) and returns the claim's row: measured, ci_low, ci_high, n, p, verdict, detail
(those it has).
"""
from __future__ import annotations

import pandas as pd

from ...record import Verdict
from .. import accuracy
from .evidence import Evidence
from .verdicts import (
    blocked_because,
    cell_name,
    ci_text,
    ci_verdict,
    combine,
    equivalence,
    judge_cells,
    judged,
    ratio_verdict,
    with_why_not,
    within,
)


def speedup_above(evidence: Evidence, claim: dict) -> dict:
    rows, why = evidence.gpu_rows(phase=claim["phase"], filters=max(evidence.config["train"]["filters"]))
    if why:
        return {"detail": why}
    return judge_cells(evidence.speedups(rows, evidence.mixed_precisions()), claim["threshold"], "min")


def speedup_value(evidence: Evidence, claim: dict) -> dict:
    """A stated maximum ("up to 1.9x"): the best cell in scope, two-sided within ``tolerance``."""
    rows, why = evidence.gpu_rows(phase=claim["phase"], **claim["scope"])
    if why:
        return {"detail": f"{why} for {claim['scope']}"}
    cells = evidence.speedups(rows, evidence.mixed_precisions())
    if not cells:
        return {"detail": "no cell with both precisions measured"}
    best = max(cells, key=lambda s: s["speedup_mean"])   # a stated maximum: the best cell is judged
    value, tol = claim["value"], claim["tolerance"]
    return {"measured": best["speedup_mean"], "ci_low": best["ci_low"], "ci_high": best["ci_high"],
            "n": len(cells), "verdict": within(best, value, tol),
            "detail": with_why_not(f"best of {len(cells)} cells: {cell_name(best)}; stated: up to {value}x, judged "
                                   f"within ±{tol:.0%} ({value * (1 - tol):.3g}-{value * (1 + tol):.3g})", [best])}


def speedup_grows_with_f(evidence: Evidence, claim: dict) -> dict:
    rows, why = evidence.gpu_rows(phase=claim["phase"])
    if why:
        return {"detail": why}
    fs = sorted(evidence.config["train"]["filters"])
    if len(fs) < 2:
        return {"detail": "the grid has one model size"}
    cells = evidence.speedups(rows, evidence.mixed_precisions())
    diffs, verdicts, used = [], [], []
    for _, g in pd.DataFrame(cells).groupby(["framework", "device", "precision"]) if cells else []:
        lo, hi = g[g["filters"] == fs[0]], g[g["filters"] == fs[-1]]
        if len(lo) and len(hi):
            big, small = hi.iloc[0].to_dict(), lo.iloc[0].to_dict()
            used += [big, small]
            diffs.append(big["speedup_mean"] - small["speedup_mean"])
            if blocked_because(big) or blocked_because(small):
                verdicts.append(Verdict.INCONCLUSIVE)
            else:
                verdicts.append(ci_verdict(big["ci_low"] - small["ci_high"], big["ci_high"] - small["ci_low"], 0.0))
    return {"measured": min(diffs) if diffs else None, "n": len(diffs), "verdict": combine(verdicts),
            "detail": with_why_not(f"speed-up at f={fs[-1]} minus at f={fs[0]}, smallest over devices and frameworks "
                                   "(supported when the CIs do not overlap)", used)}


def speedup_none_at_f(evidence: Evidence, claim: dict) -> dict:
    """Fig. 5: "f = 8 may gain nothing": supported when some GPU/framework cell at that f shows no gain
    (its CI below 1 + δ), contradicted when every cell shows one (its CI above 1 + δ)."""
    f = claim["f"]
    rows, why = evidence.gpu_rows(phase="train", filters=f)
    if why:
        return {"detail": f"{why} (f={f})"}
    cells = evidence.speedups(rows, evidence.mixed_precisions())
    if not cells:
        return {"detail": f"no cell at f={f} with both precisions measured"}
    verdicts = [judged(s, 1 + evidence.effect, above=False) for s in cells]
    verdict = (Verdict.SUPPORTED if Verdict.SUPPORTED in verdicts else
               Verdict.CONTRADICTED if all(v == Verdict.CONTRADICTED for v in verdicts) else Verdict.INCONCLUSIVE)
    least = min(cells, key=lambda s: s["speedup_mean"])
    return {"measured": least["speedup_mean"], "ci_low": least["ci_low"], "ci_high": least["ci_high"],
            "n": len(cells), "verdict": verdict,
            "detail": with_why_not(f"smallest training speed-up at f={f} ({cell_name(least)}); no gain when the CI "
                                   f"lies below 1 + {evidence.effect} (stats.min_speedup_effect)", cells)}


def time_grows_with_f(evidence: Evidence, claim: dict) -> dict:
    """Fig. 4: per-sample time on ``figures.fig4_device`` in training and in inference at the figure's
    batch size (128, else the largest timed), each f against the next larger one: the time ratio
    t(larger f) / t(f) must lie above 1 + δ (the same pairing as every speed-up, f varying)."""
    config = evidence.config
    fs = sorted(config["train"]["filters"])
    if len(fs) < 2:
        return {"detail": "the grid has one model size"}
    device = config["figures"].get("fig4_device") or config["train"]["devices"][0]
    cells = []
    for phase in ("train", "infer"):
        rows = evidence.rows(phase=phase, device=device)
        if phase == "infer" and len(rows):
            batches = set(rows["batch_size"].dropna().astype(int))
            rows = rows[rows["batch_size"] == (128 if 128 in batches else max(batches))]
        for small, big in zip(fs, fs[1:], strict=False):
            for s in evidence.speedups(rows, small, ref=big, vary="filters",
                                       keys=("phase", "framework", "precision", "batch_size")):
                cells.append({**s, "filters": f"{small}->{big}"})
    if not cells:
        return {"detail": f"no two model sizes timed on {device} (figures.fig4_device)"}
    verdicts = [judged(s, 1 + evidence.effect) for s in cells]
    least = min(cells, key=lambda s: s["speedup_mean"])
    return {"measured": least["speedup_mean"], "ci_low": least["ci_low"], "ci_high": least["ci_high"],
            "n": len(cells), "verdict": combine(verdicts),
            "detail": with_why_not(f"time per sample t(next larger f) / t(f) on {device}, training and inference at "
                                   f"batch {int(rows['batch_size'].max()) if len(rows) else '-'}; smallest: "
                                   f"{cell_name(least)}; grows when the CI lies above 1 + {evidence.effect}", cells)}


def inference_gain_above_batch(evidence: Evidence, claim: dict) -> dict:
    """Fig. 6 (largest f): no gain (CI below 1 + δ) up to batch ``claim['batch']``, a gain (CI above 1 + δ)
    above it, per GPU and framework."""
    f = max(evidence.config["train"]["filters"])
    rows, why = evidence.gpu_rows(phase="infer", filters=f)
    if why:
        return {"detail": why}
    cells = evidence.speedups(rows, evidence.mixed_precisions())
    batch, effect = claim["batch"], evidence.effect
    small = [s for s in cells if s["batch_size"] <= batch]
    large = [s for s in cells if s["batch_size"] > batch]
    verdicts = [judged(s, 1 + effect, above=False) for s in small] + [judged(s, 1 + effect) for s in large]
    return {"n": len(cells), "verdict": combine(verdicts),
            "detail": with_why_not(f"f={f} (Fig. 6): no gain at batch <= {batch} (CI below 1 + {effect}), a "
                                   f"gain above (CI above 1 + {effect}; stats.min_speedup_effect)", cells)}


def framework_faster(evidence: Evidence, claim: dict) -> dict:
    rows, why = evidence.gpu_rows(phase=claim["phase"], precision=evidence.baseline)
    if why:
        return {"detail": why}
    if "max_batch" in claim:
        rows = rows[rows["batch_size"] <= claim["max_batch"]]
    fast = claim["faster"]
    slow = "tensorflow" if fast == "pytorch" else "pytorch"
    cells = evidence.speedups(rows, fast, ref=slow, vary="framework", keys=("device", "filters", "batch_size"))
    return judge_cells(cells, 1.0, "min", detail=f"throughput {fast} / {slow}")


def framework_gains_more(evidence: Evidence, claim: dict) -> dict:
    rows, why = evidence.gpu_rows(phase=claim["phase"])
    if why:
        return {"detail": why}
    cells = evidence.speedups(rows, evidence.mixed_precisions())
    sp = pd.DataFrame(cells)
    ratios, used = [], []
    for _, g in sp.groupby(["device", "filters", "precision"]) if len(sp) else []:
        tf, pt = g[g["framework"] == "tensorflow"], g[g["framework"] == "pytorch"]
        if len(tf) and len(pt):
            ratios.append(tf.iloc[0]["speedup_mean"] / pt.iloc[0]["speedup_mean"])
            used += [tf.iloc[0].to_dict(), pt.iloc[0].to_dict()]
    if not ratios:
        return {"detail": "no cell with both frameworks' speed-ups"}
    out = ratio_verdict(ratios, above=True, detail="speed-up TF / speed-up PyTorch, cells as the unit")
    # The cells are the unit here (their spread covers drift between runs); noise and differing
    # settings still forbid a verdict.
    blocked = [s for s in used if "noisy" in (blocked_because(s) or "") or isinstance(s.get("differs"), str)]
    if blocked:
        out.update(verdict=Verdict.INCONCLUSIVE, detail=with_why_not(out["detail"], blocked))
    return out


def quantized_alike(evidence: Evidence, claim: dict) -> dict:
    """Models trained with mixed precision quantize alike: the int8 models' IoU equivalent (paired on the
    same images) and each int8 CPU speed ratio within 1 ± ``tolerance``."""
    mixed = evidence.mixed_precisions()
    rows = evidence.rows(phase="tflite_cpu", variant="int8")
    speed = evidence.speedups(rows, mixed, keys=("framework", "device", "filters", "variant"))
    cells = accuracy.over_folds(evidence.accuracy, "tflite_cpu: precision vs baseline", variant="int8",
                                precision=mixed)
    if cells.empty:
        return {"detail": "no int8 models from both a mixed-precision and a baseline training run"}
    iou = equivalence(cells, "", evidence.margin, between_runs=True)
    tol = claim["tolerance"]
    # Same speed: each int8 speed ratio equivalent to 1 within ±tolerance.
    verdicts = [within(s, 1.0, tol) for s in speed]
    cis = ", ".join(ci_text(s) for s in speed) or "none"
    return {**iou, "verdict": combine([iou["verdict"], *verdicts]),
            "detail": with_why_not(f"int8 IoU difference (mixed − baseline-trained) on the same images; "
                                   f"{iou['detail']}; int8 CPU speed ratios {cis} (alike when the CI lies within "
                                   f"1 ± {tol})", speed)}


TESTS = (speedup_above, speedup_value, speedup_grows_with_f, speedup_none_at_f, time_grows_with_f,
         inference_gain_above_batch, framework_faster, framework_gains_more, quantized_alike)
