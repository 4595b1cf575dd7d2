"""Figures 2–7 of Dörrich et al. (2023) from the summary tables, and an energy figure from energy.csv.

Each ``figN(summary, speedups, grid, ...)`` returns a matplotlib Figure. ``grid`` lists the cells
the configuration asks for (frameworks, devices, precisions, filters); a cell with no ``ok``
result is drawn as a grey × with its status (``not run``, ``OOM``, ``NaN`` for diverged, …), so
partial grids plot without crashing and gaps stay visible. Every data artist carries a ``gid``
naming its cell (``framework/device/precision/f…``) so tests can read the plotted values back.
Times are plotted in milliseconds per sample (image). Speed-ups carry the 95 % CI of
``speedups.csv`` as whiskers (gid ``ci:<cell>``; the std over folds where a table has no CI), and
Fig. 3 the equivalence band, the baseline's mean IoU ± ``stats.iou_margin`` (gid ``band:<cell>``).
A precision that ran emulated (or converted to fp32) on the hardware that measured it
(``precision_support``, :mod:`mpbench.preflight.support`) is drawn like any other — its slowdown is the
result — but labelled so in the figures of speed (2, 4, 5, 6): a note over its bar (gid
``support:<cell>``) or a suffix on its line's legend entry, and a sentence under the title. Fig. 3
marks a cell trained fewer epochs because its precision was emulated (``epoch_cap``; gid ``cap:<cell>``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..preflight import support
from . import reference
from .style import (
    FRAMEWORK_LABEL,
    FRAMEWORK_MARKER,
    PRECISION_HATCH,
    PRECISION_LINE,
    device_colour,
    figure,
    label_axes,
    legend_outside,
    mark_missing,
    precision_label,
)

MS = 1e3
SUPPORT_TEXT = {"emulated": "emulated", "converted": "converted to fp32"}   # how a non-native precision is labelled


def _ok_rows(df: pd.DataFrame, **where) -> pd.DataFrame:
    """The rows of ``df`` matching ``where`` (column == value) whose status is ok (all, with no status column)."""
    m = df
    for k, v in where.items():
        m = m[m[k] == v]
    return m[m["status"] == "ok"] if "status" in m else m


def _support(df: pd.DataFrame, **where) -> str | None:
    """``precision_support`` of the ok rows matching ``where``, the worst over folds (None: no column)."""
    if "precision_support" not in df:
        return None
    return support.combine(_ok_rows(df, **where)["precision_support"])


def _epoch_cap(df: pd.DataFrame, **where) -> int | None:
    """The epoch limit ``train.emulated_max_epochs`` put on the ok rows matching ``where`` (None: none)."""
    if "epoch_cap" not in df:
        return None
    caps = _ok_rows(df, **where)["epoch_cap"].dropna()
    return int(caps.max()) if len(caps) else None


def _suffix(level: str | None) -> str:
    """Legend suffix of a non-native precision: " (emulated)", " (converted to fp32)", else ""."""
    return f" ({SUPPORT_TEXT[level]})" if level in SUPPORT_TEXT else ""


def _mark_support(ax, x: float, y: float, level: str | None, key: str, speedup: float | None = None) -> None:
    """The note over a bar whose precision was not native where it was measured (with ``speedup`` < 1:
    how many times slower it was)."""
    if level in SUPPORT_TEXT:
        slower = f": {1 / speedup:.1f}× slower" if speedup is not None and 0 < speedup < 1 else ""
        ax.annotate(SUPPORT_TEXT[level] + slower, (x, y), xytext=(0, 3), textcoords="offset points", ha="center",
                    va="bottom", fontsize=6, rotation=90, color="#b00000", gid=f"support:{key}")


def _support_note(levels) -> str:
    """A sentence for the title when any plotted precision was emulated or converted, else ""."""
    found = [lv for lv in ("emulated", "converted") if lv in set(levels)]
    if not found:
        return ""
    what = {"emulated": "emulated = the hardware lacks this precision (slow fallback kernels; the time is real)",
            "converted": "converted = bf16 computed through fp32 (AVX-512 without AVX512_BF16)"}
    return "\n" + "; ".join(what[lv] for lv in found) + " — see python -m mpbench doctor"


def grid_from_tables(summary: pd.DataFrame, config: dict | None = None) -> dict:
    """The expected cells: from the config's train grid when given, else what the table holds."""
    if config is not None:
        from ..results.speedups import baseline
        t = config["train"]
        return {**{k: list(t[k]) for k in ("frameworks", "devices", "precisions", "filters")},
                "baseline": baseline(config)[0]}
    tr = summary[summary["phase"] == "train"]
    precisions = sorted(tr["precision"].dropna().unique())
    return {"frameworks": sorted(tr["framework"].dropna().unique()), "devices": sorted(tr["device"].dropna().unique()),
            "precisions": precisions, "filters": sorted(int(f) for f in tr["filters"].dropna().unique()),
            "baseline": "tf32" if "tf32" in precisions else "fp32"}   # the paper's float32 where trained


