"""BAGLS folder → one HDF5 file of 224×224 grayscale crops, binary masks and fold labels.

Crop policies (``data.crop.policy``):

- ``glottis`` (default): a ``size``×``size`` window centred on the centre of the glottis mask's
  bounding box, shifted to lie inside the frame; frames with an empty mask (closed glottis) are
  centre-cropped. This keeps the object of interest in every crop, whatever the frame size.
- ``center``: the central window.

Frames smaller than ``size`` in a dimension are zero-padded symmetrically in that dimension
(image and mask alike) before cropping.

The HDF5 holds ``images`` uint8 (N,S,S), ``masks`` uint8 in {0,1}, ``fold`` int8 in 0..k-1,
``source`` (frame file names), and attrs (seed, crop policy and size, source folder, n_folds,
mpbench version). Pixels stay uint8 on disk; normalisation happens at load time
(:mod:`mpbench.data.dataset`). The file is written under a temporary name and renamed only when
complete, so an interrupted run never leaves a file that looks finished.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import h5py
import numpy as np

from .. import __version__
from ..io import atomic_path, write_text
from .bagls import BadSampleError, list_frames, read_frame

log = logging.getLogger(__name__)
CROP_POLICIES = ("glottis", "center")


def pad_to(arr: np.ndarray, size: int) -> np.ndarray:
    h, w = arr.shape
    ph, pw = max(0, size - h), max(0, size - w)
    if ph == 0 and pw == 0:
        return arr
    return np.pad(arr, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)))


def crop_window(mask: np.ndarray, size: int, policy: str) -> tuple[int, int]:
    """Top-left corner (y0, x0) of the crop window for a (padded) mask."""
    if policy not in CROP_POLICIES:
        raise ValueError(f"unknown crop policy {policy!r}; choose one of {CROP_POLICIES}")
    h, w = mask.shape
    cy, cx = h / 2, w / 2
    if policy == "glottis" and mask.any():
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        cy, cx = (rows[0] + rows[-1] + 1) / 2, (cols[0] + cols[-1] + 1) / 2
    y0 = int(np.clip(round(cy - size / 2), 0, h - size))
    x0 = int(np.clip(round(cx - size / 2), 0, w - size))
    return y0, x0


def crop_pair(image: np.ndarray, mask: np.ndarray, size: int, policy: str):
    image, mask = pad_to(image, size), pad_to(mask, size)
    y0, x0 = crop_window(mask, size, policy)
    return image[y0:y0 + size, x0:x0 + size], mask[y0:y0 + size, x0:x0 + size]


def assign_folds(n: int, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Balanced random fold labels: disjoint, covering, sizes differing by at most one."""
    if not 2 <= n_folds <= n:
        raise ValueError(f"n_folds must be between 2 and the number of samples ({n}), got {n_folds}")
    return rng.permutation(np.arange(n) % n_folds).astype(np.int8)


def preprocess_bagls(
    bagls_dir: str | Path,
    out_h5: str | Path,
    n_samples: int,
    seed: int = 42,
    n_folds: int = 4,
    crop_size: int = 224,
    crop_policy: str = "glottis",
    on_bad_sample: str = "error",
    bad_report: str | Path | None = None,
    progress_every: int = 500,
) -> dict:
    """Draw ``n_samples`` frames with a fixed seed, crop, assign folds, write the HDF5.

    Frames are drawn in the order of a seeded permutation; with ``on_bad_sample='skip'`` a bad
    frame is listed in ``bad_report`` (JSON) and the next frame of the permutation takes its place.
    Returns a summary dict (also the content of ``bad_report``).
    """
    if on_bad_sample not in ("error", "skip"):
        raise ValueError(f"data.on_bad_sample must be 'error' or 'skip', got {on_bad_sample!r}")
    if crop_policy not in CROP_POLICIES:
        raise ValueError(f"data.crop.policy must be one of {CROP_POLICIES}, got {crop_policy!r}")
    frames = list_frames(bagls_dir)
    if len(frames) < n_samples:
        raise ValueError(
            f"{bagls_dir} holds {len(frames)} frames but data.n_samples is {n_samples}. "
            "Lower data.n_samples or point data.bagls_dir at a larger folder."
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frames))
    images = np.empty((n_samples, crop_size, crop_size), np.uint8)
    masks = np.empty_like(images)
    sources: list[str] = []
    bad: list[dict] = []
    t0 = time.perf_counter()
    for i in order:
        if len(sources) == n_samples:
            break
        frame = frames[i]
        try:
            image, mask = read_frame(frame)
        except BadSampleError as e:
            if on_bad_sample == "error":
                raise
            log.warning("skipping bad frame %s: %s", e.path, e.reason)
            bad.append({"file": str(e.path), "reason": e.reason})
            continue
        k = len(sources)
        images[k], masks[k] = crop_pair(image, mask, crop_size, crop_policy)
        sources.append(frame.image_path.name)
        if progress_every and len(sources) % progress_every == 0:
            rate = len(sources) / (time.perf_counter() - t0)
            log.info("preprocessed %d/%d frames (%.0f frames/s)", len(sources), n_samples, rate)
    if len(sources) < n_samples:
        raise ValueError(
            f"{bagls_dir}: only {len(sources)} usable frames after skipping {len(bad)} bad ones, "
            f"but data.n_samples is {n_samples}. Lower data.n_samples or fix the bad frames "
            f"(listed in {bad_report})."
        )
    folds = assign_folds(n_samples, n_folds, rng)
    attrs = {
        "seed": seed, "n_folds": n_folds, "crop_policy": crop_policy, "crop_size": crop_size,
        "source_folder": str(Path(bagls_dir).resolve()), "mpbench_version": __version__,
        "n_bad_skipped": len(bad),
    }
    write_h5(out_h5, images, masks, folds, sources, attrs)
    seconds = time.perf_counter() - t0
    summary = {"n_samples": n_samples, "seconds": seconds, "bad_frames": bad, **attrs}
    if bad_report is not None:
        write_text(bad_report, json.dumps(summary, indent=2))
    log.info("wrote %s: %d frames in %.1f s, %d bad frames skipped", out_h5, n_samples, seconds, len(bad))
    return summary


def write_h5(path, images, masks, folds, sources, attrs: dict) -> None:
    chunk = (min(32, len(images)),) + images.shape[1:]
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("images", data=images, chunks=chunk, compression="gzip", compression_opts=1)
            f.create_dataset("masks", data=masks, chunks=chunk, compression="gzip", compression_opts=1)
            f.create_dataset("fold", data=folds)
            f.create_dataset("source", data=np.array(sources, dtype=object), dtype=h5py.string_dtype())
            f.attrs.update(attrs)
