from mpbench.edgetpu.stage import compile_stage
from mpbench.logs import setup

setup(snakemake.log[0])
compile_stage(snakemake.input.model, snakemake.output.result, snakemake.output.compiler_log,
              snakemake.params.compiler, snakemake.params.required)