def cell(df: pd.DataFrame, value: str, **where) -> dict:
    """Mean/std over folds of ``value`` for ok rows matching ``where``; else the failure status."""
    m = df
    for k, v in where.items():
        m = m[m[k] == v]
    ok = m[(m["status"] == "ok") & m[value].notna()]
    if len(ok):
        vals = ok[value].astype(float)
        return {"status": "ok", "mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
                "n": len(vals), "values": vals.tolist()}
    statuses = [s for s in m["status"].tolist() if s != "ok"]
    return {"status": statuses[0] if statuses else "missing", "mean": None, "std": None, "n": 0, "values": []}


def _largest_f(grid):
    return max(grid["filters"])


def _baseline(grid) -> str:
    """The precision speed-ups divide by (``figures.baseline``; paper: the frameworks' default float32)."""
    return grid.get("baseline", "fp32")


def _mixed(grid):
    return [p for p in grid["precisions"] if p != _baseline(grid)]


def _bar(ax, x, c, key, colour, hatch, width=0.8, scale=MS, label=None, missing=None):
    """One bar (mean ± std of a :func:`cell`; with ``c["ci"]``, its CI as whiskers instead), or the
    missing mark with ``missing`` or the cell's status."""
    if c["status"] != "ok":
        mark_missing(ax, x, missing or c["status"], key)
        return
    ci = c.get("ci")
    ax.bar([x], [c["mean"] * scale], width=width, yerr=None if ci else [c["std"] * scale], color=colour, hatch=hatch,
           edgecolor="black", linewidth=0.6, capsize=3, error_kw={"elinewidth": 0.8}, gid=key, label=label)
    if ci:
        _whiskers(ax, [x], [ci], key, "black")


def _ci(row) -> tuple[float, float] | None:
    """The 95 % CI of a speedups.csv row, if the table has one for it."""
    lo, hi = row.get("ci_low"), row.get("ci_high")
    return (float(lo), float(hi)) if lo is not None and hi is not None and pd.notna(lo) and pd.notna(hi) else None


def _speedup_bars(speedups) -> str:
    """What the speed-up error bars are: the CI where the table has them, else the std over folds."""
    has_ci = "ci_low" in speedups and speedups["ci_low"].notna().any()
    return "whiskers: 95 % CI, speedups.csv" if has_ci else "error bars: std over folds"


def _whiskers(ax, xs, cis, key, colour, capsize=3):
    """Vertical whiskers from each CI's low to its high end (no centre mark: the CI stands for itself)."""
    lo, hi = np.array([c[0] for c in cis]), np.array([c[1] for c in cis])
    mid = (lo + hi) / 2
    eb = ax.errorbar(xs, mid, yerr=(hi - lo) / 2, fmt="none", ecolor=colour, elinewidth=1.0, capsize=capsize)
    eb.lines[2][0].set_gid(f"ci:{key}")


