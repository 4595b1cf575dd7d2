"""The training loop both frameworks share: resume, epochs, best weights, early stopping, the record.

A backend (:class:`~.backend.TrainerBackend`) supplies the framework. Statuses: ``ok``; ``diverged``
(non-finite loss or weights; the grid goes on); ``oom`` (out of device memory). Every run writes its
result file; the checkpoint (:mod:`.checkpoint`: saved after every epoch, loaded on resume) lets a
killed job (e.g. a SLURM time limit) resume at the next epoch, and is removed when the run completes.

Timing and energy use the same epochs: every epoch but the first of each process (the first one
builds graphs, autotunes and allocates — after a resume too); when that leaves none, all of them,
and the record says which epochs were timed.

``train.emulated_max_epochs`` limits the epochs of a cell whose precision is emulated on the CPU that
trains it (:func:`epoch_cap`; e.g. bf16 without AVX-512, where it runs several times slower than
fp32): it is trained and timed as usual, and the record says it was cut short (``epoch_cap``,
``note``).
"""
from __future__ import annotations

import copy
import gc
import logging
import math

from .. import provenance, record
from ..data.dataset import load_h5, split_fold
from ..energy import EnergyMeter, PowercapMeter, gpu_state
from ..preflight import locks, support
from ..record import Status
from ..settings import RunSettings
from ..timing import timed_call
from . import checkpoint
from .backend import make_backend
from .checkpoint import Checkpoint

log = logging.getLogger(__name__)
EXCLUDED = "first epoch of each process (graph building, autotuning, allocation)"
# a run whose every epoch was its process's first (e.g. max_epochs 1): timed anyway, and the record says so
NOTHING_EXCLUDED = "nothing: every epoch was the first of its process, so its time includes the warm-up"


