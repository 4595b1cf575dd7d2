"""Keras → TFLite: float32, full-integer int8 (uint8 I/O, for the Edge TPU), float16 weights, dynamic range.

Every TFLite model takes the raw frame: the float model is wrapped behind a ``Rescaling`` layer
that applies ``data.normalisation`` (:func:`pixel_input_model`), so the input tensor holds pixel
values 0..255 and a camera frame goes in unchanged.

int8: weights and activations int8, calibrated on a representative dataset of training frames;
input and output tensors uint8, as the Edge TPU wants. The input's quantization is fixed, not
learned: scale 1, zero point 0, so each of the 256 pixel values is its own code and nothing is
clipped. (Calibration sets a tensor's range to the min and max it sees; frames without a 0 or a
255 pixel would narrow the input range and clip bright reflections. So the first calibration frame
has its two top-left pixels set to 0 and 255 — a copy; the frames on disk are untouched — and
:func:`check_pixel_input` refuses a model whose input is not exactly scale 1, zero point 0.)
The output is the probability in [0, 1] (scale 1/256, zero point 0).
"""
from __future__ import annotations

import contextlib
import io
import logging

import numpy as np

from ..data.dataset import pixel_scale_offset

VARIANTS = ("float32", "int8", "fp16", "dynamic")
log = logging.getLogger(__name__)


def pixel_input_model(model, normalisation: str):
    """``model`` (fed normalised frames) behind a layer that normalises raw pixel values 0..255."""
    import keras
    scale, offset = pixel_scale_offset(normalisation)
    inp = keras.Input(shape=model.input_shape[1:], batch_size=model.input_shape[0], name="pixels")
    x = keras.layers.Rescaling(scale, offset, name=f"normalise_{normalisation}", dtype="float32")(inp)
    return keras.Model(inp, model(x), name=f"{model.name}_pixels")


def calibration_frames(images: np.ndarray) -> np.ndarray:
    """Representative frames (uint8 (N, H, W)) as float pixels, the first one spanning 0..255."""
    if images is None or not len(images):
        raise ValueError("int8 quantization needs representative images")
    reps = images[..., None].astype(np.float32)
    reps[0].flat[0], reps[0].flat[1] = 0.0, 255.0
    return reps


def check_pixel_input(flat: bytes) -> None:
    """Refuse an integer model whose uint8 input is not the raw pixel (scale 1, zero point 0)."""
    from .tflite_model import TFLiteModel
    inp = TFLiteModel(flat).io_details()["input"]
    if inp["dtype"] == "uint8" and inp["quantization"] != [1.0, 0]:
        raise RuntimeError(f"the int8 model's uint8 input has scale/zero point {inp['quantization']}, not [1.0, 0]: "
                           "pixel values would be clipped or merged. This is a bug in mpbench's calibration "
                           "(calibration_frames); please report it with the model file.")


def keras_converter(model):
    """A ``TFLiteConverter`` for a Keras model (Keras 3 or tf_keras) called in inference mode at its input shape.

    It converts what ``TFLiteConverter.from_keras_model`` converts, to the same ops and bitwise the same
    outputs, with a ``serving_default`` signature named after the model's input and output layers
    (tests/test_pixel_input.py for Keras 3, tests/test_qat.py for tf_keras). ``from_keras_model`` first
    saves the whole Keras object graph as a SavedModel, tracing every layer's functions for it: for the
    U-Net that was ~3 s per variant in Keras 3 and ~13 s of the QAT export's 18 s in tf_keras (2 cores).
    Here the SavedModel holds only the model's variables and its one inference function.
    """
    import tensorflow as tf
    inp = model.inputs[0]
    input_name, output_name = inp.name.split(":")[0], model.output_names[0]
    holder = tf.Module()
    # Keras 3 wraps each tf.Variable (.value); tf_keras' weights are tf.Variables. Tracked, they are frozen.
    holder.model_variables = [v if isinstance(v, tf.Variable) else v.value for v in model.weights]
    holder.serve = tf.function(lambda x: {output_name: model(x, training=False)},
                               input_signature=[tf.TensorSpec(inp.shape, inp.dtype, name=input_name)])
    return tf.lite.TFLiteConverter.from_concrete_functions([holder.serve.get_concrete_function()], holder)


def convert(model, variant: str, representative_images: np.ndarray | None = None) -> bytes:
    """TFLite flatbuffer of a float32 Keras model that takes raw pixels (:func:`pixel_input_model`).

    ``representative_images``: uint8 (N, H, W) training frames (int8 only).
    """
    import tensorflow as tf
    if variant not in VARIANTS:
        raise ValueError(f"unknown TFLite variant {variant!r}; choose from {VARIANTS}")
    conv = keras_converter(model)
    if variant != "float32":   # float32: the model as it is, the baseline of the other variants
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "fp16":
        conv.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        reps = calibration_frames(representative_images)

        def representative_dataset():
            for img in reps:
                yield [img[None]]
        conv.representative_dataset = representative_dataset
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.uint8
        conv.inference_output_type = tf.uint8
    flat = quiet_convert(conv)
    if variant == "int8":
        check_pixel_input(flat)
    return flat


def quiet_convert(converter) -> bytes:
    """``converter.convert()`` with Keras' export chatter (every captured variable) kept off stdout."""
    chatter = io.StringIO()
    with contextlib.redirect_stdout(chatter):
        flat = converter.convert()
    log.debug("converter output:\n%s", chatter.getvalue())
    return flat