def _grouped(ax, grid, inner):
    """Grouped layout: one group per device × framework, the ``inner`` items side by side in it.

    Yields ``(device, framework, item, x, width, first_group)``; sets the group tick labels when done.
    """
    n = max(len(inner), 1)
    width = 0.8 / n
    ticks, labels, x = [], [], 0
    for dev in grid["devices"]:
        for fw in grid["frameworks"]:
            for i, item in enumerate(inner):
                first = (dev, fw) == (grid["devices"][0], grid["frameworks"][0])
                yield dev, fw, item, x + (i - (n - 1) / 2) * width, width, first
            ticks.append(x)
            labels.append(f"{dev}\n{FRAMEWORK_LABEL[fw]}")
            x += 1
        x += 0.5
    ax.set_xticks(ticks, labels, fontsize=8)


def _filters_axis(ax, filters):
    ax.set_xscale("log", base=2)
    ax.set_xticks(filters, [str(f) for f in filters])
    ax.set_xlabel("initial filters f")


def _overlay_reference(ax, figure_name, positions: dict):
    """The paper's stated speed-ups: a hollow diamond at a stated cell value; a dashed line over the
    cells it covers for an "up to" maximum. ``positions``: x of each drawn cell (dict key → x)."""
    for v in reference.values_for(figure_name):
        xs = [x for cell_, x in positions.values() if reference.in_scope(v, cell_)]
        if not xs:
            continue
        if v["kind"] == "value":
            ax.plot(xs, [v["speedup"]] * len(xs), marker="D", markerfacecolor="none", markeredgecolor="black",
                    linestyle="none", markersize=7, label=f"paper: {v['speedup']}×", gid=f"paper:{v['speedup']}")
        else:
            ax.hlines(v["speedup"], min(xs) - 0.2, max(xs) + 0.2, colors="black", linestyles="--", linewidth=1.0,
                      label=f"up to {v['speedup']}× (stated maximum)", gid=f"paper-max:{v['speedup']}")


def fig2(summary, speedups, grid, filters=None, reference_overlay=False):
    """(a) per-sample training time in the baseline float32 per device and framework, error bars = std
    over folds; (b) the training speed-up of each other precision over that baseline."""
    f = filters or _largest_f(grid)
    base = _baseline(grid)
    train = summary[(summary["phase"] == "train") & (summary["filters"] == f)]
    fig, (a, b) = figure(2, width=5.5, height=4.2)
    levels = []
    for dev, fw, p, x, width, _ in _grouped(a, grid, [base]):
        c = cell(train, "per_sample_s", framework=fw, device=dev, precision=p)
        _bar(a, x, c, f"{fw}/{dev}/{p}/f{f}", device_colour(dev), PRECISION_HATCH[p], width)
        if c["status"] == "ok":
            levels.append(_support(train, framework=fw, device=dev, precision=p))
            _mark_support(a, x, c["mean"] * MS, levels[-1], f"{fw}/{dev}/{p}/f{f}")
    a.set_ylabel(f"mean training time per sample, {precision_label(base)} (ms)")
    a.set_title(f"(a) {precision_label(base)} training, f={f}")
    sp = speedups[(speedups["phase"] == "train") & (speedups["filters"] == f) & (speedups["reference"] == base)]
    positions = {}
    for dev, fw, p, x, width, first in _grouped(b, grid, _mixed(grid)):
        key = f"{fw}/{dev}/{p}/f{f}"
        positions[key] = ({"framework": fw, "device": dev, "precision": p, "filters": f}, x)
        row = sp[(sp["framework"] == fw) & (sp["device"] == dev) & (sp["precision"] == p)]
        if len(row):
            r = row.iloc[0]
            c = {"status": "ok", "mean": r["speedup_mean"], "std": np.nan_to_num(r["speedup_std"]),  # 1 fold: no std
                 "ci": _ci(r)}
        else:  # this precision failed, or it ran and its float32 reference is what is missing
            st = cell(train, "per_sample_s", framework=fw, device=dev, precision=p)["status"]
            c = {"status": "missing" if st == "ok" else st}
        _bar(b, x, c, key, device_colour(dev), PRECISION_HATCH.get(p, ""), width, scale=1.0,
             label=precision_label(p) if first else None)
        if c["status"] == "ok":
            levels.append(_support(row))
            top = max(c["mean"], c["ci"][1]) if c.get("ci") else c["mean"] + c["std"]
            _mark_support(b, x, top, levels[-1], key, speedup=c["mean"])
    b.axhline(1.0, color="black", linewidth=0.8, linestyle=":")
    if reference_overlay:
        _overlay_reference(b, "fig2b", positions)
    label_axes(b, ylabel=f"training speed-up over\n{precision_label(base)} (ratio of mean throughputs)",
               title=f"(b) speed-up, f={f} (hatch = precision)")
    fig.suptitle(f"Fig. 2 — training time and mixed-precision speed-up ((a) error bars: std over folds; "
                 f"(b) {_speedup_bars(sp)})" + _support_note(levels), fontsize=10)
    return fig


