from mpbench.figures.make import make_figure
from mpbench.logs import setup

setup(snakemake.log[0])
make_figure(snakemake.wildcards.figure, snakemake.input.summary, snakemake.input.speedups, snakemake.params.config,
            snakemake.output.png, snakemake.output.pdf, energy_csv=snakemake.input.energy)
