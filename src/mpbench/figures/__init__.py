"""The paper's figures 2–7, drawn from summary.csv / speedups.csv only, and an energy figure from energy.csv."""

# One output per name (results/<run>/figures/<name>.png|pdf); drawn by paper_figures.FIGURES[name].
FIGURE_NAMES = ("fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "energy")
