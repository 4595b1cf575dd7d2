from mpbench.edgetpu.stage import compile_stage
from mpbench.logs import setup
from mpbench.settings import RunSettings

setup(snakemake.log[0])
p = snakemake.params
compile_stage(RunSettings(**p.settings), int8_path=snakemake.input.model, result_path=snakemake.output.result,
              log_path=snakemake.output.compiler_log, compiler=p.compiler, required=p.required)
