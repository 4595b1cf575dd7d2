"""Segmentation metrics shared by both frameworks (NumPy reference; trainers compute the same on device).

IoU here is the pooled (dataset-level) intersection over union of the thresholded prediction (> 0.5)
and the mask: sum of intersections / sum of unions over all images. An all-empty prediction of an
all-empty set scores 1.
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
