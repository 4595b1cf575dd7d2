"""The training loop both frameworks share: resume, epochs, best weights, early stopping, the record.

A backend (:class:`~.backend.TrainerBackend`) supplies the framework. Statuses: ``ok``; ``diverged``
(non-finite loss or weights; the grid goes on); ``oom`` (out of device memory). Every run writes its
result file; the checkpoint folder lets a killed job (e.g. a SLURM time limit) resume at the next
epoch, and is removed when the run completes.

The checkpoint folder holds ``loop_state.json`` and one folder per kept epoch (``epochNNNN/``: the
last epoch's weights and optimiser, and the best epoch's weights). The state file is written last
and names them with their sizes, so a kill or a full disk mid-write leaves the previous epoch's
checkpoint valid. It carries a fingerprint of the run: the settings (all but the stopping rules
``max_epochs``/``patience``, which may change between attempts), the HDF5's content (frames, masks,
folds, sources, attributes), the mpbench version and the checkpoint format. A checkpoint whose
fingerprint differs, which is damaged or does not load is never resumed: it is moved aside to
``checkpoint.<stale|damaged>-<time>/`` (kept, not deleted), the log says why, and training starts
at epoch 1. A checkpoint another live process holds is left alone (see :mod:`mpbench.locks`).

A checkpoint is data, never code: nothing in it is unpickled (PyTorch files load with
``weights_only``, the Keras RNG state is JSON), so one planted in or copied with a results folder
cannot run anything on resume — a file that holds more than data does not load and is set aside.

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
import hashlib
import json
import logging
import math
import shutil
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from .. import __version__, io, locks, provenance, record, support
from ..data.dataset import load_h5, split_fold
from ..data.integrity import content_digest
from ..energy import EnergyMeter
from ..record import Status
from ..settings import RunSettings
from ..timing import timed_call
from .backend import make_backend

log = logging.getLogger(__name__)
STATE_FILE = "loop_state.json"
CHECKPOINT_FORMAT = 3   # 3: no pickled objects (format 2's Keras RNG state was one; such checkpoints are stale)
STOPPING_RULES = ("max_epochs", "patience", "emulated_max_epochs")   # may change between attempts: the epochs
#                                                                     done stay valid
EXCLUDED = "first epoch of each process (graph building, autotuning, allocation)"
# a run whose every epoch was its process's first (e.g. max_epochs 1): timed anyway, and the record says so
NOTHING_EXCLUDED = "nothing: every epoch was the first of its process, so its time includes the warm-up"


def data_fingerprint(data: dict) -> str:
    """A hash of a loaded HDF5's content: frames, masks, fold assignment, sources, video ids, attributes."""
    h = hashlib.sha256(content_digest({k: data.get(k) for k in ("fold", "images", "masks", "video_id", "source")})
                       .encode())
    h.update(json.dumps(_plain(data["attrs"]), sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]


def _plain(obj):
    """numpy scalars and arrays (HDF5 attributes) as plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, bytes):
        return obj.decode(errors="replace")
    return obj


def fingerprint_differences(old: dict | None, new: dict) -> list[str]:
    """What differs between a checkpoint's fingerprint and this run's, one phrase each ([]: none)."""
    if not old:
        return ["it carries no fingerprint (written by an older mpbench)"]
    out = []
    for key, what in (("format", "checkpoint format"), ("mpbench", "mpbench version")):
        if old.get(key) != new[key]:
            out.append(f"{what} {old.get(key)} → {new[key]}")
    o_set, n_set = old.get("settings") or {}, new["settings"]
    out += [f"{k} {o_set.get(k)!r} → {n_set.get(k)!r}" for k in sorted(set(o_set) | set(n_set))
            if o_set.get(k) != n_set.get(k)]
    if old.get("data") != new["data"]:
        o_d, n_d = old.get("data_summary") or {}, new["data_summary"]
        changed = [f"{k} {o_d.get(k)!r} → {n_d.get(k)!r}" for k in sorted(set(o_d) | set(n_d))
                   if o_d.get(k) != n_d.get(k) and k != "content_sha256"]   # a checksum says nothing readable
        out.append("the HDF5's frames or folds differ (it was rebuilt" + (": " + ", ".join(changed) if changed else "")
                   + ")")
    return out


def _epoch_dir(epoch: int) -> str:
    return f"epoch{epoch:04d}"


class TrainingRun:
    """One fold of one grid cell, trained epoch by epoch; its state survives in ``checkpoint_dir``."""

    def __init__(self, settings: RunSettings, h5_path, checkpoint_dir):
        self.s, self.h5_path, self.ckpt = settings, h5_path, Path(checkpoint_dir)
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
        self.fingerprint = self._fingerprint()
        self.state = self._fresh_state()
        self.status, self.error = Status.OK, None
        self.set_aside: list[dict] = []
        self._epochs_this_process = 0

    def _fresh_state(self) -> dict:
        return {"epoch": 0, "history": [], "best_iou": -1.0, "best_epoch": None, "wait": 0, "resumed_at": [],
                "fingerprint": self.fingerprint, "last_dir": None, "best_dir": None, "files": {}}

    def _fingerprint(self) -> dict:
        counts = np.bincount(np.asarray(self.data["fold"], dtype=np.int64)).tolist()
        return {"format": CHECKPOINT_FORMAT, "mpbench": __version__,
                "settings": {k: v for k, v in self.s.to_dict().items() if k not in STOPPING_RULES},
                "data": data_fingerprint(self.data),
                "data_summary": {"frames": len(self.data["fold"]), "fold_sizes": counts, **_plain(self.data["attrs"])}}

    # --- the steps ---------------------------------------------------------------------------
    def resume(self) -> None:
        """Continue from the checkpoint if it is this run's and intact; else move it aside (see the module doc)."""
        path = self.ckpt / STATE_FILE
        if not path.exists():
            self._remove_unreferenced()   # pieces of a first epoch that never completed its checkpoint
            return
        try:
            state = io.read_json(path)
            if not isinstance(state, dict) or "epoch" not in state:
                raise ValueError("not a checkpoint state")
        except (OSError, ValueError) as e:
            return self._move_aside("damaged", f"its {STATE_FILE} does not read ({io.first_line(e)})")
        differences = fingerprint_differences(state.get("fingerprint"), self.fingerprint)
        if differences:
            return self._move_aside("stale", "it was written for another run: " + "; ".join(differences))
        problem = self._files_problem(state)
        if problem:
            return self._move_aside("damaged", problem)
        try:
            self.backend.load_checkpoint(self.ckpt / state["last_dir"])
        except Exception as e:
            if self.backend.is_oom(e):
                raise
            self._move_aside("damaged", f"it does not load ({io.first_line(e)})")
            self._fresh_backend()   # the failed load may have changed weights or optimiser state
            return
        self.state = state
        self._remove_unreferenced()
        self.state["resumed_at"].append(self.state["epoch"] + 1)
        log.info("resuming from checkpoint %s: continuing at epoch %d", self.ckpt, self.state["epoch"] + 1)

    def _files_problem(self, state: dict) -> str | None:
        """Why the files the state names are not as it recorded them (None: they are)."""
        for rel, size in (state.get("files") or {}).items():
            f = self.ckpt / rel
            if not f.is_file():
                return f"{rel} is missing"
            if f.stat().st_size != size:
                return f"{rel} is {f.stat().st_size} bytes, its state recorded {size} (cut short?)"
        if not state.get("last_dir") or (state.get("best_epoch") is not None and not state.get("best_dir")):
            return f"its {STATE_FILE} names no weights"
        return None

    def _move_aside(self, kind: str, why: str) -> None:
        """Move the checkpoint's files to ``checkpoint.<kind>-<time>/`` beside it; training starts afresh."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        dest = self.ckpt.with_name(f"{self.ckpt.name}.{kind}-{stamp}")
        n = 1
        while dest.exists():
            n += 1
            dest = self.ckpt.with_name(f"{self.ckpt.name}.{kind}-{stamp}-{n}")
        dest.mkdir(parents=True)
        for p in list(self.ckpt.iterdir()):
            if p.name not in (locks.CKPT_LOCK, locks.CKPT_OWNER):
                p.rename(dest / p.name)
        log.warning("checkpoint %s not resumed: %s. Moved aside to %s (kept; delete it when no longer needed). "
                    "Training starts at epoch 1.", self.ckpt, why, dest)
        self.set_aside.append({"path": str(dest), "reason": why})
        self.state = self._fresh_state()

    def _fresh_backend(self) -> None:
        self.backend = None
        gc.collect()
        self.backend = make_backend(self.s, split_fold(self.data, self.s.fold, self.s.samples_limit))
        self.meter = EnergyMeter(self.backend.gpu_index)

    def _remove_unreferenced(self) -> None:
        """Delete what the state does not name: older epochs, pieces of an epoch whose checkpoint failed."""
        if not self.ckpt.is_dir():
            return
        keep = {STATE_FILE, locks.CKPT_LOCK, locks.CKPT_OWNER, self.state.get("last_dir"), self.state.get("best_dir")}
        for p in self.ckpt.iterdir():
            if p.name not in keep:
                shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)

    def done(self) -> bool:
        return self.state["epoch"] >= self.max_epochs or self.state["wait"] >= self.s.patience

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
            scores = getattr(self.backend, "scores", None)   # per-image IoUs of this evaluation
            self.state.update(best_iou=entry["val_iou"], best_epoch=entry["epoch"], wait=0,
                              best_dir=_epoch_dir(entry["epoch"]),
                              best_pooled_iou=scores["pooled"] if scores else None,
                              best_per_image=[float(v) for v in scores["per_image"]] if scores else None)
            self.backend.save_best(self.ckpt / self.state["best_dir"])
        else:
            self.state["wait"] += 1

    def checkpoint(self) -> None:
        """The epoch's weights and optimiser in ``epochNNNN/``, then the state naming them (written last)."""
        self.state["last_dir"] = _epoch_dir(self.state["epoch"])
        self.backend.save_checkpoint(self.ckpt / self.state["last_dir"])
        self.state["files"] = {f"{d}/{f.name}": f.stat().st_size
                               for d in sorted({self.state["last_dir"], self.state["best_dir"]} - {None})
                               for f in sorted((self.ckpt / d).iterdir()) if f.is_file()}
        io.write_json(self.ckpt / STATE_FILE, self.state)

    def save_epoch(self, entry: dict) -> None:
        """Record a finished epoch: history, best weights, checkpoint — all or nothing (on an error the
        state on disk and in memory stays the previous epoch's, and this epoch's files are removed)."""
        before = copy.deepcopy(self.state)
        try:
            self.state["history"].append(entry)
            self.update_best(entry)
            self.state["epoch"] = entry["epoch"]
            self.checkpoint()
        except BaseException:
            self.state = before
            shutil.rmtree(self.ckpt / _epoch_dir(entry["epoch"]), ignore_errors=True)
            raise
        self._remove_unreferenced()

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
            self.backend.restore_best(self.ckpt / self.state["best_dir"])
        self.backend.save_model(model_path)

    def timed_epochs(self) -> tuple[list[dict], str | None]:
        """The epochs timing and energy use (see the module doc), and what was left out."""
        finished = [h for h in self.state["history"] if h["loss"] is not None]
        warm = [h for h in finished if not h.get("first_in_process")]
        return (warm, EXCLUDED) if warm else (finished, NOTHING_EXCLUDED if finished else None)

    def result(self, model_path, extra: dict | None = None) -> record.Record:
        timed, excluded = self.timed_epochs()
        joules = [h.get("joules") for h in timed]
        energy_ok = bool(timed) and all(j is not None for j in joules)
        st = self.state
        details = {
            "n_train": self.n_train, "n_val": self.n_val,
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
            joules_per_sample=sum(joules) / (len(timed) * self.n_train) if energy_ok else None,
            energy_meter=self.meter.describe(), peak_memory_bytes=self.backend.peak_memory_bytes(),
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

    The checkpoint folder is held for the whole run (:func:`mpbench.locks.claim_checkpoint`): a job
    that finds another live process holding it raises :class:`~mpbench.locks.LockedError`.
    """
    with locks.claim_checkpoint(checkpoint_dir):
        run = TrainingRun(settings, h5_path, checkpoint_dir)
        run.resume()
        run.fit()
        run.save_model(model_path)
        rec = run.result(model_path, extra)
        record.write(result_path, [rec])
        shutil.rmtree(run.ckpt, ignore_errors=True)
    per_sample = rec.latency["per_sample_s"]["mean"] if rec.latency else None
    log.info("done: status %s, %d epochs, best val IoU %s, %s s/sample", rec.status, rec.epochs, rec.iou, per_sample)
    return rec


def _fmt_seconds(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
