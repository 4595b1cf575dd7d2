import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # before TensorFlow is imported: tfmot needs tf_keras

from mpbench import record  # noqa: E402
from mpbench.logs import setup  # noqa: E402
from mpbench.quantization.qat import qat  # noqa: E402
from mpbench.settings import RunSettings  # noqa: E402

setup(snakemake.log[0])
p = snakemake.params
qat(RunSettings(**p.settings), model_path=snakemake.input.model, h5_path=snakemake.input.h5, tflite_path=p.model,
    result_path=snakemake.output.result, train_record=record.read_one(snakemake.input.train), **p.stage)
