from mpbench.figures import FIGURE_NAMES
from mpbench.figures.make import make_figures
from mpbench.logs import setup

setup(snakemake.log[0])
out = snakemake.output
make_figures(snakemake.input.summary, snakemake.input.speedups, snakemake.params.config,
             {name: (out[f"{name}_png"], out[f"{name}_pdf"]) for name in FIGURE_NAMES},
             energy_csv=snakemake.input.energy)
