"""The ``quantize`` job: export the trained model in float32, convert every variant, check ops, evaluate and
time on the CPU — for Keras models (TensorFlow's converter) and PyTorch models (litert-torch)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .. import io, isolation, provenance, record
from ..data.dataset import load_h5, normalise, split_fold
from ..frameworks.keras_runtime import cpu_only, load_keras_model
from ..metrics import image_counts, iou_scores
from ..record import Status
from .convert import convert, pixel_input_model
from .rebuild import float32_rebuild
from .tflite_model import describe_ops, evaluate_tflite

log = logging.getLogger(__name__)


def keras_iou(model, images: np.ndarray, masks: np.ndarray, batch_size: int = 8, empty_iou: float = 1.0,
              normalisation: str | None = "symmetric") -> float:
    """Mean per-image IoU of a Keras model (as :func:`~mpbench.metrics.iou_scores` defines it).

    ``normalisation``: how the model wants its input; ``None`` for a model taking raw pixels.
    """
    def probs():
        for i in range(0, len(images), batch_size):
            batch = images[i:i + batch_size]
            x = (normalise(batch, normalisation) if normalisation else batch.astype(np.float32))[..., None]
            yield from np.asarray(model(x, training=False), dtype=np.float32)[..., 0]
    return iou_scores(*image_counts(probs(), masks), empty_iou)["mean"]


class KerasExport:
    """A trained Keras U-Net, rebuilt in float32 at batch 1 behind the pixel-input layer, and its variants."""
    framework = "tensorflow"

    def __init__(self, settings, model_path, x_eval, y_eval):
        import keras
        cpu_only(settings.threads)   # conversion and evaluation are CPU work
        keras.mixed_precision.set_global_policy("float32")
        trained = load_keras_model(model_path, keras)
        self.float_iou = keras_iou(trained, x_eval, y_eval, empty_iou=settings.empty_iou,
                                   normalisation=settings.normalisation)
        rebuilt = float32_rebuild(model_path, settings.filters, upsampling="edgetpu"
                                  if settings.upsampling != "transpose" else "transpose",
                                  trained_upsampling=settings.upsampling, trained=trained)
        self.model = pixel_input_model(rebuilt, settings.normalisation)   # every TFLite model takes raw pixels
        self.reference_iou = keras_iou(self.model, x_eval, y_eval, empty_iou=settings.empty_iou, normalisation=None)
        self.reference = "float32 Keras rebuild (Edge TPU upsampling, batch 1)"

    def convert(self, variant: str, reps: np.ndarray) -> bytes:
        return convert(self.model, variant, reps)


class TorchExport:
    """A trained PyTorch U-Net as an NHWC pixel-input module (litert-torch), exported once in float32."""
    framework = "pytorch"

    def __init__(self, settings, model_path, x_eval, y_eval):
        from . import torch_export
        torch_export.require()   # before any work: names the extra to install
        trained = torch_export.load_trained(settings, model_path)
        self.float_iou = torch_export.torch_iou(trained, x_eval, y_eval, settings.empty_iou, settings.normalisation)
        module = torch_export.pixel_input_module(trained, settings.normalisation)
        self.reference_iou = torch_export.torch_iou(module, x_eval, y_eval, settings.empty_iou, None)
        self.reference = "float32 PyTorch module (NHWC pixel input, Edge TPU upsampling)"
        self.float32 = torch_export.export_float32(module, x_eval.shape[1])
        self._quantize = torch_export.quantize_float32

    def convert(self, variant: str, reps: np.ndarray) -> bytes:
        return self._quantize(self.float32, variant, reps)


EXPORTS = {e.framework: e for e in (KerasExport, TorchExport)}


def variant_path(result_path, variant: str) -> Path:
    """Where the quantize job writes a variant's model: beside its result.json."""
    return Path(result_path).with_name(f"model_{variant}.tflite")


