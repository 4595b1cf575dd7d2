"""summary.csv from real result files of every phase; a broken result file is named."""
from pathlib import Path

import pytest

from mpbench.inference.bench import benchmark
from mpbench.results.tables import read_tables, summary_table, write_tables


@pytest.mark.slow
def test_summary_rows_from_real_train_and_infer_results(trained, train_h5, tmp_path):
    s, model = trained("pytorch", "fp32")
    train_json = model.parent / "result.json"
    infer_json = tmp_path / "infer.json"
    benchmark(s, model, train_h5, infer_json, [1, 4], warmup=1, repeats=3)
    summary, speedups = write_tables([train_json, infer_json], tmp_path / "summary.csv", tmp_path / "speedups.csv")
    assert sorted(summary["phase"]) == ["infer", "infer", "train"]
    tr = summary[summary["phase"] == "train"].iloc[0]
    cell = (tr["framework"], tr["device"], tr["precision"], tr["filters"], tr["fold"])
    assert cell == ("pytorch", "cpu", "fp32", 8, 0)
    assert tr["status"] == "ok" and tr["val_iou"] > 0.5 and tr["per_sample_s"] > 0
    assert tr["throughput"] == pytest.approx(1 / tr["per_sample_s"])
    assert tr["framework_version"].startswith("2.13") and tr["hostname"]
    assert summary[summary["phase"] == "infer"]["batch_size"].tolist() == [1, 4]
    back, _ = read_tables(tmp_path / "summary.csv", tmp_path / "speedups.csv")
    assert len(back) == 3 and speedups.empty   # one precision only: no ratio to report


def test_unreadable_result_is_named(tmp_path):
    bad = tmp_path / "result.json"
    bad.write_text('{"phase": "train", ')
    with pytest.raises(ValueError, match=f"{bad}.*delete it and rerun"):
        summary_table([bad])


def test_result_of_an_older_format_names_the_file_and_the_fix(tmp_path):
    old = tmp_path / "result.json"
    old.write_text('{"phase": "train", "status": "ok", "settings": {}}')
    with pytest.raises(ValueError, match=f"{old}: written by an older mpbench.*rerun"):
        summary_table([old])


@pytest.mark.parametrize("content,what", [
    ("[1, 2]", "found list"),
    ('{"record_version": 2, "records": [{"stage": "train"}]}', "'records' must be"),
    ('{"record_version": 1, "records": []}', "result format 1"),
])
def test_result_file_of_the_wrong_shape_is_named_in_one_line(tmp_path, content, what):
    bad = tmp_path / "result.json"
    bad.write_text(content)
    with pytest.raises(ValueError, match=what) as e:
        summary_table([bad])
    assert str(bad) in str(e.value) and "\n" not in str(e.value)


def timed_record(precision, fold, per_sample, n=40, seed=0, stage="train", batch=8):
    import numpy as np

    from mpbench import record
    rng = np.random.default_rng(seed)
    settings = {"framework": "pytorch", "device": "cpu", "precision": precision, "filters": 8, "fold": fold}
    statistic = "mean" if stage == "train" else "median"
    samples = list(per_sample * (1 + rng.normal(0, 0.03, n)))
    return record.Record(stage, settings, status="ok", provenance={}, batch_size=batch, iou=0.9,
                         latency=record.latency(samples, unit="epoch", statistic=statistic))


@pytest.mark.parametrize("folds", [1, 3])
def test_speedups_csv_has_a_ci_from_the_timed_samples_that_covers_a_known_ratio(tmp_path, folds):
    import pandas as pd

    from mpbench import record
    paths = []
    for k in range(folds):
        for p, t in (("fp32", 0.015), ("mixed_bf16", 0.010)):   # a throughput ratio of 1.5
            for stage in ("train", "infer"):
                path = tmp_path / f"{stage}-{p}-{k}.json"
                record.write(path, [timed_record(p, k, t, seed=10 * k + len(p), stage=stage)])
                paths.append(path)
    write_tables(paths, tmp_path / "summary.csv", tmp_path / "speedups.csv")
    sp = pd.read_csv(tmp_path / "speedups.csv")
    assert set(sp["phase"]) == {"train", "infer"} and (sp["n_folds"] == folds).all()
    for r in sp.itertuples():
        assert r.ci_low < 1.5 < r.ci_high and r.ci_low < r.speedup_mean < r.ci_high
        assert r.speedup_mean == pytest.approx(1.5, rel=0.03) and r.cv < 0.1 and pd.isna(r.differs)
        assert r.ci_method.startswith("bootstrap within 1 run") if folds == 1 else r.ci_method == "t over 3 runs"
        assert ("one run per side" in r.inconclusive_because) if folds == 1 else pd.isna(r.inconclusive_because)


def test_speedup_ci_narrows_with_more_timed_samples(tmp_path):
    from mpbench import record
    widths = []
    for n in (8, 200):
        paths = []
        for p, t in (("fp32", 0.015), ("mixed_bf16", 0.010)):
            path = tmp_path / f"{n}-{p}.json"
            record.write(path, [timed_record(p, 0, t, n=n, seed=len(p))])
            paths.append(path)
        _, sp = write_tables(paths, tmp_path / "s.csv", tmp_path / "sp.csv")
        widths.append(float(sp["ci_high"].iloc[0] - sp["ci_low"].iloc[0]))
    assert widths[1] < widths[0] / 2


