"""The paper's claims checked on synthetic records with known truth; missing hardware is never support."""
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mpbench import record
from mpbench.results import claims

REPO = Path(__file__).resolve().parents[1]
CLAIMS = claims.load(REPO / "config" / "claims.yaml")


def rec(stage, framework, device, precision, fold, iou=None, per_sample=0.01, n=20, batch=8, seed=0, **kw):
    rng = np.random.default_rng(seed)
    settings = {"framework": framework, "device": device, "precision": precision, "filters": 8, "fold": fold}
    samples = list(per_sample * (1 + rng.normal(0, 0.01, n)))
    return record.Record(stage, settings, status="ok", provenance={}, batch_size=batch, iou=iou,
                       latency=record.latency(samples, unit="epoch", statistic="mean"), **kw)


def config(devices=("cpu",), gpus=()):
    return {"train": {"devices": list(devices), "precisions": ["fp32", "mixed_bf16"], "filters": [8],
                      "frameworks": ["pytorch"]},
            "figures": {"baseline": "fp32"}, "stats": {"iou_margin": 0.01},
            "devices": {d: {"type": "cuda" if d in gpus else "cpu"} for d in devices}}


def verdicts(records, cfg):
    table = claims.check(CLAIMS, records, cfg)
    return dict(zip(table["claim"], table["verdict"], strict=True)), table


def test_every_claim_is_listed_with_its_source():
    assert len(CLAIMS) >= 13 and len({c["id"] for c in CLAIMS}) == len(CLAIMS)
    assert all(c["statement"] and c["where"] and c["needs"] in ("any", "gpu", "edgetpu", "cloud_tpu") for c in CLAIMS)
    assert all(c["test"] in claims.TESTS for c in CLAIMS)


def test_an_unknown_test_name_is_refused_naming_the_claim_and_the_known_tests():
    typo = {**CLAIMS[0], "id": "a_misspelt_claim", "test": "speedup_abvoe"}
    with pytest.raises(ValueError, match="a_misspelt_claim") as refused:
        claims.check([*CLAIMS, typo], [], config())
    assert "speedup_abvoe" in str(refused.value) and all(name in str(refused.value) for name in claims.TESTS)


def test_claims_needing_missing_hardware_are_not_measured_never_supported():
    records = [rec("train", "pytorch", "cpu", p, k, iou=0.9) for p in ("fp32", "mixed_bf16") for k in range(4)]
    v, table = verdicts(records, config())
    for c in CLAIMS:
        if c["needs"] != "any":
            assert v[c["id"]] == "not measured", c["id"]
    reasons = table.set_index("claim")["detail"]
    assert "no GPU" in reasons["mp_training_faster_on_gpus"]
    assert "Edge TPU" in reasons["int8_edgetpu_iou_slight_drop"]


def test_the_cpu_int8_stand_in_is_not_edgetpu_evidence():
    r = rec("edgetpu", "tensorflow", "cpu", "fp32", 0, iou=0.8, run_device="cpu-int8", reference_iou=0.81)
    v, table = verdicts([r], config())
    assert v["int8_edgetpu_iou_slight_drop"] == "not measured"
    assert "stand-in" in table.set_index("claim")["detail"]["int8_edgetpu_iou_slight_drop"]


def test_iou_equal_over_folds_is_supported_and_a_drop_is_contradicted():
    same = [rec("train", "pytorch", "cpu", p, k, iou=0.90 + 0.001 * k) for p in ("fp32", "mixed_bf16")
            for k in range(4)]
    assert verdicts(same, config())[0]["mp_iou_unchanged"] == "supported"
    drop = [rec("train", "pytorch", "cpu", "fp32", k, iou=0.90 + 0.001 * k) for k in range(4)]
    drop += [rec("train", "pytorch", "cpu", "mixed_bf16", k, iou=0.85 + 0.002 * k) for k in range(4)]
    assert verdicts(drop, config())[0]["mp_iou_unchanged"] == "contradicted"
    two = [rec("train", "pytorch", "cpu", p, k, iou=0.9 + (0.02 if (p, k) == ("fp32", 0) else 0))
           for p in ("fp32", "mixed_bf16") for k in range(2)]
    assert verdicts(two, config())[0]["mp_iou_unchanged"] == "inconclusive"   # 2 folds: a wide CI


def test_gpu_speedup_claim_with_known_ratio():
    cfg = config(devices=("a100",), gpus=("a100",))
    fast = [rec("train", "pytorch", "a100", "fp32", k, iou=0.9, per_sample=0.016, seed=k) for k in range(4)]
    fast += [rec("train", "pytorch", "a100", "mixed_bf16", k, iou=0.9, per_sample=0.010, seed=10 + k) for k in range(4)]
    v, table = verdicts(fast, cfg)
    assert v["mp_training_faster_on_gpus"] == "supported"
    row = table.set_index("claim").loc["mp_training_faster_on_gpus"]
    assert row["ci_low"] < 1.6 < row["ci_high"] and row["measured"] == pytest.approx(1.6, rel=0.02)
    slow = [dataclasses.replace(r, settings={**r.settings, "precision": {"fp32": "mixed_bf16", "mixed_bf16": "fp32"}[
        r.settings["precision"]]}) for r in fast]
    assert verdicts(slow, cfg)[0]["mp_training_faster_on_gpus"] == "contradicted"


