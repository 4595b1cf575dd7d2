"""Gather every result record into one tidy table and derive the speed-ups as the paper defines them.

``summary.csv``: one row per measurement — a training run, one batch size of an inference run,
one TFLite variant on the CPU, one quantization-aware-trained int8 model (``qat``), one Edge TPU
(or ``cpu-int8``) run. ``device`` is where the model
was trained, ``run_device`` where the row was measured. Times are seconds per sample (image):
``per_sample_s`` is the paper's statistic, the *mean* over the timed epochs or repeats, for every
phase (training, GPU/CPU inference, TFLite, Edge TPU alike, whatever statistic an older record
named), ``throughput`` = 1 / ``per_sample_s``; the median and std are beside it.
``val_iou`` is the mean over validation images of each image's IoU (threshold 0.5; an image with an
empty mask and an empty prediction scores ``evaluation.empty_iou``), ``val_iou_pooled`` the pooled
IoU (Σ intersection / Σ union) beside it; ``float_iou`` the float model's, for derived models.
The ``reference`` column of ``speedups.csv`` names the denominator of each speed-up.
``precision_support`` (training and inference rows, and ``speedups.csv``): whether the row's precision
ran ``native`` on the hardware that measured it, ``converted`` (bf16 through fp32 on AVX-512 without
AVX512_BF16) or ``emulated`` (slow fallback kernels: e.g. bf16 on a CPU without AVX-512), from the
CPU flags or GPU compute capability in the record's provenance (``unknown`` for older records); see
:mod:`mpbench.preflight.support`. An emulated precision's numbers are real but measure the emulation.
``epoch_cap``: the epoch limit ``train.emulated_max_epochs`` put on an emulated training cell (empty:
none); such a run's IoU is from fewer epochs (``note`` says so).

``speedups.csv``: throughput of each precision over a reference precision (``fp32``; also ``tf32``
where present), per usage scenario — framework × device × f × batch size — and fold, then mean and
std over folds (the paper's definition: ratio of throughputs; std is empty for a single fold), from
:func:`mpbench.results.speedups.pair`, the one pairing the claims use too: the 95 % CI of
``speedup_mean`` (``ci_low``–``ci_high``; ``ci_method``: a t-interval over runs, or one run's bootstrap),
``n_runs``, the noise guard ``cv`` (largest coefficient of variation of a run's timed samples),
``differs`` (timing-relevant settings or versions that differ between the paired runs, the data they
read among them: ``data_sha256``, from the training record of the row's cell) and
``inconclusive_because`` (why no verdict may be drawn from the row: one run, noisy, settings differ).
The rules are in that module's doc. Only ``ok`` rows count. For PyTorch, ``channels_last`` and
``reference_channels_last`` give the memory format of each side and ``same_format`` whether they
agree (``train.channels_last: auto`` picks NCHW for float32 and NHWC for the reduced precisions): a
ratio across formats includes the format's effect.
"""
from __future__ import annotations

import pandas as pd

from .. import io, record, stages
from ..preflight import support
from . import speedups as pairing

COLUMNS = ["phase", "framework", "device", "run_device", "precision", "precision_support", "variant", "filters",
           "batch_size", "fold", "status", "per_sample_s", "per_sample_median_s", "per_sample_std_s", "throughput",
           "joules_per_sample", "val_iou", "val_iou_pooled", "float_iou", "channels_last", "fused_adam",
           "data_placement", "threads", "cudnn_benchmark", "samples_limit", "upsampling", "epochs", "epoch_cap",
           "best_epoch", "peak_memory_bytes", "framework_version", "gpu_name", "driver", "cuda", "cudnn", "cpu",
           "hostname", "mpbench_version", "git_commit", "data_sha256", "note", "source"]
SCENARIO = ["phase", "framework", "device", "filters", "batch_size"]


def row_from_record(rec: record.Record, source: str) -> dict:
    """One summary row: the record's cell, where and how fast it ran, its accuracy and provenance."""
    s, p = rec.settings, rec.provenance or {}
    lat = rec.latency or {}
    per = lat.get("per_sample_s") or {}
    mean = per.get("mean")
    return {
        "phase": rec.stage, "framework": s.get("framework"), "device": s.get("device"),
        "run_device": rec.run_device, "precision": s.get("precision"),
        "precision_support": support.of_record(rec), "variant": rec.variant,
        "filters": s.get("filters"), "batch_size": rec.batch_size, "fold": s.get("fold"),
        "status": rec.status,
        "per_sample_s": mean, "per_sample_median_s": per.get("median"), "per_sample_std_s": per.get("std"),
        "throughput": 1.0 / mean if mean else None, "joules_per_sample": rec.joules_per_sample,
        "val_iou": rec.iou, "val_iou_pooled": rec.iou_pooled, "float_iou": rec.reference_iou,
        "channels_last": s.get("channels_last") if s.get("framework") == "pytorch" else None,   # PyTorch's only
        "fused_adam": s.get("fused_adam"), "data_placement": s.get("data_placement"), "threads": s.get("threads"),
        "cudnn_benchmark": s.get("cudnn_benchmark"), "samples_limit": s.get("samples_limit"),
        "upsampling": s.get("upsampling"),
        "epochs": rec.epochs if rec.stage in ("train", "qat") else None,
        "epoch_cap": (rec.epoch_cap or {}).get("max_epochs") if rec.stage == "train" else None,
        "best_epoch": rec.best_epoch, "peak_memory_bytes": rec.peak_memory_bytes,
        "framework_version": p.get("torch") or p.get("tensorflow"), "gpu_name": p.get("gpu"),
        "driver": p.get("nvidia_driver"), "cuda": p.get("cuda"), "cudnn": p.get("cudnn"), "cpu": p.get("cpu"),
        "hostname": p.get("hostname"), "mpbench_version": p.get("mpbench"), "git_commit": p.get("git_commit"),
        "data_sha256": rec.data_sha256,
        "note": rec.note, "source": source,
    }


