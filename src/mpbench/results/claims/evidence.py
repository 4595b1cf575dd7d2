"""What every claim test reads, built once from the records and the config (:class:`Evidence`).

The measurements frame (one row per ``ok`` record: its cell, summary values, timed samples and
per-image IoU), the Edge TPU compiler's records, the baseline precision, the margin, noise guard and
effect size of ``stats``, this grid's GPUs, the GPU and CPU energy per training cell
(:mod:`mpbench.results.energy`) and, built when first read, the accuracy table
(:mod:`mpbench.results.accuracy`); and the selectors the tests share: rows of a cell, GPU rows (or why
there are none), speed-ups paired as ``speedups.csv`` pairs them, this grid's mixed and pure half
precisions, the Edge TPU runs (or why there are none).

"Mixed precision" means the paper's mixed precisions (float32 weights, float16/bfloat16 compute:
``mixed_fp16``, ``mixed_bf16``, ``apex_o1``); pure half precision (``fp16``, ``apex_o3``) is judged
separately (the paper reports its IoU drop). A CPU row is never GPU evidence and a ``cpu-int8`` row
never Edge TPU evidence: the selectors say why they found none.
"""
from __future__ import annotations

import pandas as pd

from ... import precisions, record
from .. import accuracy, energy, speedups
from ..tables import COLUMNS as TABLE_COLUMNS
from ..tables import row_from_record, with_training_data

DEFAULT_EFFECT = 0.05   # stats.min_speedup_effect's schema default
CELL_KEYS = ("framework", "device", "filters", "batch_size")


def measurements(records: list[record.Record]) -> pd.DataFrame:
    """One row per ``ok`` record with its cell, summary values and timed samples."""
    rows = []
    for rec in records:
        if rec.status != "ok" or rec.stage == "edgetpu_compile":
            continue
        row = row_from_record(rec, "")
        row["samples_s"] = (rec.latency or {}).get("samples_s") or []
        row["per_image"] = rec.per_image_iou
        rows.append(row)
    return with_training_data(pd.DataFrame(rows, columns=[*TABLE_COLUMNS, "samples_s", "per_image"]))


class Evidence:
    """The records and config as every claim test reads them."""

    def __init__(self, records: list[record.Record], config: dict):
        self.measurements = measurements(records)
        self.compiled = [r for r in records if r.stage == "edgetpu_compile"]
        self.config = config
        self.baseline, self.baseline_note = speedups.baseline(config)
        st = config["stats"]
        self.margin = st["iou_margin"]
        self.max_cv = st.get("max_cv", speedups.DEFAULT_MAX_CV)
        self.effect = st.get("min_speedup_effect", DEFAULT_EFFECT)
        gpus = {d for d, spec in config.get("devices", {}).items() if spec["type"] == "cuda"}
        self.gpus = sorted(gpus & set(config["train"]["devices"]))
        self._accuracy = None
        self.target_iou = (config.get("energy") or {}).get("target_iou")
        self.energy = energy.cell_rows(records, self.target_iou)   # GPU and CPU energy per training cell

    @property
    def accuracy(self) -> pd.DataFrame:
        """Paired per-image IoU differences, per fold and over folds (:mod:`mpbench.results.accuracy`)."""
        if self._accuracy is None:
            self._accuracy = accuracy.accuracy_table(self.measurements, self.baseline, self.margin)
        return self._accuracy

    def rows(self, **where) -> pd.DataFrame:
        """The measurements whose columns hold ``where``'s values (a list, tuple or set: any of them)."""
        m = self.measurements
        if m.empty:
            return m
        for k, v in where.items():
            m = m[m[k].isin(v) if isinstance(v, (list, tuple, set)) else m[k] == v]
        return m

    def gpu_rows(self, **where) -> tuple[pd.DataFrame, str | None]:
        """``(rows, why)``: :meth:`rows` on this grid's GPUs (``device``, if given, narrows them); ``why``
        when there are none: no GPU in the grid, the device asked for is not one, or no GPU result yet."""
        if not self.gpus:
            return self.measurements.iloc[0:0], "no GPU device in this grid (train.devices has none of type cuda)"
        asked = where.get("device", self.gpus)
        asked = [asked] if isinstance(asked, str) else list(asked)
        devices = [d for d in asked if d in self.gpus]
        if not devices:
            return self.measurements.iloc[0:0], f"{', '.join(asked)}: not a GPU device of this grid"
        rows = self.rows(**{**where, "device": devices})
        return rows, None if len(rows) else "no GPU results in this grid yet"

    def speedups(self, rows: pd.DataFrame, new, ref: str | None = None, keys=CELL_KEYS, vary="precision"):
        """Per cell (``keys``): :func:`mpbench.results.speedups.pair` of ``new`` over ``ref`` (default: the
        baseline precision), the pairing speedups.csv uses."""
        return speedups.pair(rows, vary=vary, ref=self.baseline if ref is None else ref, new=new, keys=keys,
                             max_cv=self.max_cv)

    def mixed_precisions(self) -> list[str]:
        """The paper's mixed precisions in this grid: float32 weights, float16/bfloat16 compute."""
        return [p for p in self.config["train"]["precisions"] if precisions.get(p).autocast_dtype]

    def pure_half_precisions(self) -> list[str]:
        """Pure half precision in this grid (weights in float16 too): the paper's negative result."""
        return [p for p in self.config["train"]["precisions"] if precisions.get(p).param_dtype != "float32"]

    def edgetpu_rows(self) -> tuple[pd.DataFrame, str | None]:
        """The paper's Edge TPU runs: its TensorFlow models (PyTorch's int8 models are this project's addition);
        ``why`` when there are none, or only the ``cpu-int8`` stand-in ran (never evidence)."""
        rows = self.rows(phase="edgetpu", framework="tensorflow")
        if rows.empty:
            return rows, "no Edge TPU results of TensorFlow models in this grid"
        real = rows[rows["run_device"] == "edgetpu"]
        return real, None if len(real) else "Edge TPU unavailable: the cpu-int8 stand-in is not evidence"
