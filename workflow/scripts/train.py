from mpbench.data.dataset import stage_to_local
from mpbench.logs import setup
from mpbench.settings import RunSettings
from mpbench.training.loop import train

setup(snakemake.log[0])
p = snakemake.params
h5 = stage_to_local(snakemake.input.h5, p.stage_to_tmpdir)
train(RunSettings(**p.settings), h5, snakemake.output.result, snakemake.output.model, p.checkpoint_dir)