def fig3(summary, speedups, grid, margin=None):
    """Validation IoU per device/framework, each precision side by side; one dot per fold and f. With
    ``margin`` (``stats.iou_margin``), a grey band over each group: the baseline's mean IoU ± margin,
    the equivalence margin the claims test against (they pair images; the band is a guide)."""
    train = summary[summary["phase"] == "train"]
    fig, (ax,) = figure(1, width=max(6.0, 1.6 * len(grid["devices"]) * len(grid["frameworks"])), height=4.2)
    rng = np.random.default_rng(0)
    groups: dict[tuple, list[float]] = {}
    capped: list[str] = []
    for dev, fw, p, x, width, _ in _grouped(ax, grid, grid["precisions"]):
        groups.setdefault((fw, dev), []).append(x)
        c = cell(train, "val_iou", framework=fw, device=dev, precision=p)
        key = f"{fw}/{dev}/{p}"
        if c["status"] != "ok":
            mark_missing(ax, x, c["status"], key)
            continue
        vals = np.asarray(c["values"])
        jitter = rng.uniform(-width / 4, width / 4, len(vals))
        ax.scatter(x + jitter, vals, s=14, color=device_colour(dev), edgecolor="black", linewidth=0.4,
                   marker=FRAMEWORK_MARKER[fw], gid=key)
        ax.hlines(vals.mean(), x - width / 2.5, x + width / 2.5, color="black", linewidth=1.2)
        ax.text(x, 1.01, precision_label(p).replace(" ", "\n"), ha="center", va="bottom", fontsize=6,
                transform=ax.get_xaxis_transform())
        cap = _epoch_cap(train, framework=fw, device=dev, precision=p)
        if cap:
            capped.append(key)
            ax.annotate(f"{cap} epochs only\n(emulated)", (x, float(vals.min())), xytext=(0, -4),
                        textcoords="offset points", ha="center", va="top", fontsize=6, color="#b00000",
                        gid=f"cap:{key}")
    if margin:
        _equivalence_bands(ax, train, grid, groups, margin)
    ax.set_ylim(0, 1)
    ax.set_ylabel("mean validation IoU per image (dot: one fold and f; bar: mean)")
    ax.set_title("Fig. 3 — validation IoU, float32 vs mixed precision"
                 + ("\n(emulated: fewer epochs, IoU not comparable)" if capped else ""), fontsize=10, pad=22)
    legend_outside(ax)   # the band's entry
    return fig


def _equivalence_bands(ax, train, grid, groups, margin):
    from matplotlib.patches import Rectangle
    n = max(len(grid["precisions"]), 1)
    first = True
    for (fw, dev), xs in groups.items():
        c = cell(train, "val_iou", framework=fw, device=dev, precision=_baseline(grid))
        if c["status"] != "ok":
            continue
        half = 0.4 / n
        ax.add_patch(Rectangle((min(xs) - half, c["mean"] - margin), max(xs) - min(xs) + 2 * half, 2 * margin,
                               facecolor="0.85", edgecolor="none", zorder=0, gid=f"band:{fw}/{dev}",
                               label=f"{precision_label(_baseline(grid))} mean ± {margin}\n(equivalence margin,\n"
                                     "stats.iou_margin)" if first else None))
        first = False


