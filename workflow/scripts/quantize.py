from mpbench import record
from mpbench.logs import setup
from mpbench.quantization.pipeline import quantize_in_child
from mpbench.settings import RunSettings

setup(snakemake.log[0])
p = snakemake.params
quantize_in_child(RunSettings(**p.settings), model_path=snakemake.input.model, h5_path=snakemake.input.h5,
                  result_path=snakemake.output.result, train_record=record.read_one(snakemake.input.train), **p.stage)
