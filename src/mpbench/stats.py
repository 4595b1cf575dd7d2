"""Effect sizes with their uncertainty: paired accuracy differences and speed-ups, per fold and over folds.

Accuracy (two models of the same fold, scored on the same validation images):
- Δ = mean over images of IoU(A) − IoU(B), with a 95 % percentile-bootstrap CI (images resampled);
- Wilcoxon signed-rank p (H0: the paired differences are symmetric about 0);
- TOST equivalence against a margin m: A and B are equivalent when both one-sided t-tests reject
  (Δ ≤ −m and Δ ≥ +m), i.e. when the 90 % CI of Δ lies inside (−m, +m); ``tost_p`` is the larger
  of the two one-sided p-values.

Speed (the paper's speed-up = throughput ratio = time per sample of the reference / of the new):
the ratio of the medians of the timed samples (per-epoch times in training, per-repeat times in
inference), with a 95 % bootstrap CI that resamples each side's samples independently.

Over folds, the fold is the unit: the mean of the per-fold values and a t-interval over them (none
for a single fold). Every bootstrap is seeded, so results are deterministic.
"""
from __future__ import annotations

import numpy as np
from scipy import stats as sps

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
    if np.all(d == 0):          # identical scores: no difference, trivially equivalent
        wilcoxon_p, tost_p = 1.0, 0.0
    else:
        wilcoxon_p = float(sps.wilcoxon(d, zero_method="zsplit").pvalue)
        if np.std(d) == 0:      # a constant shift: the t-tests are degenerate, the sign is certain
            tost_p = 0.0 if abs(d[0]) < margin else 1.0
        else:
            lower = sps.ttest_1samp(d, -margin, alternative="greater").pvalue
            upper = sps.ttest_1samp(d, margin, alternative="less").pvalue
            tost_p = float(max(lower, upper))
    return {"n": len(d), "delta": float(d.mean()), "ci_low": ci[0], "ci_high": ci[1], "wilcoxon_p": wilcoxon_p,
            "margin": margin, "tost_p": tost_p, "equivalent": tost_p < 0.05}


def speedup(ref_seconds, new_seconds, n_boot: int = N_BOOT, seed: int | None = None) -> dict:
    """Throughput ratio new/ref from per-sample times (ratio of medians) and its 95 % bootstrap CI."""
    ref, new = np.asarray(ref_seconds, dtype=np.float64), np.asarray(new_seconds, dtype=np.float64)
    if not len(ref) or not len(new):
        raise ValueError("speed-up needs timed samples on both sides")
    rng = _rng(seed)
    ref_b = np.median(ref[rng.integers(0, len(ref), (n_boot, len(ref)))], axis=1)
    new_b = np.median(new[rng.integers(0, len(new), (n_boot, len(new)))], axis=1)
    ratios = ref_b / new_b
    return {"speedup": float(np.median(ref) / np.median(new)), "ci_low": float(np.quantile(ratios, 0.025)),
            "ci_high": float(np.quantile(ratios, 0.975)), "n_ref": len(ref), "n_new": len(new)}


def over_folds(values) -> dict:
    """Mean of per-fold values and its 95 % t-interval (folds as the unit; no interval for one fold)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if not len(v):
        return {"n": 0, "mean": None, "ci_low": None, "ci_high": None}
    if len(v) == 1:
        return {"n": 1, "mean": float(v[0]), "ci_low": None, "ci_high": None}
    half = sps.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return {"n": len(v), "mean": float(v.mean()), "ci_low": float(v.mean() - half), "ci_high": float(v.mean() + half)}