def test_a_stated_maximum_is_reached_by_the_best_cell_and_energy_without_nvml_is_not_measured():
    cfg = config(devices=("rtx3090",), gpus=("rtx3090",))
    cfg["train"]["frameworks"] = ["tensorflow"]
    recs = []
    for k in range(3):
        for p, t in (("fp32", 0.019), ("mixed_bf16", 0.010)):
            r = rec("train", "tensorflow", "rtx3090", p, k, iou=0.9, per_sample=t, seed=k)
            r.settings["filters"] = 64
            recs.append(r)
    v, table = verdicts(recs, cfg)
    assert v["mp_training_speedup_up_to_1_9"] == "supported"
    assert v["mp_lowers_training_energy"] == "not measured"
    assert "NVML" in table.set_index("claim")["detail"]["mp_lowers_training_energy"]


# --- accuracy paired on identical images ---------------------------------------------------------

def scored(stage, precision, fold, iou, index=None, framework="pytorch", filters=8, **kw):
    """A record whose per-image IoU is ``iou`` on HDF5 rows ``index`` (default 0..n-1)."""
    iou = np.asarray(iou, dtype=np.float32)
    index = np.arange(len(iou)) if index is None else np.asarray(index)
    r = rec(stage, framework, "cpu", precision, fold, iou=float(iou.mean()), seed=fold, **kw)
    r.settings["filters"] = filters
    r.per_image_iou = record.per_image(index, iou)
    return r


def image_ious(n=300, seed=0):
    return np.clip(np.random.default_rng(seed).normal(0.85, 0.08, n), 0, 1)


def test_iou_is_paired_by_hdf5_row_not_by_position():
    base = image_ious()
    order = np.random.default_rng(9).permutation(len(base))
    # Same images, same scores, stored in another order and with 20 extra rows only the baseline scored.
    records = []
    for k in range(4):
        extra = 300 + np.arange(20)
        records.append(scored("train", "fp32", k, np.r_[base, np.full(20, 0.1)], index=np.r_[np.arange(300), extra]))
        records.append(scored("train", "mixed_bf16", k, base[order], index=order))
    v, table = verdicts(records, config())
    assert v["mp_iou_unchanged"] == "supported"
    row = table.set_index("claim").loc["mp_iou_unchanged"]
    assert row["measured"] == 0 and row["ci_low"] == 0 == row["ci_high"]
    acc = claims.Evidence(records, config()).accuracy
    per_fold = acc[(acc["comparison"] == "precision vs baseline") & (acc["fold"] != "all")]
    assert len(per_fold) == 4 and (per_fold["n"] == 300).all() and (per_fold["delta"] == 0).all()


def test_a_per_image_shift_of_005_is_contradicted_and_noise_within_the_margin_is_supported():
    base = image_ious()
    noise = [np.random.default_rng(20 + k).normal(0, 0.01, len(base)) for k in range(4)]
    same = [scored("train", "fp32", k, base) for k in range(4)]
    same += [scored("train", "mixed_bf16", k, base + noise[k]) for k in range(4)]
    v, table = verdicts(same, config())
    assert v["mp_iou_unchanged"] == "supported"
    assert abs(table.set_index("claim").loc["mp_iou_unchanged", "measured"]) < 0.002
    shifted = [scored("train", "fp32", k, base) for k in range(4)]
    shifted += [scored("train", "mixed_bf16", k, base - 0.05 + noise[k]) for k in range(4)]
    v, table = verdicts(shifted, config())
    row = table.set_index("claim").loc["mp_iou_unchanged"]
    assert v["mp_iou_unchanged"] == "contradicted"
    assert row["ci_low"] < -0.05 < row["ci_high"] < -0.01 and row["measured"] == pytest.approx(-0.05, abs=0.003)


def test_one_fold_gives_its_images_ci_but_no_verdict_between_two_training_runs():
    """Two models trained once each differ by chance too (the demo: 0.034 IoU between TensorFlow fp32 and
    mixed_bf16 on one fold); the per-image CI covers the images, not that: no verdict until more folds."""
    base = image_ious()
    records = [scored("train", "fp32", 0, base), scored("train", "mixed_bf16", 0, base - 0.03)]
    v, table = verdicts(records, config())
    row = table.set_index("claim").loc["mp_iou_unchanged"]
    assert v["mp_iou_unchanged"] == "inconclusive" and row["ci_high"] < -0.01
    assert "bootstrap over 300 images" in row["detail"] and "one training run per side" in row["detail"]
    two = records + [scored("train", "fp32", 1, base), scored("train", "mixed_bf16", 1, base - 0.03)]
    assert verdicts(two, config())[0]["mp_iou_unchanged"] == "contradicted"   # repeated: a verdict


