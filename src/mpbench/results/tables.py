"""Gather every result record into one tidy table and derive the speed-ups as the paper defines them.

``summary.csv``: one row per measurement — a training run, one batch size of an inference run,
one TFLite variant on the CPU, one quantization-aware-trained int8 model (``qat``), one Edge TPU
(or ``cpu-int8``) run. ``device`` is where the model
was trained, ``run_device`` where the row was measured. Times are seconds per sample (image):
``per_sample_s`` the paper's statistic (the mean over timed epochs or repeats), its median beside it.
``val_iou`` is the mean over validation images of each image's IoU (threshold 0.5; an image with an
empty mask and an empty prediction scores ``evaluation.empty_iou``), ``val_iou_pooled`` the pooled
IoU (Σ intersection / Σ union) beside it; ``float_iou`` the float model's, for derived models.
The ``reference`` column of ``speedups.csv`` names the denominator of each speed-up.
``precision_support`` (training and inference rows, and ``speedups.csv``): whether the row's precision
ran ``native`` on the hardware that measured it, ``converted`` (bf16 through fp32 on AVX-512 without
AVX512_BF16) or ``emulated`` (slow fallback kernels: e.g. bf16 on a CPU without AVX-512), from the
CPU flags or GPU compute capability in the record's provenance (``unknown`` for older records); see
:mod:`mpbench.support`. An emulated precision's numbers are real but measure the emulation.
``epoch_cap``: the epoch limit ``train.emulated_max_epochs`` put on an emulated training cell (empty:
none); such a run's IoU is from fewer epochs (``note`` says so).

``speedups.csv``: throughput of each precision over a reference precision (``fp32``; also ``tf32``
where present), per usage scenario — framework × device × f × batch size — and fold, then mean and
std over folds (the paper's definition: ratio of throughputs; std is empty for a single fold).
Beside it the uncertainty from the timed samples (each epoch's or repeat's per-sample time, kept in
the records): ``speedup_median``, the ratio of the median times (mean over folds), and its 95 % CI
``ci_low``–``ci_high`` — one fold: a bootstrap of the ratio of medians; several: a t-interval over
the fold values (the fold as the unit); ``ci_method`` says which (:mod:`mpbench.stats`).
Only ``ok`` rows count. For PyTorch, ``channels_last`` and ``reference_channels_last`` give the memory
format of each side and ``same_format`` whether they agree (``train.channels_last: auto`` picks NCHW
for float32 and NHWC for the reduced precisions): a ratio across formats includes the format's effect.
"""
from __future__ import annotations

import pandas as pd

from .. import io, record, stats, support

COLUMNS = ["phase", "framework", "device", "run_device", "precision", "precision_support", "variant", "filters",
           "batch_size", "fold", "status", "per_sample_s", "per_sample_median_s", "per_sample_std_s", "throughput",
           "joules_per_sample", "val_iou", "val_iou_pooled", "float_iou", "channels_last", "fused_adam",
           "data_placement", "epochs", "epoch_cap", "best_epoch",
           "peak_memory_bytes", "framework_version",
           "gpu_name", "driver", "cuda", "cudnn", "hostname", "git_commit", "note", "source"]
SCENARIO = ["phase", "framework", "device", "filters", "batch_size"]
SUMMARY_STAGES = ("train", "infer", "tflite_cpu", "qat", "edgetpu")   # edgetpu_compile: no measurement


def row_from_record(rec: dict, source: str) -> dict:
    """One summary row: the record's cell, where and how fast it ran, its accuracy and provenance."""
    s, p = rec["settings"], rec.get("provenance") or {}
    lat = rec.get("latency") or {}
    per = lat.get("per_sample_s") or {}
    details = rec.get("details") or {}
    return {
        "phase": rec["stage"], "framework": s.get("framework"), "device": s.get("device"),
        "run_device": rec.get("run_device"), "precision": s.get("precision"),
        "precision_support": support.of_record(rec), "variant": rec.get("variant"),
        "filters": s.get("filters"), "batch_size": rec.get("batch_size"), "fold": s.get("fold"),
        "status": rec["status"],
        "per_sample_s": per.get(lat.get("statistic")), "per_sample_median_s": per.get("median"),
        "per_sample_std_s": per.get("std"),
        "throughput": lat.get("throughput"), "joules_per_sample": rec.get("joules_per_sample"),
        "val_iou": rec.get("iou"), "val_iou_pooled": details.get("iou_pooled"), "float_iou": rec.get("reference_iou"),
        "channels_last": s.get("channels_last") if s.get("framework") == "pytorch" else None,   # PyTorch's only
        "fused_adam": s.get("fused_adam"),
        "data_placement": s.get("data_placement"),
        "epochs": details.get("epochs") if rec["stage"] in ("train", "qat") else None,
        "epoch_cap": (details.get("epoch_cap") or {}).get("max_epochs") if rec["stage"] == "train" else None,
        "best_epoch": details.get("best_epoch"), "peak_memory_bytes": rec.get("peak_memory_bytes"),
        "framework_version": p.get("torch") or p.get("tensorflow"), "gpu_name": p.get("gpu"),
        "driver": p.get("nvidia_driver"), "cuda": p.get("cuda"), "cudnn": p.get("cudnn"),
        "hostname": p.get("hostname"), "git_commit": p.get("git_commit"), "note": rec.get("note"), "source": source,
    }


