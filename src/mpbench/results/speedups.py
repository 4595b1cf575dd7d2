"""Speed-ups: the one place where runs are paired into throughput ratios.

``speedups.csv`` (:func:`mpbench.results.tables.speedup_table`) and every speed claim of ``claims.csv``
(:mod:`mpbench.results.claims`) call :func:`pair`, which calls :func:`run_speedup` for each pair of runs;
nothing else computes a speed-up.

**The ratio** (the paper's): throughput(new) / throughput(reference), throughput = 1 / the *mean*
per-sample time of the run's timed epochs (training) or repeats (inference) — the paper's statistic
for both, and the one ``summary.csv`` and the figures use. With the timed samples of both runs it
is :func:`mpbench.stats.speedup` (ratio of the means, 95 % bootstrap CI of that pair); without them
(a table read back from CSV) the ratio of the ``throughput`` columns, and no CI.

**Pairing.** Two ``ok`` runs are paired when they share the cell (``keys``, e.g. phase × framework ×
device × f × batch size) and the fold, and differ in ``vary`` (the precision for ``speedups.csv``;
the framework, the model size or the device for some claims). Several runs of one cell and fold
(repeated jobs) are paired in the order of their result files, each pair one *run*.

**Over runs** the run is the unit (:func:`mpbench.stats.speedup_over_folds`): the mean of the run
ratios with a t-interval over runs, which covers run-to-run drift (another job, another moment on a
shared machine). With one run per side only that run's bootstrap CI exists: it covers the noise
*within* the two runs, not the drift between them (3 % drift between jobs and it covers the truth
about one time in five), so a verdict drawn from it is ``inconclusive`` until the job is repeated
(more folds, or repeated runs).

**Settings that must agree** (:data:`TIMING`): what changes the time per sample besides the
precision — where the data lives (``data_placement``), the CPU threads, PyTorch's fused Adam and cuDNN
autotuning, a frame limit per epoch (``samples_limit``), the upsampling layer, the framework
version, CUDA, cuDNN, the NVIDIA driver, the GPU and CPU model, the mpbench version and git commit,
the data the runs read (``data_sha256``, the HDF5's ``content_sha256``: results merged from sites that
preprocessed other data, :mod:`mpbench.merge`) and the device that ran it (``run_device``). The
mpbench version, commit and data (:data:`SAME_EXPERIMENT`) are compared whatever the pair varies in:
runs that differ there are not one experiment. The batch size is part of the cell, so runs of other
batch sizes are never paired. Where a pair differs in any of them, the row's ``differs`` names each
difference (``name: new vs reference``) and a verdict drawn from it is ``inconclusive``.
Not timing-relevant, so not compared: the learning rate, ``max_epochs``, ``patience``, the seed,
the normalisation and ``empty_iou`` (what is learned or for how long, not how long an epoch takes),
``emulated_max_epochs`` and the host name (the CPU and GPU models are compared instead). The
memory format (``channels_last``, PyTorch) is reported, not blocking: ``train.channels_last: auto``
chooses it per precision by design, and ``same_format`` says when the two sides differ.

**Noise guard**: ``cv`` is the largest coefficient of variation of any paired run's timed samples
(:func:`mpbench.stats.cv`, from the samples the records store). Above ``stats.max_cv`` the timings are
too noisy to judge (e.g. another timed job shared the cores): the row says so and a verdict drawn
from it is ``inconclusive``, never supported or contradicted.

``inconclusive_because`` gathers these reasons (one run, noisy, settings differ) in words; empty when
a verdict may be drawn from the row.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import stats
from ..preflight import support

DEFAULT_MAX_CV = 0.10
# What makes two runs one experiment, whatever they are compared for: the same mpbench and the same data.
SAME_EXPERIMENT = ("mpbench_version", "git_commit", "data_sha256")
# Timing-relevant settings and versions (module doc); summary.csv has a column for each.
TIMING = ("run_device", "data_placement", "threads", "fused_adam", "cudnn_benchmark", "samples_limit",
          "upsampling", "framework_version", "cuda", "cudnn", "driver", "gpu_name", "cpu", *SAME_EXPERIMENT)
# What changes what a model computes, not only how fast: compared for accuracy too (mpbench.results.accuracy).
PROVENANCE = ("framework_version", *SAME_EXPERIMENT)
# What differs by design when the pair varies in that column, so it is not compared.
BY_DESIGN = {
    "framework": {"framework_version", "cuda", "cudnn", "gpu_name"},   # each framework ships its own CUDA libraries
    "run_device": set(TIMING) - set(SAME_EXPERIMENT),                  # another device altogether (Edge TPU vs GPU)
}
DIGEST_SHOWN = 12   # hex digits of a digest shown in ``differs``
COLUMNS = ["speedup_mean", "speedup_std", "n_folds", "n_runs", "ci_low", "ci_high", "ci_method", "cv", "differs",
           "inconclusive_because"]


def baseline(config: dict) -> tuple[str, str | None]:
    """The precision speed-ups divide by: ``figures.baseline`` (default ``tf32``, the paper's float32),
    and a note when the grid trains fp32 but not that (then strict fp32, on a CPU the same thing)."""
    asked = (config.get("figures") or {}).get("baseline") or "tf32"
    trained = (config.get("train") or {}).get("precisions") or []
    if asked == "tf32" and "tf32" not in trained and "fp32" in trained:
        return "fp32", "figures.baseline tf32 (the paper's float32) is not trained in this grid: speed-ups divide by " \
                       "fp32 (strict float32; on a CPU the same)"
    return asked, None


def key(values) -> tuple:
    """A hashable cell key: missing values as None, whole numbers as int."""
    return tuple(None if v is None or (np.ndim(v) == 0 and pd.isna(v))
                 else int(v) if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                 and float(v).is_integer() else v for v in values)


def _samples(row) -> list[float]:
    v = row.get("samples_s")
    return list(v) if isinstance(v, (list, tuple, np.ndarray)) else []


def differences(ref: dict, new: dict, compare: Sequence[str] = TIMING) -> list[str]:
    """``name: new vs reference`` for each of ``compare`` both runs recorded with different values."""
    out = []
    for name in compare:
        a, b = key([ref.get(name)])[0], key([new.get(name)])[0]
        if a is not None and b is not None and a != b:
            if name.endswith("sha256"):
                a, b = str(a)[:DIGEST_SHOWN], str(b)[:DIGEST_SHOWN]
            out.append(f"{name}: {b} vs {a}")
    return out


def values(rows: pd.DataFrame, compare: Sequence[str] = PROVENANCE) -> dict[str, list[str]]:
    """The values each of ``compare`` has among ``rows`` (summary rows), as sorted text; keys that differ
    by design between frameworks (:data:`BY_DESIGN`) are taken per framework (``framework_version
    [pytorch]``). Keys with no value are left out."""
    out: dict[str, list[str]] = {}
    for name in compare:
        if rows.empty or name not in rows:
            continue
        groups = rows.groupby("framework", dropna=False) if name in BY_DESIGN["framework"] else [(None, rows)]
        for framework, g in groups:
            found = sorted({str(v) for v in key(g[name]) if v is not None})
            if found:
                out[name if framework is None or pd.isna(framework) else f"{name} [{framework}]"] = found
    return out


def disagreements(rows: pd.DataFrame, compare: Sequence[str] = PROVENANCE) -> dict[str, list[str]]:
    """The keys of :func:`values` holding more than one value among ``rows``: empty when the rows agree,
    e.g. no merged results crossing a difference of data, mpbench or framework version (:mod:`mpbench.merge`)."""
    return {k: v for k, v in values(rows, compare).items() if len(v) > 1}


def run_speedup(ref: dict, new: dict, compare: Sequence[str] = TIMING) -> dict:
    """One pair of runs (summary/measurement rows with ``throughput`` and, when kept, ``samples_s``):
    the paper's throughput ratio new/ref, its bootstrap CI over the timed samples of this pair, the
    larger CV of the two runs' samples and the settings that differ (module doc)."""
    a, b = _samples(ref), _samples(new)
    if a and b:
        s = stats.speedup(a, b)
    else:
        s = {"speedup": float(new["throughput"]) / float(ref["throughput"]), "ci_low": None, "ci_high": None}
    cvs = [c for c in (stats.cv(a), stats.cv(b)) if c is not None]
    return {**s, "cv": max(cvs) if cvs else None, "differs": differences(ref, new, compare),
            "fold": ref.get("fold"), "timed": bool(a and b)}


def over_runs(runs: list[dict], max_cv: float = DEFAULT_MAX_CV) -> dict:
    """The :data:`COLUMNS` of one cell from its :func:`run_speedup` results (module doc)."""
    s = stats.speedup_over_folds(runs)
    if not any(r["timed"] for r in runs):   # a table without the records' timed samples: no CI (as before)
        s = {**s, "ci_low": None, "ci_high": None, "method": "no timed samples: no CI"}
    ratios = [r["speedup"] for r in runs]
    cvs = [r["cv"] for r in runs if r["cv"] is not None]
    cv = max(cvs) if cvs else None
    differs = sorted({d for r in runs for d in r["differs"]})
    because = []
    if len(runs) == 1:
        because.append("one run per side: its CI covers the timing noise within the run, not the drift between "
                       "runs; a verdict needs repeated runs (more folds)")
    if cv is not None and cv > max_cv:
        because.append(f"noisy timings: the timed samples of a run spread with CV {cv:.2f} > stats.max_cv {max_cv}")
    if differs:
        because.append("settings differ: " + "; ".join(differs))
    return {"speedup_mean": float(np.mean(ratios)), "speedup_std": float(np.std(ratios, ddof=1)) if len(runs) > 1
            else None, "n_folds": len({key([r["fold"]]) for r in runs}), "n_runs": len(runs),
            "ci_low": s["ci_low"], "ci_high": s["ci_high"], "ci_method": s["method"], "cv": cv,
            "differs": "; ".join(differs) or None, "inconclusive_because": " | ".join(because) or None}


def _one(values):
    """The value the rows share (None when they differ or have none)."""
    v = {key([x])[0] for x in values} - {None}
    return v.pop() if len(v) == 1 else None


def pair(rows: pd.DataFrame, *, vary: str, ref, keys: Sequence[str], new=None,
         max_cv: float = DEFAULT_MAX_CV) -> list[dict]:
    """Speed-ups of every other value of ``vary`` (or those in ``new``) over ``ref``, per cell ``keys``:
    one dict per cell and value with ``keys``, ``vary``, ``reference`` and the :data:`COLUMNS`, plus
    ``precision_support``, ``channels_last`` and ``reference_channels_last`` (module doc)."""
    if rows.empty:
        return []
    keys, compare = list(keys), [c for c in TIMING if c not in BY_DESIGN.get(vary, set())]
    records = rows.to_dict("records")
    order = sorted(range(len(records)), key=lambda i: str(records[i].get("source") or ""))
    refs: dict[tuple, list[dict]] = {}
    news: dict[tuple, list[dict]] = {}
    wanted = None if new is None else {new} if isinstance(new, str) or not isinstance(new, Sequence) else set(new)
    for i in order:
        r = records[i]
        cell = key([*(r.get(k) for k in keys), r.get("fold")])
        if key([r[vary]]) == key([ref]):
            refs.setdefault(cell, []).append(r)
        elif wanted is None or r[vary] in wanted:
            news.setdefault((*cell, key([r[vary]])[0]), []).append(r)
    cells: dict[tuple, list[tuple[dict, dict]]] = {}
    for (*cell, value), side in news.items():
        for a, b in zip(refs.get(tuple(cell), []), side, strict=False):   # repeats paired in file order
            cells.setdefault((*cell[:-1], value), []).append((a, b))
    out = []
    for (*cell, value), pairs in cells.items():
        runs = [run_speedup(a, b, compare) for a, b in pairs]
        out.append({**dict(zip(keys, cell, strict=True)), vary: value, "reference": ref, **over_runs(runs, max_cv),
                    "precision_support": support.combine([b.get("precision_support") for _, b in pairs]),
                    "channels_last": _one(b.get("channels_last") for _, b in pairs),
                    "reference_channels_last": _one(a.get("channels_last") for a, _ in pairs)})
    return out