def test_int8_models_are_paired_on_the_images_both_scored():
    base = np.minimum(image_ious(64), 0.75)
    records = []
    for k in range(3):
        records += [scored("train", p, k, base + (0.2 if p == "fp32" else 0), framework="tensorflow")
                    for p in ("fp32", "mixed_bf16")]
        for p in ("fp32", "mixed_bf16"):
            r = scored("tflite_cpu", p, k, base - 0.01, framework="tensorflow", variant="int8", run_device="cpu",
                       reference_iou=0.9)
            records.append(r)
    v, table = verdicts(records, config())
    assert v["mp_trained_models_quantize_alike"] == "supported"   # identical int8 IoU, alike speed, 3 folds
    slower = [dataclasses.replace(r, latency=record.latency(list(np.array(r.latency["samples_s"]) * 1.5),
                                                            unit="repeat"))
              if r.stage == "tflite_cpu" and r.settings["precision"] == "mixed_bf16" else r for r in records]
    assert verdicts(slower, config())[0]["mp_trained_models_quantize_alike"] == "contradicted"   # same IoU, 1.5x slower
    one_fold = [r for r in slower if r.settings["fold"] == 0]   # one run per side: no between-run verdict
    v, table = verdicts(one_fold, config())
    assert v["mp_trained_models_quantize_alike"] == "inconclusive"
    assert "one run per side" in table.set_index("claim").loc["mp_trained_models_quantize_alike", "detail"]
    acc = claims.Evidence(records, config()).accuracy.set_index(["comparison", "precision", "fold"])
    # Against the float model it came from (the training record's per-image IoU).
    assert acc.loc[("tflite_cpu vs float", "fp32", "all"), "delta"] == pytest.approx(-0.21, abs=1e-5)
    assert acc.loc[("tflite_cpu vs float", "mixed_bf16", "all"), "delta"] == pytest.approx(-0.01, abs=1e-5)


# --- the Edge TPU against the GPUs, and its compiler ---------------------------------------------

def timed(stage, device, fold, filters, per_sample, run_device=None, iou=None, batch=1, seed=0, n=30):
    r = rec(stage, "tensorflow", device, "fp32", fold, per_sample=per_sample, n=n, batch=batch, seed=seed,
            run_device=run_device)
    r.settings["filters"] = filters
    if iou is not None:
        r.per_image_iou = record.per_image(np.arange(len(iou)), iou)
        r.iou = float(np.mean(iou))
    return r


def edge_grid(edge_times: dict, gpu_times: dict, run_device="edgetpu", folds=(0, 1, 2)):
    """Batch-1 inference on an A100 and Edge TPU runs per f; times in s per image."""
    recs = []
    for k in folds:
        for f in edge_times:
            recs.append(timed("infer", "a100", k, f, gpu_times[f], seed=k))
            recs.append(timed("edgetpu", "a100", k, f, edge_times[f], run_device=run_device, seed=10 + k))
    return recs


def edge_config():
    cfg = config(devices=("a100",), gpus=("a100",))
    cfg["train"].update(frameworks=["tensorflow"], filters=[8, 64])
    return cfg


def test_edgetpu_beats_the_gpu_at_f8_by_a_known_factor_and_loses_the_lead():
    recs = edge_grid({8: 0.001, 64: 0.030}, {8: 0.006, 64: 0.010})
    v, table = verdicts(recs, edge_config())
    row = table.set_index("claim").loc["edgetpu_fastest_at_f8"]
    assert v["edgetpu_fastest_at_f8"] == "supported"
    assert row["ci_low"] < 6 < row["ci_high"] and row["measured"] == pytest.approx(6, rel=0.02)
    still = edge_grid({8: 0.001, 64: 0.005}, {8: 0.006, 64: 0.010})   # still ahead at f = 64
    assert verdicts(still, edge_config())[0]["edgetpu_fastest_at_f8"] == "contradicted"
    one_f = edge_grid({8: 0.001}, {8: 0.006})
    v, table = verdicts(one_f, edge_config())
    assert v["edgetpu_fastest_at_f8"] == "inconclusive" and "unchecked" in table.set_index("claim").loc[
        "edgetpu_fastest_at_f8", "detail"]


