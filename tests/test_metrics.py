"""IoU as the paper reports it (mean over images) with the empty-mask convention explicit; pooled IoU beside it."""
import numpy as np
import pytest

from mpbench.metrics import THRESHOLD, image_counts, iou_scores, pooled_iou


def masks():
    """Three 4×4 images: half-overlapping glottis, a closed glottis predicted closed, one predicted open."""
    truth = np.zeros((3, 4, 4), np.uint8)
    prob = np.zeros((3, 4, 4), np.float32)
    truth[0, :2, :2] = 1                 # 4 px
    prob[0, :2, :1] = 0.9                # 2 px, inside: IoU 2/4
    prob[2, 0, 0] = 0.7                  # closed glottis, 1 px predicted: IoU 0/1
    return prob, truth


def test_per_image_iou_with_both_empty_mask_conventions():
    prob, truth = masks()
    inter, union = image_counts(prob, truth)
    assert (inter, union) == ([2, 0, 0], [4, 0, 1])
    one = iou_scores(inter, union, empty_iou=1.0)
    zero = iou_scores(inter, union, empty_iou=0.0)
    np.testing.assert_allclose(one["per_image"], [0.5, 1.0, 0.0])
    np.testing.assert_allclose(zero["per_image"], [0.5, 0.0, 0.0])
    assert one["mean"] == pytest.approx(0.5) and zero["mean"] == pytest.approx(1 / 6)
    assert one["pooled"] == zero["pooled"] == pytest.approx(2 / 5) == pooled_iou(prob, truth)
    assert one["per_image"].dtype == np.float32


def test_threshold_is_strictly_above_one_half():
    truth = np.ones((1, 2, 2), np.uint8)
    at = np.full((1, 2, 2), THRESHOLD, np.float32)
    assert image_counts(at, truth) == ([0], [4])
    assert image_counts(at + 1e-3, truth) == ([4], [4])


def test_per_image_block_round_trips_compactly():
    from mpbench import record
    packed = record.per_image(np.array([5, 2, 9]), np.array([0.5, 1.0, 0.25]))
    index, iou = record.unpack_per_image(packed)
    assert index.tolist() == [5, 2, 9] and iou.tolist() == [0.5, 1.0, 0.25] and packed["n"] == 3
    assert record.per_image(None, [1.0]) is None
    with pytest.raises(ValueError, match="2 HDF5 rows for 1"):
        record.per_image([1, 2], [0.5])
