from mpbench.edgetpu.stage import compile_stage, int8_of
from mpbench.logs import setup
from mpbench.settings import RunSettings

setup(snakemake.log[0])
p = snakemake.params
int8 = int8_of(snakemake.input.quantized)
compile_stage(RunSettings(**p.settings), int8_path=int8["path"], result_path=snakemake.output.result,
              log_path=snakemake.output.compiler_log, no_model_reason=int8["reason"], **p.stage)