def test_edgetpu_vs_gpu_is_not_measured_on_the_stand_in_or_without_gpus():
    stand_in = edge_grid({8: 0.001, 64: 0.030}, {8: 0.006, 64: 0.010}, run_device="cpu-int8")
    v, table = verdicts(stand_in, edge_config())
    assert v["edgetpu_fastest_at_f8"] == "not measured"
    assert "stand-in is not evidence" in table.set_index("claim").loc["edgetpu_fastest_at_f8", "detail"]
    no_gpu = [r for r in edge_grid({8: 0.001, 64: 0.030}, {8: 0.006, 64: 0.010}) if r.stage == "edgetpu"]
    v, table = verdicts(no_gpu, edge_config())
    assert v["edgetpu_fastest_at_f8"] == "not measured"
    assert "GPU" in table.set_index("claim").loc["edgetpu_fastest_at_f8", "detail"]


def compiled(filters, fully_mapped=True, status="ok"):
    settings = {"framework": "tensorflow", "device": "a100", "precision": "fp32", "filters": filters, "fold": 0}
    return record.Record("edgetpu_compile", settings, status=status, run_device="edgetpu", variant="int8",
                         fully_mapped=fully_mapped if status == "ok" else None,
                         details={} if status == "ok" else {"returncode": 1})


def compile_grid(mapped=(8, 16, 32, 64), f64_drop=0.2, run_device="edgetpu"):
    base = image_ious(100)
    recs = [compiled(f, f in mapped) for f in (8, 16, 32, 64)]
    for k in range(3):
        for f in (8, 16, 32, 64):
            noise = np.random.default_rng(30 + k + f).normal(0, 0.005, len(base))
            drop = f64_drop if f == 64 else 0.0
            recs.append(timed("train", "a100", k, f, 0.01, iou=base, batch=8))
            recs.append(timed("edgetpu", "a100", k, f, 0.002, run_device=run_device, iou=base - drop + noise))
    return recs


def test_edgetpu_compile_claim_from_the_op_mapping_and_the_f64_iou():
    v, table = verdicts(compile_grid(), edge_config())
    row = table.set_index("claim").loc["edgetpu_compiles_f8_to_f32"]
    assert v["edgetpu_compiles_f8_to_f32"] == "supported" and row["measured"] == pytest.approx(-0.2, abs=0.01)
    assert v["int8_edgetpu_iou_slight_drop"] == "supported"    # f = 8 to 32 within the margin
    assert verdicts(compile_grid(mapped=(8, 32, 64)), edge_config())[0]["edgetpu_compiles_f8_to_f32"] == "contradicted"
    # f = 64 predicting as well as the float model is not "compromised".
    assert verdicts(compile_grid(f64_drop=0.0), edge_config())[0]["edgetpu_compiles_f8_to_f32"] == "contradicted"


def test_edgetpu_compile_claim_without_the_edgetpu_is_not_measured_but_names_the_mapping():
    v, table = verdicts(compile_grid(run_device="cpu-int8"), edge_config())
    detail = table.set_index("claim").loc["edgetpu_compiles_f8_to_f32", "detail"]
    assert v["edgetpu_compiles_f8_to_f32"] == "not measured"
    assert "stand-in" in detail and "f=64: 1/1 fully mapped" in detail


def test_write_gives_csv_markdown_html_for_the_report_and_the_accuracy_table(tmp_path):
    base = np.minimum(image_ious(50), 0.99)   # + 0.002 stays an IoU
    paths = []
    for k in range(2):
        for p, shift in (("fp32", 0.0), ("mixed_bf16", 0.002)):
            path = tmp_path / f"{p}{k}.json"
            record.write(path, [scored("train", p, k, base + shift)])
            paths.append(path)
    out = {n: tmp_path / n for n in ("claims.csv", "claims.md", "claims.html", "accuracy.csv")}
    table = claims.write(REPO / "config" / "claims.yaml", paths, config(), out["claims.csv"], out["claims.md"],
                         claims_html=out["claims.html"], accuracy_csv=out["accuracy.csv"])
    page = out["claims.html"].read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<tr id=") == len(CLAIMS) == len(table)
    assert all(f'id="{c["id"]}"' in page for c in CLAIMS) and "not measured" in page
    acc = pd.read_csv(out["accuracy.csv"])
    assert list(acc["fold"].astype(str)) == ["0", "1", "all"]
    assert acc["delta"].tolist() == pytest.approx([0.002] * 3, abs=1e-6) and (acc["n"] == [50, 50, 2]).all()


# --- issue 24 section 2: claim tests that mean the paper's words ------------------------------------

def gpu_config(devices=("a100",), precisions=("fp32", "mixed_fp16"), filters=(8,), frameworks=("pytorch",), **stats):
    cfg = config(devices=devices, gpus=devices)
    cfg["train"].update(precisions=list(precisions), filters=list(filters), frameworks=list(frameworks))
    cfg["stats"].update(stats)
    return cfg