TRAINED_CELL = ["framework", "device", "precision", "filters", "fold"]


def with_training_data(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with ``data_sha256`` filled where a record does not carry it (inference, TFLite, QAT,
    Edge TPU) from the training run of its cell (:data:`TRAINED_CELL`): the data its model was trained
    and validated on. Only training records store the HDF5's ``content_sha256``."""
    if rows.empty:
        return rows
    train = rows[(rows["phase"] == "train") & rows["data_sha256"].notna()]
    digests = {pairing.key(cell): g.iloc[0] for cell, g in train.groupby(TRAINED_CELL)["data_sha256"]
               if g.nunique() == 1}
    filled = [d if isinstance(d, str) else digests.get(pairing.key(cell))
              for d, cell in zip(rows["data_sha256"], rows[TRAINED_CELL].itertuples(index=False), strict=True)]
    return rows.assign(data_sha256=filled)


def summary_table(paths, samples: dict | None = None) -> pd.DataFrame:
    """One row per measurement; ``samples``, when given, is filled with the timed samples of every
    ``ok`` row (row position in the table → per-sample seconds of each epoch or repeat)."""
    rows = []
    for p in sorted(str(p) for p in paths):
        for rec in record.read(p):
            if rec.stage in stages.SUMMARY_RECORD_STAGES:   # edgetpu_compile: no measurement
                try:
                    row = row_from_record(rec, p)
                    timed = (rec.latency or {}).get("samples_s")
                    if samples is not None and timed and row["status"] == "ok":
                        samples[len(rows)] = timed
                    rows.append(row)
                except (KeyError, TypeError, AttributeError) as e:
                    raise record.ResultFileError(f"{p}: a {rec.stage} record of the wrong shape ({e!r}); "
                                                 "delete it and rerun the job that writes it") from e
    df = with_training_data(pd.DataFrame(rows, columns=COLUMNS))
    for c in ("filters", "batch_size", "fold", "epochs", "epoch_cap", "best_epoch"):
        df[c] = df[c].astype("Int64")
    return df


SPEEDUP_COLUMNS = SCENARIO + ["precision", "precision_support", "reference", *pairing.COLUMNS,
                              "channels_last", "reference_channels_last", "same_format"]


def speedup_table(summary: pd.DataFrame, references=("fp32", "tf32"), samples: dict | None = None,
                  max_cv: float = pairing.DEFAULT_MAX_CV) -> pd.DataFrame:
    """Speed-ups per scenario (module doc) by :func:`mpbench.results.speedups.pair`; ``samples`` (from
    :func:`summary_table`, by row position) adds the CIs and the noise guard."""
    ok = summary.reset_index(drop=True)
    if samples:
        ok = ok.assign(samples_s=[samples.get(i) for i in range(len(ok))])
    ok = ok[(ok["status"] == "ok") & ok["phase"].isin(["train", "infer"]) & ok["throughput"].notna()]
    out = [r for ref in references for r in pairing.pair(ok, vary="precision", ref=ref, keys=SCENARIO, max_cv=max_cv)]
    table = pd.DataFrame(out).reindex(columns=SPEEDUP_COLUMNS)
    # PyTorch memory formats of the two sides (train.channels_last: auto gives them per precision):
    # a ratio over a reference in another format mixes the format's effect into the precision's.
    table["same_format"] = [None if pd.isna(a) or pd.isna(b) else bool(a) == bool(b)
                            for a, b in zip(table["channels_last"], table["reference_channels_last"], strict=True)]
    return table


def write_tables(paths, summary_csv, speedups_csv, stats_config: dict | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """summary.csv and speedups.csv; ``stats_config``: the config's ``stats`` section (``max_cv``)."""
    samples: dict = {}
    summary = summary_table(paths, samples)
    speedups = speedup_table(summary, samples=samples,
                             max_cv=(stats_config or {}).get("max_cv", pairing.DEFAULT_MAX_CV))
    for df, path in ((summary, summary_csv), (speedups, speedups_csv)):
        io.write_text(path, df.to_csv(index=False))
    return summary, speedups


def read_tables(summary_csv, speedups_csv) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(summary_csv), pd.read_csv(speedups_csv)
