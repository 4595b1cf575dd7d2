"""One result record for every stage, and the result file that holds them.

A record is one measurement: a training run, one batch size of an inference run, one TFLite
variant on the CPU, a quantization-aware-trained int8 model, an Edge TPU (or ``cpu-int8``) run, an
Edge TPU compilation. It is a :class:`Record`: every stage fills the same fields for the same things —

``stage`` (one of :data:`mpbench.stages.RECORD_STAGES`), ``status`` (a :class:`Status`), ``error`` (what
went wrong), ``note`` (what the number is and is not, e.g. a stand-in), ``settings`` (the grid cell),
``run_device`` (where it was measured), ``variant``, ``batch_size``, ``model_path`` (the model measured),
``latency`` (see :func:`latency`), ``joules_per_sample`` and ``energy_meter`` (GPU, NVML),
``cpu_joules_per_sample`` and ``cpu_energy_meter`` (CPU packages and DRAM, powercap), ``peak_memory_bytes``,
``iou`` and ``reference_iou`` (the float model's, for derived models), the fields other modules read
(``epochs``, ``best_epoch``, ``epoch_cap``, ``iou_pooled``, ``per_image_iou``, ``fully_mapped``,
``compiled_model``), ``details`` (what only its own stage reads: training history, op lists, compiler
log …), ``provenance`` and ``config_hash``.

A result file is ``{"record_version": 3, "records": [...]}`` (:meth:`Record.to_json` each); :func:`read`
also reads format 2, where the cross-module fields still lived in ``details``. It names the file and
what is wrong with it when it is neither (an older format, a broken or foreign JSON), or when a record
holds a value no measurement can have (:func:`impossible`: an IoU of 5.0, a time per sample of
1e-298 s, a NaN throughput), naming the key.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from enum import StrEnum

from . import io, provenance, stages
from .timing import summarize

RECORD_VERSION = 3
READS_VERSIONS = (2, 3)
# Keys that lived in ``details`` in format 2 and are read by other modules: fields since format 3.
PROMOTED = ("epochs", "best_epoch", "epoch_cap", "iou_pooled", "per_image_iou", "fully_mapped", "compiled_model")


class Status(StrEnum):
    OK = "ok"
    DIVERGED = "diverged"              # non-finite loss or weights
    OOM = "oom"                        # out of device memory
    FAILED = "failed"                  # the tool or interpreter refused the model
    UNAVAILABLE = "unavailable"        # hardware or tool missing here (the reason is in ``note``)
    TRAIN_DIVERGED = "train_diverged"  # derived from a training run that finished no epoch …
    TRAIN_OOM = "train_oom"            # … so its numbers hold for timing, not for accuracy

    @classmethod
    def derived_from(cls, train_record: Record) -> Status:
        """Status of results derived from a trained model (quantization, QAT, Edge TPU).

        ``ok`` when the saved weights are a best epoch's, even if training stopped later (diverged,
        OOM); ``train_<status>`` when no epoch finished, i.e. the saved weights are initial or
        non-finite: derived numbers are still measured (timing holds) but are not accuracy.
        """
        if train_record.best_epoch is not None:
            return cls.OK
        return cls(f"train_{train_record.status}")


class Verdict(StrEnum):
    """What a claim's check concluded (claims.csv ``verdict``)."""
    SUPPORTED = "supported"
    CONTRADICTED = "contradicted"
    INCONCLUSIVE = "inconclusive"
    NOT_MEASURED = "not measured"


class ResultFileError(ValueError):
    """A result file that cannot be read as records; the message names it and what to do."""


def error_text(exc: BaseException, limit: int = 300) -> str:
    """One line for a record's ``error``: the exception type and the first line of its message."""
    lines = str(exc).splitlines()
    return f"{type(exc).__name__}: {(lines[0] if lines else '')[:limit]}"


def latency(per_sample_s: list[float], *, unit: str, statistic: str = "mean", **extra) -> dict | None:
    """The latency block: per-sample times of each timed unit (epoch or repeat), their summary and
    the throughput from ``statistic`` (the mean, as the paper defines per-sample time, for every stage)."""
    if not per_sample_s:
        return None
    s = summarize(per_sample_s)
    return {"per_sample_s": s, "statistic": statistic, "throughput": 1.0 / s[statistic],
            "samples_s": [float(v) for v in per_sample_s], "unit": unit, **extra}