def _key(values) -> tuple:
    """A hashable cell key: missing values as None, whole numbers as int."""
    return tuple(None if v is None or pd.isna(v) else int(v) if isinstance(v, (int, float)) and float(v).is_integer()
                 else v for v in values)


SAMPLE_KEY = SCENARIO + ["fold", "precision"]


def summary_table(paths, samples: dict | None = None) -> pd.DataFrame:
    """One row per measurement; ``samples``, when given, is filled with the timed samples of every
    ``ok`` row (:data:`SAMPLE_KEY` → per-sample seconds of each epoch or repeat)."""
    rows = []
    for p in sorted(str(p) for p in paths):
        for rec in record.read(p):
            if rec["stage"] in SUMMARY_STAGES:
                try:
                    row = row_from_record(rec, p)
                    rows.append(row)
                    timed = (rec.get("latency") or {}).get("samples_s")
                    if samples is not None and timed and row["status"] == "ok":
                        samples[_key(row[k] for k in SAMPLE_KEY)] = timed
                except (KeyError, TypeError, AttributeError) as e:
                    raise record.ResultFileError(f"{p}: a {rec['stage']} record of the wrong shape ({e!r}); "
                                                 "delete it and rerun the job that writes it") from e
    df = pd.DataFrame(rows, columns=COLUMNS)
    for c in ("filters", "batch_size", "fold", "epochs", "epoch_cap", "best_epoch"):
        df[c] = df[c].astype("Int64")
    return df


CI_COLUMNS = ["speedup_median", "ci_low", "ci_high", "ci_method"]


def _intervals(m: pd.DataFrame, ref: str, samples: dict) -> dict[tuple, dict]:
    """Per scenario and precision (key): :func:`mpbench.stats.speedup` of each fold's timed samples,
    then :func:`mpbench.stats.speedup_over_folds`, as the :data:`CI_COLUMNS`."""
    folds: dict[tuple, list[dict]] = {}
    for r in m.to_dict("records"):
        cell = [r[k] for k in SCENARIO]
        a = samples.get(_key([*cell, r["fold"], ref]))
        b = samples.get(_key([*cell, r["fold"], r["precision"]]))
        if a and b:
            folds.setdefault(_key([*cell, r["precision"]]), []).append(stats.speedup(a, b))
    out = {}
    for key, per_fold in folds.items():
        s = stats.speedup_over_folds(per_fold)
        out[key] = {"speedup_median": s["mean"], "ci_low": s["ci_low"], "ci_high": s["ci_high"],
                    "ci_method": s["method"]}
    return out


def _one(values: pd.Series):
    """The value a group's rows share (None when they differ or have none)."""
    v = values.dropna().unique()
    return v[0] if len(v) == 1 else None


def speedup_table(summary: pd.DataFrame, references=("fp32", "tf32"), samples: dict | None = None) -> pd.DataFrame:
    """Speed-ups per scenario (module doc); ``samples`` (from :func:`summary_table`) adds the CIs."""
    ok = summary[(summary["status"] == "ok") & summary["phase"].isin(["train", "infer"])
                 & summary["throughput"].notna()]
    out = []
    for ref in references:
        base = ok[ok["precision"] == ref].reindex(columns=SCENARIO + ["fold", "throughput", "channels_last"]).rename(
            columns={"throughput": "ref", "channels_last": "reference_channels_last"})
        other = ok[ok["precision"] != ref].reindex(columns=SCENARIO + ["fold", "precision", "precision_support",
                                                                       "throughput", "channels_last"])
        m = other.merge(base, on=SCENARIO + ["fold"])
        if m.empty:
            continue
        m["speedup"] = m["throughput"] / m["ref"]
        g = m.groupby(SCENARIO + ["precision"], dropna=False)
        agg = g.agg(speedup_mean=("speedup", "mean"), speedup_std=("speedup", "std"), n_folds=("speedup", "count"),
                    precision_support=("precision_support", support.combine),
                    channels_last=("channels_last", _one), reference_channels_last=("reference_channels_last", _one)
                    ).reset_index()
        agg["reference"] = ref
        # PyTorch memory formats of the two sides (train.channels_last: auto gives them per precision):
        # a ratio over a reference in another format mixes the format's effect into the precision's.
        agg["same_format"] = [None if pd.isna(a) or pd.isna(b) else bool(a) == bool(b)
                              for a, b in zip(agg["channels_last"], agg["reference_channels_last"], strict=True)]
        if samples:
            ci = _intervals(m, ref, samples)
            found = [ci.get(_key(r), {}) for r in agg[SCENARIO + ["precision"]].itertuples(index=False)]
            for col in CI_COLUMNS:
                agg[col] = [f.get(col) for f in found]
        out.append(agg)
    cols = SCENARIO + ["precision", "precision_support", "reference", "speedup_mean", "speedup_std", "n_folds"] \
        + CI_COLUMNS + ["channels_last", "reference_channels_last", "same_format"]
    return pd.concat(out, ignore_index=True).reindex(columns=cols) if out else pd.DataFrame(columns=cols)


def write_tables(paths, summary_csv, speedups_csv) -> tuple[pd.DataFrame, pd.DataFrame]:
    samples: dict = {}
    summary = summary_table(paths, samples)
    speedups = speedup_table(summary, samples=samples)
    for df, path in ((summary, summary_csv), (speedups, speedups_csv)):
        io.write_text(path, df.to_csv(index=False))
    return summary, speedups


def read_tables(summary_csv, speedups_csv) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(summary_csv), pd.read_csv(speedups_csv)