def _lines(ax, df, value, xs, xkey, series, scale=MS):
    """One line per series (label, gid, where-dict, colour, linestyle, marker); gaps marked."""
    for label, key, where, colour, ls, marker in series:
        pts = [(x, cell(df, value, **{xkey: x}, **where)) for x in xs]
        good = [(x, c) for x, c in pts if c["status"] == "ok"]
        if good:
            # Solid line and filled marker: float32 / reference; other styles hollow, so precisions
            # stay apart even where a single point has no line.
            ax.errorbar([x for x, _ in good], [c["mean"] * scale for _, c in good],
                        yerr=[c["std"] * scale for _, c in good], color=colour, linestyle=ls, marker=marker,
                        markerfacecolor=colour if ls == "-" else "none", markersize=5, capsize=2,
                        linewidth=1.2, label=label, gid=key)
        for x, c in pts:
            if c["status"] != "ok":
                mark_missing(ax, x, c["status"], f"{key}@{x}")


def _log_y(ax):
    """Log y axis with plain-number ticks when there is data (an empty or all-failed panel stays linear)."""
    from matplotlib.ticker import FuncFormatter
    if any(len(ln.get_ydata()) and not str(ln.get_gid()).startswith("missing") for ln in ax.get_lines()):
        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)


def fig4(summary, speedups, grid, device, batch_size=None):
    """One device: per-sample (a) training and (b) inference time vs f, float32 vs mixed, both frameworks."""
    fig, (a, b) = figure(2, width=5.2, height=4.0)
    train = summary[(summary["phase"] == "train") & (summary["device"] == device)]
    infer = summary[(summary["phase"] == "infer") & (summary["device"] == device)]
    bs = batch_size or (int(infer["batch_size"].max()) if len(infer) else None)
    infer = infer[infer["batch_size"] == bs] if bs else infer
    levels = []

    def series(df):
        out = []
        for fw in grid["frameworks"]:
            for p in grid["precisions"]:
                levels.append(_support(df, framework=fw, precision=p))
                out.append((f"{FRAMEWORK_LABEL[fw]}, {precision_label(p)}{_suffix(levels[-1])}", f"{fw}/{device}/{p}",
                            {"framework": fw, "precision": p}, device_colour(device) if fw == "tensorflow" else "black",
                            PRECISION_LINE.get(p, "-"), FRAMEWORK_MARKER[fw]))
        return out
    _lines(a, train, "per_sample_s", grid["filters"], "filters", series(train))
    _lines(b, infer, "per_sample_s", grid["filters"], "filters", series(infer))
    for ax, what in ((a, "training"), (b, f"inference (batch {bs})")):
        _filters_axis(ax, grid["filters"])
        ax.set_ylabel(f"mean {what} time per sample (ms)")
    a.set_title(f"(a) training on {device}")
    b.set_title(f"(b) inference on {device}")
    legend_outside(b)
    fig.suptitle(f"Fig. 4 — time per sample vs model size on {device} (error bars: std over folds)"
                 + _support_note(levels), fontsize=10)
    return fig


