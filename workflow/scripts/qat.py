import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"   # before TensorFlow is imported: tfmot needs tf_keras

from mpbench import io  # noqa: E402
from mpbench.logs import setup  # noqa: E402
from mpbench.quantization.qat import qat  # noqa: E402
from mpbench.training.settings import TrainSettings  # noqa: E402

setup(snakemake.log[0])
p = snakemake.params
qat(TrainSettings(**p.settings), snakemake.input.model, snakemake.input.h5, p.model,
    snakemake.output.result, p.epochs, p.learning_rate, p.eval_images,
    train_result=io.read_json(snakemake.input.train))
