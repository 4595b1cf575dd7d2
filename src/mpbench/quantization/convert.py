"""Keras → TFLite in three variants: full-integer int8 (uint8 I/O, for the Edge TPU), float16, dynamic range.

int8: weights and activations int8, calibrated on a representative dataset of training frames
(normalised to [-1, 1] as in training); input and output tensors uint8, as the Edge TPU wants. The
input's scale and zero point come from the calibration (for frames spanning the full 8-bit range
they are ≈ 2/255 and 127, i.e. the raw pixel), so callers quantise the normalised frame with the
model's own input parameters (:meth:`~mpbench.quantization.tflite_model.TFLiteModel.quantize_input`).
The output is the probability in [0, 1] (scale 1/256, zero point 0).
"""
from __future__ import annotations

import contextlib
import io
import logging

import numpy as np

from ..data.dataset import normalise

VARIANTS = ("int8", "fp16", "dynamic")
log = logging.getLogger(__name__)


def convert(model, variant: str, representative_images: np.ndarray | None = None) -> bytes:
    """TFLite flatbuffer of a float32 Keras model; ``representative_images`` are uint8 (N, H, W)."""
    import tensorflow as tf
    if variant not in VARIANTS:
        raise ValueError(f"unknown TFLite variant {variant!r}; choose from {VARIANTS}")
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "fp16":
        conv.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        if representative_images is None or not len(representative_images):
            raise ValueError("int8 quantization needs representative images")
        reps = normalise(representative_images)[..., None].astype(np.float32)

        def representative_dataset():
            for img in reps:
                yield [img[None]]
        conv.representative_dataset = representative_dataset
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.uint8
        conv.inference_output_type = tf.uint8
    return quiet_convert(conv)


def quiet_convert(converter) -> bytes:
    """``converter.convert()`` with Keras' export chatter (every captured variable) kept off stdout."""
    chatter = io.StringIO()
    with contextlib.redirect_stdout(chatter):
        flat = converter.convert()
    log.debug("converter output:\n%s", chatter.getvalue())
    return flat
