"""Draw one named figure from the summary tables into PNG and PDF."""
from __future__ import annotations

import logging

from ..results.tables import read_tables
from . import paper_figures
from .style import save

log = logging.getLogger(__name__)


def make_figure(name: str, summary_csv, speedups_csv, config: dict, png, pdf) -> None:
    summary, speedups = read_tables(summary_csv, speedups_csv)
    grid = paper_figures.grid_from_tables(summary, config)
    figcfg = config.get("figures", {})
    kwargs = {}
    if name == "fig2":
        kwargs["reference_overlay"] = bool(figcfg["reference_overlay"])
    if name == "fig3":
        kwargs["margin"] = config.get("stats", {}).get("iou_margin")
    if name == "fig4":
        kwargs["device"] = figcfg.get("fig4_device") or grid["devices"][0]
    fig = paper_figures.FIGURES[name](summary, speedups, grid, **kwargs)
    save(fig, png, pdf)
    log.info("%s: %d summary rows (%d ok) → %s", name, len(summary), int((summary["status"] == "ok").sum()), png)
