"""The two Edge TPU jobs: compile the int8 model (of either framework), then time it on the Edge TPU.

Where the compiler or the Edge TPU is missing: with ``required`` the job fails at once naming
what is missing; without it the compile record is ``unavailable`` with the reason, and the
inference job times the same int8 model on the CPU interpreter under the run device ``cpu-int8``
(honestly labelled: that is not an Edge TPU number; ``details.edgetpu`` says ``unavailable``).

The int8 and compiled models are found beside the records that name them (:func:`beside`), never at
the absolute paths those records store: a copied results folder times its own models.
"""
from __future__ import annotations

import logging
from pathlib import Path

from .. import io, provenance, record
from ..data.dataset import load_h5, split_fold
from ..record import Status
from .compiler import INSTALL_HELP, compile_model, find_compiler, parse_log
from .runtime import EdgeTPUUnavailable, load_delegate

log = logging.getLogger(__name__)
CPU_FALLBACK_DEVICE = "cpu-int8"


def beside(record_file, stored: str | None) -> Path | None:
    """The file a record names, in the record's own folder (the cell's): every model a stage writes lies
    beside its result file. The stored path is where it was written, which a copied or moved results
    folder no longer is — following it would measure another folder's model — so only its name is used."""
    if not stored:
        return None
    here = Path(record_file).parent / Path(stored).name
    if Path(stored) != here:
        log.info("%s names %s; using %s, beside it", record_file, stored, here)
    return here


def int8_of(quantize_json) -> dict:
    """The int8 model the quantize job wrote, in that job's folder (:func:`beside`): ``path`` (None when its
    conversion failed or the file is not there, with the ``reason``) and the ``reference_iou`` of the
    float model it was quantized from."""
    recs = [r for r in record.read(quantize_json) if r.variant == "int8"]
    if not recs:
        return {"path": None, "reference_iou": None, "reason": f"{quantize_json} holds no int8 record"}
    r = recs[0]
    path, reason = beside(quantize_json, r.model_path), None
    if path is None:
        reason = f"the int8 conversion failed ({r.error}); see {quantize_json}"
    elif not path.is_file():
        reason = (f"{path}, the int8 model {quantize_json} names, is not in that folder; rerun rule quantize "
                  "for this cell (or copy the model there with its result.json)")
        path = None
    return {"path": None if path is None else str(path), "reference_iou": r.reference_iou, "reason": reason}


def _no_model(stage: str, settings, result_path, reason: str, **fields) -> record.Record:
    """The record of an Edge TPU job with no int8 model to work on: ``failed``, the grid goes on."""
    log.error("no int8 model to %s: %s", "compile" if stage == "edgetpu_compile" else "run", reason)
    rec = record.Record(stage, settings.to_dict(), Status.FAILED, error=f"no int8 model: {reason}",
                        provenance=provenance.collect(), run_device="edgetpu", variant="int8", **fields)
    record.write(result_path, [rec])
    return rec


def compile_stage(settings, *, int8_path, result_path, log_path, compiler: str = "edgetpu_compiler",
                  required: bool = True, timeout_s: int = 600, no_model_reason: str | None = None) -> record.Record:
    """Compile ``int8_path`` (None: its conversion failed, ``no_model_reason`` says why: recorded ``failed``)."""
    if int8_path is None:
        io.write_text(log_path, f"no int8 model: {no_model_reason}\n")
        return _no_model("edgetpu_compile", settings, result_path, no_model_reason, details={"compiler": compiler})
    out_dir = Path(result_path).parent
    exe = find_compiler(compiler)
    common = dict(provenance=provenance.collect(), model_path=int8_path, run_device="edgetpu", variant="int8")
    if exe is None:
        reason = f"{compiler!r} not found. {INSTALL_HELP}"
        if required:
            raise RuntimeError(f"edgetpu.required is true but {reason}")
        log.warning("Edge TPU compile unavailable: %s", reason)
        io.write_text(log_path, reason + "\n")
        rec = record.Record("edgetpu_compile", settings.to_dict(), Status.UNAVAILABLE, note=reason,
                            details={"compiler": compiler}, **common)
        record.write(result_path, [rec])
        return rec
    log.info("compiling %s with %s", int8_path, exe)
    rc, text, compiled = compile_model(exe, int8_path, out_dir, timeout_s)
    io.write_text(log_path, text)
    parsed = parse_log(text)
    ok = rc == 0 and compiled.exists()
    fully_mapped = parsed.pop("fully_mapped", None)
    rec = record.Record("edgetpu_compile", settings.to_dict(), Status.OK if ok else Status.FAILED,
                        error=None if ok else f"edgetpu_compiler exited with {rc}; see {log_path}",
                        compiled_model=str(compiled) if ok else None, fully_mapped=fully_mapped,
                        details={"compiler": compiler, "returncode": rc, **parsed}, **common)
    record.write(result_path, [rec])
    if not ok and required:
        raise RuntimeError(rec.error)
    if ok:
        log.info("Edge TPU: %s of %s ops mapped, %s B on-chip, %s B off-chip", parsed["n_ops_on_edgetpu"],
                 parsed["total_ops"], parsed["on_chip_used_bytes"], parsed["off_chip_used_bytes"])
    return rec


