"""The paper's claims (config/claims.yaml) checked on this grid's records: value, 95 % CI, n, p, verdict.

Verdicts: ``supported`` (the CI lies on the claimed side of the threshold, or inside the equivalence
margin), ``contradicted`` (on the other side), ``inconclusive`` (the CI spans the threshold), or
``not measured`` with the reason — the hardware the claim is about is not in this grid, or only a
stand-in ran (a ``cpu-int8`` row is not Edge TPU evidence, a CPU row is not GPU evidence).

Speed-ups are throughput ratios (:func:`mpbench.stats.speedup`: ratio of median per-sample times,
bootstrap CI) per fold, then over folds (:func:`mpbench.stats.speedup_over_folds`). Accuracy claims
pair two models on the same validation images (:mod:`mpbench.results.accuracy`: per-image IoU by
HDF5 row, :func:`mpbench.stats.paired_difference` per fold, folds as the unit over folds). A claim
over several cells (every GPU, every framework) is supported only when every cell is, contradicted
when any is; a claim with a part that cannot be checked here is at most inconclusive (the detail
says which part).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from . import stats
from .results import accuracy
from .results.tables import COLUMNS as TABLE_COLUMNS
from .results.tables import row_from_record

COLUMNS = ["claim", "statement", "where", "needs", "measured", "ci_low", "ci_high", "n", "p", "verdict", "detail"]
NOT_MEASURED = "not measured"


def load(path) -> list[dict]:
    return yaml.safe_load(Path(path).read_text())["claims"]


def measurements(records: list[dict]) -> pd.DataFrame:
    """One row per ``ok`` record with its cell, summary values and timed samples."""
    rows = []
    for rec in records:
        if rec["status"] != "ok" or rec["stage"] == "edgetpu_compile":
            continue
        row = row_from_record(rec, "")
        lat = rec.get("latency") or {}
        row["samples_s"] = lat.get("samples_s") or []
        row["per_image"] = (rec.get("details") or {}).get("per_image_iou")
        rows.append(row)
    return pd.DataFrame(rows, columns=[*TABLE_COLUMNS, "samples_s", "per_image"])


def _verdict(low, high, threshold: float, above: bool = True) -> str:
    if low is None or high is None:
        return "inconclusive"
    if (low > threshold) if above else (high < threshold):
        return "supported"
    if (high < threshold) if above else (low > threshold):
        return "contradicted"
    return "inconclusive"


def _combine(verdicts: list[str]) -> str:
    if not verdicts:
        return NOT_MEASURED
    if "contradicted" in verdicts:
        return "contradicted"
    return "supported" if all(v == "supported" for v in verdicts) else "inconclusive"


def _parts(verdicts: list[str], unchecked: list[str]) -> str:
    """A claim of several parts: contradicted by any part; at most inconclusive with a part unchecked."""
    if "contradicted" in verdicts:
        return "contradicted"
    if unchecked:
        return "inconclusive" if verdicts else NOT_MEASURED
    return _combine(verdicts)


def _ci(s: dict) -> str:
    lo, hi = s.get("ci_low"), s.get("ci_high")
    have = lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi)
    return f"{s['mean']:.3g} [{lo:.3g}, {hi:.3g}]" if have else f"{s['mean']:.3g} (no CI)"


class Checker:
    def __init__(self, records: list[dict], config: dict):
        self.m = measurements(records)
        self.compiled = [r for r in records if r["stage"] == "edgetpu_compile"]
        self.config = config
        self.baseline = config["figures"]["baseline"]
        self.margin = config["stats"]["iou_margin"]
        gpus = {d for d, spec in config.get("devices", {}).items() if spec["type"] == "cuda"}
        self.gpus = sorted(gpus & set(config["train"]["devices"]))
        self._accuracy = None

    @property
    def accuracy(self) -> pd.DataFrame:
        """Paired per-image IoU differences, per fold and over folds (:mod:`mpbench.results.accuracy`)."""
        if self._accuracy is None:
            self._accuracy = accuracy.accuracy_table(self.m, self.baseline, self.margin)
        return self._accuracy

    def _rows(self, **where) -> pd.DataFrame:
        m = self.m
        if m.empty:
            return m
        for k, v in where.items():
            m = m[m[k].isin(v) if isinstance(v, (list, tuple, set)) else m[k] == v]
        return m

    def _gpu_rows(self, **where) -> tuple[pd.DataFrame, str | None]:
        if not self.gpus:
            return self.m.iloc[0:0], "no GPU device in this grid (train.devices has none of type cuda)"
        if "device" in where and where["device"] not in self.gpus:
            return self.m.iloc[0:0], f"{where['device']} is not a GPU device of this grid"
        rows = self._rows(**{"device": self.gpus, **where})
        return rows, None if len(rows) else "no GPU results in this grid yet"

    def _speedups(self, rows: pd.DataFrame, new: str, ref: str, keys=("framework", "device", "filters", "batch_size")):
        """Per cell (keys): speed-up of precision ``new`` over ``ref`` per fold, and over folds."""
        out = []
        for cell, g in rows.groupby(list(keys), dropna=False):
            per_fold = []
            for _, fold in g.groupby("fold"):
                a, b = fold[fold["precision"] == ref], fold[fold["precision"] == new]
                if len(a) and len(b) and len(a.iloc[0]["samples_s"]) and len(b.iloc[0]["samples_s"]):
                    per_fold.append(stats.speedup(a.iloc[0]["samples_s"], b.iloc[0]["samples_s"]))
            if not per_fold:
                continue
            summary = stats.speedup_over_folds(per_fold)
            out.append({**dict(zip(keys, cell, strict=True)), "precision": new, **summary})
        return out

    def _mixed(self) -> list[str]:
        return [p for p in self.config["train"]["precisions"] if p.startswith("mixed")]

    # --- tests -------------------------------------------------------------------------------
    def speedup_above(self, c):
        rows, why = self._gpu_rows(phase=c["phase"], filters=max(self.config["train"]["filters"]))
        if why:
            return {"detail": why}
        cells = [s for p in self._mixed() for s in self._speedups(rows, p, self.baseline)]
        return self._cells(cells, c["threshold"], "min")

    def speedup_value(self, c):
        rows, why = self._gpu_rows(phase=c["phase"], **c["scope"])
        if why:
            return {"detail": f"{why} for {c['scope']}"}
        cells = [s for p in self._mixed() for s in self._speedups(rows, p, self.baseline)]
        if not cells:
            return {"detail": "no cell with both precisions measured"}
        best = max(cells, key=lambda s: s["mean"])   # a stated maximum: the best cell must reach it
        reached = best["ci_high"] is not None and best["ci_high"] >= c["value"]
        return {"measured": best["mean"], "ci_low": best["ci_low"], "ci_high": best["ci_high"], "n": len(cells),
                "verdict": "supported" if reached else "contradicted",
                "detail": f"best of {len(cells)} cells; stated: up to {c['value']}x"}

    def speedup_grows_with_f(self, c):
        rows, why = self._gpu_rows(phase=c["phase"])
        if why:
            return {"detail": why}
        fs = sorted(self.config["train"]["filters"])
        if len(fs) < 2:
            return {"detail": "the grid has one model size"}
        cells = [s for p in self._mixed() for s in self._speedups(rows, p, self.baseline)]
        diffs, verdicts = [], []
        for _, g in pd.DataFrame(cells).groupby(["framework", "device", "precision"]) if cells else []:
            lo, hi = g[g["filters"] == fs[0]], g[g["filters"] == fs[-1]]
            if len(lo) and len(hi):
                big, small = hi.iloc[0], lo.iloc[0]
                diffs.append(big["mean"] - small["mean"])
                if None in (big["ci_low"], big["ci_high"], small["ci_low"], small["ci_high"]):
                    verdicts.append("inconclusive")
                elif big["ci_low"] > small["ci_high"]:
                    verdicts.append("supported")
                elif big["ci_high"] < small["ci_low"]:
                    verdicts.append("contradicted")
                else:
                    verdicts.append("inconclusive")
        return {"measured": min(diffs) if diffs else None, "n": len(diffs), "verdict": _combine(verdicts),
                "detail": f"speed-up at f={fs[-1]} minus at f={fs[0]}, smallest over devices and frameworks"}

    def iou_equivalent_to_baseline(self, c):
        cells = accuracy.over_folds(self.accuracy, "precision vs baseline")
        if cells.empty:
            return {"detail": f"no pair of {self.baseline} and another precision trained in this grid"}
        return self._equivalence(cells, "IoU(other precision) − IoU(baseline) on the same images, "
                                        "per framework/device/f")

    def time_grows_with_f(self, c):
        fs = sorted(self.config["train"]["filters"])
        if len(fs) < 2:
            return {"detail": "the grid has one model size"}
        verdicts, n = [], 0
        for phase in ("train", "infer"):
            rows = self._rows(phase=phase)
            for _, g in rows.groupby(["framework", "device", "precision", "batch_size"], dropna=False):
                means = [g[g["filters"] == f]["per_sample_s"].mean() for f in fs]
                if all(np.isfinite(means)):
                    n += 1
                    verdicts.append("supported" if all(np.diff(means) > 0) else "contradicted")
        return {"n": n, "verdict": _combine(verdicts), "detail": "mean per-sample time strictly increasing in f"}

    def quantized_alike(self, c):
        rows = self._rows(phase="tflite_cpu", variant="int8")
        pairs = list(self._vs_baseline(rows, self._mixed(), ["framework", "device", "filters", "fold"]))
        ratios = [stats.speedup(b["samples_s"], a["samples_s"]) for a, b in pairs
                  if len(a["samples_s"]) and len(b["samples_s"])]
        cells = accuracy.over_folds(self.accuracy, "tflite_cpu: precision vs baseline", variant="int8",
                                    precision=self._mixed())
        if cells.empty:
            return {"detail": "no int8 models from both a mixed-precision and a baseline training run"}
        iou = self._equivalence(cells, "")
        # Same speed: each int8 speed ratio equivalent to 1 within ±10 % (timing noise on a shared CPU):
        # its CI inside 0.9-1.1 supports, a CI outside the band contradicts, one across its edge or
        # none (a single timed repeat) leaves it open.
        speed = ["inconclusive" if r["ci_low"] is None else "supported" if 0.9 < r["ci_low"] and r["ci_high"] < 1.1
                 else "contradicted" if r["ci_high"] < 0.9 or r["ci_low"] > 1.1 else "inconclusive" for r in ratios]
        cis = [(round(r["ci_low"], 3), round(r["ci_high"], 3)) if r["ci_low"] is not None else "no CI" for r in ratios]
        return {**iou, "verdict": _combine([iou["verdict"], *speed]),
                "detail": f"int8 IoU difference (mixed − baseline-trained) on the same images; {iou['detail']}; "
                          f"int8 CPU speed ratio CIs {cis} (alike when within 0.9-1.1)"}

    def inference_gain_above_batch(self, c):
        rows, why = self._gpu_rows(phase="infer")
        if why:
            return {"detail": why}
        cells = [s for p in self._mixed() for s in self._speedups(rows, p, self.baseline)]
        small = [s for s in cells if s["batch_size"] <= c["batch"]]
        large = [s for s in cells if s["batch_size"] > c["batch"]]
        # Small batches: no gain shown (the CI does not lie above 1); large batches: a gain.
        verdicts = ["contradicted" if _verdict(s["ci_low"], s["ci_high"], 1.0) == "supported" else "supported"
                    for s in small] + [_verdict(s["ci_low"], s["ci_high"], 1.0) for s in large]
        return {"n": len(cells), "verdict": _combine(verdicts),
                "detail": f"no gain at batch <= {c['batch']}, a gain above"}

    def framework_faster(self, c):
        rows, why = self._gpu_rows(phase=c["phase"], precision=self.baseline)
        if why:
            return {"detail": why}
        if "max_batch" in c:
            rows = rows[rows["batch_size"] <= c["max_batch"]]
        slow = "tensorflow" if c["faster"] == "pytorch" else "pytorch"
        ratios = []
        for _, g in rows.groupby(["device", "filters", "batch_size", "fold"], dropna=False):
            a, b = g[g["framework"] == slow], g[g["framework"] == c["faster"]]
            if len(a) and len(b):
                ratios.append(stats.speedup(a.iloc[0]["samples_s"], b.iloc[0]["samples_s"]))
        cells = [{"mean": r["speedup"], "ci_low": r["ci_low"], "ci_high": r["ci_high"]} for r in ratios]
        return self._cells(cells, 1.0, "min", detail=f"throughput {c['faster']} / {slow}")

    def framework_gains_more(self, c):
        rows, why = self._gpu_rows(phase=c["phase"])
        if why:
            return {"detail": why}
        sp = pd.DataFrame([s for p in self._mixed() for s in self._speedups(rows, p, self.baseline)])
        ratios = []
        for _, g in sp.groupby(["device", "filters", "precision"]) if len(sp) else []:
            tf, pt = g[g["framework"] == "tensorflow"], g[g["framework"] == "pytorch"]
            if len(tf) and len(pt):
                ratios.append(tf.iloc[0]["mean"] / pt.iloc[0]["mean"])
        if not ratios:
            return {"detail": "no cell with both frameworks' speed-ups"}
        return self._ratio(ratios, above=True, detail="speed-up TF / speed-up PyTorch")

    def energy_lower(self, c):
        rows, why = self._gpu_rows(phase="train")
        if why:
            return {"detail": why}
        rows = rows[rows["joules_per_sample"].notna()]
        if rows.empty:
            return {"detail": "no NVML energy in these results"}
        ratios = [a["joules_per_sample"] / b["joules_per_sample"]
                  for a, b in self._vs_baseline(rows, self._mixed(), ["framework", "device", "filters", "fold"])]
        if not ratios:
            return {"detail": "no mixed/baseline pair with NVML energy"}
        return self._ratio(ratios, above=False, detail="J/sample mixed / baseline")

    def _edgetpu(self):
        """The paper's Edge TPU runs: its TensorFlow models (PyTorch's int8 models are this project's addition)."""
        rows = self._rows(phase="edgetpu", framework="tensorflow")
        if rows.empty:
            return rows, "no Edge TPU results of TensorFlow models in this grid"
        real = rows[rows["run_device"] == "edgetpu"]
        return real, None if len(real) else "Edge TPU unavailable: the cpu-int8 stand-in is not evidence"

    def edgetpu_iou_drop(self, c):
        rows, why = self._edgetpu()
        if why:
            return {"detail": why}
        cells = accuracy.over_folds(self.accuracy, "edgetpu vs float", run_device="edgetpu", framework="tensorflow")
        if "filters" in c:
            cells = cells[cells["filters"].isin(c["filters"])]
        if cells.empty:
            return {"detail": f"no Edge TPU run with a float model's IoU to compare with (f in {c.get('filters')})"}
        return self._equivalence(cells, "IoU(int8 on the Edge TPU) − IoU(float model) on the same images, per f")

    def edgetpu_vs_gpu(self, c):
        """Fig. 7a: throughput of the Edge TPU over each GPU at batch 1 (TensorFlow, baseline-trained
        models), per GPU and f, per fold then over folds. Supported when the Edge TPU is faster than
        every GPU at f = ``c['f']`` and no longer faster than every GPU at the largest f."""
        edge, why = self._edgetpu()
        if why:
            return {"detail": why}
        gpu, why = self._gpu_rows(phase="infer", framework="tensorflow", precision=self.baseline, batch_size=1)
        if why:
            return {"detail": f"{why} (TensorFlow {self.baseline}, batch 1)"}
        edge = edge[edge["precision"] == self.baseline]
        cells = []
        for (dev, f), g in gpu.groupby(["device", "filters"]):
            per_fold = []
            for _, row in g.iterrows():
                e = edge[(edge["filters"] == f) & (edge["fold"] == row["fold"])]
                e = e[e["device"] == dev] if (e["device"] == dev).any() else e   # any training device
                if len(e) and len(e.iloc[0]["samples_s"]) and len(row["samples_s"]):
                    per_fold.append(stats.speedup(row["samples_s"], e.iloc[0]["samples_s"]))
            if per_fold:
                cells.append({"device": dev, "filters": int(f), **stats.speedup_over_folds(per_fold)})
        if not cells:
            return {"detail": "no fold and f with both an Edge TPU run and a batch-1 GPU run"}
        fs = sorted({s["filters"] for s in cells})
        at = {f: [s for s in cells if s["filters"] == f] for f in fs}
        text = "; ".join(f"f={f}: " + ", ".join(f"{s['device']} {_ci(s)}" for s in at[f]) for f in fs)
        verdicts, unchecked = [], []
        if c["f"] in at:    # the lead: faster than every GPU
            verdicts.append(_combine([_verdict(s["ci_low"], s["ci_high"], 1.0) for s in at[c["f"]]]))
        else:
            unchecked.append(f"f={c['f']} not measured on both")
        big = fs[-1]
        if big > c["f"]:    # the lead lost: some GPU faster (its ratio's CI below 1)
            lead = [_verdict(s["ci_low"], s["ci_high"], 1.0) for s in at[big]]
            verdicts.append("supported" if "contradicted" in lead else
                            "contradicted" if all(v == "supported" for v in lead) else "inconclusive")
        else:
            unchecked.append(f"no f above {c['f']} to see the lead lost")
        best = max(at.get(c["f"], cells), key=lambda s: s["mean"])
        return {"measured": best["mean"], "ci_low": best["ci_low"], "ci_high": best["ci_high"], "n": len(cells),
                "verdict": _parts(verdicts, unchecked),
                "detail": f"throughput Edge TPU / GPU at batch 1 ({text}); measured: best at f={best['filters']} "
                          f"({best['device']}), stated: up to {c['value']}x"
                          + (f"; unchecked: {', '.join(unchecked)}" if unchecked else "")}

    def edgetpu_compiled(self, c):
        """The compiler's op mapping per f (edgetpu_compile records) and, for the f said to map but
        predict badly, the Edge TPU's IoU against the float model: compromised when the CI of the
        paired difference lies below −margin."""
        compiled = [r for r in self.compiled if r["status"] in ("ok", "failed")
                    and r["settings"].get("framework", "tensorflow") == "tensorflow"]   # the paper's models
        by_f: dict[int, list[dict]] = {}
        for r in compiled:
            by_f.setdefault(int(r["settings"]["filters"]), []).append(r)
        full = {f: sum(r["status"] == "ok" and bool(r["details"].get("fully_mapped")) for r in rs)
                for f, rs in by_f.items()}
        mapping = ", ".join(f"f={f}: {full[f]}/{len(by_f[f])} fully mapped" for f in sorted(by_f))
        _, why = self._edgetpu()
        if why:
            return {"detail": why + (f" (compiler: {mapping})" if mapping else "")}
        if not compiled:
            return {"detail": "no Edge TPU compiler output in these results"}
        verdicts, unchecked, texts, worst = [], [], [mapping], None
        for f in c["full"]:
            if f in by_f:
                verdicts.append("supported" if full[f] == len(by_f[f]) else "contradicted")
            else:
                unchecked.append(f"f={f} not compiled")
        for f in c["compromised"]:
            if f not in by_f:
                unchecked.append(f"f={f} not compiled")
                continue
            if full[f] < len(by_f[f]):
                verdicts.append("contradicted")   # it should map fully
                continue
            cells = accuracy.over_folds(self.accuracy, "edgetpu vs float", run_device="edgetpu", filters=f,
                                        framework="tensorflow")
            if cells.empty:
                unchecked.append(f"no Edge TPU IoU at f={f}")
                continue
            for cell in cells.itertuples():
                if pd.notna(cell.ci_high) and cell.ci_high < -self.margin:
                    verdicts.append("supported")
                elif cell.verdict == "supported":     # within the margin: not compromised
                    verdicts.append("contradicted")
                else:
                    verdicts.append("inconclusive")
            worst = cells.loc[cells["delta"].idxmin()]
            texts.append(f"f={f}: IoU(Edge TPU) − IoU(float) {worst['delta']:.3g} ({worst['method']}); compromised "
                         f"when its CI lies below −{self.margin}")
        out = {"n": len(compiled), "verdict": _parts(verdicts, unchecked),
               "detail": "; ".join(texts) + (f"; unchecked: {', '.join(unchecked)}" if unchecked else "")}
        if worst is not None:
            out.update(measured=worst["delta"], ci_low=worst["ci_low"], ci_high=worst["ci_high"])
        return out

    # --- shared ------------------------------------------------------------------------------
    def _vs_baseline(self, rows: pd.DataFrame, precisions, keys):
        """``(row of precision p, row of the baseline)`` for each p and each group of ``keys`` holding both."""
        for p in precisions:
            for _, g in rows.groupby(keys):
                a, b = g[g["precision"] == p], g[g["precision"] == self.baseline]
                if len(a) and len(b):
                    yield a.iloc[0], b.iloc[0]

    @staticmethod
    def _ratio(ratios: list[float], above: bool, detail: str) -> dict:
        """Ratios over folds/cells: mean, t-interval and the verdict against 1 (above or below)."""
        s = stats.over_folds(ratios)
        return {"measured": s["mean"], "ci_low": s["ci_low"], "ci_high": s["ci_high"], "n": s["n"],
                "verdict": _verdict(s["ci_low"], s["ci_high"], 1.0, above=above), "detail": detail}

    def _cells(self, cells: list[dict], threshold: float, pick: str, detail: str = "") -> dict:
        if not cells:
            return {"detail": "no cell with both precisions measured"}
        verdicts = [_verdict(s["ci_low"], s["ci_high"], threshold) for s in cells]
        key = min if pick == "min" else max
        worst = key(cells, key=lambda s: s["mean"])
        return {"measured": worst["mean"], "ci_low": worst["ci_low"], "ci_high": worst["ci_high"], "n": len(cells),
                "verdict": _combine(verdicts),
                "detail": f"{pick} over {len(cells)} cells{'; ' + detail if detail else ''}"}

    def _equivalence(self, cells: pd.DataFrame, what: str) -> dict:
        """Equivalence over the cells (over-folds rows of the accuracy table): supported when every
        cell's 95 % CI lies within ±margin; the cell furthest from 0 is reported, p its TOST p."""
        worst = cells.loc[cells["delta"].abs().idxmax()]
        desc = "/".join(str(worst[k]) for k in ("framework", "device", "precision") if pd.notna(worst[k]))
        desc += f"/f{worst['filters']}" if pd.notna(worst["filters"]) else ""
        return {"measured": worst["delta"], "ci_low": worst["ci_low"], "ci_high": worst["ci_high"], "n": len(cells),
                "p": worst["tost_p"], "verdict": _combine(list(cells["verdict"])),
                "detail": f"{what}; cells: {len(cells)}, furthest from 0: {desc} ({worst['method']}); equivalent when "
                          f"the 95 % CI lies within ±{self.margin} (stats.iou_margin); p: TOST".lstrip("; ")}


