"""The training loop both frameworks share: resume, epochs, best weights, early stopping, the record.

A backend (:class:`~.backend.TrainerBackend`) supplies the framework. Statuses: ``ok``; ``diverged``
(non-finite loss or weights; the grid goes on); ``oom`` (out of device memory). Every run writes its
result file; the checkpoint folder lets a killed job (e.g. a SLURM time limit) resume at the next
epoch, and is removed when the run completes.

Timing and energy use the same epochs: every epoch but the first of each process (the first one
builds graphs, autotunes and allocates — after a resume too); when that leaves none, all of them,
and the record says which epochs were timed.
"""
from __future__ import annotations

import logging
import math
import shutil
import time
from pathlib import Path

from .. import io, provenance, record
from ..data.dataset import load_h5, split_fold
from ..energy import EnergyMeter
from ..record import Status
from ..settings import RunSettings
from ..timing import timed_call
from .backend import make_backend

log = logging.getLogger(__name__)
STATE_FILE = "loop_state.json"
EXCLUDED = "first epoch of each process (graph building, autotuning, allocation)"


class TrainingRun:
    """One fold of one grid cell, trained epoch by epoch; its state survives in ``checkpoint_dir``."""

    def __init__(self, settings: RunSettings, h5_path, checkpoint_dir):
        self.s, self.h5_path, self.ckpt = settings, h5_path, Path(checkpoint_dir)
        self.data = load_h5(h5_path)
        split = split_fold(self.data, settings.fold, settings.samples_limit)
        self.n_train, self.n_val = len(split.x_train), len(split.x_val)
        log.info("%s %s %s f=%d fold %d: %d training / %d validation frames, batch %d, up to %d epochs",
                 settings.framework, settings.device, settings.precision, settings.filters, settings.fold,
                 self.n_train, self.n_val, settings.batch_size, settings.max_epochs)
        self.backend = make_backend(settings, split)
        self.meter = EnergyMeter(self.backend.gpu_index)
        self.state = {"epoch": 0, "history": [], "best_iou": -1.0, "best_epoch": None, "wait": 0, "resumed_at": []}
        self.status, self.error = Status.OK, None
        self._epochs_this_process = 0

    # --- the steps ---------------------------------------------------------------------------
    def resume(self) -> None:
        if (self.ckpt / STATE_FILE).exists():
            self.state = io.read_json(self.ckpt / STATE_FILE)
            self.backend.load_checkpoint(self.ckpt)
            self.state["resumed_at"].append(self.state["epoch"] + 1)
            log.info("resuming from checkpoint %s: continuing at epoch %d", self.ckpt, self.state["epoch"] + 1)

    def done(self) -> bool:
        return self.state["epoch"] >= self.s.max_epochs or self.state["wait"] >= self.s.patience

    def run_epoch(self) -> dict:
        """Train one epoch and validate; the history entry (loss None: diverged)."""
        epoch = self.state["epoch"] + 1
        first_in_process = self._epochs_this_process == 0
        self._epochs_this_process += 1
        t = timed_call(self.backend.train_epoch, self.backend.sync, self.meter)
        entry = {"epoch": epoch, "loss": None, "val_iou": None, "seconds": t.seconds, "joules": t.joules,
                 "first_in_process": first_in_process}
        # The epoch's mean loss can still be finite when the last updates already overflowed.
        if not math.isfinite(t.value) or not self.backend.weights_finite():
            log.warning("epoch %d: %s — run diverged, stopping", epoch,
                        f"loss is {t.value}" if not math.isfinite(t.value) else "weights are not finite")
            return entry
        v0 = time.perf_counter()
        entry.update(loss=t.value, val_iou=self.backend.evaluate(), val_seconds=time.perf_counter() - v0)
        return entry

    def update_best(self, entry: dict) -> None:
        if entry["val_iou"] > self.state["best_iou"]:
            self.state.update(best_iou=entry["val_iou"], best_epoch=entry["epoch"], wait=0)
            self.backend.save_best(self.ckpt)
        else:
            self.state["wait"] += 1

    def checkpoint(self) -> None:
        self.backend.save_checkpoint(self.ckpt)
        io.write_json(self.ckpt / STATE_FILE, self.state)

    def log_epoch(self, entry: dict) -> None:
        recent = [h["seconds"] + h.get("val_seconds", 0) for h in self.state["history"][-5:]]
        eta = (self.s.max_epochs - entry["epoch"]) * sorted(recent)[len(recent) // 2]
        log.info("epoch %d/%d loss %.4f val IoU %.4f %.1f s/epoch (+%.1f s val) best %.4f@%d "
                 "patience %d/%d ETA <= %s", entry["epoch"], self.s.max_epochs, entry["loss"], entry["val_iou"],
                 entry["seconds"], entry["val_seconds"], self.state["best_iou"], self.state["best_epoch"],
                 self.state["wait"], self.s.patience, _fmt_seconds(eta))

    def fit(self) -> None:
        """Epochs until the limit, early stopping, divergence or out-of-memory."""
        try:
            while not self.done():
                entry = self.run_epoch()
                self.state["history"].append(entry)
                if entry["loss"] is None:
                    self.status = Status.DIVERGED
                    break
                self.update_best(entry)
                self.state["epoch"] = entry["epoch"]
                self.checkpoint()
                self.log_epoch(entry)
        except Exception as e:
            if not self.backend.is_oom(e):
                raise
            self.status, self.error = Status.OOM, record.error_text(e)
            log.error("out of device memory at batch size %d: %s", self.s.batch_size, self.error)

    def save_model(self, model_path) -> None:
        if self.state["best_epoch"] is not None:
            self.backend.restore_best(self.ckpt)
        self.backend.save_model(model_path)

    def timed_epochs(self) -> tuple[list[dict], str | None]:
        """The epochs timing and energy use (see the module doc), and what was left out."""
        finished = [h for h in self.state["history"] if h["loss"] is not None]
        warm = [h for h in finished if not h.get("first_in_process")]
        return (warm, EXCLUDED) if warm else (finished, None)

    def result(self, model_path, extra: dict | None = None) -> dict:
        timed, excluded = self.timed_epochs()
        joules = [h.get("joules") for h in timed]
        energy_ok = bool(timed) and all(j is not None for j in joules)
        st = self.state
        details = {
            "n_train": self.n_train, "n_val": self.n_val,
            "epochs": st["epoch"], "best_epoch": st["best_epoch"],
            "stopped_early": self.status == Status.OK and st["wait"] >= self.s.patience,
            "resumed_at_epochs": st["resumed_at"], "history": st["history"],
            "data": {"h5": str(self.h5_path), **{k: self.data["attrs"][k] for k in ("seed", "n_folds", "crop_policy")}},
            **(extra or {}),
        }
        return record.make(
            "train", self.s.to_dict(), status=self.status, error=self.error, prov=provenance.collect(self.s.framework),
            model_path=model_path, batch_size=self.s.batch_size,
            latency=record.latency([h["seconds"] / self.n_train for h in timed], unit="epoch", statistic="mean",
                                   timed_epochs=[h["epoch"] for h in timed], excluded=excluded),
            joules_per_sample=sum(joules) / (len(timed) * self.n_train) if energy_ok else None,
            energy_meter=self.meter.describe(), peak_memory_bytes=self.backend.peak_memory_bytes(),
            iou=st["best_iou"] if st["best_epoch"] is not None else None, details=details)


def train(settings: RunSettings, h5_path, result_path, model_path, checkpoint_dir, extra: dict | None = None) -> dict:
    """Train one fold; writes ``result_path`` (one record) and ``model_path`` unless it raises."""
    run = TrainingRun(settings, h5_path, checkpoint_dir)
    run.resume()
    run.fit()
    run.save_model(model_path)
    rec = run.result(model_path, extra)
    record.write(result_path, [rec])
    shutil.rmtree(run.ckpt, ignore_errors=True)
    per_sample = rec["latency"]["per_sample_s"]["mean"] if rec["latency"] else None
    log.info("done: status %s, %d epochs, best val IoU %s, %s s/sample", rec["status"], rec["details"]["epochs"],
             rec["iou"], per_sample)
    return rec


def _fmt_seconds(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
