"""Loading the preprocessed HDF5 into RAM, splitting by fold and normalising.

Normalisation (``data.normalisation``) is one choice for the whole run, so every model is fed what
it was trained on: ``"symmetric"`` maps uint8 pixels p to p/127.5 − 1 in [-1, 1] (the paper's GPU
training and inference), ``"unit"`` to p/255 in [0, 1] (the paper's Edge TPU experiments). Training
and GPU/CPU inference normalise on the device (:mod:`mpbench.frameworks`); the TFLite and Edge TPU
models take the raw uint8 frame and normalise inside the model (:mod:`mpbench.quantization.convert`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..io import damaged

# normalised = pixel * scale + offset
PIXEL_SCALE_OFFSET = {"symmetric": (1.0 / 127.5, -1.0), "unit": (1.0 / 255.0, 0.0)}
NORMALISATIONS = tuple(PIXEL_SCALE_OFFSET)


def pixel_scale_offset(mode: str) -> tuple[float, float]:
    """(scale, offset) with normalised = pixel * scale + offset, for ``data.normalisation`` ``mode``."""
    try:
        return PIXEL_SCALE_OFFSET[mode]
    except KeyError:
        raise ValueError(f"unknown normalisation {mode!r}; choose one of {NORMALISATIONS}") from None


def normalise(images: np.ndarray, mode: str = "symmetric") -> np.ndarray:
    scale, offset = pixel_scale_offset(mode)
    return images.astype(np.float32) * np.float32(scale) + np.float32(offset)


@dataclass
class FoldSplit:
    """uint8 arrays of one CV split; ``x_*`` (N,H,W), ``y_*`` (N,H,W) in {0,1}."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    fold: int
    val_index: np.ndarray | None = None   # HDF5 row of each validation frame (pairs models image by image)


def load_h5(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; run the preprocess rule first")
    try:
        f = h5py.File(path, "r")
    except OSError as e:   # truncated or garbled: h5py's message names no file
        raise damaged(path, e, "an HDF5 file", "preprocess") from e
    with f:
        for key in ("images", "masks", "fold"):
            if key not in f:
                raise KeyError(f"{path} has no dataset {key!r}; it was not written by mpbench's preprocess rule")
        return {
            "images": f["images"][...],
            "masks": f["masks"][...],
            "fold": f["fold"][...],
            "source": [s.decode() if isinstance(s, bytes) else s for s in f["source"][...]],
            # The meta's "Video Id" per frame (-1: unknown); None in HDF5 files from before it was stored.
            "video_id": f["video_id"][...] if "video_id" in f else None,
            # Glottis pixels per frame and those the crop cut off; None in HDF5 files from before.
            "mask_pixels": f["mask_pixels"][...] if "mask_pixels" in f else None,
            "mask_pixels_lost": f["mask_pixels_lost"][...] if "mask_pixels_lost" in f else None,
            "attrs": dict(f.attrs),
        }


def split_fold(data: dict, fold: int, limit: int | None = None) -> FoldSplit:
    """Validation = frames labelled ``fold``, training = the rest (optionally the first ``limit`` of each)."""
    n_folds = int(data["attrs"].get("n_folds", data["fold"].max() + 1))
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold {fold} out of range: the HDF5 has {n_folds} folds (0..{n_folds - 1})")
    val = data["fold"] == fold
    tr_idx, va_idx = np.flatnonzero(~val), np.flatnonzero(val)
    if limit:
        tr_idx, va_idx = tr_idx[:limit], va_idx[:limit]
    return FoldSplit(data["images"][tr_idx], data["masks"][tr_idx],
                     data["images"][va_idx], data["masks"][va_idx], fold, va_idx)


def stage_to_local(path: str | Path, enabled: bool = True) -> Path:
    """Copy the HDF5 to node-local ``$TMPDIR`` inside a SLURM job (shared filesystems are slow).

    Returns the path to read from: the staged copy, or ``path`` unchanged outside SLURM, when
    disabled, or when ``$TMPDIR`` is unset.
    """
    import os
    import shutil
    path = Path(path)
    tmpdir = os.environ.get("TMPDIR")
    if not (enabled and tmpdir and os.environ.get("SLURM_JOB_ID")):
        return path
    local = Path(tmpdir) / f"mpbench_{os.environ['SLURM_JOB_ID']}_{path.name}"
    if not local.exists() or local.stat().st_size != path.stat().st_size:
        shutil.copyfile(path, local)
    return local
