from mpbench.data.dataset import stage_to_local
from mpbench.inference.bench import benchmark
from mpbench.logs import setup
from mpbench.training.settings import TrainSettings

setup(snakemake.log[0])
p = snakemake.params
benchmark(TrainSettings(**p.settings), snakemake.input.model, stage_to_local(snakemake.input.h5),
          snakemake.output.result, p.batch_sizes, p.warmup, p.repeats)
