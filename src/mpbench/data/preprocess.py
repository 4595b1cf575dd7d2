"""BAGLS folder → one HDF5 file of 224×224 grayscale crops, binary masks and fold labels.

Crop policies (``data.crop.policy``):

- ``center`` (default): the central ``size``×``size`` window. Label-free: the window depends on
  the frame's size only, never on its mask, so the input a model is evaluated on is not chosen by
  the answer. The paper says only "cropped".
- ``glottis``: *label-guided* — a window centred on the glottis mask's bounding box, shifted to lie
  inside the frame (empty mask: central). It keeps the glottis in every crop, but it reads the
  ground truth of validation and Edge TPU frames too, which flatters their IoU; an explicit option
  for comparison, not a deployable rule.

Frames smaller than ``size`` in a dimension are zero-padded symmetrically in that dimension
(image and mask alike) before cropping. What a crop costs is recorded per frame: ``mask_pixels``
(glottis pixels in the frame) and ``mask_pixels_lost`` (those outside the window), summarised in
the preprocess report (frames losing any glottis, frames losing all of it, share of pixels lost).

Masks: each file's value range is detected (0/255 as BAGLS, 0/1, 0/65535; anything else is refused
naming the file, :func:`~mpbench.data.bagls.read_mask`); the report counts how they were stored and
how many are empty (``masks``), and the log warns when most drawn masks are empty. 16-bit frames are
scaled to 8 bits (:func:`~mpbench.data.bagls.read_image`); an image over PIL's decompression-bomb
limit is a bad frame like an unreadable one (``data.on_bad_sample``).

Frames: ``n_samples`` drawn by a seeded permutation (the paper), or taken in order from a frame
list (``data.subset``, :mod:`mpbench.data.subset`). Folds (``data.folds_by``): ``frame``, a seeded
balanced random split of frames (the paper); ``video``, whole videos (meta "Video Id") per fold,
fold sizes as equal as possible. Folds come from their own seeded stream, so the same frames in
the same order and the same seed give the same folds however the frames were chosen.

The HDF5 holds ``images`` uint8 (N,S,S), ``masks`` uint8 in {0,1}, ``fold`` int8 in 0..k-1,
``source`` (frame file names), ``video_id`` int64 (the meta's "Video Id", -1 where unknown),
``mask_pixels`` and ``mask_pixels_lost`` int32 (glottis pixels in the frame / outside the crop), and
attrs (``content_sha256``: the checksum of all datasets, :mod:`mpbench.data.integrity`; seed,
n_folds, folds_by, crop policy and size, source folder, subset file or "", frames
skipped, mpbench version; ``data_settings``: the config's data keys that made it, as JSON, when the
workflow gives them, :mod:`mpbench.data.freshness`). Beside it, ``<stem>_frames.txt`` lists the
indices N used, one per line in HDF5 row order: give it as ``data.subset`` to reproduce the same
HDF5 elsewhere. Pixels stay uint8 on disk; normalisation happens at load time
(:mod:`mpbench.data.dataset`). Files are written under a temporary name and renamed only when
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
from .bagls import EMPTY_MASK, BadSampleError, Frame, list_frames, read_sample, video_id
from .freshness import SETTINGS_ATTR, preprocess_settings
from .integrity import DIGEST_ATTR, file_digest
from .subset import frames_list_path, read_frame_list, write_frame_list

log = logging.getLogger(__name__)
CROP_POLICIES = ("center", "glottis")
LABEL_GUIDED = ("glottis",)   # policies that read the mask
FOLDS_BY = ("frame", "video")
CROP_MULTIPLE = 16            # the U-Net's four 2×2 poolings
MOSTLY_EMPTY = 0.5            # warn when more than this share of the drawn masks has no glottis pixel


def crop_size_problem(size: int) -> str | None:
    """Why ``data.crop.size`` cannot be trained (None: it can): the U-Net pools 2×2 four times."""
    if size % CROP_MULTIPLE == 0:
        return None
    lower = size // CROP_MULTIPLE * CROP_MULTIPLE
    near = " or ".join(str(v) for v in (lower, lower + CROP_MULTIPLE) if v > 0)
    return (f"data.crop.size is {size}, not a multiple of {CROP_MULTIPLE}: the U-Net halves the frame four times "
            f"and its skip connections would not match. Set data.crop.size to {near} (paper: 224)")


def pad_to(arr: np.ndarray, size: int) -> np.ndarray:
    h, w = arr.shape
    ph, pw = max(0, size - h), max(0, size - w)
    if ph == 0 and pw == 0:
        return arr
    return np.pad(arr, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)))


def crop_window(shape: tuple[int, int], size: int, policy: str, mask: np.ndarray | None = None) -> tuple[int, int]:
    """Top-left corner (y0, x0) of the crop window in a (padded) frame of ``shape``.

    ``center`` looks at ``shape`` only; ``mask`` is read by the label-guided ``glottis`` policy alone.
    """
    if policy not in CROP_POLICIES:
        raise ValueError(f"unknown crop policy {policy!r}; choose one of {CROP_POLICIES}")
    h, w = shape
    cy, cx = h / 2, w / 2
    if policy == "glottis":
        if mask is None:
            raise ValueError("the glottis crop policy is label-guided: it needs the frame's mask")
        if mask.any():
            rows = np.flatnonzero(mask.any(axis=1))
            cols = np.flatnonzero(mask.any(axis=0))
            cy, cx = (rows[0] + rows[-1] + 1) / 2, (cols[0] + cols[-1] + 1) / 2
    y0 = int(np.clip(round(cy - size / 2), 0, h - size))
    x0 = int(np.clip(round(cx - size / 2), 0, w - size))
    return y0, x0


def crop_pair(image: np.ndarray, mask: np.ndarray, size: int, policy: str):
    """(image crop, mask crop, mask pixels lost): the mask pixels of the frame outside the window."""
    image, mask = pad_to(image, size), pad_to(mask, size)
    y0, x0 = crop_window(mask.shape, size, policy, mask if policy in LABEL_GUIDED else None)
    crop_m = mask[y0:y0 + size, x0:x0 + size]
    lost = int(np.count_nonzero(mask)) - int(np.count_nonzero(crop_m))
    return image[y0:y0 + size, x0:x0 + size], crop_m, lost


def crop_loss_summary(mask_pixels: np.ndarray, lost: np.ndarray, sources: list[str]) -> dict:
    """What the crop cost over all frames, as the preprocess report states it."""
    open_ = mask_pixels > 0
    worst = np.argsort(-(lost / np.maximum(mask_pixels, 1)), kind="stable")[:5]
    return {
        "frames_with_glottis": int(open_.sum()),
        "frames_losing_glottis_pixels": int((lost > 0).sum()),
        "frames_losing_whole_glottis": int((open_ & (lost == mask_pixels)).sum()),
        "glottis_pixels_lost_fraction": float(lost.sum() / mask_pixels.sum()) if mask_pixels.sum() else 0.0,
        "worst_frames": [{"file": sources[i], "mask_pixels": int(mask_pixels[i]), "lost": int(lost[i])}
                         for i in worst if lost[i] > 0],
    }


def frame_fold_sizes(n: int, n_folds: int) -> list[int]:
    """Frames per fold of :func:`assign_folds` (folds by frame): known before any frame is read."""
    return np.bincount(np.arange(n) % n_folds, minlength=n_folds).tolist()


def assign_folds(n: int, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Balanced random fold labels: disjoint, covering, sizes differing by at most one."""
    if not 2 <= n_folds <= n:
        raise ValueError(f"n_folds must be between 2 and the number of samples ({n}), got {n_folds}")
    return rng.permutation(np.arange(n) % n_folds).astype(np.int8)


