from mpbench.data.dataset import stage_to_local
from mpbench.logs import setup
from mpbench.training.loop import train
from mpbench.training.settings import TrainSettings

setup(snakemake.log[0])
settings = TrainSettings(**snakemake.params.settings)
h5 = stage_to_local(snakemake.input.h5, snakemake.params.stage_to_tmpdir)
train(settings, h5, snakemake.output.result, snakemake.output.model, snakemake.params.checkpoint_dir)