def infer_stage(settings, *, compile_json, int8_path, h5_path, result_path, eval_images: int, timing_warmup: int,
                timing_repeats: int, required: bool = True, threads: int = 2, source_status: str = Status.OK,
                reference_iou: float | None = None, no_model_reason: str | None = None) -> record.Record:
    """Time and score the int8 model on the Edge TPU, or (not required) on the CPU as ``cpu-int8``.

    ``source_status``: :meth:`Status.derived_from` the training record (``train_diverged`` … when the
    trained weights were unusable), carried into this record. ``int8_path`` None: its conversion
    failed (``no_model_reason``): recorded ``failed``.
    """
    from ..quantization.tflite_model import TFLiteModel
    if int8_path is None:
        return _no_model("edgetpu", settings, result_path, no_model_reason, batch_size=1,
                         details={"edgetpu": None, "int8_model": None})
    compiled = record.read_one(compile_json)
    split = split_fold(load_h5(h5_path), settings.fold)
    images, masks = split.x_val[:eval_images], split.y_val[:eval_images]
    reason = compiled.note or compiled.error if compiled.status != Status.OK else None
    delegate = None
    if reason is None:
        try:
            delegate = load_delegate()
        except EdgeTPUUnavailable as e:
            reason = str(e)
    if delegate is not None:
        device, measured, note = "edgetpu", str(beside(compile_json, compiled.compiled_model)), None
    else:
        if required:
            raise RuntimeError(f"edgetpu.required is true but the Edge TPU cannot run: {reason}")
        log.warning("Edge TPU unavailable (%s); timing the int8 model on the CPU interpreter as %r",
                    reason, CPU_FALLBACK_DEVICE)
        device, measured = CPU_FALLBACK_DEVICE, str(int8_path)
        note = f"Edge TPU unavailable: {reason}"
    details = {"edgetpu": Status.OK if delegate is not None else Status.UNAVAILABLE, "int8_model": str(int8_path),
               "n_eval": len(images), "warmup": timing_warmup, "repeats": timing_repeats}

    def write(status, **measured_values):
        rec = record.Record("edgetpu", settings.to_dict(), status, provenance=provenance.collect(edge=True),
                            model_path=measured, run_device=device, variant="int8", batch_size=1, note=note,
                            reference_iou=reference_iou, details=details, **measured_values)
        record.write(result_path, [rec])
        return rec

    if source_status != Status.OK:
        log.warning("trained weights unusable (%s): int8 model not run", source_status)
        return write(source_status)
    try:
        model = TFLiteModel(measured, delegates=[delegate] if delegate is not None else None,
                            threads=None if delegate is not None else threads)
    except RuntimeError as e:   # the interpreter refuses this model (see the quantize record), or the
        log.error("the int8 model does not run: %s", e)   # file is damaged (the message names it): recorded
        return write(Status.FAILED, error=str(e) if isinstance(e, io.DamagedFileError) else record.error_text(e))
    scores = model.iou(images, masks, settings.empty_iou)
    rec = write(Status.OK, iou=scores["mean"], iou_pooled=scores["pooled"],
                per_image_iou=record.per_image(split.val_index[:eval_images], scores["per_image"]),
                latency=model.time_batch1(images, timing_warmup, timing_repeats))
    log.info("%s: IoU %.4f, %.2f ms/image (batch 1, median of %d)", device, rec.iou,
             rec.latency["per_sample_s"]["median"] * 1e3, timing_repeats)
    return rec
