from mpbench.claims import write
from mpbench.logs import setup

log = setup(snakemake.log[0])
table = write(snakemake.input.claims, snakemake.input.results, snakemake.params.config, snakemake.output.csv,
              snakemake.output.md)
log.info("claims: %s", table["verdict"].value_counts().to_dict())
