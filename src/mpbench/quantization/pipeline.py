"""The ``quantize`` job: rebuild in float32, convert every variant, check ops, evaluate and time on CPU."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .. import io, provenance
from ..data.dataset import load_h5, normalise, split_fold
from ..metrics import iou_counts, iou_from_counts
from ..training.loop import source_status
from ..training.settings import TrainSettings
from .convert import convert
from .edgetpu_ops import edgetpu_check
from .rebuild import float32_rebuild
from .tflite_model import TFLiteModel, op_details

log = logging.getLogger(__name__)


def keras_iou(model, images: np.ndarray, masks: np.ndarray, batch_size: int = 8) -> float:
    inter = union = 0
    for i in range(0, len(images), batch_size):
        x = normalise(images[i:i + batch_size])[..., None]
        prob = np.asarray(model(x, training=False), dtype=np.float32)[..., 0]
        for p, m in zip(prob, masks[i:i + batch_size]):
            a, b = iou_counts(p, m)
            inter, union = inter + a, union + b
    return iou_from_counts(inter, union)


def quantize(settings: TrainSettings, model_path, h5_path, outputs: dict, result_path, representative_samples: int,
             eval_images: int, timing_warmup: int, timing_repeats: int, train_result: dict | None = None) -> dict:
    """Write one .tflite per variant (``outputs``: variant → path) and a result JSON comparing them.

    ``train_result``: the training run's result; when no epoch of it finished, the result's status
    says so (``train_diverged``, ``train_oom``) and its IoUs are not accuracy.
    """
    import keras
    import tensorflow as tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(settings.threads)
        tf.config.set_visible_devices([], "GPU")   # conversion and evaluation are CPU work
    except RuntimeError:
        pass
    keras.mixed_precision.set_global_policy("float32")
    split = split_fold(load_h5(h5_path), settings.fold)
    rng = np.random.default_rng(settings.seed)
    reps = split.x_train[rng.permutation(len(split.x_train))[:representative_samples]]
    x_eval, y_eval = split.x_val[:eval_images], split.y_val[:eval_images]
    log.info("quantizing %s (%s, f=%d, fold %d): %d representative training frames, %d validation frames",
             model_path, settings.precision, settings.filters, settings.fold, len(reps), len(x_eval))

    status = source_status(train_result) if train_result else "ok"
    trained = keras.models.load_model(model_path, compile=False)
    float_iou = keras_iou(trained, x_eval, y_eval)
    model = float32_rebuild(model_path, settings.filters, upsampling="edgetpu" if settings.upsampling != "transpose"
                            else "transpose", trained_upsampling=settings.upsampling, trained=trained)
    rebuilt_iou = keras_iou(model, x_eval, y_eval)
    log.info("float Keras IoU %.4f (as trained, %s), %.4f (float32 rebuild, batch 1)", float_iou,
             settings.precision, rebuilt_iou)

    variants = {}
    for variant, path in outputs.items():
        flat = convert(model, variant, reps)
        io.write_bytes(path, flat)
        ops = op_details(flat)
        entry = {"path": str(path), "bytes": len(flat),
                 "op_counts": {op: sum(o["op"] == op for o in ops) for op in sorted({o["op"] for o in ops})},
                 "edgetpu_check": edgetpu_check(ops)}
        if status != "ok":
            # Initial or non-finite weights: converted (the files and ops are real) but not run — the
            # interpreter may refuse them (XNNPACK cannot prepare NaN weights) and IoU would be noise.
            log.warning("%s: %s, trained weights unusable; %s model written, not evaluated", model_path, status, variant)
            variants[variant] = {**entry, "iou": None, "cpu_batch1": None, "iou_minus_float": None}
            continue
        try:
            tfl = TFLiteModel(flat, threads=settings.threads)
        except RuntimeError as e:
            # E.g. XNNPACK refuses int8 scales from weights that grew to ~1e28 in a run that never
            # produced NaN: recorded, files kept, the grid goes on.
            log.error("%s: the %s model does not run in the interpreter: %s", model_path, variant, e)
            variants[variant] = {**entry, "status": "failed", "error": str(e)[:300], "iou": None,
                                 "cpu_batch1": None, "iou_minus_float": None}
            continue
        entry = {
            **entry, "status": "ok",
            "input": {"dtype": np.dtype(tfl.inp["dtype"]).name, "quantization": list(tfl.inp["quantization"])},
            "output": {"dtype": np.dtype(tfl.out["dtype"]).name, "quantization": list(tfl.out["quantization"])},
            "iou": tfl.iou(x_eval, y_eval),
            "cpu_batch1": tfl.time_batch1(x_eval, timing_warmup, timing_repeats),
        }
        entry["iou_minus_float"] = entry["iou"] - rebuilt_iou
        log.info("%-7s %7.1f KiB IoU %.4f (float %.4f) %.2f ms/image on CPU, Edge TPU ops ok: %s", variant,
                 len(flat) / 1024, entry["iou"], rebuilt_iou, entry["cpu_batch1"]["per_image_s"]["median"] * 1e3,
                 entry["edgetpu_check"]["edgetpu_compatible"])
        variants[variant] = entry

    result = {
        "phase": "quantize", "status": status, "settings": settings.to_dict(),
        "n_representative": len(reps), "n_eval": len(x_eval),
        "float_iou": float_iou, "float32_rebuild_iou": rebuilt_iou,
        "variants": variants, "model_path": str(model_path),
        "provenance": provenance.collect("tensorflow"),
        "config_hash": provenance.config_hash(settings.to_dict()),
    }
    io.write_json(result_path, result)
    return result
