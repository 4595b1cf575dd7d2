"""The paper's claims checked on synthetic records with known truth; missing hardware is never support."""
from pathlib import Path

import numpy as np
import pytest

from mpbench import claims, record

REPO = Path(__file__).resolve().parents[1]
CLAIMS = claims.load(REPO / "config" / "claims.yaml")


def rec(stage, framework, device, precision, fold, iou=None, per_sample=0.01, n=20, batch=8, seed=0, **kw):
    rng = np.random.default_rng(seed)
    settings = {"framework": framework, "device": device, "precision": precision, "filters": 8, "fold": fold}
    samples = list(per_sample * (1 + rng.normal(0, 0.01, n)))
    return record.make(stage, settings, status="ok", prov={}, batch_size=batch, iou=iou,
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
    assert all(c["statement"] and c["where"] and c["needs"] in ("any", "gpu", "edgetpu") for c in CLAIMS)
    assert all(hasattr(claims.Checker, c["test"]) for c in CLAIMS)


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
    slow = [{**r, "settings": {**r["settings"], "precision": {"fp32": "mixed_bf16", "mixed_bf16": "fp32"}[
        r["settings"]["precision"]]}} for r in fast]
    assert verdicts(slow, cfg)[0]["mp_training_faster_on_gpus"] == "contradicted"


def test_a_stated_maximum_is_reached_by_the_best_cell_and_energy_without_nvml_is_not_measured():
    cfg = config(devices=("rtx3090",), gpus=("rtx3090",))
    cfg["train"]["frameworks"] = ["tensorflow"]
    recs = []
    for k in range(3):
        for p, t in (("fp32", 0.019), ("mixed_bf16", 0.010)):
            r = rec("train", "tensorflow", "rtx3090", p, k, iou=0.9, per_sample=t, seed=k)
            r["settings"]["filters"] = 64
            recs.append(r)
    v, table = verdicts(recs, cfg)
    assert v["mp_training_speedup_up_to_1_9"] == "supported"
    assert v["mp_lowers_training_energy"] == "not measured"
    assert "NVML" in table.set_index("claim")["detail"]["mp_lowers_training_energy"]