def timed_rec(stage, framework, device, precision, fold, per_sample, filters=8, batch=128, noise=0.01, n=30, seed=0,
              **settings):
    """A timed record of a known mean per-sample time, ``noise`` its relative spread."""
    rng = np.random.default_rng(seed)
    s = {"framework": framework, "device": device, "precision": precision, "filters": filters, "fold": fold,
         **settings}
    samples = list(per_sample * (1 + rng.normal(0, noise, n)))
    return record.Record(stage, s, status="ok", provenance={}, batch_size=batch, iou=0.9,
                       latency=record.latency(samples, unit="epoch", statistic="mean"))


def speed_grid(ratio, device="rtx3090", framework="tensorflow", filters=64, folds=3, noise=0.01, drift=0.0, seed=0):
    """Training runs, baseline and mixed, whose true throughput ratio is ``ratio``; ``drift``: a per-job factor."""
    rng = np.random.default_rng(seed)
    recs = []
    for k in range(folds):
        for p, t in (("fp32", 0.019), ("mixed_fp16", 0.019 / ratio)):
            recs.append(timed_rec("train", framework, device, p, k, t * (1 + rng.normal(0, drift)), filters=filters,
                                  noise=noise, seed=int(rng.integers(1 << 30))))
    return recs


def test_mp_iou_unchanged_judges_mixed_precisions_and_pure_fp16_drop_is_its_own_claim():
    base = np.minimum(image_ious(), 0.9)
    cfg = config()
    cfg["train"]["precisions"] = ["fp32", "mixed_bf16", "fp16"]
    recs = [scored("train", "fp32", k, base) for k in range(4)]
    recs += [scored("train", "mixed_bf16", k, base + np.random.default_rng(k).normal(0, 0.005, len(base)))
             for k in range(4)]
    recs += [scored("train", "fp16", k, base - 0.08) for k in range(4)]   # the paper's negative result
    v, table = verdicts(recs, cfg)
    assert v["mp_iou_unchanged"] == "supported"      # fp16's drop is not a mixed precision's
    assert v["fp16_iou_drops"] == "supported"
    assert table.set_index("claim").loc["fp16_iou_drops", "measured"] == pytest.approx(-0.08, abs=1e-4)
    no_drop = [r for r in recs if r.settings["precision"] != "fp16"]
    no_drop += [scored("train", "fp16", k, base) for k in range(4)]
    assert verdicts(no_drop, cfg)[0]["fp16_iou_drops"] == "contradicted"


@pytest.mark.parametrize(("ratio", "folds", "expect"), [
    (1.9, 3, "supported"), (3.5, 3, "contradicted"),   # 3.5x is not "up to 1.9x"
    (1.37, 2, "inconclusive")])                       # a mean of 1.37 whose CI reaches past 1.9: open, not support
def test_up_to_1_9_is_judged_two_sided_within_its_tolerance(ratio, folds, expect):
    cfg = gpu_config(devices=("rtx3090",), filters=(64,), frameworks=("tensorflow",))
    recs = speed_grid(ratio, folds=folds, drift=0.15 if folds == 2 else 0.0, seed=3)
    v, table = verdicts(recs, cfg)
    assert v["mp_training_speedup_up_to_1_9"] == expect
    assert "within ±10%" in table.set_index("claim").loc["mp_training_speedup_up_to_1_9", "detail"]


def test_the_report_s_up_to_1_6_on_hpc_hardware_is_a_claim_of_its_own():
    cfg = gpu_config(devices=("a100", "a40"), filters=(64,), frameworks=("tensorflow",))
    recs = speed_grid(1.6, device="a100", seed=1) + speed_grid(1.3, device="a40", seed=2)
    v, table = verdicts(recs, cfg)
    assert v["mp_training_speedup_up_to_1_6_hpc"] == "supported"
    assert table.set_index("claim").loc["mp_training_speedup_up_to_1_6_hpc", "measured"] == pytest.approx(1.6, rel=0.02)
    assert verdicts(speed_grid(2.4, device="a100", seed=1), cfg)[0]["mp_training_speedup_up_to_1_6_hpc"] == \
        "contradicted"


def infer_grid(gains: dict, filters=64, folds=3, device="a100", framework="pytorch"):
    """Inference per batch size with a known mixed-over-baseline gain per batch."""
    recs = []
    for k in range(folds):
        for b, gain in gains.items():
            for p, t in (("fp32", 0.002), ("mixed_fp16", 0.002 / gain)):
                recs.append(timed_rec("infer", framework, device, p, k, t, filters=filters, batch=b, noise=0.005,
                                      seed=100 * k + b + len(p)))
    return recs


