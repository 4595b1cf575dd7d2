"""Summaries of repeated timings, as the paper defines its speed measures.

Per-sample training time = mean epoch duration (first epoch excluded: it includes graph building,
autotuning and allocation) / number of training samples. Throughput = samples / second. Speed-up of
precision B over A = throughput(B) / throughput(A). Medians and spread are reported alongside.
"""
from __future__ import annotations

import statistics


def summarize(values: list[float]) -> dict:
    """Mean, median, std, min, max and interquartile range of a list of durations (seconds)."""
    v = sorted(float(x) for x in values)
    if not v:
        return {"n": 0, "mean": None, "median": None, "std": None, "min": None, "max": None, "iqr": None}
    q = statistics.quantiles(v, n=4, method="inclusive") if len(v) > 1 else [v[0]] * 3
    return {
        "n": len(v), "mean": statistics.fmean(v), "median": statistics.median(v),
        "std": statistics.stdev(v) if len(v) > 1 else 0.0, "min": v[0], "max": v[-1], "iqr": q[2] - q[0],
    }


def epoch_timing(epoch_seconds: list[float], n_samples: int, skip_first: bool = True) -> dict:
    """The paper's per-sample training time from per-epoch durations."""
    used = epoch_seconds[1:] if skip_first and len(epoch_seconds) > 1 else list(epoch_seconds)
    s = summarize(used)
    if not s["n"]:
        return {"epochs_timed": 0, "per_sample_s": None, "throughput": None, "epoch_s": s}
    per_sample = s["mean"] / n_samples
    return {
        "epochs_timed": s["n"],
        "first_epoch_excluded": skip_first and len(epoch_seconds) > 1,
        "per_sample_s": per_sample,
        "per_sample_median_s": s["median"] / n_samples,
        "throughput": 1.0 / per_sample,
        "epoch_s": s,
    }


def speedup(throughput_new: float | None, throughput_ref: float | None) -> float | None:
    if not throughput_new or not throughput_ref:
        return None
    return throughput_new / throughput_ref
