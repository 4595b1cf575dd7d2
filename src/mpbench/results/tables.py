"""Gather every result JSON into one tidy table and derive the speed-ups as the paper defines them.

``summary.csv``: one row per measurement — a training run, one batch size of an inference run,
one TFLite variant on the CPU, one quantization-aware-trained int8 model (``qat``), one Edge TPU
(or ``cpu-int8``) run. ``device`` is where the model
was trained, ``run_device`` where the row was measured. Times are seconds per sample (image).

``speedups.csv``: throughput of each precision over a reference precision (``fp32``; also ``tf32``
where present), per usage scenario — framework × device × f × batch size — and fold, then mean and
std over folds (the paper's definition: ratio of throughputs; std is empty for a single fold).
Only ``ok`` rows count.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .. import io

COLUMNS = ["phase", "framework", "device", "run_device", "precision", "variant", "filters", "batch_size",
           "fold", "status", "per_sample_s", "per_sample_std_s", "throughput", "joules_per_sample",
           "val_iou", "float_iou", "epochs", "best_epoch", "peak_memory_bytes", "framework_version",
           "gpu_name", "driver", "cuda", "cudnn", "hostname", "git_commit", "note", "source"]
SCENARIO = ["phase", "framework", "device", "filters", "batch_size"]


def _prov(result: dict) -> dict:
    p = result.get("provenance") or {}
    return {"framework_version": p.get("torch") or p.get("tensorflow"), "cuda": p.get("cuda"),
            "cudnn": p.get("cudnn"), "gpu_name": p.get("gpu"), "driver": p.get("nvidia_driver"),
            "hostname": p.get("hostname"), "git_commit": p.get("git_commit")}


def _base(s: dict) -> dict:
    return {"framework": s.get("framework"), "device": s.get("device"), "precision": s.get("precision"),
            "filters": s.get("filters"), "fold": s.get("fold")}


def rows_from_result(result: dict, source: str) -> list[dict]:
    phase = result.get("phase")
    prov = {**_prov(result), "source": source}
    if phase == "train":
        t = result.get("timing") or {}
        e = result.get("energy") or {}
        s = result["settings"]
        per = t.get("per_sample_s")
        std = (t.get("epoch_s") or {}).get("std")
        return [{**_base(s), **prov, "phase": "train", "run_device": s["device"], "batch_size": s.get("batch_size"),
                 "status": result["status"], "per_sample_s": per,
                 "per_sample_std_s": std / result["n_train"] if std is not None and result.get("n_train") else None,
                 "throughput": t.get("throughput"), "joules_per_sample": e.get("joules_per_sample"),
                 "val_iou": result.get("val_iou"), "epochs": result.get("epochs"),
                 "best_epoch": result.get("best_epoch"), "peak_memory_bytes": result.get("peak_memory_bytes")}]
    if phase == "infer":
        s = result["settings"]
        rows = []
        for b in result["batches"]:
            pi = b.get("per_image_s") or {}
            rows.append({**_base(s), **prov, "phase": "infer", "run_device": s["device"],
                         "batch_size": b["batch_size"], "status": b["status"], "per_sample_s": pi.get("median"),
                         "per_sample_std_s": pi.get("std"), "throughput": b.get("throughput"),
                         "joules_per_sample": b.get("joules_per_image")})
        return rows
    if phase == "quantize":
        s = result["settings"]
        rows = []
        for variant, v in result["variants"].items():
            timed = v.get("cpu_batch1") or {"per_image_s": {}}   # None: not run (unusable weights)
            pi = timed["per_image_s"]
            rows.append({**_base(s), **prov, "phase": "tflite_cpu", "run_device": "cpu", "variant": variant,
                         "batch_size": 1, "per_sample_s": pi.get("median"),
                         "status": result["status"] if result["status"] != "ok" else v.get("status", "ok"),
                         "per_sample_std_s": pi.get("std"), "throughput": timed.get("throughput"),
                         "val_iou": v["iou"], "float_iou": result["float32_rebuild_iou"]})
        return rows
    if phase == "qat":
        s = result["settings"]
        return [{**_base(s), **prov, "phase": "qat", "run_device": "cpu", "variant": "int8_qat", "batch_size": 1,
                 "status": result["status"], "val_iou": result["iou"], "epochs": result["epochs"]}]
    if phase == "edgetpu_infer":
        s = result.get("settings") or {}
        timed = result.get("batch1") or {"per_image_s": {}}   # None: not run (unusable weights)
        pi = timed["per_image_s"]
        # The measurement succeeded either way (run_device says where: edgetpu or cpu-int8), unless
        # the trained weights it started from were unusable.
        return [{**_base(s), **prov, "phase": "edgetpu", "run_device": result["device"], "variant": "int8",
                 "batch_size": 1, "status": "failed" if result.get("error") else result.get("source_status", "ok"),
                 "note": None if result["status"] == "ok" else f"Edge TPU {result['status']}: {result.get('reason')}",
                 "per_sample_s": pi.get("median"), "per_sample_std_s": pi.get("std"),
                 "throughput": timed.get("throughput"), "val_iou": result["iou"]}]
    raise ValueError(f"{source}: unknown result phase {phase!r}")


def summary_table(paths) -> pd.DataFrame:
    rows = []
    for p in sorted(str(p) for p in paths):
        try:
            result = io.read_json(p)
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{p}: not a readable result JSON ({e}); delete it and rerun its job") from e
        rows += rows_from_result(result, p)
    df = pd.DataFrame(rows, columns=COLUMNS)
    for c in ("filters", "batch_size", "fold", "epochs", "best_epoch"):
        df[c] = df[c].astype("Int64")
    return df


def speedup_table(summary: pd.DataFrame, references=("fp32", "tf32")) -> pd.DataFrame:
    ok = summary[(summary["status"] == "ok") & summary["phase"].isin(["train", "infer"])
                 & summary["throughput"].notna()]
    out = []
    for ref in references:
        base = ok[ok["precision"] == ref][SCENARIO + ["fold", "throughput"]].rename(columns={"throughput": "ref"})
        other = ok[ok["precision"] != ref][SCENARIO + ["fold", "precision", "throughput"]]
        m = other.merge(base, on=SCENARIO + ["fold"])
        if m.empty:
            continue
        m["speedup"] = m["throughput"] / m["ref"]
        g = m.groupby(SCENARIO + ["precision"], dropna=False)["speedup"]
        agg = g.agg(speedup_mean="mean", speedup_std="std", n_folds="count").reset_index()
        agg["reference"] = ref
        out.append(agg)
    cols = SCENARIO + ["precision", "reference", "speedup_mean", "speedup_std", "n_folds"]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)


def write_tables(paths, summary_csv, speedups_csv) -> tuple[pd.DataFrame, pd.DataFrame]:
    summary = summary_table(paths)
    speedups = speedup_table(summary)
    for df, path in ((summary, summary_csv), (speedups, speedups_csv)):
        io.write_text(path, df.to_csv(index=False))
    return summary, speedups


def read_tables(summary_csv, speedups_csv) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(summary_csv), pd.read_csv(speedups_csv)
