"""Quantization-aware training (QAT) of a trained U-Net, for comparison with post-training int8.

tensorflow-model-optimization supports only legacy Keras (``tf_keras``), so this runs in its own
process with ``TF_USE_LEGACY_KERAS=1`` set before TensorFlow is imported (the ``qat`` job's script
does that; :func:`require_legacy_keras` checks). The trained Keras 3 weights are read with Keras 3,
copied into the same U-Net built with ``tf_keras`` (float32, ``edgetpu`` upsampling), wrapped by
``quantize_model`` (fake-quantised weights and activations) and fine-tuned for a few epochs on the
training fold at a small learning rate. The fine-tuned weights are then copied into a batch-1 copy
(a fixed batch keeps RESHAPE static, so no SHAPE/PACK ops) and converted to a uint8-I/O int8 TFLite
model, evaluated like the post-training variants.
"""
from __future__ import annotations

import logging
import os
import time

import numpy as np

from .. import io, provenance, record
from ..data.dataset import load_h5, pixel_scale_offset, split_fold
from ..frameworks.keras_runtime import cpu_only, dice_loss, load_keras_model
from ..models import UNetSpec
from ..record import Status
from .convert import check_pixel_input, keras_converter, quiet_convert
from .tflite_model import describe_ops, evaluate_tflite

log = logging.getLogger(__name__)
INSTALL_HELP = ("quantization-aware training needs tensorflow-model-optimization and tf_keras: "
                "pip install 'mpbench[qat]'")


def require_legacy_keras():
    if os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise RuntimeError("set TF_USE_LEGACY_KERAS=1 before importing TensorFlow (tensorflow-model-optimization "
                           "works only with tf_keras); the qat job's script does this")
    try:
        import tensorflow_model_optimization as tfmot
        import tf_keras
    except ImportError as e:
        raise RuntimeError(f"{INSTALL_HELP} ({e})") from e
    return tf_keras, tfmot


NORMALISE = "normalise"


def _float_unet(tf_keras, filters: int, size: int, normalisation: str, batch_size=None):
    """The tf_keras U-Net taking raw pixels, its normalisation a frozen 1×1 depthwise convolution.

    (QAT quantises a layer's weights but not constants such as ``Rescaling``'s, which would stay
    float ops; a depthwise kernel and bias hold scale and offset exactly in int8/int32.)
    """
    from ..models.unet_keras import build_unet
    base = build_unet(UNetSpec(filters, upsampling="edgetpu"), input_size=size, batch_size=batch_size,
                      dtype="float32", keras=tf_keras, pixel_input=normalisation)
    scale, offset = pixel_scale_offset(normalisation)

    def swap(layer):
        if layer.name == NORMALISE:
            return tf_keras.layers.DepthwiseConv2D(
                1, use_bias=True, name=NORMALISE, trainable=False, dtype="float32",
                depthwise_initializer=tf_keras.initializers.Constant(scale),
                bias_initializer=tf_keras.initializers.Constant(offset))
        return layer.__class__.from_config(layer.get_config())
    return tf_keras.models.clone_model(base, clone_function=swap)


def _set_unet_weights(model, weights: list[np.ndarray], source) -> None:
    """The trained U-Net's weights into ``model``, whose frozen normalisation keeps its constants."""
    targets = [w for w in model.weights if not w.name.startswith(f"{NORMALISE}/")]
    if [tuple(w.shape) for w in targets] != [w.shape for w in weights]:
        raise ValueError(f"{source}: its weights do not fit this U-Net")
    for t, w in zip(targets, weights, strict=True):
        t.assign(w)


def _reset_normalisation(model, normalisation: str) -> None:
    """Put the exact normalisation constants back (QAT wrappers may have let them drift)."""
    scale, offset = pixel_scale_offset(normalisation)
    layer = next(lay for lay in model.layers if lay.name in (NORMALISE, f"quant_{NORMALISE}"))
    for w in layer.weights:
        leaf = w.name.split("/")[-1].split(":")[0]
        if leaf == "depthwise_kernel":
            w.assign(np.full(w.shape, scale, np.float32))
        elif leaf == "bias":
            w.assign(np.full(w.shape, offset, np.float32))