def quantize(settings, *, model_path, h5_path, variants, result_path, representative_samples: int,
             eval_images: int, timing_warmup: int, timing_repeats: int,
             train_record: record.Record | None = None) -> list[record.Record]:
    """Write one .tflite per variant (:func:`variant_path`) and one record per variant (``model_path`` names it).

    A variant the converter or quantizer refuses is recorded ``failed`` with its reason (no model
    file) and the other variants go on. ``train_record``: the training run's record; when no epoch
    of it finished, every record's status says so (``train_diverged``, ``train_oom``): the files
    and op lists are real, the models not run.
    """
    split = split_fold(load_h5(h5_path), settings.fold)
    rng = np.random.default_rng(settings.seed)
    reps = split.x_train[rng.permutation(len(split.x_train))[:representative_samples]]
    x_eval, y_eval, eval_index = split.x_val[:eval_images], split.y_val[:eval_images], split.val_index[:eval_images]
    log.info("quantizing %s (%s, %s, f=%d, fold %d): %d representative training frames, %d validation frames",
             model_path, settings.framework, settings.precision, settings.filters, settings.fold, len(reps),
             len(x_eval))
    source = Status.derived_from(train_record) if train_record else Status.OK
    export = EXPORTS[settings.framework](settings, model_path, x_eval, y_eval)
    log.info("float IoU %.4f (as trained, %s), %.4f (%s)", export.float_iou, settings.precision,
             export.reference_iou, export.reference)

    prov = provenance.collect(settings.framework, edge=True, threads=settings.threads)
    records = []
    for variant in variants:
        path = variant_path(result_path, variant)
        common = {"source_model": str(model_path), "float_iou_as_trained": export.float_iou,
                  "reference": export.reference, "n_representative": len(reps), "n_eval": len(x_eval),
                  "input": "raw pixels", "normalisation": settings.normalisation}
        try:
            flat = export.convert(variant, reps)
        except Exception as e:   # the converter's or quantizer's refusal: recorded, the other variants go on
            log.error("%s: the %s conversion failed: %s", model_path, variant, e)
            path.unlink(missing_ok=True)   # no stale model from an earlier run beside a failed record
            records.append(record.Record(
                "tflite_cpu", settings.to_dict(), Status.FAILED, error=record.error_text(e), provenance=prov,
                run_device="cpu", variant=variant, batch_size=1, reference_iou=export.reference_iou,
                details={**common, "failed_at": "conversion"}))
            continue
        io.write_bytes(path, flat)
        details = {**describe_ops(flat), **common}
        if source != Status.OK:
            # Initial or non-finite weights: converted (the files and ops are real) but not run — the
            # interpreter may refuse them (XNNPACK cannot prepare NaN weights) and IoU would be noise.
            log.warning("%s: %s, trained weights unusable; %s model written, not evaluated", model_path, source,
                        variant)
            ev = {"status": source, "error": None, "iou": None, "iou_pooled": None, "per_image": None,
                  "latency": None, "io": None}
        else:
            ev = evaluate_tflite(flat, x_eval, y_eval, threads=settings.threads, warmup=timing_warmup,
                                 repeats=timing_repeats, empty_iou=settings.empty_iou)
            if ev["status"] == Status.OK:
                log.info("%-7s %7.1f KiB IoU %.4f (float %.4f) %.2f ms/image on CPU, Edge TPU ops ok: %s", variant,
                         len(flat) / 1024, ev["iou"], export.reference_iou,
                         ev["latency"]["per_sample_s"]["median"] * 1e3, details["edgetpu_check"]["edgetpu_compatible"])
            else:
                log.error("%s: the %s model does not run in the interpreter: %s", model_path, variant, ev["error"])
        details.update(io=ev["io"])
        records.append(record.Record(
            "tflite_cpu", settings.to_dict(), ev["status"], error=ev["error"], provenance=prov, model_path=path,
            run_device="cpu", variant=variant, batch_size=1, latency=ev["latency"], iou=ev["iou"],
            iou_pooled=ev["iou_pooled"], per_image_iou=record.per_image(eval_index, ev["per_image"]),
            reference_iou=export.reference_iou, details=details))
    record.write(result_path, records)
    return records


def quantize_in_child(settings, *, variants, result_path, **kwargs) -> list[record.Record]:
    """:func:`quantize` in a child process (:mod:`mpbench.isolation`). When that process dies of a signal (the
    converter or interpreter crashing on the model), every variant is recorded ``failed`` naming it, no model
    file is left, and the grid goes on."""
    try:
        isolation.run(quantize, settings=settings, variants=variants, result_path=result_path, **kwargs)
    except isolation.NativeCrash as e:
        log.error("quantizing %s: %s; every variant recorded failed", kwargs.get("model_path"), e)
        prov = provenance.collect(settings.framework, edge=True, threads=settings.threads)
        for variant in variants:
            variant_path(result_path, variant).unlink(missing_ok=True)
        records = [record.Record("tflite_cpu", settings.to_dict(), Status.FAILED, error=record.error_text(e),
                                 provenance=prov, run_device="cpu", variant=variant, batch_size=1,
                                 details={"source_model": str(kwargs.get("model_path")), "failed_at": "crash"})
                   for variant in variants]
        record.write(result_path, records)
        return records
    return record.read(result_path)
