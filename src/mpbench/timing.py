"""Timing as the paper defines its speed measures, in one place for every stage.

:func:`timed_call` times one call between device synchronisations (and reads the energy counters
around it: the GPU's, ``meter``, and the CPU's, ``cpu_meter``; either may be None); :func:`measure`
runs warm-up calls (discarded) and then timed repeats. Per-sample time = duration / samples in it;
throughput = samples / second; speed-up of precision B over A = throughput(B) / throughput(A).
Training times whole epochs (the first epoch of every process is excluded: it builds graphs,
autotunes and allocates); inference times repeated forward passes.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def summarize(values: list[float]) -> dict:
    """Mean, median, std (ddof=1), min, max, interquartile range and coefficient of variation of a list of
    durations (seconds).

    ``cv`` = std / mean: every timing carries its own spread, so a reader (or a noise guard) can tell a
    difference between two timings from the scatter of their repeats. ``None`` with fewer than two values
    (one repeat has no spread to speak of; its ``std`` 0.0 says nothing either).
    """
    v = sorted(float(x) for x in values)
    if not v:
        return {"n": 0, "mean": None, "median": None, "std": None, "min": None, "max": None, "iqr": None,
                "cv": None}
    q = statistics.quantiles(v, n=4, method="inclusive") if len(v) > 1 else [v[0]] * 3
    mean, std = statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0
    return {
        "n": len(v), "mean": mean, "median": statistics.median(v), "std": std, "min": v[0], "max": v[-1],
        "iqr": q[2] - q[0], "cv": std / mean if len(v) > 1 and mean > 0 else None,
    }


@dataclass
class Timed:
    value: Any              # what the call returned
    seconds: float
    joules: float | None    # None without an energy counter
    cpu_joules: float | None = None   # from ``cpu_meter`` (powercap); None without one


def _delta(e0: float | None, e1: float | None) -> float | None:
    return e1 - e0 if e0 is not None and e1 is not None else None


def _joules(meter) -> float | None:
    return meter.read_joules() if meter is not None else None


def timed_call(fn: Callable[[], Any], sync: Callable[[], None] | None = None, meter=None,
               synced: bool = False, cpu_meter=None) -> Timed:
    """``fn()`` timed from a synchronised device to a synchronised device (``sync`` waits for it;
    ``synced``: the caller has just synchronised, so no wait before the call); ``meter`` and
    ``cpu_meter`` are read right around it."""
    if sync and not synced:
        sync()
    c0, e0, t0 = _joules(cpu_meter), _joules(meter), time.perf_counter()
    value = fn()
    if sync:
        sync()
    seconds, e1, c1 = time.perf_counter() - t0, _joules(meter), _joules(cpu_meter)
    return Timed(value, seconds, _delta(e0, e1), _delta(c0, c1))


@dataclass
class Measurement:
    seconds: list[float]     # one per timed repeat
    joules: float | None     # over all timed repeats (None without an energy counter)
    cpu_joules: float | None = None   # the same from ``cpu_meter`` (powercap)


def measure(fn: Callable[[], Any], *, warmup: int, repeats: int, sync: Callable[[], None] | None = None,
            meter=None, before_each: Callable[[int], None] | None = None, cpu_meter=None) -> Measurement:
    """``warmup`` discarded calls, then ``repeats`` calls each timed between device synchronisations.

    ``before_each(i)`` runs untimed before call ``i`` (warm-up calls first), e.g. to set an input.
    Energy is read once around all timed repeats (NVML's counter is too coarse for one call): the GPU's
    from ``meter``, the CPU's from ``cpu_meter``.
    """
    for i in range(warmup):
        if before_each:
            before_each(i)
        fn()
    if sync:
        sync()
    seconds = []
    c0, e0 = _joules(cpu_meter), _joules(meter)
    for i in range(warmup, warmup + repeats):
        if before_each:
            before_each(i)
        seconds.append(timed_call(fn, sync, synced=True).seconds)
    e1, c1 = _joules(meter), _joules(cpu_meter)
    return Measurement(seconds, _delta(e0, e1), _delta(c0, c1))