def test_batch_8_claim_needs_a_gain_above_its_effect_size_and_is_scoped_to_fig6():
    cfg = gpu_config(filters=(8, 64))
    # A significant but small 2 % gain at batch 8 is no gain (below 1 + 0.05); 1.5x above batch 8.
    recs = infer_grid({1: 1.0, 8: 1.02, 128: 1.5})
    recs += infer_grid({8: 1.4, 128: 1.5}, filters=8)   # another f: not Fig. 6 (f = 64), not judged here
    v, table = verdicts(recs, cfg)
    assert v["mp_inference_gains_only_above_batch_8"] == "supported"
    assert "f=64" in table.set_index("claim").loc["mp_inference_gains_only_above_batch_8", "detail"]
    assert verdicts(infer_grid({8: 1.3, 128: 1.5}), cfg)[0]["mp_inference_gains_only_above_batch_8"] == "contradicted"


def test_time_grows_with_f_is_fig4_with_a_ci_and_ignores_batch_1_gpu_noise():
    cfg = gpu_config(devices=("a40",), filters=(8, 16))
    cfg["figures"]["fig4_device"] = "a40"
    recs = []
    for k in range(3):
        for f, t in ((8, 0.001), (16, 0.003)):   # training and batch-128 inference grow 3x from f 8 to 16
            recs.append(timed_rec("train", "pytorch", "a40", "fp32", k, t, filters=f, seed=k + f))
            recs.append(timed_rec("infer", "pytorch", "a40", "fp32", k, t / 3, filters=f, seed=10 + k + f))
            # batch 1 on a GPU: launch-bound, flat in f; a 0.3 % dip must not contradict Fig. 4
            recs.append(timed_rec("infer", "pytorch", "a40", "fp32", k, 0.0005 * (1 - 0.003 * (f == 16)), filters=f,
                                  batch=1, noise=0.0005, seed=20 + k + f))
    v, table = verdicts(recs, cfg)
    row = table.set_index("claim").loc["time_grows_with_f"]
    assert v["time_grows_with_f"] == "supported" and row["ci_low"] > 1.05
    flat = [r for r in recs if not (r.stage == "train" and r.settings["filters"] == 16)]
    flat += [timed_rec("train", "pytorch", "a40", "fp32", k, 0.00102, filters=16, seed=30 + k) for k in range(3)]
    assert verdicts(flat, cfg)[0]["time_grows_with_f"] == "contradicted"   # a 2 % growth is no growth


def tied_frameworks(seed, folds=1, drift=0.03, n=40):
    """Both frameworks truly equally fast; each job drifts by a factor N(1, drift), within-job noise 1 %."""
    rng = np.random.default_rng(seed)
    return [timed_rec("train", fw, "a100", "fp32", k, 0.01 * (1 + rng.normal(0, drift)), n=n,
                      seed=int(rng.integers(1 << 30))) for fw in ("tensorflow", "pytorch") for k in range(folds)]


def test_one_fold_between_job_verdicts_are_inconclusive_and_tied_frameworks_never_contradicted():
    cfg = gpu_config(precisions=("fp32",), frameworks=("tensorflow", "pytorch"))
    one = [verdicts(tied_frameworks(s), cfg)[0]["pytorch_faster_training_than_tensorflow"] for s in range(20)]
    assert one == ["inconclusive"] * 20
    _, table = verdicts(tied_frameworks(0), cfg)
    assert "one run per side" in table.set_index("claim").loc["pytorch_faster_training_than_tensorflow", "detail"]
    # With repeated runs (4 folds) the t-interval over runs covers the drift: a tie is rarely called.
    four = [verdicts(tied_frameworks(s, folds=4), cfg)[0]["pytorch_faster_training_than_tensorflow"]
            for s in range(20)]
    assert four.count("contradicted") + four.count("supported") <= 2


def test_the_missing_claims_are_listed_and_judged():
    ids = {c["id"] for c in CLAIMS}
    assert {"fp16_iou_drops", "iou_independent_of_f", "small_models_need_more_epochs", "mp_no_speedup_at_f8",
            "edgetpu_up_to_6x", "mp_training_speedup_up_to_1_6_hpc"} <= ids
    cloud = [c for c in CLAIMS if c["needs"] == "cloud_tpu"]
    assert cloud
    v, table = verdicts([], config())
    assert all(v[c["id"]] == "not measured" and "Cloud TPU" in table.set_index("claim").loc[c["id"], "detail"]
               for c in cloud)


def test_iou_independent_of_f_and_small_models_need_more_epochs():
    base = np.minimum(image_ious(), 0.9)
    cfg = config()
    cfg["train"]["filters"] = [8, 64]
    recs = []
    for k in range(4):
        for f, best in ((8, 40 + k), (64, 12 + k)):
            for p in ("fp32", "mixed_bf16"):
                r = scored("train", p, k, base + np.random.default_rng(k + f).normal(0, 0.003, len(base)), filters=f)
                r.best_epoch = best
                recs.append(r)
    v, table = verdicts(recs, cfg)
    assert v["iou_independent_of_f"] == "supported"
    assert v["small_models_need_more_epochs"] == "supported"
    assert table.set_index("claim").loc["small_models_need_more_epochs", "measured"] == pytest.approx(28)
    worse = [dataclasses.replace(r, per_image_iou=record.per_image(np.arange(len(base)), base - 0.1))
             if r.settings["filters"] == 8 else r for r in recs]
    assert verdicts(worse, cfg)[0]["iou_independent_of_f"] == "contradicted"


