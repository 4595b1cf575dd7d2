from mpbench.data.synthetic import write_synthetic_bagls
from mpbench.logs import setup

log = setup(snakemake.log[0])
p = snakemake.params
write_synthetic_bagls(p.bagls_dir, p.n_frames, seed=p.seed)
log.info("wrote %d synthetic BAGLS frames (seed %d) to %s", p.n_frames, p.seed, p.bagls_dir)
