"""Draw the named figures from the summary tables into PNG and PDF."""
from __future__ import annotations

import logging

from ..results import energy as energy_table
from ..results import speedups as pairing
from ..results.tables import read_tables
from . import paper_figures
from .style import save

log = logging.getLogger(__name__)


def note_differences(fig, summary) -> str:
    """A note under the figure when its results differ in data, mpbench or framework version (e.g.
    merged from several sites, :mod:`mpbench.merge`; gid ``differences``): the comparisons that cross
    such a difference are named in speedups.csv and accuracy.csv (``differs``). Returns the note ("": none)."""
    found = pairing.disagreements(summary)
    if not found:
        return ""
    note = ("These results differ in " + "; ".join(f"{k} ({', '.join(str(v)[:pairing.DIGEST_SHOWN] for v in vals)})"
                                                    for k, vals in found.items())
            + ": comparisons across them are marked in speedups.csv and accuracy.csv (differs)")
    fig.text(0.01, 0.0, note, fontsize=6, color="#b00000", ha="left", va="bottom", wrap=True, gid="differences")
    return note


def make_figures(summary_csv, speedups_csv, config: dict, outputs: dict, energy_csv=None) -> None:
    """Every figure of ``outputs`` (name in :data:`mpbench.figures.FIGURE_NAMES` → (png, pdf); the energy
    figure reads ``energy_csv``), the tables read once: rule ``figures``, one job
    for all of them (a job per figure cost each its own start and imports, longer than its drawing).
    Every figure is tried; if any cannot be drawn, the error afterwards names each such figure, and the
    job fails: Snakemake then removes all of its outputs (``--keep-incomplete`` keeps the ones drawn)."""
    summary, speedups = read_tables(summary_csv, speedups_csv)
    grid = paper_figures.grid_from_tables(summary, config)
    figcfg = config.get("figures", {})
    failed = {}
    for name, (png, pdf) in outputs.items():
        try:
            kwargs = {}
            if name == "fig2":
                kwargs["reference_overlay"] = bool(figcfg["reference_overlay"])
            if name == "fig3":
                kwargs["margin"] = config.get("stats", {}).get("iou_margin")
            if name == "fig4":
                kwargs["device"] = figcfg.get("fig4_device") or grid["devices"][0]
            if name == "energy":
                kwargs["energy"] = energy_table.read(energy_csv) if energy_csv else None
            fig = paper_figures.FIGURES[name](summary, speedups, grid, **kwargs)
            note_differences(fig, summary)
            save(fig, png, pdf)
        except Exception as e:   # every figure is tried; the job then fails naming each one that was not drawn
            log.exception("%s could not be drawn", name)
            failed[name] = f"{type(e).__name__}: {e}"
            continue
        log.info("%s: %d summary rows (%d ok) → %s", name, len(summary), int((summary["status"] == "ok").sum()),
                 png)
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(outputs)} figures could not be drawn (the log has each "
                           "traceback): " + "; ".join(f"{k}: {v}" for k, v in failed.items()))