def fig5(summary, speedups, grid):
    """Training speed-up over float32 vs f, per device; (a) TensorFlow, (b) PyTorch."""
    fws = grid["frameworks"]
    fig, axes = figure(len(fws), width=5.0, height=4.0)
    sp = speedups[(speedups["phase"] == "train") & (speedups["reference"] == _baseline(grid))]
    train = summary[summary["phase"] == "train"]
    levels = []
    for ax, fw, tag in zip(axes, fws, "abcd", strict=False):
        for dev in grid["devices"]:
            for p in _mixed(grid):
                rows = sp[(sp["framework"] == fw) & (sp["device"] == dev) & (sp["precision"] == p)]
                rows = rows.sort_values("filters")
                key = f"{fw}/{dev}/{p}"
                if len(rows):
                    levels.append(_support(rows))
                    cis = [_ci(r) for _, r in rows.iterrows()]
                    have = [(int(f), ci) for f, ci in zip(rows["filters"], cis, strict=True) if ci]
                    ax.errorbar(rows["filters"].astype(int), rows["speedup_mean"],
                                yerr=None if have else rows["speedup_std"].fillna(0.0), color=device_colour(dev),
                                linestyle=PRECISION_LINE.get(p, "-"), marker="o", markersize=4,
                                capsize=2, label=f"{dev}, {precision_label(p)}{_suffix(levels[-1])}", gid=key)
                    if have:
                        _whiskers(ax, [f for f, _ in have], [ci for _, ci in have], key, device_colour(dev), 2)
                have = set(rows["filters"].astype(int))
                for f in grid["filters"]:
                    if f not in have:
                        st = cell(train, "per_sample_s", framework=fw, device=dev, precision=p, filters=f)["status"]
                        mark_missing(ax, f, st if st != "ok" else "missing", f"{key}@{f}")
        ax.axhline(1.0, color="black", linewidth=0.8, linestyle=":")
        _filters_axis(ax, grid["filters"])
        label_axes(ax, ylabel=f"training speed-up over {precision_label(_baseline(grid))} (ratio of mean throughputs)",
                   title=f"({tag}) {FRAMEWORK_LABEL[fw]}")
    fig.suptitle(f"Fig. 5 — training speed-up vs model size ({_speedup_bars(sp)})" + _support_note(levels),
                 fontsize=10)
    return fig


def fig6(summary, speedups, grid, filters=None):
    """Inference time per image vs batch size at the largest f, per device; (a) TF, (b) PyTorch."""
    f = filters or _largest_f(grid)
    infer = summary[(summary["phase"] == "infer") & (summary["filters"] == f)]
    batches = sorted(int(b) for b in infer["batch_size"].dropna().unique())
    fws = grid["frameworks"]
    fig, axes = figure(len(fws), width=5.0, height=4.0)
    levels = []
    for ax, fw, tag in zip(axes, fws, "abcd", strict=False):
        series = []
        for dev in grid["devices"]:
            for p in grid["precisions"]:
                levels.append(_support(infer, framework=fw, device=dev, precision=p))
                series.append((f"{dev}, {precision_label(p)}{_suffix(levels[-1])}", f"{fw}/{dev}/{p}/f{f}",
                               {"framework": fw, "device": dev, "precision": p}, device_colour(dev),
                               PRECISION_LINE.get(p, "-"), "o"))
        _lines(ax, infer, "per_sample_s", batches, "batch_size", series)
        ax.set_xscale("log", base=2)
        if batches:
            ax.set_xticks(batches, [str(b) for b in batches])
        _log_y(ax)
        label_axes(ax, xlabel="batch size", ylabel="mean inference time per image (ms)",
                   title=f"({tag}) {FRAMEWORK_LABEL[fw]}, f={f}")
    fig.suptitle("Fig. 6 — inference time per image vs batch size (mean over repeats and folds)"
                 + _support_note(levels), fontsize=10)
    return fig


