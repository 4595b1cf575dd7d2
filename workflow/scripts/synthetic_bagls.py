from mpbench.data.synthetic import write_synthetic_bagls
from mpbench.logs import setup

log = setup(snakemake.log[0])
write_synthetic_bagls(snakemake.output[0], snakemake.params.n_frames, seed=snakemake.params.seed)
log.info("wrote %d synthetic BAGLS frames to %s", snakemake.params.n_frames, snakemake.output[0])
