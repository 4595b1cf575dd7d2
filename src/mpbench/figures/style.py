"""One look for every figure: a colour per device, a hatch per precision, a marker per framework."""
from __future__ import annotations

import matplotlib

from ..frameworks.table import FRAMEWORKS
from ..precisions import PRECISIONS
from ..precisions import label as precision_label  # noqa: F401  (the figures' name for it)

matplotlib.use("Agg")  # files only; no display on cluster nodes

DEVICE_COLOURS = {"rtx3090": "#1f77b4", "a100": "#d62728", "a40": "#2ca02c", "rtx3080": "#9467bd",
                  "rtx2080ti": "#8c564b", "v100": "#e377c2", "h100": "#17becf", "cpu": "#7f7f7f",
                  "edgetpu": "#ff7f0e", "cpu-int8": "#bcbd22"}
_FALLBACK = ["#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd"]
PRECISION_HATCH = {p.name: p.hatch for p in PRECISIONS.values()}
PRECISION_LINE = {p.name: p.line for p in PRECISIONS.values()}
FRAMEWORK_MARKER = {f.name: f.marker for f in FRAMEWORKS.values()}
FRAMEWORK_LABEL = {f.name: f.label for f in FRAMEWORKS.values()}
STATUS_MARK = {"oom": "OOM", "diverged": "NaN", "failed": "failed", "missing": "not run",
               "train_diverged": "NaN in training", "train_oom": "OOM in training"}


def device_colour(device: str) -> str:
    if device in DEVICE_COLOURS:
        return DEVICE_COLOURS[device]
    return _FALLBACK[sum(map(ord, device)) % len(_FALLBACK)]


def figure(ncols: int = 1, width: float = 6.0, height: float = 4.0):
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False, layout="constrained")
    return fig, list(axes[0])


def mark_missing(ax, x: float, status: str, key: str = ""):
    """A visible stand-in where a cell has no value: a grey × near the x axis and the reason."""
    tr = ax.get_xaxis_transform()   # x in data, y in axes fraction: works on log axes too
    ax.plot([x], [0.03], marker="x", color="0.35", markersize=8, linestyle="none", transform=tr,
            gid=f"missing:{status}:{key}")
    ax.text(x, 0.07, STATUS_MARK.get(status, status), transform=tr, ha="center", va="bottom", fontsize=7,
            color="0.3", rotation=90)


def legend_outside(ax, **kw):
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, **kw)


def label_axes(ax, *, ylabel: str, title: str, xlabel: str | None = None, legend: bool = True, **title_kw):
    """Axis labels and title of a panel, and its legend outside on the right."""
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, **title_kw)
    if legend:
        legend_outside(ax)


def save(fig, png, pdf=None):
    from .. import io
    with io.atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=150, format="png")
    if pdf:
        with io.atomic_path(pdf) as tmp:
            fig.savefig(tmp, format="pdf")
    import matplotlib.pyplot as plt
    plt.close(fig)
