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

from .. import io, provenance
from ..data.dataset import load_h5, normalise, split_fold
from ..models import UNetSpec
from ..training.keras_backend import dice_loss
from ..training.loop import source_status
from ..training.settings import TrainSettings
from .convert import quiet_convert
from .edgetpu_ops import edgetpu_check
from .tflite_model import TFLiteModel, op_details

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


def _float_unet(tf_keras, filters: int, size: int, batch_size=None):
    from ..models.unet_keras import build_unet
    return build_unet(UNetSpec(filters, upsampling="edgetpu"), input_size=size, batch_size=batch_size,
                      dtype="float32", keras=tf_keras)


def qat(settings: TrainSettings, model_path, h5_path, tflite_path, result_path, epochs: int, learning_rate: float,
        eval_images: int, batch_size: int = 8, train_result: dict | None = None) -> dict:
    tf_keras, tfmot = require_legacy_keras()
    status = source_status(train_result) if train_result else "ok"
    if status != "ok":   # nothing trained to fine-tune: say so, write no model
        log.warning("%s: %s, trained weights unusable; no QAT", model_path, status)
        result = {"phase": "qat", "status": status, "settings": settings.to_dict(), "epochs": epochs, "iou": None,
                  "path": None, "provenance": provenance.collect("tensorflow")}
        io.write_json(result_path, result)
        return result
    import keras  # Keras 3: reads the trained .keras file
    import tensorflow as tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(settings.threads)
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:
        pass
    split = split_fold(load_h5(h5_path), settings.fold)
    size = split.x_train.shape[1]
    trained = [np.asarray(v, dtype=np.float32) for v in keras.models.load_model(model_path, compile=False).weights]
    base = _float_unet(tf_keras, settings.filters, size)
    if [tuple(w.shape) for w in base.get_weights()] != [w.shape for w in trained]:
        raise ValueError(f"{model_path}: its weights do not fit the f={settings.filters} U-Net")
    base.set_weights(trained)
    model = tfmot.quantization.keras.quantize_model(base)   # copies the float weights into its wrappers

    model.compile(tf_keras.optimizers.Adam(learning_rate), loss=lambda t, p: dice_loss(tf, p, t))  # as in training
    x = normalise(split.x_train)[..., None]
    y = split.y_train[..., None].astype(np.float32)
    log.info("QAT: %s, %d epochs at lr %g on %d training frames", model_path, epochs, learning_rate, len(x))
    t0 = time.perf_counter()
    hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0)
    seconds = time.perf_counter() - t0
    export = tfmot.quantization.keras.quantize_model(_float_unet(tf_keras, settings.filters, size, batch_size=1))
    export.set_weights(model.get_weights())

    conv = tf.lite.TFLiteConverter.from_keras_model(export)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.inference_input_type = tf.uint8
    conv.inference_output_type = tf.uint8
    flat = quiet_convert(conv)
    io.write_bytes(tflite_path, flat)
    x_eval, y_eval = split.x_val[:eval_images], split.y_val[:eval_images]
    ops = op_details(flat)
    try:
        tfl = TFLiteModel(flat, threads=settings.threads)
    except RuntimeError as e:   # e.g. int8 scales from exploded weights: recorded, the grid goes on
        log.error("QAT int8 model does not run in the interpreter: %s", e)
        tfl, status = None, "failed"
    result = {
        "phase": "qat", "status": status, "settings": settings.to_dict(),
        "epochs": epochs,
        "learning_rate": learning_rate, "fit_seconds": seconds,
        "loss": [float(v) for v in hist.history["loss"]], "n_eval": len(x_eval),
        "iou": tfl.iou(x_eval, y_eval) if tfl else None, "path": str(tflite_path), "bytes": len(flat),
        "input": {"dtype": np.dtype(tfl.inp["dtype"]).name, "quantization": list(tfl.inp["quantization"])} if tfl else None,
        "op_counts": {op: sum(o["op"] == op for o in ops) for op in sorted({o["op"] for o in ops})},
        "edgetpu_check": edgetpu_check(ops),
        "provenance": provenance.collect("tensorflow"),
    }
    log.info("QAT int8 IoU %s after %d epochs (%.0f s); Edge TPU ops ok: %s", result["iou"], epochs, seconds,
             result["edgetpu_check"]["edgetpu_compatible"])
    io.write_json(result_path, result)
    return result
