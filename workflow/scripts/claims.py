from mpbench.logs import setup
from mpbench.results.claims import write

log = setup(snakemake.log[0])
inp, out = snakemake.input, snakemake.output
table = write(inp.claims, [*inp.results, *inp.compiled], snakemake.params.config, out.csv, out.md,
              claims_html=out.html, accuracy_csv=out.accuracy)
log.info("claims: %s", table["verdict"].value_counts().to_dict())