def assign_video_folds(videos: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold labels keeping each video's frames in one fold, fold frame counts as equal as possible.

    Videos are placed largest first (ties in seeded random order), each into the fold with the
    fewest frames so far (ties broken at random): fold sizes then differ by at most the frame
    count of the largest video.
    """
    videos = np.asarray(videos)
    ids, inverse, counts = np.unique(videos, return_inverse=True, return_counts=True)
    if not 2 <= n_folds <= len(ids):
        raise ValueError(
            f"data.folds_by: video needs at least data.n_folds = {n_folds} videos, but the {len(videos)} "
            f"frames come from {len(ids)} video(s). Lower data.n_folds, draw more frames "
            "(data.n_samples) or use data.folds_by: frame."
        )
    order = rng.permutation(len(ids))
    order = order[np.argsort(-counts[order], kind="stable")]
    totals = np.zeros(n_folds, np.int64)
    fold_of_video = np.empty(len(ids), np.int8)
    for v in order:
        smallest = np.flatnonzero(totals == totals.min())
        k = int(smallest[rng.integers(len(smallest))])
        fold_of_video[v] = k
        totals[k] += counts[v]
    return fold_of_video[inverse]


def _draw_order(frames: list[Frame], n_samples: int, seed: int, subset: str | Path | None,
                bagls_dir) -> np.ndarray:
    """Positions in ``frames`` in the order frames are tried: the subset's, or a seeded permutation."""
    if subset is None:
        if len(frames) < n_samples:
            raise ValueError(
                f"{bagls_dir} holds {len(frames)} frames but data.n_samples is {n_samples}. "
                "Lower data.n_samples or point data.bagls_dir at a larger folder (synthetic data: "
                "raise data.synthetic_frames to at least data.n_samples)."
            )
        return np.random.default_rng(seed).permutation(len(frames))
    listed = read_frame_list(subset)
    if len(listed) < n_samples:
        raise ValueError(
            f"data.subset file {subset} lists {len(listed)} frames but data.n_samples is {n_samples}. "
            f"Set data.n_samples to at most {len(listed)} (the first data.n_samples listed frames are used)."
        )
    position = {f.index: k for k, f in enumerate(frames)}
    missing = [(i, line) for i, line in listed.items() if i not in position]
    if missing:
        folder = frames[0].image_path.parent
        shown = ", ".join(f"{i} (line {line})" for i, line in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ValueError(
            f"data.subset file {subset} lists frames that are not in {folder}: {shown}{more} "
            f"(no N.png there). Point data.bagls_dir at the split folder the list was made from, or "
            "remove these indices from the list."
        )
    return np.array([position[i] for i in listed], dtype=np.int64)


def preprocess_bagls(
    bagls_dir: str | Path,
    out_h5: str | Path,
    n_samples: int,
    seed: int = 42,
    n_folds: int = 4,
    crop_size: int = 224,
    crop_policy: str = "center",
    on_bad_sample: str = "error",
    bad_report: str | Path | None = None,
    progress_every: int = 500,
    subset: str | Path | None = None,
    folds_by: str = "frame",
    frames_list: str | Path | None = None,
    data_settings: dict | None = None,
) -> dict:
    """Draw ``n_samples`` frames, crop, assign folds, write the HDF5 and the list of frames used.

    Frames are tried in the order of a seeded permutation, or, with ``subset`` (a frame list, see
    :mod:`mpbench.data.subset`), in the listed order. With ``on_bad_sample='skip'`` a bad frame is
    listed in ``bad_report`` (JSON) and the next frame takes its place. ``folds_by='video'`` keeps
    each video ("Video Id" in ``N.meta``) in one fold. The indices used, in HDF5 row order, are
    written to ``frames_list`` (default: ``<h5 stem>_frames.txt`` beside the HDF5), a file
    ``subset`` accepts. Returns a summary dict (also the content of ``bad_report``).
    """
    if on_bad_sample not in ("error", "skip"):
        raise ValueError(f"data.on_bad_sample must be 'error' or 'skip', got {on_bad_sample!r}")
    if crop_policy not in CROP_POLICIES:
        raise ValueError(f"data.crop.policy must be one of {CROP_POLICIES}, got {crop_policy!r}")
    if folds_by not in FOLDS_BY:
        raise ValueError(f"data.folds_by must be one of {FOLDS_BY}, got {folds_by!r}")
    if crop_size % CROP_MULTIPLE:
        raise ValueError(crop_size_problem(crop_size))
    frames = list_frames(bagls_dir)
    folder = frames[0].image_path.parent
    order = _draw_order(frames, n_samples, seed, subset, bagls_dir)
    images = np.empty((n_samples, crop_size, crop_size), np.uint8)
    masks = np.empty_like(images)
    sources: list[str] = []
    indices: list[int] = []
    videos: list[int] = []
    mask_pixels = np.zeros(n_samples, np.int32)
    lost = np.zeros(n_samples, np.int32)
    bad: list[dict] = []
    mask_values: dict[str, int] = {}
    t0 = time.perf_counter()
    for i in order:
        if len(sources) == n_samples:
            break
        frame = frames[i]
        try:
            sample = read_sample(frame)
            vid = video_id(frame) if folds_by == "video" else _video_id_if_known(frame)
        except BadSampleError as e:
            if on_bad_sample == "error":
                raise
            log.warning("skipping bad frame %s: %s", e.path, e.reason)
            bad.append({"file": str(e.path), "reason": e.reason})
            continue
        k = len(sources)
        images[k], masks[k], lost[k] = crop_pair(sample.image, sample.mask, crop_size, crop_policy)
        mask_pixels[k] = np.count_nonzero(sample.mask)
        mask_values[sample.mask_values] = mask_values.get(sample.mask_values, 0) + 1
        sources.append(frame.image_path.name)
        indices.append(frame.index)
        videos.append(vid)
        if progress_every and len(sources) % progress_every == 0:
            rate = len(sources) / (time.perf_counter() - t0)
            log.info("preprocessed %d/%d frames (%.0f frames/s)", len(sources), n_samples, rate)
    if len(sources) < n_samples:
        shown = "; ".join(f"{b['file']}: {b['reason']}" for b in bad[:5])
        more = f"; and {len(bad) - 5} more (each logged as 'skipping bad frame')" if len(bad) > 5 else ""
        source = f"data.subset file {subset} lists" if subset is not None else f"{bagls_dir} holds"
        raise ValueError(
            f"{source} only {len(sources)} usable frames after skipping {len(bad)} bad ones, but "
            f"data.n_samples is {n_samples}. Lower data.n_samples or fix the bad frames: {shown}{more}. "
            "No HDF5 or report was written."
        )
    # Folds from their own seeded stream: the same frames (e.g. from a frame list) and seed give
    # the same folds, however the frames were drawn.
    fold_rng = np.random.default_rng([seed, 1])
    video_ids = np.array(videos, np.int64)
    if folds_by == "video":
        folds = assign_video_folds(video_ids, n_folds, fold_rng)
    else:
        folds = assign_folds(n_samples, n_folds, fold_rng)
    frames_list = Path(frames_list) if frames_list is not None else frames_list_path(out_h5)
    attrs = {
        "seed": seed, "n_folds": n_folds, "crop_policy": crop_policy, "crop_size": crop_size,
        "source_folder": str(folder.resolve()), "mpbench_version": __version__,
        "n_bad_skipped": len(bad), "folds_by": folds_by,
        "subset": str(Path(subset).resolve()) if subset is not None else "",
    }
    if data_settings is not None:   # the config's data keys that made this file (mpbench.data.freshness)
        attrs[SETTINGS_ATTR] = json.dumps(preprocess_settings(data_settings), sort_keys=True)
    digest = write_h5(out_h5, images, masks, folds, sources, attrs, video_ids,
                      extra={"mask_pixels": mask_pixels, "mask_pixels_lost": lost})
    write_frame_list(frames_list, indices)
    seconds = time.perf_counter() - t0
    known = video_ids[video_ids >= 0]
    summary = {"n_samples": n_samples, "seconds": seconds, "bad_frames": bad, **attrs, DIGEST_ATTR: digest,
               "frames_list": str(frames_list), "n_videos": int(len(np.unique(known))) if len(known) else None,
               "fold_sizes": np.bincount(folds, minlength=n_folds).tolist(),
               "masks": masks_summary(mask_values, n_samples),
               "crop": {"policy": crop_policy, "size": crop_size,
                        "label_guided": crop_policy in LABEL_GUIDED,
                        **crop_loss_summary(mask_pixels, lost, sources)}}
    if bad_report is not None:
        write_text(bad_report, json.dumps(summary, indent=2))
    log.info("wrote %s and %s: %d frames in %.1f s, %d bad frames skipped, folds by %s (sizes %s)",
             out_h5, frames_list.name, n_samples, seconds, len(bad), folds_by, summary["fold_sizes"])
    _log_masks(summary["masks"], folder)
    c = summary["crop"]
    log.info("%s crop (%s): %d of %d frames with an open glottis lose glottis pixels outside the window, "
             "%d lose all of it; %.2f %% of all glottis pixels lost", crop_policy,
             "label-guided" if c["label_guided"] else "label-free", c["frames_losing_glottis_pixels"],
             c["frames_with_glottis"], c["frames_losing_whole_glottis"], 100 * c["glottis_pixels_lost_fraction"])
    return summary


def masks_summary(values: dict[str, int], n: int) -> dict:
    """How the drawn masks were stored (:func:`~mpbench.data.bagls.read_mask`: ``"0/255"``, ``"0/1"`` …, per
    file) and how many are empty; ``mostly_empty`` when more than :data:`MOSTLY_EMPTY` of them are."""
    empty = values.get(EMPTY_MASK, 0)
    return {"values": dict(sorted(values.items())), "empty": empty, "empty_fraction": empty / n if n else 0.0,
            "mostly_empty": n > 0 and empty / n > MOSTLY_EMPTY}


def _log_masks(m: dict, folder: Path) -> None:
    stored = ", ".join(f"{n} {v}" for v, n in m["values"].items())
    log.info("masks: %s", stored)
    if m["mostly_empty"]:
        log.warning("%d of %d masks drawn from %s (%.0f %%) have no glottis pixel (masks stored as: %s). BAGLS "
                    "has a closed glottis in a minority of frames; check that the *_seg.png files are the masks of "
                    "these frames. With empty masks the IoU of a model that predicts nothing is "
                    "evaluation.empty_iou, however badly it segments.", m["empty"], sum(m["values"].values()),
                    folder, 100 * m["empty_fraction"], stored)


def _video_id_if_known(frame: Frame) -> int:
    """The frame's "Video Id", or -1 when its meta is missing or has none (folds by frame need none)."""
    try:
        return video_id(frame)
    except BadSampleError:
        return -1


def write_h5(path, images, masks, folds, sources, attrs: dict, video_ids=None, extra: dict | None = None) -> str:
    """Write the HDF5 atomically with its checksum (attribute ``content_sha256``); returns the checksum."""
    chunk = (min(32, len(images)),) + images.shape[1:]
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("images", data=images, chunks=chunk, compression="gzip", compression_opts=1)
            f.create_dataset("masks", data=masks, chunks=chunk, compression="gzip", compression_opts=1)
            f.create_dataset("fold", data=folds)
            f.create_dataset("source", data=np.array(sources, dtype=object), dtype=h5py.string_dtype())
            if video_ids is not None:
                f.create_dataset("video_id", data=np.asarray(video_ids, np.int64))
            for key, values in (extra or {}).items():
                f.create_dataset(key, data=values)
            f.attrs.update(attrs)
            digest = file_digest(f)   # from what was written, read back
            f.attrs[DIGEST_ATTR] = digest
    return digest