@pytest.mark.parametrize(("framework", "formats", "same"), [
    ("pytorch", {"fp32": False, "mixed_bf16": True}, False),   # what channels_last: auto gives
    ("pytorch", {"fp32": True, "mixed_bf16": True}, True),
    ("tensorflow", {"fp32": True, "mixed_bf16": True}, None)])   # Keras has no memory-format option
def test_speedups_say_whether_both_sides_ran_in_the_same_memory_format(tmp_path, framework, formats, same):
    from mpbench import record
    paths = []
    for p, t in (("fp32", 0.015), ("mixed_bf16", 0.010)):
        rec = timed_record(p, 0, t, seed=len(p))
        rec.settings.update(framework=framework, channels_last=formats[p])
        paths.append(tmp_path / f"{p}.json")
        record.write(paths[-1], [rec])
    summary, sp = write_tables(paths, tmp_path / "s.csv", tmp_path / "sp.csv")
    (r,) = sp.to_dict("records")
    assert r["same_format"] == same and r["speedup_mean"] == pytest.approx(1.5, rel=0.05)
    if framework == "pytorch":
        assert (r["channels_last"], r["reference_channels_last"]) == (formats["mixed_bf16"], formats["fp32"])
    else:
        assert summary["channels_last"].isna().all()


def write_records(tmp_path, records):
    from mpbench import record
    paths = []
    for i, rec in enumerate(records):
        paths.append(tmp_path / f"r{i}.json")
        record.write(paths[-1], [rec])
    return paths


def claim_config():
    return {"train": {"devices": ["a100"], "precisions": ["fp32", "mixed_bf16"], "filters": [8],
                      "frameworks": ["pytorch"]},
            "figures": {"baseline": "fp32"}, "stats": {"iou_margin": 0.01},
            "devices": {"a100": {"type": "cuda"}}}


def test_speedups_csv_and_claims_csv_come_from_one_pairing_function(tmp_path, monkeypatch):
    """Issue 25 item 4: one function pairs runs into speed-ups; change it and both tables change."""
    import pandas as pd

    from mpbench.results import claims, speedups
    recs = []
    for k in range(3):
        for p, t in (("fp32", 0.015), ("mixed_bf16", 0.010)):
            r = timed_record(p, k, t, seed=10 * k + len(p))
            r.settings["device"] = "a100"
            r.settings["filters"] = 64
            recs.append(r)
    paths = write_records(tmp_path, recs)
    cfg = claim_config()
    cfg["train"]["filters"] = [64]
    claims_yaml = Path(__file__).resolve().parents[1] / "config" / "claims.yaml"

    def both():
        write_tables(paths, tmp_path / "s.csv", tmp_path / "sp.csv")
        sp = pd.read_csv(tmp_path / "sp.csv")
        table = claims.write(claims_yaml, paths, cfg, tmp_path / "c.csv", tmp_path / "c.md")
        table = pd.read_csv(tmp_path / "c.csv")
        return (sp.set_index("phase").loc["train", "speedup_mean"],
                table.set_index("claim").loc["mp_training_faster_on_gpus", "measured"])
    table_before, claim_before = both()
    assert table_before == pytest.approx(1.5, rel=0.03) and claim_before == pytest.approx(table_before)
    real = speedups.run_speedup
    monkeypatch.setattr(speedups, "run_speedup", lambda ref, new, compare=speedups.TIMING: {
        **real(ref, new, compare), "speedup": 2 * real(ref, new, compare)["speedup"]})
    table_after, claim_after = both()
    assert table_after == pytest.approx(2 * table_before) and claim_after == pytest.approx(2 * claim_before)


def test_noisy_timings_are_marked_in_speedups_csv(tmp_path):
    import numpy as np
    recs = []
    for k in range(3):
        for p, t in (("fp32", 0.015), ("mixed_bf16", 0.010)):
            r = timed_record(p, k, t, seed=10 * k + len(p))
            rng = np.random.default_rng(k + len(p))
            samples = list(t * np.abs(1 + rng.normal(0, 0.25, 40)))
            from mpbench import record
            r.latency = record.latency(samples, unit="epoch")
            recs.append(r)
    _, sp = write_tables(write_records(tmp_path, recs), tmp_path / "s.csv", tmp_path / "sp.csv",
                         stats_config={"max_cv": 0.10})
    (r,) = sp.to_dict("records")
    assert r["cv"] > 0.15 and "noisy timings" in r["inconclusive_because"] and "stats.max_cv 0.1" in \
        r["inconclusive_because"]
    _, sp = write_tables(write_records(tmp_path, recs), tmp_path / "s.csv", tmp_path / "sp.csv",
                         stats_config={"max_cv": 0.5})
    assert sp["inconclusive_because"].isna().all()


def test_one_statistic_the_mean_for_every_phase(tmp_path):
    """The paper's statistic is the mean: a TFLite/Edge TPU record that named the median is read as its mean."""
    from mpbench import record
    settings = {"framework": "tensorflow", "device": "cpu", "precision": "fp32", "filters": 8, "fold": 0}
    samples = [0.001, 0.001, 0.001, 0.004]
    lat = record.latency(samples, unit="repeat", statistic="median")
    rec = record.Record("edgetpu", settings, status="ok", provenance={}, run_device="cpu-int8", batch_size=1,
                        latency=lat, iou=0.8)
    summary = summary_table(write_records(tmp_path, [rec]))
    row = summary.iloc[0]
    assert row["per_sample_s"] == pytest.approx(0.00175) and row["throughput"] == pytest.approx(1 / 0.00175)
    assert record.latency(samples, unit="repeat")["statistic"] == "mean"
