"""The paper's claims (config/claims.yaml) checked on this grid's records: value, 95 % CI, n, p, verdict.

Verdicts: ``supported`` (the CI lies on the claimed side of the threshold, or inside the equivalence
margin), ``contradicted`` (on the other side), ``inconclusive`` (the CI spans the threshold), or
``not measured`` with the reason — the hardware the claim is about is not in this grid, or only a
stand-in ran (a ``cpu-int8`` row is not Edge TPU evidence, a CPU row is not GPU evidence, and no
Cloud TPU runs here at all).

Speed-ups come from :func:`mpbench.results.speedups.pair`, the same pairing ``speedups.csv`` uses:
the paper's throughput ratio (mean times), per run, then over runs (the run as the unit). A speed
cell whose ``inconclusive_because`` is set — one run per side (its CI covers no run-to-run drift),
timings noisier than ``stats.max_cv``, or timing-relevant settings that differ between the paired
runs — gives ``inconclusive``, never supported or contradicted; the detail says why. Claims about a
size of effect use ``stats.min_speedup_effect`` δ: a *gain* is supported when the CI lies above
1 + δ and contradicted when it lies below; *no gain* the other way round. A stated value ("up to
1.9x") is judged two-sided within the claim's ``tolerance``: supported when the CI lies inside
value × (1 ± tolerance), contradicted when it lies entirely outside.

Accuracy claims pair two models on the same validation images (:mod:`mpbench.results.accuracy`:
per-image IoU by HDF5 row, :func:`mpbench.stats.paired_difference` per fold, folds as the unit over
folds). "Mixed precision" means the paper's mixed precisions (float32 weights, float16/bfloat16
compute: ``mixed_fp16``, ``mixed_bf16``, ``apex_o1``); pure half precision (``fp16``, ``apex_o3``)
is judged separately (the paper reports its IoU drop). A claim over several cells (every GPU, every
framework) is supported only when every cell is, contradicted when any is; a claim with a part that
cannot be checked here is at most inconclusive (the detail says which part).

Energy claims read the GPU energy of :mod:`mpbench.results.energy` (energy.csv's cells): per training
sample and to ``energy.target_iou``, mixed / baseline per framework/device/f/fold, over folds; the
CPU packages' energy (powercap) is stated beside it where measured. Without GPU energy they are
``not measured`` and the detail gives the meter's reason.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ... import precisions, record, stats
from ...record import Verdict
from .. import accuracy, energy, speedups
from ..tables import COLUMNS as TABLE_COLUMNS
from ..tables import TRAINED_CELL, row_from_record, with_training_data

COLUMNS = ["claim", "statement", "where", "needs", "measured", "ci_low", "ci_high", "n", "p", "verdict", "detail"]
NOT_MEASURED = Verdict.NOT_MEASURED
DEFAULT_EFFECT = 0.05   # stats.min_speedup_effect's schema default
CELL_KEYS = ("framework", "device", "filters", "batch_size")


def load(path) -> list[dict]:
    return yaml.safe_load(Path(path).read_text())["claims"]


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


def _verdict(low, high, threshold: float, above: bool = True) -> str:
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return Verdict.INCONCLUSIVE
    if (low > threshold) if above else (high < threshold):
        return Verdict.SUPPORTED
    if (high < threshold) if above else (low > threshold):
        return Verdict.CONTRADICTED
    return Verdict.INCONCLUSIVE


def _blocked(cell: dict) -> str | None:
    """Why a speed cell may not be judged (its ``inconclusive_because``), or None."""
    why = cell.get("inconclusive_because")
    return why if isinstance(why, str) and why else None


def _judged(cell: dict, threshold: float, above: bool = True) -> str:
    """A speed cell against a threshold; ``inconclusive`` when the cell may not be judged (one run,
    noisy timings, settings that differ: its ``inconclusive_because``)."""
    if _blocked(cell):
        return Verdict.INCONCLUSIVE
    return _verdict(cell["ci_low"], cell["ci_high"], threshold, above)


def _within(cell: dict, value: float, tolerance: float) -> str:
    """Two-sided: the CI inside value × (1 ± tolerance) supports, entirely outside contradicts."""
    lo, hi = value * (1 - tolerance), value * (1 + tolerance)
    if _blocked(cell) or cell["ci_low"] is None or pd.isna(cell["ci_low"]):
        return Verdict.INCONCLUSIVE
    if lo < cell["ci_low"] and cell["ci_high"] < hi:
        return Verdict.SUPPORTED
    if cell["ci_high"] < lo or cell["ci_low"] > hi:
        return Verdict.CONTRADICTED
    return Verdict.INCONCLUSIVE


def _combine(verdicts: list[str]) -> str:
    if not verdicts:
        return NOT_MEASURED
    if Verdict.CONTRADICTED in verdicts:
        return Verdict.CONTRADICTED
    return Verdict.SUPPORTED if all(v == Verdict.SUPPORTED for v in verdicts) else Verdict.INCONCLUSIVE


def _parts(verdicts: list[str], unchecked: list[str]) -> str:
    """A claim of several parts: contradicted by any part; at most inconclusive with a part unchecked."""
    if Verdict.CONTRADICTED in verdicts:
        return Verdict.CONTRADICTED
    if unchecked:
        return Verdict.INCONCLUSIVE if verdicts else NOT_MEASURED
    return _combine(verdicts)


def _ci(s: dict) -> str:
    lo, hi = s.get("ci_low"), s.get("ci_high")
    have = lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi)
    return f"{s['speedup_mean']:.3g} [{lo:.3g}, {hi:.3g}]" if have else f"{s['speedup_mean']:.3g} (no CI)"


def _name(cell: dict) -> str:
    parts = [str(cell[k]) for k in ("phase", "framework", "device", "precision") if cell.get(k) is not None]
    parts += [f"f{cell['filters']}"] if cell.get("filters") is not None else []
    parts += [f"batch {cell['batch_size']}"] if cell.get("batch_size") is not None else []
    return "/".join(parts)


def _why_not(cells: list[dict]) -> str:
    """Why some speed cells could not be judged: each reason once, with the cells it holds for."""
    reasons: dict[str, list[str]] = {}
    for cell in cells:
        for why in filter(None, (_blocked(cell) or "").split(" | ")):
            reasons.setdefault(why, []).append(_name(cell))
    return "; ".join(f"{len(names)} of {len(cells)} cells not judged ({', '.join(names[:3])}"
                     f"{', …' if len(names) > 3 else ''}): {why}" for why, names in reasons.items())


def _reasons(rows: pd.DataFrame, shown: int = 3) -> str:
    """The distinct reasons of energy rows without joules (:mod:`mpbench.results.energy`), each once."""
    found = list(dict.fromkeys(r for r in rows["reason"] if isinstance(r, str) and r))
    return "; ".join(found[:shown]) + ("; …" if len(found) > shown else "") if found else "no reason recorded"


def _with(detail: str, cells: list[dict]) -> str:
    note = _why_not(cells)
    return f"{detail}; {note}" if note else detail


class Checker:
    def __init__(self, records: list[record.Record], config: dict):
        self.m = measurements(records)
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
        asked = where.get("device", self.gpus)
        asked = [asked] if isinstance(asked, str) else list(asked)
        devices = [d for d in asked if d in self.gpus]
        if not devices:
            return self.m.iloc[0:0], f"{', '.join(asked)}: not a GPU device of this grid"
        rows = self._rows(**{**where, "device": devices})
        return rows, None if len(rows) else "no GPU results in this grid yet"

    def _speedups(self, rows: pd.DataFrame, new, ref: str | None = None, keys=CELL_KEYS, vary="precision"):
        """Per cell (``keys``): :func:`mpbench.results.speedups.pair` of ``new`` over ``ref`` (default: the
        baseline precision), the pairing speedups.csv uses."""
        return speedups.pair(rows, vary=vary, ref=self.baseline if ref is None else ref, new=new, keys=keys,
                             max_cv=self.max_cv)

    def _mixed(self) -> list[str]:
        """The paper's mixed precisions in this grid: float32 weights, float16/bfloat16 compute."""
        return [p for p in self.config["train"]["precisions"] if precisions.get(p).autocast_dtype]

    def _pure_half(self) -> list[str]:
        """Pure half precision in this grid (weights in float16 too): the paper's negative result."""
        return [p for p in self.config["train"]["precisions"] if precisions.get(p).param_dtype != "float32"]

    # --- speed -------------------------------------------------------------------------------
    def speedup_above(self, c):
        rows, why = self._gpu_rows(phase=c["phase"], filters=max(self.config["train"]["filters"]))
        if why:
            return {"detail": why}
        return self._cells(self._speedups(rows, self._mixed()), c["threshold"], "min")

    def speedup_value(self, c):
        """A stated maximum ("up to 1.9x"): the best cell in scope, two-sided within ``tolerance``."""
        rows, why = self._gpu_rows(phase=c["phase"], **c["scope"])
        if why:
            return {"detail": f"{why} for {c['scope']}"}
        cells = self._speedups(rows, self._mixed())
        if not cells:
            return {"detail": "no cell with both precisions measured"}
        best = max(cells, key=lambda s: s["speedup_mean"])   # a stated maximum: the best cell is judged
        tol = c["tolerance"]
        return {"measured": best["speedup_mean"], "ci_low": best["ci_low"], "ci_high": best["ci_high"],
                "n": len(cells), "verdict": _within(best, c["value"], tol),
                "detail": _with(f"best of {len(cells)} cells: {_name(best)}; stated: up to {c['value']}x, judged "
                                f"within ±{tol:.0%} ({c['value'] * (1 - tol):.3g}-{c['value'] * (1 + tol):.3g})",
                                [best])}

    def speedup_grows_with_f(self, c):
        rows, why = self._gpu_rows(phase=c["phase"])
        if why:
            return {"detail": why}
        fs = sorted(self.config["train"]["filters"])
        if len(fs) < 2:
            return {"detail": "the grid has one model size"}
        cells = self._speedups(rows, self._mixed())
        diffs, verdicts, used = [], [], []
        for _, g in pd.DataFrame(cells).groupby(["framework", "device", "precision"]) if cells else []:
            lo, hi = g[g["filters"] == fs[0]], g[g["filters"] == fs[-1]]
            if len(lo) and len(hi):
                big, small = hi.iloc[0].to_dict(), lo.iloc[0].to_dict()
                used += [big, small]
                diffs.append(big["speedup_mean"] - small["speedup_mean"])
                if _blocked(big) or _blocked(small):
                    verdicts.append(Verdict.INCONCLUSIVE)
                else:
                    verdicts.append(_verdict(big["ci_low"] - small["ci_high"], big["ci_high"] - small["ci_low"], 0.0))
        return {"measured": min(diffs) if diffs else None, "n": len(diffs), "verdict": _combine(verdicts),
                "detail": _with(f"speed-up at f={fs[-1]} minus at f={fs[0]}, smallest over devices and frameworks "
                                "(supported when the CIs do not overlap)", used)}

    def speedup_none_at_f(self, c):
        """Fig. 5: "f = 8 may gain nothing": supported when some GPU/framework cell at that f shows no gain
        (its CI below 1 + δ), contradicted when every cell shows one (its CI above 1 + δ)."""
        rows, why = self._gpu_rows(phase="train", filters=c["f"])
        if why:
            return {"detail": f"{why} (f={c['f']})"}
        cells = self._speedups(rows, self._mixed())
        if not cells:
            return {"detail": f"no cell at f={c['f']} with both precisions measured"}
        verdicts = [_judged(s, 1 + self.effect, above=False) for s in cells]
        verdict = (Verdict.SUPPORTED if Verdict.SUPPORTED in verdicts else
                   Verdict.CONTRADICTED if all(v == Verdict.CONTRADICTED for v in verdicts) else Verdict.INCONCLUSIVE)
        least = min(cells, key=lambda s: s["speedup_mean"])
        return {"measured": least["speedup_mean"], "ci_low": least["ci_low"], "ci_high": least["ci_high"],
                "n": len(cells), "verdict": verdict,
                "detail": _with(f"smallest training speed-up at f={c['f']} ({_name(least)}); no gain when the CI lies "
                                f"below 1 + {self.effect} (stats.min_speedup_effect)", cells)}

    def time_grows_with_f(self, c):
        """Fig. 4: per-sample time on ``figures.fig4_device`` in training and in inference at the figure's
        batch size (128, else the largest timed), each f against the next larger one: the time ratio
        t(larger f) / t(f) must lie above 1 + δ (the same pairing as every speed-up, f varying)."""
        fs = sorted(self.config["train"]["filters"])
        if len(fs) < 2:
            return {"detail": "the grid has one model size"}
        device = self.config["figures"].get("fig4_device") or self.config["train"]["devices"][0]
        cells = []
        for phase in ("train", "infer"):
            rows = self._rows(phase=phase, device=device)
            if phase == "infer" and len(rows):
                batches = set(rows["batch_size"].dropna().astype(int))
                rows = rows[rows["batch_size"] == (128 if 128 in batches else max(batches))]
            for small, big in zip(fs, fs[1:], strict=False):
                for s in self._speedups(rows, small, ref=big, vary="filters",
                                        keys=("phase", "framework", "precision", "batch_size")):
                    cells.append({**s, "filters": f"{small}->{big}"})
        if not cells:
            return {"detail": f"no two model sizes timed on {device} (figures.fig4_device)"}
        verdicts = [_judged(s, 1 + self.effect) for s in cells]
        least = min(cells, key=lambda s: s["speedup_mean"])
        return {"measured": least["speedup_mean"], "ci_low": least["ci_low"], "ci_high": least["ci_high"],
                "n": len(cells), "verdict": _combine(verdicts),
                "detail": _with(f"time per sample t(next larger f) / t(f) on {device}, training and inference at "
                                f"batch {int(rows['batch_size'].max()) if len(rows) else '-'}; smallest: "
                                f"{_name(least)}; grows when the CI lies above 1 + {self.effect}", cells)}

    def inference_gain_above_batch(self, c):
        """Fig. 6 (largest f): no gain (CI below 1 + δ) up to batch ``c['batch']``, a gain (CI above 1 + δ)
        above it, per GPU and framework."""
        f = max(self.config["train"]["filters"])
        rows, why = self._gpu_rows(phase="infer", filters=f)
        if why:
            return {"detail": why}
        cells = self._speedups(rows, self._mixed())
        small = [s for s in cells if s["batch_size"] <= c["batch"]]
        large = [s for s in cells if s["batch_size"] > c["batch"]]
        verdicts = [_judged(s, 1 + self.effect, above=False) for s in small] + \
                   [_judged(s, 1 + self.effect) for s in large]
        return {"n": len(cells), "verdict": _combine(verdicts),
                "detail": _with(f"f={f} (Fig. 6): no gain at batch <= {c['batch']} (CI below 1 + {self.effect}), a "
                                f"gain above (CI above 1 + {self.effect}; stats.min_speedup_effect)", cells)}

    def framework_faster(self, c):
        rows, why = self._gpu_rows(phase=c["phase"], precision=self.baseline)
        if why:
            return {"detail": why}
        if "max_batch" in c:
            rows = rows[rows["batch_size"] <= c["max_batch"]]
        slow = "tensorflow" if c["faster"] == "pytorch" else "pytorch"
        cells = self._speedups(rows, c["faster"], ref=slow, vary="framework", keys=("device", "filters", "batch_size"))
        return self._cells(cells, 1.0, "min", detail=f"throughput {c['faster']} / {slow}")

    def framework_gains_more(self, c):
        rows, why = self._gpu_rows(phase=c["phase"])
        if why:
            return {"detail": why}
        cells = self._speedups(rows, self._mixed())
        sp = pd.DataFrame(cells)
        ratios, used = [], []
        for _, g in sp.groupby(["device", "filters", "precision"]) if len(sp) else []:
            tf, pt = g[g["framework"] == "tensorflow"], g[g["framework"] == "pytorch"]
            if len(tf) and len(pt):
                ratios.append(tf.iloc[0]["speedup_mean"] / pt.iloc[0]["speedup_mean"])
                used += [tf.iloc[0].to_dict(), pt.iloc[0].to_dict()]
        if not ratios:
            return {"detail": "no cell with both frameworks' speed-ups"}
        out = self._ratio(ratios, above=True, detail="speed-up TF / speed-up PyTorch, cells as the unit")
        # The cells are the unit here (their spread covers drift between runs); noise and differing
        # settings still forbid a verdict.
        blocked = [s for s in used if "noisy" in (_blocked(s) or "") or isinstance(s.get("differs"), str)]
        if blocked:
            out.update(verdict=Verdict.INCONCLUSIVE, detail=_with(out["detail"], blocked))
        return out

    def quantized_alike(self, c):
        rows = self._rows(phase="tflite_cpu", variant="int8")
        speed = self._speedups(rows, self._mixed(), keys=("framework", "device", "filters", "variant"))
        cells = accuracy.over_folds(self.accuracy, "tflite_cpu: precision vs baseline", variant="int8",
                                    precision=self._mixed())
        if cells.empty:
            return {"detail": "no int8 models from both a mixed-precision and a baseline training run"}
        iou = self._equivalence(cells, "", between_runs=True)
        tol = c["tolerance"]
        # Same speed: each int8 speed ratio equivalent to 1 within ±tolerance.
        verdicts = [_within(s, 1.0, tol) for s in speed]
        cis = ", ".join(_ci(s) for s in speed) or "none"
        return {**iou, "verdict": _combine([iou["verdict"], *verdicts]),
                "detail": _with(f"int8 IoU difference (mixed − baseline-trained) on the same images; {iou['detail']}; "
                                f"int8 CPU speed ratios {cis} (alike when the CI lies within 1 ± {tol})", speed)}

    # --- energy ------------------------------------------------------------------------------
    def _energy_pairs(self, quantity: str) -> tuple[list, str | None]:
        """``(pairs, why)``: (mixed row, baseline row) of the GPU energy ``quantity`` (energy.csv's) per
        framework/device/f/fold, from ok training runs on this grid's GPUs; ``why`` when there is nothing
        to judge — no GPU, no run yet, or no GPU energy at all (then the meters' reasons)."""
        e = self.energy
        rows = e[(e["phase"] == "train") & (e["quantity"] == quantity) & (e["status"] == "ok") & (e["meter"] == "gpu")]
        if not self.gpus:
            return [], "no GPU device in this grid (train.devices has none of type cuda): no GPU energy (NVML) here"
        rows = rows[rows["device"].isin(self.gpus)]
        if rows.empty:
            return [], "no GPU training results in this grid yet"
        if rows["joules"].isna().all():
            return [], f"no GPU energy in these results: {_reasons(rows)}"
        return list(self._vs_baseline(rows, self._mixed(), ["framework", "device", "filters", "fold"])), None

    def _with_cpu(self, pairs, quantity: str) -> str:
        """The mixed / baseline ratio with the CPU packages' energy (powercap) added to both sides, or why
        it is left out: the GPU claims are judged on the GPU's energy, the host's is stated beside it."""
        e = self.energy
        cpu = e[(e["phase"] == "train") & (e["quantity"] == quantity) & (e["meter"] == "cpu")]
        cpu = {speedups.key(cell): r for cell, r in zip(cpu[TRAINED_CELL].itertuples(index=False),
                                                         cpu.to_dict("records"), strict=True)}
        ratios, missing = [], []
        for a, b in pairs:
            ca, cb = (cpu.get(speedups.key(tuple(r[k] for k in TRAINED_CELL))) for r in (a, b))
            if ca is None or cb is None or pd.isna(ca["joules"]) or pd.isna(cb["joules"]):
                missing += [c for c in (ca, cb) if c is not None and pd.isna(c["joules"])]
                continue
            ratios.append((a["joules"] + ca["joules"]) / (b["joules"] + cb["joules"]))
        if missing or not ratios:
            return "CPU energy not added (" + (_reasons(pd.DataFrame(missing)) if missing else "no CPU rows") + ")"
        s = stats.over_folds(ratios)
        return f"GPU + CPU packages (powercap): {s['mean']:.3g} over {s['n']} pairs"

    @staticmethod
    def _metered(pairs) -> list:
        return [(a, b) for a, b in pairs if pd.notna(a["joules"]) and pd.notna(b["joules"])]

    def energy_lower(self, c):
        """Mixed precision lowers the GPU energy per training sample (NVML, the timed epochs' training
        passes): mixed / baseline per framework/device/f/fold, over folds; supported when its CI lies below 1."""
        pairs, why = self._energy_pairs("per_sample")
        if why:
            return {"detail": why}
        measured = self._metered(pairs)
        if not measured:
            return {"detail": "no mixed/baseline pair with GPU energy on both sides: "
                              + _reasons(pd.DataFrame([r for pair in pairs for r in pair]))}
        out = self._ratio([a["joules"] / b["joules"] for a, b in measured], above=False,
                          detail=f"GPU J per training sample (NVML) mixed / {self.baseline}, timed epochs' training "
                                 "passes")
        out["detail"] += f"; {self._with_cpu(measured, 'per_sample')}"
        return out

    def energy_to_target_lower(self, c):
        """Mixed precision lowers the GPU energy to reach ``energy.target_iou`` (MLPerf-style, validation
        included): mixed / baseline over folds, supported when its CI lies below 1. A pair where only the
        baseline reaches the target contradicts, one where only the mixed run does supports; where
        neither does (or a side is unmetered) it is named and not counted."""
        if self.target_iou is None:
            return {"detail": "no energy.target_iou in the config"}
        pairs, why = self._energy_pairs("to_target")
        if why:
            return {"detail": f"{why} (target IoU {self.target_iou})"}
        measured, one_sided, left = [], [], []
        for a, b in pairs:
            ra, rb = pd.notna(a["epochs"]), pd.notna(b["epochs"])
            if ra and rb and pd.notna(a["joules"]) and pd.notna(b["joules"]):
                measured.append((a, b))
                continue
            if ra != rb:
                one_sided.append(Verdict.SUPPORTED if ra else Verdict.CONTRADICTED)
            why = (f"only {(a if ra else b)['precision']} reached it" if ra != rb
                   else _reasons(pd.DataFrame([a, b]), shown=1))
            left.append(f"{a['framework']}/{a['device']}/f{a['filters']}/fold{a['fold']} {a['precision']} vs "
                        f"{b['precision']}: {why}")
        if not measured and not one_sided:
            return {"detail": f"no mixed/baseline pair reached validation IoU {self.target_iou} with GPU energy: "
                              + "; ".join(left[:3])}
        detail = (f"GPU J (NVML) to reach validation IoU {self.target_iou} (energy.target_iou; "
                  f"{pairs[0][0]['covers']}) mixed / {self.baseline}")
        out = self._ratio([a["joules"] / b["joules"] for a, b in measured], above=False, detail=detail)
        out.update(verdict=_combine(([out["verdict"]] if measured else []) + one_sided), n=out["n"] + len(one_sided))
        if measured:
            out["detail"] += f"; {self._with_cpu(measured, 'to_target')}"
        if left:
            out["detail"] += "; not in the ratio: " + "; ".join(left[:3]) + ("; …" if len(left) > 3 else "")
        return out

    # --- accuracy and epochs -----------------------------------------------------------------
    def iou_equivalent_to_baseline(self, c):
        cells = accuracy.over_folds(self.accuracy, "precision vs baseline", precision=self._mixed())
        if cells.empty:
            return {"detail": f"no pair of {self.baseline} and a mixed precision ({', '.join(self._mixed()) or 'none'})"
                              " trained in this grid"}
        return self._equivalence(cells, "IoU(mixed precision) − IoU(baseline) on the same images, "
                                        "per framework/device/f", between_runs=True)

    def iou_drop(self, c):
        """Pure half precision: a clear IoU drop, i.e. the CI of IoU(fp16) − IoU(baseline) below −margin
        (contradicted when it lies above −margin: no drop beyond the margin)."""
        cells = accuracy.over_folds(self.accuracy, "precision vs baseline", precision=self._pure_half())
        if cells.empty:
            return {"detail": f"no pure half-precision run (fp16, apex_o3) beside {self.baseline} in this grid"}
        verdicts = [_verdict(r.ci_low, r.ci_high, -self.margin, above=False) for r in cells.itertuples()]
        least = cells.loc[cells["delta"].idxmax()]
        return {"measured": least["delta"], "ci_low": least["ci_low"], "ci_high": least["ci_high"], "n": len(cells),
                "verdict": _combine(verdicts),
                "detail": f"IoU(pure half) − IoU({self.baseline}) on the same images; smallest drop: "
                          f"{least['framework']}/{least['device']}/{least['precision']}/f{least['filters']} "
                          f"({least['method']}); a drop when the 95 % CI lies below −{self.margin} (stats.iou_margin)"
                          + (f"; {accuracy.caveat(cells)}" if accuracy.caveat(cells) else "")}

    def iou_same_across_f(self, c):
        cells = accuracy.over_folds(self.accuracy, "f vs largest f")
        if cells.empty:
            return {"detail": "the grid has one model size, or no pair of model sizes trained on the same fold"}
        return self._equivalence(cells, "IoU(f) − IoU(largest f) on the same images, per framework/device/precision")

    def epochs_fall_with_f(self, c):
        """Small models need more epochs: the epoch of the best validation IoU at the smallest f minus at
        the largest, per framework/device/precision, over folds (t-interval); supported above 0."""
        fs = sorted(self.config["train"]["filters"])
        if len(fs) < 2:
            return {"detail": "the grid has one model size"}
        rows = self._rows(phase="train")
        rows = rows[rows["best_epoch"].notna() & rows["epoch_cap"].isna()] if len(rows) else rows
        out = []
        for (fw, dev, p), g in rows.groupby(["framework", "device", "precision"]) if len(rows) else []:
            small = g[g["filters"] == fs[0]].set_index("fold")["best_epoch"]
            big = g[g["filters"] == fs[-1]].set_index("fold")["best_epoch"]
            both = small.index.intersection(big.index)
            if len(both):
                out.append({"cell": f"{fw}/{dev}/{p}",
                            **stats.over_folds([float(small[k] - big[k]) for k in both])})
        if not out:
            return {"detail": f"no fold trained at both f={fs[0]} and f={fs[-1]} (runs cut short not counted)"}
        least = min(out, key=lambda s: s["mean"])
        return {"measured": least["mean"], "ci_low": least["ci_low"], "ci_high": least["ci_high"], "n": len(out),
                "verdict": _combine([_verdict(s["ci_low"], s["ci_high"], 0.0) for s in out]),
                "detail": f"best epoch at f={fs[0]} minus at f={fs[-1]} (early stopping on the validation IoU), "
                          f"folds as the unit (one fold: no CI); smallest: {least['cell']}"}

    def not_in_grid(self, c):
        """A claim about hardware mpbench does not run (the Cloud TPU): listed, never judged."""
        return {"detail": c["reason"]}

    # --- Edge TPU ------------------------------------------------------------------------------
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

    def _edge_cells(self) -> tuple[list[dict], str | None]:
        """Fig. 7a: throughput of the Edge TPU over each GPU at batch 1 (TensorFlow, baseline-trained models),
        per GPU and f: each fold's pair by :func:`mpbench.results.speedups.run_speedup`, then over runs."""
        edge, why = self._edgetpu()
        if why:
            return [], why
        gpu, why = self._gpu_rows(phase="infer", framework="tensorflow", precision=self.baseline, batch_size=1)
        if why:
            return [], f"{why} (TensorFlow {self.baseline}, batch 1)"
        edge = edge[edge["precision"] == self.baseline]
        compare = [k for k in speedups.TIMING if k not in speedups.BY_DESIGN["run_device"]]
        cells = []
        for (dev, f), g in gpu.groupby(["device", "filters"]):
            runs = []
            for _, row in g.iterrows():
                e = edge[(edge["filters"] == f) & (edge["fold"] == row["fold"])]
                e = e[e["device"] == dev] if (e["device"] == dev).any() else e   # any training device
                if len(e):
                    runs.append(speedups.run_speedup(row.to_dict(), e.iloc[0].to_dict(), compare))
            if runs:
                cells.append({"device": dev, "filters": int(f), **speedups.over_runs(runs, self.max_cv)})
        return cells, None if cells else "no fold and f with both an Edge TPU run and a batch-1 GPU run"

    def edgetpu_vs_gpu(self, c):
        """Supported when the Edge TPU is faster than every GPU at f = ``c['f']`` and no longer faster than
        every GPU at the largest f (its stated factor is the claim ``edgetpu_max_speedup`` judges)."""
        cells, why = self._edge_cells()
        if why:
            return {"detail": why}
        fs = sorted({s["filters"] for s in cells})
        at = {f: [s for s in cells if s["filters"] == f] for f in fs}
        text = "; ".join(f"f={f}: " + ", ".join(f"{s['device']} {_ci(s)}" for s in at[f]) for f in fs)
        verdicts, unchecked = [], []
        if c["f"] in at:    # the lead: faster than every GPU
            verdicts.append(_combine([_judged(s, 1.0) for s in at[c["f"]]]))
        else:
            unchecked.append(f"f={c['f']} not measured on both")
        big = fs[-1]
        if big > c["f"]:    # the lead lost: some GPU faster (its ratio's CI below 1)
            lead = [_judged(s, 1.0) for s in at[big]]
            verdicts.append(Verdict.SUPPORTED if Verdict.CONTRADICTED in lead else
                            Verdict.CONTRADICTED if all(v == Verdict.SUPPORTED for v in lead) else Verdict.INCONCLUSIVE)
        else:
            unchecked.append(f"no f above {c['f']} to see the lead lost")
        best = max(at.get(c["f"], cells), key=lambda s: s["speedup_mean"])
        return {"measured": best["speedup_mean"], "ci_low": best["ci_low"], "ci_high": best["ci_high"],
                "n": len(cells), "verdict": _parts(verdicts, unchecked),
                "detail": _with(f"throughput Edge TPU / GPU at batch 1 ({text}); measured: best at "
                                f"f={best['filters']} ({best['device']})"
                                + (f"; unchecked: {', '.join(unchecked)}" if unchecked else ""), cells)}

    def edgetpu_max_speedup(self, c):
        """"Up to 6x": the best Edge TPU / GPU throughput ratio at f = ``c['f']``, within ±tolerance."""
        cells, why = self._edge_cells()
        if why:
            return {"detail": why}
        at = [s for s in cells if s["filters"] == c["f"]]
        if not at:
            return {"detail": f"f={c['f']} not measured on both the Edge TPU and a GPU"}
        best = max(at, key=lambda s: s["speedup_mean"])
        tol = c["tolerance"]
        return {"measured": best["speedup_mean"], "ci_low": best["ci_low"], "ci_high": best["ci_high"], "n": len(at),
                "verdict": _within(best, c["value"], tol),
                "detail": _with(f"best Edge TPU / GPU throughput ratio at f={c['f']}, batch 1 ({best['device']}); "
                                f"stated: up to {c['value']}x, judged within ±{tol:.0%}", [best])}

    def edgetpu_compiled(self, c):
        """The compiler's op mapping per f (edgetpu_compile records) and, for the f said to map but
        predict badly, the Edge TPU's IoU against the float model: compromised when the CI of the
        paired difference lies below −margin."""
        compiled = [r for r in self.compiled if r.status in ("ok", "failed")
                    and r.settings.get("framework", "tensorflow") == "tensorflow"]   # the paper's models
        by_f: dict[int, list[dict]] = {}
        for r in compiled:
            by_f.setdefault(int(r.settings["filters"]), []).append(r)
        full = {f: sum(r.status == "ok" and bool(r.fully_mapped) for r in rs)
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
                verdicts.append(Verdict.SUPPORTED if full[f] == len(by_f[f]) else Verdict.CONTRADICTED)
            else:
                unchecked.append(f"f={f} not compiled")
        for f in c["compromised"]:
            if f not in by_f:
                unchecked.append(f"f={f} not compiled")
                continue
            if full[f] < len(by_f[f]):
                verdicts.append(Verdict.CONTRADICTED)   # it should map fully
                continue
            cells = accuracy.over_folds(self.accuracy, "edgetpu vs float", run_device="edgetpu", filters=f,
                                        framework="tensorflow")
            if cells.empty:
                unchecked.append(f"no Edge TPU IoU at f={f}")
                continue
            for cell in cells.itertuples():
                if pd.notna(cell.ci_high) and cell.ci_high < -self.margin:
                    verdicts.append(Verdict.SUPPORTED)
                elif cell.verdict == Verdict.SUPPORTED:     # within the margin: not compromised
                    verdicts.append(Verdict.CONTRADICTED)
                else:
                    verdicts.append(Verdict.INCONCLUSIVE)
            worst = cells.loc[cells["delta"].idxmin()]
            texts.append(f"f={f}: IoU(Edge TPU) − IoU(float) {worst['delta']:.3g} ({worst['method']}); compromised "
                         f"when its CI lies below −{self.margin}")
        out = {"n": len(compiled), "verdict": _parts(verdicts, unchecked),
               "detail": "; ".join(texts) + (f"; unchecked: {', '.join(unchecked)}" if unchecked else "")}
        if worst is not None:
            out.update(measured=worst["delta"], ci_low=worst["ci_low"], ci_high=worst["ci_high"])
        return out

    # --- shared ------------------------------------------------------------------------------
    def _vs_baseline(self, rows: pd.DataFrame, names, keys):
        """``(row of precision p, row of the baseline)`` for each p and each group of ``keys`` holding both."""
        for p in names:
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

    @staticmethod
    def _cells(cells: list[dict], threshold: float, pick: str, detail: str = "") -> dict:
        """Speed cells each judged against ``threshold`` (:func:`_judged`); the min or max cell reported."""
        if not cells:
            return {"detail": "no cell with both sides measured"}
        verdicts = [_judged(s, threshold) for s in cells]
        key = min if pick == "min" else max
        worst = key(cells, key=lambda s: s["speedup_mean"])
        return {"measured": worst["speedup_mean"], "ci_low": worst["ci_low"], "ci_high": worst["ci_high"],
                "n": len(cells), "verdict": _combine(verdicts),
                "detail": _with(f"{pick} over {len(cells)} cells ({_name(worst)}){'; ' + detail if detail else ''}",
                                cells)}

    def _equivalence(self, cells: pd.DataFrame, what: str, between_runs: bool = False) -> dict:
        """Equivalence over the cells (over-folds rows of the accuracy table): supported when every
        cell's 95 % CI lies within ±margin; the cell furthest from 0 is reported, p its TOST p.

        ``between_runs``: the two sides are models of separate training runs (not one model and its own
        quantized copy). On one fold their per-image CI covers the images, not how much two training runs
        of the same setting differ: such a cell gives no verdict (``inconclusive``) until more folds ran."""
        worst = cells.loc[cells["delta"].abs().idxmax()]
        desc = "/".join(str(worst[k]) for k in ("framework", "device", "precision") if pd.notna(worst[k]))
        desc += f"/f{worst['filters']}" if pd.notna(worst["filters"]) else ""
        out = {"measured": worst["delta"], "ci_low": worst["ci_low"], "ci_high": worst["ci_high"], "n": len(cells),
                "p": worst["tost_p"], "verdict": _combine(list(cells["verdict"])),
                "detail": f"{what}; cells: {len(cells)}, furthest from 0: {desc} ({worst['method']}); equivalent when "
                          f"the 95 % CI lies within ±{self.margin} (stats.iou_margin); p: TOST".lstrip("; ")
                          + (f"; {accuracy.caveat(cells)}" if accuracy.caveat(cells) else "")}
        one_run = cells[pd.to_numeric(cells["n"], errors="coerce").fillna(0) < 2] if between_runs else cells.iloc[:0]
        if len(one_run):
            out.update(verdict=Verdict.INCONCLUSIVE, detail=f"{out['detail']}; {len(one_run)} of {len(cells)} cells "
                       "from one training run per side (1 fold): the difference of two trained models on one fold "
                       "mixes the precision's effect with the variation between training runs; a verdict needs more "
                       "folds")
        return out


# The paper's setup where a schema default differs from it (config/config.yaml sets the paper's values):
# (section, key, the paper's value). A run with other values is listed in claims.md, not refused.
PAPER_SETUP = (("figures", "baseline", "tf32"), ("train", "data_placement", "host"), ("train", "channels_last", False),
               ("train", "fused_adam", False), ("train", "learning_rate", 5e-4), ("train", "batch_size", 128),
               ("train", "patience", 10), ("data", "n_folds", 4))
PAPER_FOLDS = 4


def departures(config: dict) -> list[str]:
    """Where this run's config departs from the paper's setup (:data:`PAPER_SETUP`, all 4 folds trained
    and timed), in words: e.g. ``train.data_placement: device (paper: host)``. Only sections the config has."""
    out = []
    for section, name, paper in PAPER_SETUP:
        have = config.get(section) or {}
        if name in have and have[name] != paper:
            out.append(f"{section}.{name}: {have[name]} (paper: {paper})")
    for section in ("train", "infer"):
        folds = (config.get(section) or {}).get("folds")
        if folds is not None and sorted(folds) != list(range(PAPER_FOLDS)):
            out.append(f"{section}.folds: {list(folds)} (paper: all {PAPER_FOLDS} folds)")
    return out


def check(claims: list[dict], records: list[record.Record], config: dict,
          checker: Checker | None = None) -> pd.DataFrame:
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
    from ... import io
    records = [rec for p in sorted(map(str, result_paths)) for rec in record.read(p)]
    checker = Checker(records, config)
    table = check(load(claims_yaml), records, config, checker)
    notes = departures(config) + ([checker.baseline_note] if checker.baseline_note else [])
    io.write_text(claims_csv, table.to_csv(index=False))
    io.write_text(claims_md, markdown(table, notes))
    if claims_html:
        io.write_text(claims_html, html(table, config["stats"]["iou_margin"], notes))
    if accuracy_csv:
        io.write_text(accuracy_csv, checker.accuracy.to_csv(index=False))
    return table


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def markdown(table: pd.DataFrame, notes=()) -> str:
    fmt = _fmt
    lines = ["This run departs from the paper's setup: " + "; ".join(notes) + ".", ""] if notes else []
    lines += ["| claim | where | measured | 95 % CI | n | verdict | detail |", "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        ci = f"[{fmt(r.ci_low)}, {fmt(r.ci_high)}]" if pd.notna(r.ci_low) else ""
        lines.append(f"| {r.statement} | {r.where} | {fmt(r.measured)} | {ci} | {fmt(r.n)} | **{r.verdict}** | "
                     f"{fmt(r.detail)} |")
    return "\n".join(lines) + "\n"


VERDICT_COLOURS = {Verdict.SUPPORTED: "#d8f0d8", Verdict.CONTRADICTED: "#f6d5d5", Verdict.INCONCLUSIVE: "#fdf1cf",
                   NOT_MEASURED: "#e8e8e8"}


def html(table: pd.DataFrame, margin: float, notes=()) -> str:
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
            + (f"<p>This run departs from the paper's setup: {escape('; '.join(notes))}.</p>" if notes else "")
            + f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></body></html>\n")
