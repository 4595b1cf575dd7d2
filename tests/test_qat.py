"""Quantization-aware training runs in its own process (TF_USE_LEGACY_KERAS=1), as the qat job does."""
import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from mpbench import record
from mpbench.quantization.tflite_model import TFLiteModel, describe_ops

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def legacy_keras_run(trained, train_h5, tmp_path_factory):
    """One process with TF_USE_LEGACY_KERAS=1, as the qat job's: the QAT job on the session's trained fp32
    model, and a small tf_keras QAT model converted by mpbench (keras_converter) and by from_keras_model."""
    if importlib.util.find_spec("tensorflow_model_optimization") is None:   # not imported here: it
        pytest.skip("pip install 'mpbench[qat]'")                          # switches TF to tf_keras
    s, model = trained("tensorflow", "fp32")
    tmp = tmp_path_factory.mktemp("qat")
    code = f"""
import os
os.environ["TF_USE_LEGACY_KERAS"] = "1"
from mpbench.quantization.qat import qat, require_legacy_keras
from mpbench.settings import RunSettings
qat(RunSettings(**{s.to_dict()!r}), model_path={str(model)!r}, h5_path={str(train_h5)!r},
    tflite_path={str(tmp / 'q.tflite')!r}, result_path={str(tmp / 'qat.json')!r}, epochs=1,
    learning_rate=1e-4, eval_images=30, timing_warmup=1, timing_repeats=3)

import tensorflow as tf
from mpbench.quantization.convert import keras_converter, quiet_convert
tf_keras, tfmot = require_legacy_keras()
inp = tf_keras.Input((16, 16, 1), batch_size=1, name="image")
x = tf_keras.layers.Conv2D(4, 3, padding="same")(inp)
x = tf_keras.layers.ReLU()(tf_keras.layers.BatchNormalization()(x))
small = tfmot.quantization.keras.quantize_model(
    tf_keras.Model(inp, tf_keras.layers.Conv2D(1, 1, activation="sigmoid", name="probability")(x)))
for name, conv in (("ours", keras_converter(small)), ("theirs", tf.lite.TFLiteConverter.from_keras_model(small))):
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.inference_input_type = conv.inference_output_type = tf.uint8
    open(os.path.join({str(tmp)!r}, name + ".tflite"), "wb").write(quiet_convert(conv))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return tmp


def test_qat_job_fine_tunes_and_exports_edgetpu_ready_int8(legacy_keras_run):
    tmp_path = legacy_keras_run
    r = record.read_one(tmp_path / "qat.json")
    d = r.details
    assert r.stage == "qat" and len(d["loss"]) == 1
    assert d["io"]["input"] == {"dtype": "uint8", "quantization": [1.0, 0]}   # raw pixels, all 256 values
    assert d["op_counts"]["DEPTHWISE_CONV_2D"] == 1   # the normalisation, exact in int8 weights
    assert r.iou > 0.5                              # fine-tuning from a trained model keeps it working
    assert d["edgetpu_check"]["edgetpu_compatible"], d["op_counts"]   # batch 1: no SHAPE/PACK ops
    assert (tmp_path / "q.tflite").stat().st_size == d["bytes"] and r.model_path == str(tmp_path / "q.tflite")
    assert r.latency["per_sample_s"]["n"] == 3 and r.config_hash


def test_a_tf_keras_qat_model_converts_as_from_keras_model_converts_it(legacy_keras_run):
    """tf_keras (QAT) as Keras 3 in tests/test_pixel_input.py: the same ops, bitwise the same outputs, the same
    signature."""
    flats = [(legacy_keras_run / f"{name}.tflite").read_bytes() for name in ("ours", "theirs")]
    assert describe_ops(flats[0])["op_counts"] == describe_ops(flats[1])["op_counts"]
    ours, theirs = (TFLiteModel(flat) for flat in flats)
    for image in np.random.default_rng(0).integers(0, 256, (3, 16, 16), dtype=np.uint8):
        np.testing.assert_array_equal(ours.predict(image), theirs.predict(image))
    assert ours.interpreter.get_signature_list() == theirs.interpreter.get_signature_list()   # names: tfmot's


def test_qat_refuses_to_run_under_keras_3(monkeypatch):
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    from mpbench.quantization.qat import require_legacy_keras
    with pytest.raises(RuntimeError, match="TF_USE_LEGACY_KERAS=1"):
        require_legacy_keras()