def fig7(summary, speedups, grid):
    """Baseline-float32-trained models at batch 1: (a) time per image vs f on every device (TensorFlow, as
    the paper) and on the Edge TPU (or its honest CPU stand-in ``cpu-int8``) for the int8 models of each
    framework; (b) IoU of each framework's int8 model vs its float model on the same images."""
    fig, (a, b) = figure(2, width=6.4, height=4.0)
    base = _baseline(grid)
    rows = summary[summary["precision"] == base]
    infer = rows[(rows["framework"] == "tensorflow") & (rows["phase"] == "infer") & (rows["batch_size"] == 1)]
    edge = rows[rows["phase"] == "edgetpu"]
    series = [(f"{dev} ({precision_label(base)})", f"infer/{dev}", {"device": dev}, device_colour(dev), "-", "o")
              for dev in grid["devices"]]
    _lines(a, infer, "per_sample_s", grid["filters"], "filters", series)
    quantized = [fw for fw in grid["frameworks"] if fw in set(rows[rows["phase"].isin(("tflite_cpu", "edgetpu"))]
                                                             ["framework"])]
    for fw in quantized:
        mine = edge[edge["framework"] == fw]
        for run_dev in sorted(mine["run_device"].dropna().unique()):
            where = "Edge TPU" if run_dev == "edgetpu" else f"{run_dev}: CPU, no Edge TPU"
            _lines(a, mine[mine["run_device"] == run_dev], "per_sample_s", grid["filters"], "filters",
                   [(f"{FRAMEWORK_LABEL[fw]} int8 ({where})", f"edgetpu/{fw}/{run_dev}", {}, device_colour(run_dev),
                     "--", FRAMEWORK_MARKER[fw])])
    if edge.empty:
        for f in grid["filters"]:
            mark_missing(a, f, "missing", f"edgetpu@{f}")
    for fw in quantized:
        label = FRAMEWORK_LABEL[fw]
        quant = rows[(rows["framework"] == fw) & (rows["phase"] == "tflite_cpu") & (rows["variant"] == "int8")]
        _lines(b, quant, "float_iou", grid["filters"], "filters",
               [(f"{label} float model", f"iou/{fw}/float", {}, "black", "-", FRAMEWORK_MARKER[fw])], scale=1.0)
        mine = edge[edge["framework"] == fw]
        for run_dev in sorted(mine["run_device"].dropna().unique()):
            _lines(b, mine[mine["run_device"] == run_dev], "val_iou", grid["filters"], "filters",
                   [(f"{label} int8 on {run_dev}", f"iou/{fw}/{run_dev}", {}, device_colour(run_dev), "--",
                     FRAMEWORK_MARKER[fw])], scale=1.0)
    qat = rows[rows["phase"] == "qat"]
    if len(qat):
        _lines(b, qat, "val_iou", grid["filters"], "filters",
               [("TensorFlow int8 after QAT (CPU interpreter)", "iou/qat", {}, "0.45", ":", "s")], scale=1.0)
    for ax in (a, b):
        _filters_axis(ax, grid["filters"])
    _log_y(a)
    a.set_ylabel("mean inference time per image, batch 1 (ms)")
    a.set_title("(a) batch-1 inference")
    ious = [v for ln in b.get_lines() if not str(ln.get_gid()).startswith("missing") for v in ln.get_ydata()]
    # Zoomed to the data (int8 vs float differences are small), never above 1.
    b.set_ylim(max(0.0, np.floor((min(ious) - 0.05) * 10) / 10) if ious else 0.0, 1.0)
    b.set_ylabel("mean IoU per image, same validation images")
    b.set_title("(b) int8 vs float IoU")
    legend_outside(a)
    legend_outside(b)
    fig.suptitle(f"Fig. 7 — {precision_label(base)}-trained models at batch 1: Edge TPU (or its CPU stand-in) vs "
                 "the other devices (TensorFlow)", fontsize=10)
    return fig


ENERGY_PANELS = (("train", "per_sample", "J per training sample", "(a) per training sample (timed epochs)"),
                 ("train", "to_target", "J to the target IoU", "(b) to reach the target IoU"),
                 ("infer", "per_sample", "J per inference image", "(c) per inference image"))
METER_NAMES = {"gpu": "GPU (NVML)", "cpu": "CPU packages + DRAM (powercap)"}


def _meter_reasons(cells: pd.DataFrame, meters=METER_NAMES) -> list[str]:
    """Per meter, why it measured nothing here (the first distinct reason of energy.csv; others counted)."""
    out = []
    for meter in meters:
        rows = cells[cells["meter"] == meter]
        if len(rows) and rows["joules"].isna().all():
            reasons = list(dict.fromkeys(r for r in rows["reason"].dropna()))
            more = f" (and {len(reasons) - 1} other reasons, see energy.csv)" if len(reasons) > 1 else ""
            out.append(f"{METER_NAMES[meter]}: {reasons[0] if reasons else 'no reason recorded'}{more}")
    return out


def _energy_missing(rows: pd.DataFrame) -> str:
    """The mark of a cell without energy: not run, not reached (the target IoU) or not measured."""
    if rows.empty:
        return "missing"
    if "target_iou" in rows and rows["target_iou"].notna().any() and rows["epochs"].isna().all():
        return "not reached"
    return "not measured"


