"""The two Edge TPU jobs: compile the int8 model, then time it on the Edge TPU.

Where the compiler or the Edge TPU is missing: with ``required`` the job fails at once naming
what is missing; without it the job writes ``status: unavailable`` with the reason, and the
inference job times the same int8 model on the CPU interpreter under the device name ``cpu-int8``
(honestly labelled: that is not an Edge TPU number).
"""
from __future__ import annotations

import logging
from pathlib import Path

from .. import io, provenance
from ..data.dataset import load_h5, split_fold
from .compiler import INSTALL_HELP, compile_model, find_compiler, parse_log
from .runtime import EdgeTPUUnavailable, load_delegate

log = logging.getLogger(__name__)
CPU_FALLBACK_DEVICE = "cpu-int8"


def compile_stage(int8_path, result_path, log_path, compiler: str = "edgetpu_compiler", required: bool = True,
                  timeout_s: int = 600) -> dict:
    out_dir = Path(result_path).parent
    exe = find_compiler(compiler)
    base = {"phase": "edgetpu_compile", "model": str(int8_path), "compiler": compiler}
    if exe is None:
        reason = f"{compiler!r} not found. {INSTALL_HELP}"
        if required:
            raise RuntimeError(f"edgetpu.required is true but {reason}")
        log.warning("Edge TPU compile unavailable: %s", reason)
        io.write_text(log_path, reason + "\n")
        result = {**base, "status": "unavailable", "reason": reason}
    else:
        log.info("compiling %s with %s", int8_path, exe)
        rc, text, compiled = compile_model(exe, int8_path, out_dir, timeout_s)
        io.write_text(log_path, text)
        parsed = parse_log(text)
        ok = rc == 0 and compiled.exists()
        result = {**base, "status": "ok" if ok else "failed", "returncode": rc,
                  "compiled_model": str(compiled) if ok else None, **parsed}
        if not ok:
            result["reason"] = f"edgetpu_compiler exited with {rc}; see {log_path}"
            if required:
                io.write_json(result_path, result)
                raise RuntimeError(result["reason"])
        log.info("Edge TPU: %s of %s ops mapped, %s B on-chip, %s B off-chip", parsed["n_ops_on_edgetpu"],
                 parsed["total_ops"], parsed["on_chip_used_bytes"], parsed["off_chip_used_bytes"])
    io.write_json(result_path, result)
    return result


def infer_stage(compile_json, int8_path, h5_path, settings: dict, result_path, n_images: int, warmup: int,
                repeats: int, required: bool = True, threads: int = 2, source_status: str = "ok") -> dict:
    """Time and score the int8 model on the Edge TPU, or (not required) on the CPU as ``cpu-int8``.

    ``source_status``: the quantize result's status (``train_diverged`` … when the trained weights
    were unusable), carried into this result.
    """
    from ..quantization.tflite_model import TFLiteModel
    compiled = io.read_json(compile_json)
    split = split_fold(load_h5(h5_path), int(settings["fold"]))
    images, masks = split.x_val[:n_images], split.y_val[:n_images]
    result = {"phase": "edgetpu_infer", "source_status": source_status, "settings": settings,
              "model": str(int8_path), "n_eval": len(images), "warmup": warmup, "repeats": repeats,
              "provenance": provenance.collect("tensorflow")}
    reason = compiled.get("reason") if compiled["status"] != "ok" else None
    delegate = None
    if reason is None:
        try:
            delegate = load_delegate()
        except EdgeTPUUnavailable as e:
            reason = str(e)
    if delegate is not None:
        result.update(status="ok", device="edgetpu", measured_model=compiled["compiled_model"])
    else:
        if required:
            raise RuntimeError(f"edgetpu.required is true but the Edge TPU cannot run: {reason}")
        log.warning("Edge TPU unavailable (%s); timing the int8 model on the CPU interpreter as %r",
                    reason, CPU_FALLBACK_DEVICE)
        result.update(status="unavailable", reason=reason, device=CPU_FALLBACK_DEVICE, measured_model=str(int8_path))
    if source_status != "ok":
        log.warning("trained weights unusable (%s): int8 model not run", source_status)
        result.update(iou=None, batch1=None)
        io.write_json(result_path, result)
        return result
    try:
        model = TFLiteModel(result["measured_model"], delegates=[delegate] if delegate is not None else None,
                            threads=None if delegate is not None else threads)
    except RuntimeError as e:   # the interpreter refuses this model (see the quantize result): recorded
        log.error("the int8 model does not run: %s", e)
        result.update(iou=None, batch1=None, error=str(e)[:300])
        io.write_json(result_path, result)
        return result
    result["iou"] = model.iou(images, masks)
    result["batch1"] = model.time_batch1(images, warmup, repeats)
    log.info("%s: IoU %.4f, %.2f ms/image (batch 1, median of %d)", result["device"], result["iou"],
             result["batch1"]["per_image_s"]["median"] * 1e3, repeats)
    io.write_json(result_path, result)
    return result
