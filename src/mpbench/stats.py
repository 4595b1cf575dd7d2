"""Effect sizes with their uncertainty: paired accuracy differences and speed-ups, per fold and over folds.

Accuracy (two models of the same fold, scored on the same validation images):
- Δ = mean over images of IoU(A) − IoU(B), with a 95 % percentile-bootstrap CI (images resampled);
- Wilcoxon signed-rank p (H0: the paired differences are symmetric about 0);
- TOST equivalence against a margin m: A and B are equivalent when both one-sided t-tests reject
  (Δ ≤ −m and Δ ≥ +m), i.e. when the 90 % CI of Δ lies inside (−m, +m); ``tost_p`` is the larger
  of the two one-sided p-values.

Speed (the paper's speed-up = throughput ratio = time per sample of the reference / of the new):
the ratio of the means of the timed samples (per-epoch times in training, per-repeat times in
inference; the paper's statistic is the mean, and throughput is 1 / mean time per sample), with a 95 %
bootstrap CI that resamples each side's samples independently. That CI covers the timing noise
*within* the two runs, not the drift *between* runs (another job, another moment on a shared
machine): only repeated runs (folds as the unit, :func:`over_folds`) cover that. :func:`cv` is the
spread of one run's timed samples (the noise guard of :mod:`mpbench.results.speedups`).

Over folds, the fold is the unit: the mean of the per-fold values and a t-interval over them (none
for a single fold; :func:`speedup_over_folds` and :func:`difference_over_folds` then keep that fold's
bootstrap CI); with a margin also the TOST p of the fold values (one-sample t-tests against ±margin).
Every bootstrap is seeded, so results are deterministic.
"""
from __future__ import annotations

import importlib

import numpy as np

from .record import Verdict


def _scipy_stats():
    """scipy.stats, imported at the first test that needs it: its 1.2 s import was most of the figures
    job's start (a figure reads speedups.csv through :mod:`mpbench.results.speedups`, never a test)."""
    return importlib.import_module("scipy.stats")


N_BOOT = 10_000
SEED = 20230609   # the paper's publication date: any fixed seed, written down


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(SEED if seed is None else seed)


def bootstrap_ci(values: np.ndarray, statistic=np.mean, level: float = 0.95, n_boot: int = N_BOOT,
                 seed: int | None = None) -> tuple[float, float]:
    """Percentile bootstrap CI of ``statistic`` over the rows of ``values``."""
    v = np.asarray(values, dtype=np.float64)
    idx = _rng(seed).integers(0, len(v), size=(n_boot, len(v)))
    boots = statistic(v[idx], axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(boots, tail)), float(np.quantile(boots, 1 - tail))