def test_no_speedup_at_f8():
    cfg = gpu_config(filters=(8, 64), frameworks=("tensorflow", "pytorch"))
    flat = speed_grid(1.0, device="a100", framework="pytorch", filters=8) + \
        speed_grid(1.3, device="a100", framework="tensorflow", filters=8, seed=5)
    assert verdicts(flat, cfg)[0]["mp_no_speedup_at_f8"] == "supported"    # some cell gains nothing
    gains = speed_grid(1.4, device="a100", framework="pytorch", filters=8) + \
        speed_grid(1.3, device="a100", framework="tensorflow", filters=8, seed=5)
    assert verdicts(gains, cfg)[0]["mp_no_speedup_at_f8"] == "contradicted"   # every cell gains


def test_the_6x_edgetpu_figure_is_judged():
    v, table = verdicts(edge_grid({8: 0.001, 64: 0.030}, {8: 0.006, 64: 0.010}), edge_config())
    assert v["edgetpu_up_to_6x"] == "supported"
    assert verdicts(edge_grid({8: 0.0003, 64: 0.030}, {8: 0.006, 64: 0.010}), edge_config())[0][
        "edgetpu_up_to_6x"] == "contradicted"    # 20x is not "up to 6x"
    stand_in = edge_grid({8: 0.001, 64: 0.030}, {8: 0.006, 64: 0.010}, run_device="cpu-int8")
    assert verdicts(stand_in, edge_config())[0]["edgetpu_up_to_6x"] == "not measured"


def test_schema_defaults_are_the_paper_s_or_claims_md_says_where_they_differ(tmp_path):
    import yaml
    from snakemake.utils import validate
    cfg = {"results_dir": "r", "data": {"bagls_dir": "b", "n_samples": 4096},
           "train": {"frameworks": ["pytorch"], "devices": ["cpu"],
                                                     "precisions": ["tf32", "mixed_bf16"], "filters": [8],
                                                     "folds": [0, 1, 2, 3]}}
    validate(cfg, str(REPO / "config" / "schema.yaml"))    # fills the defaults
    assert cfg["figures"]["baseline"] == "tf32"            # the paper's float32
    assert cfg["stats"]["max_cv"] == 0.10 and cfg["stats"]["min_speedup_effect"] == 0.05
    notes = claims.departures(cfg)
    assert "train.data_placement: device (paper: host)" in notes and "infer.folds: [0] (paper: all 4 folds)" in notes
    paper = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate(paper, str(REPO / "config" / "schema.yaml"))
    assert claims.departures(paper) == []
    # A grid without tf32 divides by strict fp32 and says so.
    base = image_ious(20)
    paths = []
    for p in ("fp32", "mixed_bf16"):
        paths.append(tmp_path / f"{p}.json")
        record.write(paths[-1], [scored("train", p, 0, np.minimum(base, 0.9))])
    cfg["train"]["precisions"] = ["fp32", "mixed_bf16"]
    out = tmp_path / "claims.md"
    claims.write(REPO / "config" / "claims.yaml", paths, cfg, tmp_path / "claims.csv", out)
    text = out.read_text()
    assert "departs from the paper's setup" in text and "train.data_placement: device (paper: host)" in text
    assert "divide by fp32" in text


# --- noise guard (issue 24 section 1) and settings that differ (issue 23 case 7) --------------------

def test_identical_int8_models_with_noisy_timings_are_inconclusive_not_contradicted():
    """The demo's case: two int8 models with identical op lists, 15 % apart in speed because two timed jobs
    shared the cores (timings spread with CV 0.2)."""
    base = np.minimum(image_ious(64), 0.75)
    recs = []
    for k in range(3):
        recs += [scored("train", p, k, base, framework="tensorflow") for p in ("fp32", "mixed_bf16")]
        for p, slow in (("fp32", 1.0), ("mixed_bf16", 1.15)):
            r = scored("tflite_cpu", p, k, base - 0.01, framework="tensorflow", variant="int8", run_device="cpu")
            rng = np.random.default_rng(40 + k + len(p))
            r.latency = record.latency(list(0.004 * slow * np.abs(1 + rng.normal(0, 0.2, 60))), unit="repeat")
            recs.append(r)
    v, table = verdicts(recs, config())
    assert v["mp_trained_models_quantize_alike"] == "inconclusive"
    assert "noisy timings" in table.set_index("claim").loc["mp_trained_models_quantize_alike", "detail"]