def check(claims: list[dict], records: list[dict], config: dict, checker: Checker | None = None) -> pd.DataFrame:
    checker = checker or Checker(records, config)
    rows = []
    for c in claims:
        result = getattr(checker, c["test"])(c)
        verdict = result.get("verdict") or NOT_MEASURED
        if c["needs"] == "edgetpu" and verdict != NOT_MEASURED and checker._edgetpu()[1]:
            verdict = NOT_MEASURED   # never on a stand-in
        rows.append({"claim": c["id"], "statement": c["statement"], "where": c["where"], "needs": c["needs"],
                     "measured": result.get("measured"), "ci_low": result.get("ci_low"),
                     "ci_high": result.get("ci_high"), "n": result.get("n"), "p": result.get("p"),
                     "verdict": verdict, "detail": result.get("detail")})
    return pd.DataFrame(rows, columns=COLUMNS)


def write(claims_yaml, result_paths, config: dict, claims_csv, claims_md, claims_html=None,
          accuracy_csv=None) -> pd.DataFrame:
    """claims.csv, the same as a Markdown table (next to summary.csv) and as an HTML page (shown in
    the --report), and accuracy.csv (every paired IoU comparison, per fold and over folds)."""
    from . import io, record
    records = [rec for p in sorted(map(str, result_paths)) for rec in record.read(p)]
    checker = Checker(records, config)
    table = check(load(claims_yaml), records, config, checker)
    io.write_text(claims_csv, table.to_csv(index=False))
    io.write_text(claims_md, markdown(table))
    if claims_html:
        io.write_text(claims_html, html(table, config["stats"]["iou_margin"]))
    if accuracy_csv:
        io.write_text(accuracy_csv, checker.accuracy.to_csv(index=False))
    return table


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def markdown(table: pd.DataFrame) -> str:
    fmt = _fmt
    lines = ["| claim | where | measured | 95 % CI | n | verdict | detail |", "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        ci = f"[{fmt(r.ci_low)}, {fmt(r.ci_high)}]" if pd.notna(r.ci_low) else ""
        lines.append(f"| {r.statement} | {r.where} | {fmt(r.measured)} | {ci} | {fmt(r.n)} | **{r.verdict}** | "
                     f"{fmt(r.detail)} |")
    return "\n".join(lines) + "\n"


VERDICT_COLOURS = {"supported": "#d8f0d8", "contradicted": "#f6d5d5", "inconclusive": "#fdf1cf",
                   NOT_MEASURED: "#e8e8e8"}


def html(table: pd.DataFrame, margin: float) -> str:
    """A self-contained HTML page of the claims table (the Snakemake report shows HTML inline)."""
    from html import escape
    head = "".join(f"<th>{h}</th>" for h in ("claim", "where", "needs", "measured", "95 % CI", "n", "p", "verdict",
                                             "detail"))
    body = []
    for r in table.itertuples():
        ci = f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]" if pd.notna(r.ci_low) else ""
        cells = [r.statement, r.where, r.needs, _fmt(r.measured), ci, _fmt(r.n), _fmt(r.p)]
        tds = "".join(f"<td>{escape(str(c))}</td>" for c in cells)
        colour = VERDICT_COLOURS.get(r.verdict, "white")
        body.append(f'<tr id="{escape(r.claim)}">{tds}<td style="background:{colour}"><b>{escape(r.verdict)}</b></td>'
                    f"<td>{escape(_fmt(r.detail))}</td></tr>")
    counts = ", ".join(f"{n} {v}" for v, n in table["verdict"].value_counts().items())
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>The paper's claims, checked</title>"
            "<style>body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
            "td,th{border:1px solid #bbb;padding:3px 6px;vertical-align:top;text-align:left}</style></head><body>"
            f"<h3>The paper's claims checked on this grid ({counts})</h3>"
            "<p>supported: the 95 % CI lies on the claimed side of the threshold (or, for an unchanged IoU, "
            f"within &plusmn;{margin}); contradicted: on the other side; inconclusive: the CI spans it, or a part of "
            "the claim could not be checked; not measured: the hardware is not in this grid (a stand-in is never "
            "evidence).</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></body></html>\n")
