"""The training loop both frameworks share: epochs, early stopping, checkpoints, timing, result.

A backend (:mod:`.torch_backend`, :mod:`.keras_backend`) supplies the framework-specific parts:
``train_epoch() -> mean loss`` (device-synchronised), ``evaluate() -> val IoU``,
``save_checkpoint(dir)``/``load_checkpoint(dir)``, ``save_best(dir)``/``restore_best(dir)``,
``save_model(path)``, ``peak_memory_bytes()``, ``is_oom(exc)``, ``weights_finite()`` and ``gpu_index``.

Result statuses: ``ok``; ``diverged`` (non-finite loss or weights; the grid goes on); ``oom`` (out of device
memory). Every run writes its result JSON; the checkpoint folder lets a killed job (e.g. a SLURM
time limit) resume at the next epoch, and is removed when the run completes.
"""
from __future__ import annotations

import logging
import math
import shutil
import time
from pathlib import Path

from .. import io, provenance
from ..data.dataset import load_h5, split_fold
from ..energy import EnergyMeter
from ..timing import epoch_timing
from .settings import TrainSettings

log = logging.getLogger(__name__)
STATE_FILE = "loop_state.json"


def make_backend(settings: TrainSettings, split):
    if settings.framework == "pytorch":
        from .torch_backend import TorchBackend
        return TorchBackend(settings, split)
    from .keras_backend import KerasBackend
    return KerasBackend(settings, split)


def _fresh_state() -> dict:
    return {"epoch": 0, "history": [], "best_iou": -1.0, "best_epoch": None, "wait": 0,
            "energy_j": [], "resumed_at": []}


def train(settings: TrainSettings, h5_path, result_path, model_path, checkpoint_dir, extra: dict | None = None) -> dict:
    """Train one fold; always writes ``result_path`` (JSON) and ``model_path`` unless it raises."""
    result_path, model_path, ckpt = Path(result_path), Path(model_path), Path(checkpoint_dir)
    data = load_h5(h5_path)
    split = split_fold(data, settings.fold, settings.samples_limit)
    n_train, n_val = len(split.x_train), len(split.x_val)
    log.info("%s %s %s f=%d fold %d: %d training / %d validation frames, batch %d, up to %d epochs",
             settings.framework, settings.device, settings.precision, settings.filters, settings.fold,
             n_train, n_val, settings.batch_size, settings.max_epochs)
    backend = make_backend(settings, split)
    meter = EnergyMeter(backend.gpu_index)

    state = _fresh_state()
    if (ckpt / STATE_FILE).exists():
        state = io.read_json(ckpt / STATE_FILE)
        backend.load_checkpoint(ckpt)
        state["resumed_at"].append(state["epoch"] + 1)
        log.info("resuming from checkpoint %s: continuing at epoch %d", ckpt, state["epoch"] + 1)

    status, error = "ok", None
    try:
        while state["epoch"] < settings.max_epochs and state["wait"] < settings.patience:
            epoch = state["epoch"] + 1
            e0 = meter.read_joules()
            t0 = time.perf_counter()
            loss = backend.train_epoch()           # returns after device synchronisation
            seconds = time.perf_counter() - t0
            e1 = meter.read_joules()
            # The epoch's mean loss can still be finite when the last updates already overflowed.
            if not math.isfinite(loss) or not backend.weights_finite():
                status = "diverged"
                state["history"].append({"epoch": epoch, "loss": None, "val_iou": None, "seconds": seconds})
                log.warning("epoch %d: %s — run diverged, stopping", epoch,
                            f"loss is {loss}" if not math.isfinite(loss) else "weights are not finite")
                break
            v0 = time.perf_counter()
            val_iou = backend.evaluate()
            val_seconds = time.perf_counter() - v0
            state["history"].append({"epoch": epoch, "loss": loss, "val_iou": val_iou,
                                     "seconds": seconds, "val_seconds": val_seconds})
            if e0 is not None and e1 is not None:
                state["energy_j"].append(e1 - e0)
            if val_iou > state["best_iou"]:
                state.update(best_iou=val_iou, best_epoch=epoch, wait=0)
                backend.save_best(ckpt)
            else:
                state["wait"] += 1
            state["epoch"] = epoch
            backend.save_checkpoint(ckpt)
            io.write_json(ckpt / STATE_FILE, state)
            recent = [h["seconds"] + h.get("val_seconds", 0) for h in state["history"][-5:]]
            eta = (settings.max_epochs - epoch) * sorted(recent)[len(recent) // 2]
            log.info("epoch %d/%d loss %.4f val IoU %.4f %.1f s/epoch (+%.1f s val) best %.4f@%d "
                     "patience %d/%d ETA <= %s", epoch, settings.max_epochs, loss, val_iou, seconds,
                     val_seconds, state["best_iou"], state["best_epoch"], state["wait"], settings.patience,
                     _fmt_seconds(eta))
    except Exception as e:
        if not backend.is_oom(e):
            raise
        status, error = "oom", f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
        log.error("out of device memory at batch size %d: %s", settings.batch_size, error)

    stopped_early = status == "ok" and state["wait"] >= settings.patience
    if state["best_epoch"] is not None:
        backend.restore_best(ckpt)
    backend.save_model(model_path)
    timing = epoch_timing([h["seconds"] for h in state["history"] if h["loss"] is not None], n_train)
    energy = None
    if state["energy_j"]:
        used = state["energy_j"][1:] if len(state["energy_j"]) > 1 else state["energy_j"]
        energy = {"joules_per_sample": sum(used) / (len(used) * n_train),
                  "joules_per_epoch": state["energy_j"], "first_epoch_excluded": len(state["energy_j"]) > 1}
    result = {
        "phase": "train",
        "status": status,
        "error": error,
        "settings": settings.to_dict(),
        "n_train": n_train, "n_val": n_val,
        "epochs": state["epoch"], "best_epoch": state["best_epoch"], "stopped_early": stopped_early,
        "resumed_at_epochs": state["resumed_at"],
        "val_iou": state["best_iou"] if state["best_epoch"] is not None else None,
        "timing": timing,
        "peak_memory_bytes": backend.peak_memory_bytes(),
        "energy": energy, "energy_meter": meter.describe(),
        "history": state["history"],
        "data": {"h5": str(h5_path), **{k: data["attrs"][k] for k in ("seed", "n_folds", "crop_policy")}},
        "model_path": str(model_path),
        "provenance": provenance.collect(settings.framework),
        "config_hash": provenance.config_hash(settings.to_dict()),
        **(extra or {}),
    }
    io.write_json(result_path, result)
    shutil.rmtree(ckpt, ignore_errors=True)
    log.info("done: status %s, %d epochs, best val IoU %s, %s s/sample", status, state["epoch"],
             result["val_iou"], timing.get("per_sample_s"))
    return result


def source_status(train_result: dict) -> str:
    """Status for results derived from a trained model (quantization, Edge TPU).

    ``ok`` when the saved weights are a best epoch's, even if training stopped later (diverged, OOM);
    ``train_<status>`` when no epoch finished, i.e. the saved weights are initial or non-finite: the
    derived numbers are still measured (timing holds) but must not be read as accuracy.
    """
    return "ok" if train_result.get("best_epoch") is not None else f"train_{train_result.get('status')}"


def _fmt_seconds(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
