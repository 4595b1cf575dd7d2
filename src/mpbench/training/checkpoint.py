"""The training checkpoint of one grid cell: :meth:`Checkpoint.save` after every epoch, :meth:`Checkpoint.load`
on resume — the one pair that writes and reads it.

The folder holds ``loop_state.json`` and one folder per kept epoch (``epochNNNN/``: the last epoch's
weights and optimiser, and the best epoch's weights). The state file is written last and names them
with their sizes, so a kill or a full disk mid-write leaves the previous epoch's checkpoint valid. It
carries a fingerprint of the run (:func:`fingerprint`): the settings (all but the stopping rules
``max_epochs``/``patience``/``emulated_max_epochs``, which may change between attempts), the HDF5's
content (frames, masks, folds, sources, attributes), the mpbench version and the checkpoint format. A
checkpoint whose fingerprint differs, which is damaged or does not load is never resumed: it is moved
aside to ``checkpoint.<stale|damaged>-<time>/`` (kept, not deleted), the log says why, and training
starts at epoch 1. A checkpoint another live process holds is left alone (see :mod:`mpbench.preflight.locks`).

A checkpoint is data, never code: nothing in it is unpickled (PyTorch files load with
``weights_only``, the Keras RNG state is JSON), so one planted in or copied with a results folder
cannot run anything on resume — a file that holds more than data does not load and is set aside.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np

from .. import __version__, io
from ..data.integrity import content_digest
from ..preflight import locks

log = logging.getLogger(__name__)
STATE_FILE = "loop_state.json"
CHECKPOINT_FORMAT = 4   # 4: Keras weights as .npz (3: Keras' HDF5); 3: no pickled objects (format 2's Keras RNG
#                          state was one). Checkpoints of an older format are stale
NOT_LOADED = "it does not load"   # the backend may have changed weights or optimiser state trying
STOPPING_RULES = ("max_epochs", "patience", "emulated_max_epochs")   # may change between attempts: the epochs
#                                                                     done stay valid


def data_fingerprint(data: dict) -> str:
    """A hash of a loaded HDF5's content: frames, masks, fold assignment, sources, video ids, attributes."""
    h = hashlib.sha256(content_digest({k: data.get(k) for k in ("fold", "images", "masks", "video_id", "source")})
                       .encode())
    h.update(json.dumps(plain(data["attrs"]), sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]


def plain(obj):
    """numpy scalars and arrays (HDF5 attributes) as plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, bytes):
        return obj.decode(errors="replace")
    return obj


def fingerprint(settings: dict, data: dict) -> dict:
    """What a checkpoint must match to be resumed: format, mpbench version, settings, the HDF5's content."""
    counts = np.bincount(np.asarray(data["fold"], dtype=np.int64)).tolist()
    return {"format": CHECKPOINT_FORMAT, "mpbench": __version__,
            "settings": {k: v for k, v in settings.items() if k not in STOPPING_RULES},
            "data": data_fingerprint(data),
            "data_summary": {"frames": len(data["fold"]), "fold_sizes": counts, **plain(data["attrs"])}}


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


def epoch_dir(epoch: int) -> str:
    return f"epoch{epoch:04d}"


class Checkpoint:
    """The checkpoint folder of one run, whose state must carry ``fingerprint`` to be resumed."""

    def __init__(self, folder, fingerprint: dict):
        self.folder, self.fingerprint = Path(folder), fingerprint

    def fresh_state(self) -> dict:
        return {"epoch": 0, "history": [], "best_iou": -1.0, "best_epoch": None, "wait": 0, "resumed_at": [],
                "fingerprint": self.fingerprint, "last_dir": None, "best_dir": None, "files": {}}

    def save(self, state: dict, backend) -> None:
        """The epoch's weights and optimiser in ``epochNNNN/`` (``backend.save_checkpoint``), then the state
        naming them with their sizes (written last)."""
        state["last_dir"] = epoch_dir(state["epoch"])
        backend.save_checkpoint(self.folder / state["last_dir"])
        state["files"] = {f"{d}/{f.name}": f.stat().st_size
                          for d in sorted({state["last_dir"], state["best_dir"]} - {None})
                          for f in sorted((self.folder / d).iterdir()) if f.is_file()}
        io.write_json(self.folder / STATE_FILE, state)

    def load(self, backend) -> tuple[dict | None, str | None, str | None]:
        """``(state, None, None)`` after loading the last epoch into ``backend``; ``(None, kind, why)`` when
        there is nothing to resume (``kind`` None) or the checkpoint must be set aside (``stale`` or
        ``damaged``, :meth:`move_aside`). An out-of-memory error while loading is raised."""
        path = self.folder / STATE_FILE
        if not path.exists():
            return None, None, None
        try:
            state = io.read_json(path)
            if not isinstance(state, dict) or "epoch" not in state:
                raise ValueError("not a checkpoint state")
        except (OSError, ValueError) as e:
            return None, "damaged", f"its {STATE_FILE} does not read ({io.first_line(e)})"
        differences = fingerprint_differences(state.get("fingerprint"), self.fingerprint)
        if differences:
            return None, "stale", "it was written for another run: " + "; ".join(differences)
        problem = self._files_problem(state)
        if problem:
            return None, "damaged", problem
        try:
            backend.load_checkpoint(self.folder / state["last_dir"])
        except Exception as e:
            if backend.is_oom(e):
                raise
            return None, "damaged", f"{NOT_LOADED} ({io.first_line(e)})"
        return state, None, None

    def _files_problem(self, state: dict) -> str | None:
        """Why the files the state names are not as it recorded them (None: they are)."""
        for rel, size in (state.get("files") or {}).items():
            f = self.folder / rel
            if not f.is_file():
                return f"{rel} is missing"
            if f.stat().st_size != size:
                return f"{rel} is {f.stat().st_size} bytes, its state recorded {size} (cut short?)"
        if not state.get("last_dir") or (state.get("best_epoch") is not None and not state.get("best_dir")):
            return f"its {STATE_FILE} names no weights"
        return None

    def move_aside(self, kind: str, why: str) -> dict:
        """Move the checkpoint's files to ``checkpoint.<kind>-<time>/`` beside it (the locks stay); returns
        ``{"path", "reason"}`` for the record."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        dest = self.folder.with_name(f"{self.folder.name}.{kind}-{stamp}")
        n = 1
        while dest.exists():
            n += 1
            dest = self.folder.with_name(f"{self.folder.name}.{kind}-{stamp}-{n}")
        dest.mkdir(parents=True)
        for p in list(self.folder.iterdir()):
            if p.name not in (locks.CKPT_LOCK, locks.CKPT_OWNER):
                p.rename(dest / p.name)
        log.warning("checkpoint %s not resumed: %s. Moved aside to %s (kept; delete it when no longer needed). "
                    "Training starts at epoch 1.", self.folder, why, dest)
        return {"path": str(dest), "reason": why}

    def remove_unreferenced(self, state: dict) -> None:
        """Delete what ``state`` does not name: older epochs, pieces of an epoch whose checkpoint failed."""
        if not self.folder.is_dir():
            return
        keep = {STATE_FILE, locks.CKPT_LOCK, locks.CKPT_OWNER, state.get("last_dir"), state.get("best_dir")}
        for p in self.folder.iterdir():
            if p.name not in keep:
                shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)

    def remove_epoch(self, epoch: int) -> None:
        """The files of an epoch whose checkpoint did not complete."""
        shutil.rmtree(self.folder / epoch_dir(epoch), ignore_errors=True)

    def remove(self) -> None:
        """The whole folder, once the run's result is written."""
        shutil.rmtree(self.folder, ignore_errors=True)
