from mpbench import io
from mpbench.edgetpu.stage import infer_stage
from mpbench.logs import setup

setup(snakemake.log[0])
p = snakemake.params
infer_stage(snakemake.input.compiled, snakemake.input.model, snakemake.input.h5, p.settings, snakemake.output.result,
            p.eval_images, p.warmup, p.repeats, p.required, snakemake.threads,
            source_status=io.read_json(snakemake.input.quantized)["status"])
