from mpbench.logs import setup
from mpbench.results import energy
from mpbench.results.tables import write_tables

setup(snakemake.log[0])
write_tables(snakemake.input, snakemake.output.summary, snakemake.output.speedups, stats_config=snakemake.params.stats)
energy.write(snakemake.input, snakemake.output.energy, snakemake.params.energy)