@dataclass
class Record:
    """One measurement (see the module doc). ``details`` holds what only its own stage reads; a key of
    :data:`PROMOTED` there is refused (it is a field)."""
    stage: str
    settings: dict
    status: str
    provenance: dict = field(default_factory=dict)
    error: str | None = None
    note: str | None = None
    run_device: str | None = None
    variant: str | None = None
    batch_size: int | None = None
    model_path: str | None = None
    latency: dict | None = None
    joules_per_sample: float | None = None    # GPU joules (NVML) per sample over the timed epochs or repeats
    energy_meter: dict | None = None          # the GPU meter: EnergyMeter.describe() (available, reason)
    cpu_joules_per_sample: float | None = None   # CPU package + DRAM joules (powercap) per sample, same samples
    cpu_energy_meter: dict | None = None      # the CPU meter: PowercapMeter.describe() (reason, zones, CPU share)
    peak_memory_bytes: int | None = None
    iou: float | None = None
    reference_iou: float | None = None
    epochs: int | None = None             # epochs run (training, QAT)
    best_epoch: int | None = None         # the epoch whose weights were kept (training)
    epoch_cap: dict | None = None         # the epoch limit put on an emulated cell (training; loop.epoch_cap)
    iou_pooled: float | None = None       # IoU over all pixels of the evaluated images
    per_image_iou: dict | None = None     # per_image(): IoU per HDF5 row, for paired comparisons
    fully_mapped: bool | None = None      # Edge TPU compile: every op on the Edge TPU
    compiled_model: str | None = None     # Edge TPU compile: the compiled model's file
    details: dict = field(default_factory=dict)
    config_hash: str | None = None

    def __post_init__(self):
        if self.stage not in stages.RECORD_STAGES:
            raise ValueError(f"unknown stage {self.stage!r}; one of {stages.RECORD_STAGES}")
        self.status = str(Status(self.status))
        misplaced = sorted(set(PROMOTED) & set(self.details))
        if misplaced:
            raise ValueError(f"details {misplaced} are Record fields: pass them as keywords")
        if self.run_device is None:
            self.run_device = self.settings.get("device")
        if self.model_path is not None:
            self.model_path = str(self.model_path)
        if self.config_hash is None:
            self.config_hash = provenance.config_hash(self.settings)

    @property
    def data_sha256(self) -> str | None:
        """The ``content_sha256`` of the HDF5 the run read (training records store it, in ``details.data``)."""
        return (self.details.get("data") or {}).get("content_sha256")

    def to_json(self) -> dict:
        """The record as it is stored (format :data:`RECORD_VERSION`)."""
        return {"record_version": RECORD_VERSION, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}}

    @classmethod
    def from_json(cls, data: dict) -> Record:
        """A stored record of format 3, or of format 2 (the :data:`PROMOTED` keys taken out of ``details``;
        in format 3 such a key in ``details`` is refused). Keys this mpbench does not know raise
        ``TypeError`` naming them."""
        version = data.get("record_version", RECORD_VERSION)
        data = {k: v for k, v in data.items() if k != "record_version"}
        details = dict(data.pop("details", None) or {})
        promoted = {k: details.pop(k) for k in PROMOTED if k in details} if version == 2 else {}
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise TypeError(f"unknown record keys {unknown}")
        return cls(**{**promoted, **data}, details=details)


def per_image(index, iou) -> dict | None:
    """Per-image IoU keyed by HDF5 row, compact: little-endian int32 rows and float32 IoUs, base64."""
    import base64

    import numpy as np
    if index is None or iou is None:
        return None
    rows, values = np.asarray(index, dtype="<i4"), np.asarray(iou, dtype="<f4")
    if rows.shape != values.shape:
        raise ValueError(f"{len(rows)} HDF5 rows for {len(values)} IoU values")
    return {"n": len(rows), "encoding": "base64 <i4 index, <f4 iou",
            "index": base64.b64encode(rows.tobytes()).decode(), "iou": base64.b64encode(values.tobytes()).decode()}


def unpack_per_image(packed: dict):
    """``(index, iou)`` NumPy arrays of a :func:`per_image` block."""
    import base64

    import numpy as np
    return (np.frombuffer(base64.b64decode(packed["index"]), dtype="<i4"),
            np.frombuffer(base64.b64decode(packed["iou"]), dtype="<f4"))


def write(path, records: list[Record]) -> None:
    io.write_json(path, {"record_version": RECORD_VERSION, "records": [r.to_json() for r in records]})