def _fix_pixel_input_range(model) -> None:
    """Set the input's fake-quantisation range to the pixel range 0..255 (uint8 scale 1, zero point 0)."""
    fixed = 0
    for layer in model.layers:
        if type(layer).__name__ == "QuantizeLayer":
            for w in layer.weights:   # e.g. quantize_layer/quantize_layer_min:0
                leaf = w.name.split("/")[-1].split(":")[0]
                if leaf.endswith("min"):
                    w.assign(np.zeros(w.shape, np.float32))
                    fixed += 1
                elif leaf.endswith("max"):
                    w.assign(np.full(w.shape, 255.0, np.float32))
                    fixed += 1
    if fixed != 2:
        raise RuntimeError(f"expected one input QuantizeLayer with min and max, found {fixed} range variables")


def qat(settings, *, model_path, h5_path, tflite_path, result_path, epochs: int, learning_rate: float,
        eval_images: int, timing_warmup: int, timing_repeats: int, batch_size: int = 8,
        train_record: record.Record | None = None) -> record.Record:
    """Fine-tune, export and evaluate; writes ``tflite_path`` and one record to ``result_path``."""
    tf_keras, tfmot = require_legacy_keras()
    status = Status.derived_from(train_record) if train_record else Status.OK
    prov = provenance.collect("tensorflow")
    common = dict(provenance=prov, run_device="cpu", variant="int8_qat", batch_size=1, epochs=epochs)
    if status != Status.OK:   # nothing trained to fine-tune: say so, write no model
        log.warning("%s: %s, trained weights unusable; no QAT", model_path, status)
        rec = record.Record("qat", settings.to_dict(), status, **common, details={"source_model": str(model_path)})
        record.write(result_path, [rec])
        return rec
    import keras  # Keras 3: reads the trained .keras file
    tf = cpu_only(settings.threads)
    split = split_fold(load_h5(h5_path), settings.fold)
    size = split.x_train.shape[1]
    trained = [np.asarray(v, dtype=np.float32) for v in load_keras_model(model_path, keras).weights]
    base = _float_unet(tf_keras, settings.filters, size, settings.normalisation)
    _set_unet_weights(base, trained, f"{model_path} (f={settings.filters})")
    model = tfmot.quantization.keras.quantize_model(base)   # copies the float weights into its wrappers

    model.compile(tf_keras.optimizers.Adam(learning_rate), loss=lambda t, p: dice_loss(tf, p, t))  # as in training
    x = split.x_train[..., None].astype(np.float32)   # raw pixels: the model normalises
    y = split.y_train[..., None].astype(np.float32)
    log.info("QAT: %s, %d epochs at lr %g on %d training frames", model_path, epochs, learning_rate, len(x))
    t0 = time.perf_counter()
    hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0)
    seconds = time.perf_counter() - t0
    export = tfmot.quantization.keras.quantize_model(
        _float_unet(tf_keras, settings.filters, size, settings.normalisation, batch_size=1))
    export.set_weights(model.get_weights())
    _reset_normalisation(export, settings.normalisation)
    _fix_pixel_input_range(export)

    conv = keras_converter(export)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.inference_input_type = tf.uint8
    conv.inference_output_type = tf.uint8
    flat = quiet_convert(conv)
    check_pixel_input(flat)
    io.write_bytes(tflite_path, flat)
    x_eval, y_eval = split.x_val[:eval_images], split.y_val[:eval_images]
    ev = evaluate_tflite(flat, x_eval, y_eval, threads=settings.threads, warmup=timing_warmup, repeats=timing_repeats,
                         empty_iou=settings.empty_iou)
    if ev["status"] != Status.OK:   # e.g. int8 scales from exploded weights: recorded, the grid goes on
        log.error("QAT int8 model does not run in the interpreter: %s", ev["error"])
    details = {**describe_ops(flat), "io": ev["io"], "source_model": str(model_path),
               "learning_rate": learning_rate, "fit_seconds": seconds, "n_eval": len(x_eval),
               "loss": [float(v) for v in hist.history["loss"]]}
    rec = record.Record("qat", settings.to_dict(), ev["status"], error=ev["error"], model_path=tflite_path,
                        latency=ev["latency"], iou=ev["iou"], iou_pooled=ev["iou_pooled"],
                        per_image_iou=record.per_image(split.val_index[:eval_images], ev["per_image"]),
                        reference_iou=train_record.iou if train_record else None, details=details, **common)
    log.info("QAT int8 IoU %s after %d epochs (%.0f s); Edge TPU ops ok: %s", rec.iou, epochs, seconds,
             details["edgetpu_check"]["edgetpu_compatible"])
    record.write(result_path, [rec])
    return rec
