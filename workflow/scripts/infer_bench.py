from mpbench.data.dataset import stage_to_local
from mpbench.inference.bench import benchmark
from mpbench.logs import setup
from mpbench.settings import RunSettings

setup(snakemake.log[0])
p = snakemake.params
benchmark(RunSettings(**p.settings), snakemake.input.model, stage_to_local(snakemake.input.h5, p.stage_to_tmpdir),
          snakemake.output.result, **p.stage)