def read(path) -> list[Record]:
    """The records of one result file, or :class:`ResultFileError` naming the file and the fix."""
    rerun = "delete it and rerun the job that writes it"
    try:
        content = io.read_json(path)
    except (OSError, json.JSONDecodeError) as e:
        raise ResultFileError(f"{path}: not a readable result JSON ({e}); {rerun}") from e
    if not isinstance(content, dict) or "records" not in content and "record_version" not in content:
        what = type(content).__name__ if not isinstance(content, dict) else "an object without 'records'"
        if isinstance(content, dict) and "phase" in content:
            raise ResultFileError(f"{path}: written by an older mpbench (result format 1, phase "
                                  f"{content['phase']!r}); {rerun} (e.g. snakemake --forcerun <rule>)")
        raise ResultFileError(f"{path}: not an mpbench result file (found {what}); {rerun}")
    if content.get("record_version") not in READS_VERSIONS:
        raise ResultFileError(f"{path}: result format {content.get('record_version')!r}, this mpbench reads "
                              f"{' and '.join(map(str, READS_VERSIONS))}; {rerun}")
    records = content.get("records")
    need = ("stage", "status", "settings")
    if not isinstance(records, list) or not all(isinstance(r, dict) and all(k in r for k in need) for r in records):
        raise ResultFileError(f"{path}: 'records' must be a list of records with {need}; {rerun}")
    out = []
    for i, data in enumerate(records):
        try:
            rec = Record.from_json({"record_version": content["record_version"], **data})
        except (TypeError, ValueError) as e:
            raise ResultFileError(f"{path}: record {i} ({data['stage']}) is not a record of this mpbench "
                                  f"({e}); {rerun}") from e
        bad = impossible(rec)
        if bad:
            raise ResultFileError(f"{path}: record {i} ({rec.stage}) has an impossible value: {bad}; {rerun}")
        out.append(rec)
    return out


# What a measurement can be: a per-sample time between a nanosecond and a day (no device runs this
# U-Net on a 224×224 frame faster, and no timing loop waits longer), an IoU within [0, 1].
SECONDS_PER_SAMPLE = (1e-9, 86_400.0)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def impossible(rec: Record) -> str | None:
    """The first value of ``rec`` no measurement can have, as ``key = value (why)``; None when all are possible.

    Checked: ``iou`` and ``reference_iou`` (a number within [0, 1] or null), the latency block (every
    per-sample time and summary statistic finite and within :data:`SECONDS_PER_SAMPLE`, std and IQR
    finite and not negative, ``throughput`` equal to 1 / the time its ``statistic`` names),
    ``joules_per_sample``, ``cpu_joules_per_sample`` and ``peak_memory_bytes`` (finite, not negative, or
    null), the per-image IoUs (NaN marks an image not scored; any other value within [0, 1]).
    """
    import math

    def finite(v):
        return _number(v) and math.isfinite(v)

    for key in ("iou", "reference_iou", "iou_pooled"):
        v = getattr(rec, key)
        if v is not None and not (finite(v) and 0.0 <= v <= 1.0):
            return f"{key} = {v!r} (an IoU is a number within [0, 1])"
    for key in ("joules_per_sample", "cpu_joules_per_sample", "peak_memory_bytes"):
        v = getattr(rec, key)
        if v is not None and not (finite(v) and v >= 0):
            return f"{key} = {v!r} (must be a finite number, not negative)"
    packed = rec.per_image_iou
    if packed is not None:
        try:
            _, values = unpack_per_image(packed)
        except (KeyError, TypeError, ValueError) as e:
            return f"per_image_iou ({e!r}: not the packed form record.per_image writes)"
        import numpy as np
        out = values[np.isfinite(values) & ((values < 0) | (values > 1))]
        if len(out):
            return f"per_image_iou holds {float(out[0])!r} (an IoU is a number within [0, 1])"
    lat = rec.latency
    if lat is None:
        return None
    if not isinstance(lat, dict):
        return f"latency = {lat!r} (must be an object)"
    lo, hi = SECONDS_PER_SAMPLE

    def seconds(v):
        return finite(v) and lo <= v <= hi

    samples = lat.get("samples_s") or []
    if not isinstance(samples, list):
        return f"latency.samples_s = {samples!r} (must be a list of seconds)"
    for j, v in enumerate(samples):
        if not seconds(v):
            return f"latency.samples_s[{j}] = {v!r} (a time per sample must lie within {lo:g}-{hi:g} s)"
    per = lat.get("per_sample_s") or {}
    if not isinstance(per, dict):
        return f"latency.per_sample_s = {per!r} (must be an object)"
    for key in ("mean", "median", "min", "max"):
        if key in per and not seconds(per[key]):
            return f"latency.per_sample_s.{key} = {per[key]!r} (a time per sample must lie within {lo:g}-{hi:g} s)"
    for key in ("std", "iqr"):
        if per.get(key) is not None and not (finite(per[key]) and per[key] >= 0):
            return f"latency.per_sample_s.{key} = {per[key]!r} (must be finite, not negative)"
    tp, statistic = lat.get("throughput"), per.get(lat.get("statistic"))
    if tp is not None and not (finite(tp) and tp > 0 and (statistic is None or math.isclose(tp * statistic, 1.0,
                                                                                         rel_tol=1e-6))):
        return (f"latency.throughput = {tp!r} (must be 1 / latency.per_sample_s.{lat.get('statistic')} = "
                f"1 / {statistic!r})")
    return None


def read_one(path) -> Record:
    """The single record of a one-measurement result file (training, QAT, Edge TPU)."""
    records = read(path)
    if len(records) != 1:
        raise ResultFileError(f"{path}: expected one record, found {len(records)}; delete it and rerun its job")
    return records[0]