def test_noisy_gpu_training_timings_give_inconclusive_speed_verdicts():
    cfg = gpu_config(devices=("rtx3090",), filters=(64,), frameworks=("tensorflow",))
    quiet = speed_grid(1.9, seed=4)
    noisy = speed_grid(1.9, noise=0.2, seed=4)
    assert verdicts(quiet, cfg)[0]["mp_training_faster_on_gpus"] == "supported"
    v, table = verdicts(noisy, cfg)
    assert v["mp_training_faster_on_gpus"] == "inconclusive" and v["mp_training_speedup_up_to_1_9"] == "inconclusive"
    assert "stats.max_cv 0.1" in table.set_index("claim").loc["mp_training_faster_on_gpus", "detail"]
    cfg["stats"]["max_cv"] = 0.5    # a stated, looser guard lets the same data be judged
    assert verdicts(noisy, cfg)[0]["mp_training_faster_on_gpus"] == "supported"


def test_a_speedup_from_runs_with_other_settings_or_versions_names_them_and_is_inconclusive():
    cfg = gpu_config(devices=("rtx3090",), filters=(64,), frameworks=("tensorflow",))
    recs = speed_grid(1.9, seed=6)
    for r in recs:
        host = r.settings["precision"] == "fp32"
        r.settings.update(data_placement="host" if host else "device", learning_rate=5e-4 if host else 1e-3)
        r.provenance.update(tensorflow="2.21.0" if host else "2.20.0")
    v, table = verdicts(recs, cfg)
    detail = table.set_index("claim").loc["mp_training_faster_on_gpus", "detail"]
    assert v["mp_training_faster_on_gpus"] == "inconclusive"
    assert "data_placement: device vs host" in detail and "framework_version: 2.20.0 vs 2.21.0" in detail
    assert "learning_rate" not in detail      # not timing-relevant: not compared


def test_a_quiet_gpu_grid_with_repeated_runs_is_judged():
    """Two frameworks, two model sizes, 3 folds, quiet timings: the speed claims reach verdicts."""
    cfg = gpu_config(devices=("a100",), filters=(8, 64), frameworks=("tensorflow", "pytorch"))
    recs = []
    seed = iter(range(1000))
    for fw, scale, gains in (("tensorflow", 1.2, {8: 1.02, 64: 1.8}), ("pytorch", 1.0, {8: 1.01, 64: 1.4})):
        for f, gain in gains.items():
            for k in range(3):
                for p, t in (("fp32", 0.01 * scale * f / 8), ("mixed_fp16", 0.01 * scale * f / 8 / gain)):
                    recs.append(timed_rec("train", fw, "a100", p, k, t, filters=f, seed=next(seed)))
    v, table = verdicts(recs, cfg)
    assert v["mp_speedup_grows_with_f"] == "supported"
    assert v["tensorflow_gains_more_than_pytorch"] == "inconclusive"   # 2 cells (1.01, 1.29): a wide t-interval
    assert v["pytorch_faster_training_than_tensorflow"] == "supported"
    assert v["mp_no_speedup_at_f8"] == "supported" and v["mp_training_faster_on_gpus"] == "supported"
    assert v["mp_training_speedup_up_to_1_6_hpc"] == "contradicted"   # best cell 1.8: outside 1.44-1.76


def test_a_contradicted_equivalence_row_shows_the_cell_that_contradicts_it():
    """Two cells over 2 folds: one whose CI spans the margin and lies furthest from 0 (inconclusive), one whose
    narrow CI lies below -margin (contradicted). The row is contradicted and shows the contradicting cell's
    value and CI, not the wider one's (the demo showed `contradicted` beside a CI of [-0.85, 0.68])."""
    from mpbench.results.claims import verdicts
    cell = dict(device="cpu", precision="mixed_bf16", filters=8, n=2, tost_p=0.5, method="t over 2 folds", differs="")
    cells = pd.DataFrame([{**cell, "framework": "pytorch", "delta": -0.083, "ci_low": -0.85, "ci_high": 0.68,
                           "verdict": "inconclusive"},
                          {**cell, "framework": "tensorflow", "delta": -0.042, "ci_low": -0.050, "ci_high": -0.034,
                           "verdict": "contradicted"}])
    row = verdicts.equivalence(cells, "IoU(mixed) - IoU(baseline)", margin=0.01)
    assert row["verdict"] == "contradicted"
    assert (row["measured"], row["ci_low"], row["ci_high"]) == (-0.042, -0.050, -0.034)
    assert "contradicted, furthest from 0: tensorflow/cpu/mixed_bf16/f8" in row["detail"] and row["n"] == 2
    inconclusive = verdicts.equivalence(cells.iloc[:1], "x", margin=0.01)   # one verdict: furthest from 0 as before
    assert inconclusive["verdict"] == "inconclusive" and inconclusive["measured"] == -0.083
