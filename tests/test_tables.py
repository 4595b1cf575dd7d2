"""summary.csv from real result files of every phase; a broken result file is named."""
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