class TrainingRun:
    """One fold of one grid cell, trained epoch by epoch; its state survives in ``checkpoint_dir``."""

    def __init__(self, settings: RunSettings, h5_path, checkpoint_dir):
        self.s, self.h5_path = settings, h5_path
        self.data = load_h5(h5_path)
        split = split_fold(self.data, settings.fold, settings.samples_limit)
        self.n_train, self.n_val = len(split.x_train), len(split.x_val)
        if settings.batch_size > self.n_train:   # folds by video are sized only now (by frame: checked at start)
            raise ValueError(
                f"train.batch_size is {settings.batch_size}, larger than the {self.n_train} training frames of fold "
                f"{settings.fold} in {h5_path}: every epoch would train one batch of {self.n_train} while the record "
                f"said {settings.batch_size}. Set train.batch_size (or the matching train.batch_size_overrides entry) "
                "to at most that, or draw more frames (data.n_samples). Nothing was trained.")
        self.val_index = split.val_index
        self.epoch_cap = epoch_cap(settings)
        self.max_epochs = self.epoch_cap["max_epochs"] if self.epoch_cap else settings.max_epochs
        log.info("%s %s %s f=%d fold %d: %d training / %d validation frames, batch %d, up to %d epochs",
                 settings.framework, settings.device, settings.precision, settings.filters, settings.fold,
                 self.n_train, self.n_val, settings.batch_size, self.max_epochs)
        if self.epoch_cap:
            log.warning("%s", self.epoch_cap["note"])
        self.backend = make_backend(settings, split)
        self.meter = EnergyMeter(self.backend.gpu_index)
        self.cpu_meter = PowercapMeter()   # CPU packages + DRAM; closed (its poller stopped) in result()
        self.gpu_state_start = gpu_state(self.backend.gpu_index)
        self.ckpt = Checkpoint(checkpoint_dir, checkpoint.fingerprint(settings.to_dict(), self.data))
        self.state = self.ckpt.fresh_state()
        self.status, self.error = Status.OK, None
        self.set_aside: list[dict] = []
        self._epochs_this_process = 0

    # --- the steps ---------------------------------------------------------------------------
    def resume(self) -> None:
        """Continue from the checkpoint if it is this run's and intact; else move it aside (:mod:`.checkpoint`)."""
        state, kind, why = self.ckpt.load(self.backend)
        if state is None:
            if kind is not None:
                self.set_aside.append(self.ckpt.move_aside(kind, why))
                if why.startswith(checkpoint.NOT_LOADED):
                    self._fresh_backend()   # the failed load may have changed weights or optimiser state
            self.ckpt.remove_unreferenced(self.state)   # pieces of a first epoch that never completed
            return
        self.state = state
        self.ckpt.remove_unreferenced(self.state)
        self.state["resumed_at"].append(self.state["epoch"] + 1)
        log.info("resuming from checkpoint %s: continuing at epoch %d", self.ckpt.folder, self.state["epoch"] + 1)

    def _fresh_backend(self) -> None:
        self.backend = None
        gc.collect()
        self.backend = make_backend(self.s, split_fold(self.data, self.s.fold, self.s.samples_limit))
        self.meter = EnergyMeter(self.backend.gpu_index)

    def done(self) -> bool:
        return self.state["epoch"] >= self.max_epochs or self.state["wait"] >= self.s.patience

    def run_epoch(self) -> dict:
        """Train one epoch and validate; the history entry (loss None: diverged). Each pass is timed and
        metered on its own: ``seconds``, ``joules`` (GPU) and ``cpu_joules`` (CPU) of the training pass,
        ``val_seconds``, ``val_joules`` and ``val_cpu_joules`` of the validation (:mod:`mpbench.energy.target`)."""
        epoch = self.state["epoch"] + 1
        first_in_process = self._epochs_this_process == 0
        self._epochs_this_process += 1
        t = timed_call(self.backend.train_epoch, self.backend.sync, self.meter, cpu_meter=self.cpu_meter)
        entry = {"epoch": epoch, "loss": None, "val_iou": None, "seconds": t.seconds, "joules": t.joules,
                 "cpu_joules": t.cpu_joules, "first_in_process": first_in_process}
        # The epoch's mean loss can still be finite when the last updates already overflowed.
        if not math.isfinite(t.value) or not self.backend.weights_finite():
            log.warning("epoch %d: %s — run diverged, stopping", epoch,
                        f"loss is {t.value}" if not math.isfinite(t.value) else "weights are not finite")
            return entry
        v = timed_call(self.backend.evaluate, self.backend.sync, self.meter, cpu_meter=self.cpu_meter)
        entry.update(loss=t.value, val_iou=v.value, val_seconds=v.seconds, val_joules=v.joules,
                     val_cpu_joules=v.cpu_joules)
        return entry

    def update_best(self, entry: dict) -> None:
        if entry["val_iou"] > self.state["best_iou"]:
            scores = getattr(self.backend, "scores", None)   # per-image IoUs of this evaluation
            self.state.update(best_iou=entry["val_iou"], best_epoch=entry["epoch"], wait=0,
                              best_dir=checkpoint.epoch_dir(entry["epoch"]),
                              best_pooled_iou=scores["pooled"] if scores else None,
                              best_per_image=[float(v) for v in scores["per_image"]] if scores else None)
            self.backend.save_best(self.ckpt.folder / self.state["best_dir"])
        else:
            self.state["wait"] += 1

    def save_epoch(self, entry: dict) -> None:
        """Record a finished epoch: history, best weights, checkpoint — all or nothing (on an error the
        state on disk and in memory stays the previous epoch's, and this epoch's files are removed)."""
        before = copy.deepcopy(self.state)
        try:
            self.state["history"].append(entry)
            self.update_best(entry)
            self.state["epoch"] = entry["epoch"]
            self.ckpt.save(self.state, self.backend)
        except BaseException:
            self.state = before
            self.ckpt.remove_epoch(entry["epoch"])
            raise
        self.ckpt.remove_unreferenced(self.state)

    def log_epoch(self, entry: dict) -> None:
        recent = [h["seconds"] + h.get("val_seconds", 0) for h in self.state["history"][-5:]]
        eta = (self.max_epochs - entry["epoch"]) * sorted(recent)[len(recent) // 2]
        log.info("epoch %d/%d loss %.4f val IoU %.4f %.1f s/epoch (+%.1f s val) best %.4f@%d "
                 "patience %d/%d ETA <= %s", entry["epoch"], self.max_epochs, entry["loss"], entry["val_iou"],
                 entry["seconds"], entry["val_seconds"], self.state["best_iou"], self.state["best_epoch"],
                 self.state["wait"], self.s.patience, _fmt_seconds(eta))

    def fit(self) -> None:
        """Epochs until the limit, early stopping, divergence or out-of-memory."""
        try:
            while not self.done():
                entry = self.run_epoch()
                if entry["loss"] is None:
                    self.state["history"].append(entry)
                    self.status = Status.DIVERGED
                    break
                self.save_epoch(entry)
                self.log_epoch(entry)
        except Exception as e:
            if not self.backend.is_oom(e):
                raise
            self.status, self.error = Status.OOM, record.error_text(e)
            log.error("out of device memory at batch size %d: %s", self.s.batch_size, self.error)

    def save_model(self, model_path) -> None:
        if self.state["best_epoch"] is not None:
            self.backend.restore_best(self.ckpt.folder / self.state["best_dir"])
        self.backend.save_model(model_path)

    def timed_epochs(self) -> tuple[list[dict], str | None]:
        """The epochs timing and energy use (see the module doc), and what was left out."""
        finished = [h for h in self.state["history"] if h["loss"] is not None]
        warm = [h for h in finished if not h.get("first_in_process")]
        return (warm, EXCLUDED) if warm else (finished, NOTHING_EXCLUDED if finished else None)

    def result(self, model_path, extra: dict | None = None) -> record.Record:
        timed, excluded = self.timed_epochs()

        def per_sample(key: str) -> float | None:
            """Joules per training sample of the timed epochs' training passes (None: an epoch unmetered)."""
            joules = [h.get(key) for h in timed]
            return sum(joules) / (len(timed) * self.n_train) if timed and None not in joules else None

        cpu_meter = self.cpu_meter.describe()
        self.cpu_meter.close()
        st = self.state
        details = {
            "n_train": self.n_train, "n_val": self.n_val,
            "gpu_state": {"start": self.gpu_state_start, "end": gpu_state(self.backend.gpu_index)},
            "stopped_early": self.status == Status.OK and st["wait"] >= self.s.patience,
            "resumed_at_epochs": st["resumed_at"], "history": st["history"],
            **({"checkpoints_set_aside": self.set_aside} if self.set_aside else {}),
            "data": {"h5": str(self.h5_path), **{k: self.data["attrs"][k] for k in ("seed", "n_folds", "crop_policy")},
                     "content_sha256": self.data["attrs"].get("content_sha256")},
            **(extra or {}),
        }
        return record.Record(
            "train", self.s.to_dict(), self.status, error=self.error, provenance=provenance.collect(self.s.framework),
            model_path=model_path, batch_size=self.s.batch_size, epochs=st["epoch"], best_epoch=st["best_epoch"],
            epoch_cap=self.epoch_cap, iou_pooled=st.get("best_pooled_iou"),
            per_image_iou=record.per_image(self.val_index, st.get("best_per_image")),
            latency=record.latency([h["seconds"] / self.n_train for h in timed], unit="epoch", statistic="mean",
                                   timed_epochs=[h["epoch"] for h in timed], excluded=excluded),
            joules_per_sample=per_sample("joules"), energy_meter=self.meter.describe(),
            cpu_joules_per_sample=per_sample("cpu_joules"), cpu_energy_meter=cpu_meter,
            peak_memory_bytes=self.backend.peak_memory_bytes(),
            iou=st["best_iou"] if st["best_epoch"] is not None else None, details=details,
            note=self.epoch_cap["note"] if self.epoch_cap else None)


def epoch_cap(s: RunSettings) -> dict | None:
    """The cell's epoch limit where its precision is emulated on this CPU and ``train.emulated_max_epochs``
    is below ``train.max_epochs``: ``{"max_epochs", "configured_max_epochs", "why", "note"}``; else None.

    The cell is still trained and timed like any other (per-sample time over the epochs after the
    first), so its slowdown is measured; its IoU comes from fewer epochs and is not compared with
    full-length runs (:mod:`mpbench.results.accuracy`)."""
    if not s.emulated_max_epochs or s.emulated_max_epochs >= s.max_epochs:
        return None
    level, why = support.here(s.precision, s.device_type, s.framework)
    if level != "emulated":
        return None
    note = (f"{s.precision} is emulated on this CPU ({why}): trained at most {s.emulated_max_epochs} of "
            f"{s.max_epochs} epochs (train.emulated_max_epochs); its time per sample is measured as usual, its IoU "
            "is not comparable with full-length runs")
    return {"max_epochs": s.emulated_max_epochs, "configured_max_epochs": s.max_epochs, "why": why, "note": note}


def train(settings: RunSettings, h5_path, result_path, model_path, checkpoint_dir,
          extra: dict | None = None) -> record.Record:
    """Train one fold; writes ``result_path`` (one record) and ``model_path`` unless it raises.

    The checkpoint folder is held for the whole run (:func:`mpbench.preflight.locks.claim_checkpoint`): a job
    that finds another live process holding it raises :class:`~mpbench.preflight.locks.LockedError`.
    """
    with locks.claim_checkpoint(checkpoint_dir):
        run = TrainingRun(settings, h5_path, checkpoint_dir)
        run.resume()
        run.fit()
        run.save_model(model_path)
        rec = run.result(model_path, extra)
        record.write(result_path, [rec])
        run.ckpt.remove()
    per_sample = rec.latency["per_sample_s"]["mean"] if rec.latency else None
    log.info("done: status %s, %d epochs, best val IoU %s, %s s/sample", rec.status, rec.epochs, rec.iou, per_sample)
    return rec


def _fmt_seconds(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