def fig_energy(summary, speedups, grid, energy=None, filters=None):
    """From energy.csv (:mod:`mpbench.results.energy`) at the largest f: energy per training sample, to the
    target IoU and per inference image (largest batch), mean over folds; the GPU's (device colour,
    hatch = precision) with the CPU packages' stacked on top (grey). Where no meter measured anything
    the figure says so, with each meter's reason (gid ``no-energy``); a meter that measured nothing
    while the other did is named under the title."""
    import textwrap
    f = filters or _largest_f(grid)
    e = energy if energy is not None else pd.DataFrame(columns=["scope", "meter", "joules", "reason"])
    cells = e[e["scope"] == "cell"]
    if cells["joules"].notna().sum() == 0:
        fig, (ax,) = figure(1, width=7.0, height=4.0)
        why = _meter_reasons(cells) or ["energy.csv holds no training or inference cell"]
        ax.text(0.5, 0.5, "No energy measured in these results.\n\n" + "\n".join(textwrap.fill(w, 90) for w in why)
                + "\n\nEnergy is measured or absent, never estimated.", ha="center", va="center",
                transform=ax.transAxes, fontsize=8, gid="no-energy")
        ax.set_axis_off()
        fig.suptitle(f"Energy (energy.csv), f={f}: not measured", fontsize=10)
        return fig
    fig, axes = figure(len(ENERGY_PANELS), width=5.0, height=4.0)
    labelled: set = set()
    for ax, (phase, quantity, ylabel, title) in zip(axes, ENERGY_PANELS, strict=True):
        q = cells[(cells["phase"] == phase) & (cells["quantity"] == quantity) & (cells["filters"] == f)]
        if phase == "infer" and q["batch_size"].notna().any():
            batch = int(q["batch_size"].max())
            q, title = q[q["batch_size"] == batch], f"{title}, batch {batch}"
        for dev, fw, p, x, width, _first in _grouped(ax, grid, grid["precisions"]):
            key, bottom = f"{phase}:{quantity}/{fw}/{dev}/{p}/f{f}", 0.0
            for meter in METER_NAMES:
                c = cell(q, "joules", framework=fw, device=dev, precision=p, meter=meter)
                if c["status"] != "ok":
                    continue
                label = (precision_label(p) if meter == "gpu" else "CPU (powercap), stacked")
                ax.bar([x], [c["mean"]], bottom=bottom, width=width, hatch=PRECISION_HATCH.get(p, ""),
                       color=device_colour(dev) if meter == "gpu" else "0.8", edgecolor="black", linewidth=0.6,
                       gid=f"{meter}:{key}", label=None if label in labelled else label)
                labelled.add(label)
                bottom += c["mean"]
            if bottom == 0.0:
                mark_missing(ax, x, _energy_missing(q[(q["framework"] == fw) & (q["device"] == dev)
                                                      & (q["precision"] == p)]), key)
        if not ax.patches:   # nothing measured in this panel: its marks say why
            ax.set_ylim(0, 1)
            ax.set_yticks([])
        label_axes(ax, ylabel=f"mean {ylabel}", title=title, legend=False, fontsize=9)
    handles = {lbl: h for ax in axes for h, lbl in zip(*ax.get_legend_handles_labels(), strict=True)}
    fig.legend(handles.values(), handles.keys(), loc="outside right upper", fontsize=8, frameon=False)
    unmeasured = _meter_reasons(cells)
    target = cells["target_iou"].dropna()
    fig.suptitle(f"Energy (energy.csv), f={f}" + (f", target IoU {target.iloc[0]:g}" if len(target) else "")
                 + "; GPU in the device's colour, CPU stacked in grey"
                 + "".join("\n" + textwrap.shorten(w, 160) for w in unmeasured), fontsize=9)
    return fig


FIGURES = {"fig2": fig2, "fig3": fig3, "fig4": fig4, "fig5": fig5, "fig6": fig6, "fig7": fig7, "energy": fig_energy}
