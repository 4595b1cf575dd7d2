"""Statistics with known truth: equivalence, a clear shift, and a speed-up CI that covers and narrows."""
import numpy as np
import pytest

from mpbench import stats


def ious(n=400, seed=0):
    return np.clip(np.random.default_rng(seed).normal(0.85, 0.1, n), 0, 1)


def test_identical_iou_vectors_are_equivalent():
    a = ious()
    r = stats.paired_difference(a, a.copy(), margin=0.01)
    assert r["delta"] == 0 and r["ci_low"] == r["ci_high"] == 0 and r["equivalent"] and r["wilcoxon_p"] == 1.0


def test_noisy_but_unbiased_difference_is_equivalent_within_the_margin():
    a = ious()
    b = a + np.random.default_rng(1).normal(0, 0.01, len(a))
    r = stats.paired_difference(a, b, margin=0.01)
    assert r["ci_low"] < 0 < r["ci_high"] and r["equivalent"] and r["tost_p"] < 0.05


def test_a_shift_of_005_is_not_equivalent_at_margin_001_and_is_detected():
    a = ious()
    b = a - 0.05 + np.random.default_rng(2).normal(0, 0.01, len(a))
    r = stats.paired_difference(a, b, margin=0.01)
    assert not r["equivalent"] and r["tost_p"] > 0.05
    assert 0.045 < r["ci_low"] < r["delta"] < r["ci_high"] < 0.055 and r["wilcoxon_p"] < 1e-6


def test_bootstrap_is_deterministic():
    a, b = ious(seed=3), ious(seed=4)
    assert stats.paired_difference(a, b, 0.01) == stats.paired_difference(a, b, 0.01)


@pytest.mark.parametrize("true_ratio", [1.0, 1.6])
def test_speedup_ci_covers_a_known_throughput_ratio_and_narrows_with_more_samples(true_ratio):
    rng = np.random.default_rng(5)
    widths = []
    for n in (10, 200):
        ref = 0.010 * (1 + rng.normal(0, 0.02, n))
        new = 0.010 / true_ratio * (1 + rng.normal(0, 0.02, n))
        r = stats.speedup(ref, new)
        assert r["ci_low"] <= true_ratio <= r["ci_high"]
        widths.append(r["ci_high"] - r["ci_low"])
    assert widths[1] < widths[0] / 2


def test_over_folds_uses_folds_as_the_unit():
    r = stats.over_folds([1.5, 1.6, 1.7, 1.6])
    assert r["n"] == 4 and r["mean"] == pytest.approx(1.6) and r["ci_low"] < 1.6 < r["ci_high"]
    assert stats.over_folds([1.5]) == {"n": 1, "mean": 1.5, "ci_low": None, "ci_high": None}
    assert stats.over_folds([])["mean"] is None


def test_over_folds_difference_keeps_one_folds_images_and_uses_folds_as_unit_otherwise():
    a = ious()
    one = stats.difference_over_folds([stats.paired_difference(a - 0.03, a, 0.01)], 0.01)
    assert one["n"] == 1 and one["ci_high"] < -0.01 and "400 images" in one["method"]
    folds = [stats.paired_difference(a + s, a, 0.01) for s in (0.001, -0.001, 0.002, 0.0)]
    many = stats.difference_over_folds(folds, 0.01)
    assert many["n"] == 4 and many["delta"] == pytest.approx(0.0005) and many["method"] == "t over 4 folds"
    assert -0.01 < many["ci_low"] < 0.0005 < many["ci_high"] < 0.01 and many["tost_p"] < 0.05
    assert stats.equivalence_verdict(many["ci_low"], many["ci_high"], 0.01) == "supported"
    far = stats.difference_over_folds([stats.paired_difference(a + s, a, 0.01) for s in (0.05, 0.06, 0.055)], 0.01)
    assert far["tost_p"] > 0.5 and stats.equivalence_verdict(far["ci_low"], far["ci_high"], 0.01) == "contradicted"
    assert stats.equivalence_verdict(-0.02, 0.0, 0.01) == "inconclusive"
    assert stats.equivalence_verdict(None, None, 0.01) == "inconclusive"


def test_speedup_over_folds_one_fold_bootstrap_several_folds_t_interval():
    rng = np.random.default_rng(7)
    folds = [stats.speedup(0.016 * (1 + rng.normal(0, 0.02, 30)), 0.010 * (1 + rng.normal(0, 0.02, 30)))
             for _ in range(4)]
    one = stats.speedup_over_folds(folds[:1])
    assert one["method"].startswith("bootstrap within 1 run") and one["ci_low"] < 1.6 < one["ci_high"]
    many = stats.speedup_over_folds(folds)
    assert many["n"] == 4 and many["method"] == "t over 4 runs" and many["ci_low"] < 1.6 < many["ci_high"]
    assert many["mean"] == pytest.approx(np.mean([f["speedup"] for f in folds]))
    assert stats.speedup_over_folds([])["mean"] is None


def test_a_single_timed_sample_gives_a_speedup_but_no_ci():
    r = stats.speedup([0.016], [0.010, 0.011])
    assert r["speedup"] == pytest.approx(0.016 / 0.0105) and r["ci_low"] is None and r["ci_high"] is None
    one = stats.speedup_over_folds([r])
    assert one["ci_low"] is None and "no CI" in one["method"]


def test_speedup_is_the_ratio_of_mean_times_the_paper_s_statistic():
    ref, new = [0.010, 0.010, 0.040], [0.010, 0.010, 0.010]   # one slow epoch: the mean sees it, the median not
    assert stats.speedup(ref, new)["speedup"] == pytest.approx(2.0)


def test_cv_of_a_run_s_timed_samples():
    assert stats.cv([1.0, 1.0, 1.0]) == 0.0
    assert stats.cv([0.9, 1.1]) == pytest.approx(np.std([0.9, 1.1], ddof=1) / 1.0)
    assert stats.cv([1.0]) is None and stats.cv([]) is None
