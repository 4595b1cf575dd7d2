"""Segmentation metrics shared by every stage (NumPy reference; trainers count the same on the device).

The headline IoU is the mean over images of each image's intersection over union of the thresholded
prediction (probability > 0.5) and the mask (:func:`iou_scores`); an image whose mask and prediction
are both empty scores ``evaluation.empty_iou`` (default 1). The pooled IoU (Σ intersection / Σ
union over all images; an all-empty set scores 1) is kept beside it.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def iou_counts(prob: np.ndarray, mask: np.ndarray, threshold: float = 0.5) -> tuple[int, int]:
    pred = np.asarray(prob) > threshold
    truth = np.asarray(mask).astype(bool).reshape(pred.shape)
    return int(np.logical_and(pred, truth).sum()), int(np.logical_or(pred, truth).sum())


def iou_from_counts(intersection: float, union: float) -> float:
    return 1.0 if union == 0 else float(intersection) / float(union)


def iou(prob: np.ndarray, mask: np.ndarray, threshold: float = 0.5) -> float:
    return iou_from_counts(*iou_counts(prob, mask, threshold))


def pooled_iou(probs: Iterable[np.ndarray], masks: Iterable[np.ndarray], threshold: float = 0.5) -> float:
    """Pooled IoU of probability maps and masks taken pairwise (e.g. a generator of predictions)."""
    inter = union = 0
    for p, m in zip(probs, masks, strict=True):
        i, u = iou_counts(p, m, threshold)
        inter, union = inter + i, union + u
    return iou_from_counts(inter, union)


THRESHOLD = 0.5   # a pixel is glottis when its probability exceeds this


def iou_scores(intersections, unions, empty_iou: float = 1.0) -> dict:
    """IoU of each image from its intersection and union pixel counts, their mean and the pooled IoU.

    The headline IoU is the mean over images (the paper's "mean validation IoU"); an image whose
    mask and prediction are both empty (closed glottis, correctly predicted) scores ``empty_iou``.
    ``pooled`` is Σ intersection / Σ union over all images.
    """
    inter = np.asarray(intersections, dtype=np.float64)
    union = np.asarray(unions, dtype=np.float64)
    per_image = np.where(union > 0, inter / np.maximum(union, 1), empty_iou).astype(np.float32)
    return {"mean": float(per_image.mean()) if per_image.size else None,
            "pooled": iou_from_counts(inter.sum(), union.sum()), "per_image": per_image}


def image_counts(probs: Iterable[np.ndarray], masks: Iterable[np.ndarray], threshold: float = THRESHOLD):
    """Per-image intersection and union counts of probability maps and masks taken pairwise."""
    counts = [iou_counts(p, m, threshold) for p, m in zip(probs, masks, strict=True)]
    return [c[0] for c in counts], [c[1] for c in counts]