def paired_difference(a, b, margin: float, n_boot: int = N_BOOT, seed: int | None = None) -> dict:
    """Δ = mean(a − b) of paired per-image scores, its 95 % bootstrap CI, Wilcoxon p and TOST."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"paired scores must be two equal-length vectors of 2 or more, got {a.shape} and {b.shape}")
    d = a - b
    ci = bootstrap_ci(d, n_boot=n_boot, seed=seed)
    wilcoxon_p = 1.0 if np.all(d == 0) else float(_scipy_stats().wilcoxon(d, zero_method="zsplit").pvalue)
    tost_p = tost(d, margin)
    return {"n": len(d), "delta": float(d.mean()), "ci_low": ci[0], "ci_high": ci[1], "wilcoxon_p": wilcoxon_p,
            "margin": margin, "tost_p": tost_p, "equivalent": tost_p < 0.05}


def tost(d, margin: float) -> float:
    """TOST p of differences ``d`` against ±margin: the larger of the two one-sided t-test p-values."""
    d = np.asarray(d, dtype=np.float64)
    if np.ptp(d) <= 1e-12:      # identical or a constant shift (to rounding): the t-tests are degenerate,
        return 0.0 if abs(d.mean()) < margin else 1.0   # the sign is certain
    lower = _scipy_stats().ttest_1samp(d, -margin, alternative="greater").pvalue
    upper = _scipy_stats().ttest_1samp(d, margin, alternative="less").pvalue
    return float(max(lower, upper))


def speedup(ref_seconds, new_seconds, n_boot: int = N_BOOT, seed: int | None = None) -> dict:
    """Throughput ratio new/ref from per-sample times (ratio of the mean times: the paper's statistic)
    and its 95 % bootstrap CI (none when a side has a single timed sample: one sample shows no spread
    to resample). The CI is of one pair of runs: timing noise within them, not drift between runs."""
    ref, new = np.asarray(ref_seconds, dtype=np.float64), np.asarray(new_seconds, dtype=np.float64)
    if not len(ref) or not len(new):
        raise ValueError("speed-up needs timed samples on both sides")
    point = float(ref.mean() / new.mean())
    if len(ref) < 2 or len(new) < 2:
        return {"speedup": point, "ci_low": None, "ci_high": None, "n_ref": len(ref), "n_new": len(new)}
    rng = _rng(seed)
    ref_b = ref[rng.integers(0, len(ref), (n_boot, len(ref)))].mean(axis=1)
    new_b = new[rng.integers(0, len(new), (n_boot, len(new)))].mean(axis=1)
    ratios = ref_b / new_b
    return {"speedup": point, "ci_low": float(np.quantile(ratios, 0.025)),
            "ci_high": float(np.quantile(ratios, 0.975)), "n_ref": len(ref), "n_new": len(new)}


def cv(seconds) -> float | None:
    """Coefficient of variation (std with ddof 1 / mean) of one run's timed samples; None below 2 samples."""
    v = np.asarray(seconds if seconds is not None else [], dtype=np.float64)
    if len(v) < 2 or not np.all(np.isfinite(v)) or v.mean() <= 0:
        return None
    return float(_scipy_stats().variation(v, ddof=1))


def over_folds(values, margin: float | None = None) -> dict:
    """Mean of per-fold values and its 95 % t-interval (folds as the unit; no interval for one fold);
    with ``margin`` also ``tost_p``, the TOST p of the fold values against ±margin (2 folds or more)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    out = {"n": len(v), "mean": None, "ci_low": None, "ci_high": None}
    if margin is not None:
        out["tost_p"] = tost(v, margin) if len(v) > 1 else None
    if not len(v):
        return out
    out["mean"] = float(v.mean())
    if len(v) > 1:
        half = _scipy_stats().t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
        out["ci_low"], out["ci_high"] = float(v.mean() - half), float(v.mean() + half)
    return out


def speedup_over_folds(per_fold: list[dict]) -> dict:
    """Over runs (folds, or repeated jobs) of :func:`speedup` results: mean of the run speed-ups with a
    t-interval over runs (the run as the unit: it covers run-to-run drift); with one run, that run's
    bootstrap CI, which covers only the noise within it. ``method`` says which."""
    if not per_fold:
        return {"n": 0, "mean": None, "ci_low": None, "ci_high": None, "method": None}
    if len(per_fold) == 1:
        s = per_fold[0]
        return {"n": 1, "mean": s["speedup"], "ci_low": s["ci_low"], "ci_high": s["ci_high"],
                "method": "bootstrap within 1 run (timing noise only, not run-to-run drift)"
                if s["ci_low"] is not None else "1 run, a single timed sample: no CI"}
    return {**over_folds([s["speedup"] for s in per_fold]), "method": f"t over {len(per_fold)} runs"}


def difference_over_folds(per_fold: list[dict], margin: float) -> dict:
    """Over folds of :func:`paired_difference` results (folds as the unit): mean Δ, t-interval and TOST
    p of the fold means; with one fold, that fold's bootstrap CI, Wilcoxon p and TOST p."""
    if not per_fold:
        return {"n": 0, "delta": None, "ci_low": None, "ci_high": None, "wilcoxon_p": None, "tost_p": None,
                "margin": margin, "method": None}
    if len(per_fold) == 1:
        images = per_fold[0]["n"]
        return {**per_fold[0], "n": 1, "method": f"bootstrap over {images} images, 1 fold" if images
                else "1 fold, no per-image IoU: no CI"}
    s = over_folds([r["delta"] for r in per_fold], margin)
    return {"n": s["n"], "delta": s["mean"], "ci_low": s["ci_low"], "ci_high": s["ci_high"], "wilcoxon_p": None,
            "tost_p": s["tost_p"], "margin": margin, "method": f"t over {len(per_fold)} folds"}


def equivalence_verdict(ci_low, ci_high, margin: float) -> str:
    """``supported`` when the 95 % CI lies within ±margin, ``contradicted`` when it lies entirely
    outside, ``inconclusive`` otherwise (or without a CI)."""
    if ci_low is None or ci_high is None or not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return Verdict.INCONCLUSIVE
    if -margin < ci_low and ci_high < margin:
        return Verdict.SUPPORTED
    if ci_high < -margin or ci_low > margin:
        return Verdict.CONTRADICTED
    return Verdict.INCONCLUSIVE
