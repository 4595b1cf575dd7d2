from pathlib import Path

from mpbench import io
from mpbench.logs import setup
from mpbench.quantization.pipeline import quantize
from mpbench.training.settings import TrainSettings

setup(snakemake.log[0])
p = snakemake.params
outputs = {v: next(m for m in snakemake.output.models if Path(m).name == f"model_{v}.tflite") for v in p.variants}
quantize(TrainSettings(**p.settings), snakemake.input.model, snakemake.input.h5, outputs, snakemake.output.result,
         p.representative_samples, p.eval_images, p.warmup, p.repeats, io.read_json(snakemake.input.train))
