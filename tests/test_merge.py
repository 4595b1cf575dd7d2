"""python -m mpbench merge: result folders from two sites combined without overwriting anything, what
differs between them reported, and the summary, accuracy table, figures and claims marking the
comparisons that cross a difference."""
import hashlib
import json
import os
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mpbench import record, stages
from mpbench.__main__ import main
from mpbench.figures.make import note_differences
from mpbench.results import claims
from mpbench.results.tables import write_tables

from conftest import REPO, merged_config, run_snakemake, small_config

# Two sites: the cluster (seed 42, mpbench 0.3.0, torch 2.5.0) and a workstation that preprocessed with
# another seed and runs a newer mpbench and torch.
SITES = {
    "cluster": {"data": "a1" * 32, "mpbench": "0.3.0", "git_commit": "1111111", "torch": "2.5.0"},
    "workstation": {"data": "b2" * 32, "mpbench": "0.4.0", "git_commit": "2222222", "torch": "2.6.0"},
}
CELL_DIR = "train/pytorch/cpu/{precision}/f{filters}/fold{fold}"


def train_record(site: str, precision: str, filters: int, fold: int, *, iou_shift=0.0, seed=0) -> record.Record:
    """A pytorch/cpu training record as a site writes it: per-image IoU on HDF5 rows 0..39, six timed
    epochs, the site's data digest and versions."""
    facts = SITES[site]
    rng = np.random.default_rng(seed + 10 * fold + filters + len(precision))
    iou = np.clip(np.random.default_rng(fold).normal(0.85, 0.03, 40) + iou_shift, 0, 1)
    settings = {"framework": "pytorch", "device": "cpu", "precision": precision, "filters": filters, "fold": fold,
                "threads": 2, "data_placement": "device"}
    speed = 0.01 * (filters / 8) * (0.8 if precision != "fp32" else 1.0)
    return record.Record(
        "train", settings, status="ok", batch_size=8, iou=float(iou.mean()), best_epoch=3,
        provenance={"mpbench": facts["mpbench"], "git_commit": facts["git_commit"], "torch": facts["torch"],
                    "cpu": "AMD EPYC"},
        latency=record.latency(list(speed * (1 + rng.normal(0, 0.01, 6))), unit="epoch", statistic="mean"),
        per_image_iou=record.per_image(np.arange(40), iou), model_path=f"/{site}/results/{CELL_DIR}/model.pt",
        details={"data": {"content_sha256": facts["data"], "seed": 42 if site == "cluster" else 7}})


def write_cell(root: Path, rec: record.Record, model: bytes) -> Path:
    path = Path(stages.result_path(str(root), stages.BY_NAME["train"], rec.settings))
    path.parent.mkdir(parents=True, exist_ok=True)
    record.write(path, [rec])
    (path.parent / "model.pt").write_bytes(model)
    return path


def snapshot(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def sites(tmp_path):
    """Two result folders. Both hold fp32/f8/fold0 (the workstation's is a copy of the cluster's, its
    file times lost) and fp32/f8/fold1 (rerun on the workstation: another record, the same model bytes —
    a conflict). The cluster trained fp32 at f8, the workstation mixed_bf16 at f8 and both precisions
    at f16: the f8 speed-up and IoU comparison cross the sites, the f16 ones do not."""
    cluster, ws = tmp_path / "cluster" / "results", tmp_path / "workstation" / "results"
    for fold in (0, 1):
        write_cell(cluster, train_record("cluster", "fp32", 8, fold), b"weights fp32 f8 fold%d" % fold)
        write_cell(ws, train_record("workstation", "mixed_bf16", 8, fold, iou_shift=0.002),
                   b"weights bf16 f8 fold%d" % fold)
        for precision in ("fp32", "mixed_bf16"):
            write_cell(ws, train_record("workstation", precision, 16, fold, iou_shift=0.001 * (precision != "fp32")),
                       b"weights %s f16" % precision.encode())
    copied = ws / CELL_DIR.format(precision="fp32", filters=8, fold=0)
    copied.mkdir(parents=True)
    for name in ("result.json", "model.pt"):
        (copied / name).write_bytes((cluster / CELL_DIR.format(precision="fp32", filters=8, fold=0) / name)
                                    .read_bytes())
    write_cell(ws, train_record("workstation", "fp32", 8, 1, seed=5), b"weights fp32 f8 fold1")
    for root, key in ((cluster, "k42"), (ws, "k7")):
        (root / "data" / key).mkdir(parents=True)
        (root / "data" / key / "preprocess_report.json").write_text(json.dumps({"key": key}))
        log = root / "logs" / "train" / "pytorch" / "cpu" / "fp32" / "f8" / "fold0.log"
        log.parent.mkdir(parents=True)
        log.write_text("epoch 1 …\n")
        (root / "logs" / "summary.log").write_text(f"summary of {key}\n")
        (root / "summary.csv").write_text(f"derived at {key}\n")
    for p in ws.rglob("*"):
        os.utime(p, (0, 0))   # a copy that lost its file times: older than everything
    return cluster, ws


def test_merge_copies_everything_once_and_names_conflicts_and_differences(sites, tmp_path, capsys):
    cluster, ws = sites
    before = {"cluster": snapshot(cluster), "ws": snapshot(ws)}
    out = tmp_path / "merged"
    assert main(["merge", str(cluster), str(ws), "--into", str(out)]) == 0
    assert "1 conflict left out" in capsys.readouterr().out
    report = json.loads((out / "merge_report.json").read_text())
    # The sources share a folder name: labels made unique.
    assert [s["label"] for s in report["sources"]] == ["results", "results-2"]
    fold0, fold1 = (CELL_DIR.format(precision="fp32", filters=8, fold=k) for k in (0, 1))
    # Identical in both (file times differ): copied once.
    assert (out / fold0 / "result.json").read_bytes() == (cluster / fold0 / "result.json").read_bytes()
    # The same cell with another record: a conflict, left out with the model its record names, both kept aside.
    assert [c["path"] for c in report["conflicts"]] == [f"{fold1}/result.json"]
    assert report["left_out_with_a_conflict"] == [f"{fold1}/model.pt"]
    assert not (out / fold1).exists()
    for label, src in (("results", cluster), ("results-2", ws)):
        for name in ("result.json", "model.pt"):
            kept = out / "merge_conflicts" / label / fold1 / name
            assert kept.read_bytes() == (src / fold1 / name).read_bytes()
    # Data folders of other settings keys, the jobs' logs: merged; tables and the summary's log: not.
    assert (out / "data" / "k42").is_dir() and (out / "data" / "k7").is_dir()
    assert (out / "logs/train/pytorch/cpu/fp32/f8/fold0.log").is_file()
    assert not (out / "summary.csv").exists() and not (out / "logs" / "summary.log").exists()
    assert {"summary.csv", "logs/summary.log"} <= set(report["not_merged"]["results-2"])
    # What differs, per key and per source.
    differs = {d["key"]: d["values"] for d in report["differs"]}
    assert differs["data_sha256"] == {"results": ["a1" * 32], "results-2": ["a1" * 32, "b2" * 32]}
    assert differs["mpbench_version"] == {"results": ["0.3.0"], "results-2": ["0.3.0", "0.4.0"]}
    assert differs["framework_version [pytorch]"]["results-2"] == ["2.5.0", "2.6.0"]
    assert "git_commit" in differs and "threads" not in differs   # the same threads everywhere
    md = (out / "merge_report.md").read_text()
    for text in ("data_sha256", "mpbench_version", "framework_version [pytorch]", f"{fold1}/result.json",
                 "IoU comparisons across it are not comparable"):
        assert text in md
    # Nothing in the sources touched; a second merge into the same folder is refused and changes nothing.
    assert {"cluster": snapshot(cluster), "ws": snapshot(ws)} == before
    merged = snapshot(out)
    assert main(["merge", str(cluster), str(ws), "--into", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert snapshot(out) == merged


def test_merge_refuses_what_is_not_a_results_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["merge", str(tmp_path / "empty"), "--into", str(tmp_path / "out")]) == 2
    assert "not a results_dir" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_summary_accuracy_figures_and_claims_mark_comparisons_across_sites(sites, tmp_path):
    cluster, ws = sites
    out = tmp_path / "merged"
    assert main(["merge", str(cluster), str(ws), "--into", str(out)]) == 0
    results = sorted(str(p) for p in (out / "train").rglob("result.json"))
    summary, sp = write_tables(results, out / "summary.csv", out / "speedups.csv")
    assert set(summary["data_sha256"]) == {"a1" * 32, "b2" * 32}
    train = sp.set_index(["filters", "precision"])
    crossing = train.loc[(8, "mixed_bf16"), "differs"]   # bf16 at the workstation over fp32 at the cluster
    for text in ("data_sha256: b2b2b2b2b2b2 vs a1a1a1a1a1a1", "mpbench_version: 0.4.0 vs 0.3.0",
                 "framework_version: 2.6.0 vs 2.5.0"):
        assert text in crossing
    assert "settings differ" in train.loc[(8, "mixed_bf16"), "inconclusive_because"]
    assert pd.isna(train.loc[(16, "mixed_bf16"), "differs"])   # both at the workstation: nothing crossed

    cfg = merged_config(small_config(tmp_path, "merged", train={"filters": [8, 16], "folds": [0, 1]}))
    table = claims.write(REPO / "config" / "claims.yaml", results, cfg, out / "claims.csv", out / "claims.md",
                         accuracy_csv=out / "accuracy.csv").set_index("claim")
    acc = pd.read_csv(out / "accuracy.csv")
    over = acc[(acc["fold"] == "all") & (acc["comparison"] == "precision vs baseline")].set_index("filters")
    assert over.loc[8, "method"].startswith("not comparable: other data (data_sha256")
    assert pd.isna(over.loc[8, "ci_low"]) and over.loc[8, "verdict"] == "inconclusive"
    assert pd.notna(over.loc[16, "ci_low"]) and pd.isna(over.loc[16, "differs"])   # within one site
    assert "mpbench_version: 0.4.0 vs 0.3.0" in over.loc[8, "differs"]
    iou = table.loc["mp_iou_unchanged"]
    assert iou["verdict"] == "inconclusive"   # the f16 cell alone would be supported
    assert "caveat: 1 of 2 cells compare models whose records differ" in iou["detail"]
    assert "data_sha256" in iou["detail"]
    grows = table.loc["time_grows_with_f"]   # f8 at the cluster against f16 at the workstation
    assert grows["verdict"] == "inconclusive" and "settings differ: data_sha256" in grows["detail"]

    fig = plt.figure()
    note = note_differences(fig, summary)
    assert [t.get_gid() for t in fig.texts] == ["differences"]
    for text in ("data_sha256 (a1a1a1a1a1a1, b2b2b2b2b2b2)", "mpbench_version (0.3.0, 0.4.0)",
                 "framework_version [pytorch] (2.5.0, 2.6.0)"):
        assert text in note
    plt.close(fig)
    same = plt.figure()
    assert note_differences(same, summary[summary["filters"] == 16]) == "" and not same.texts
    plt.close(same)


@pytest.mark.slow
def test_merged_folder_rederives_figures_and_claims_scheduling_nothing_else(sites, tmp_path):
    cluster, ws = sites
    out = tmp_path / "merged"
    assert main(["merge", str(cluster), str(ws), "--into", str(out)]) == 0
    cfg = small_config(tmp_path, "merged", train={"filters": [8, 16], "folds": [0, 1]},
                       figures={"only_existing": True})
    before = snapshot(out)
    run = run_snakemake("figures", "claims", "--cores", "2", "--configfile", str(cfg),
                        str(REPO / "config" / "from_existing.yaml"), timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    rules = set(re.findall(r"^(?:local)?rule (\w+):", run.stderr, flags=re.M))
    assert rules == {"summary", "figures", "claims"}, rules
    after = snapshot(out)
    assert {k: v for k, v in after.items() if k in before} == before   # no merged file touched or removed
    assert not (out / "infer").exists() and not (out / "quantize").exists()
    speed = pd.read_csv(out / "speedups.csv")
    assert speed["differs"].fillna("").str.contains("data_sha256").any()
    assert "caveat" in pd.read_csv(out / "claims.csv").set_index("claim").loc["mp_iou_unchanged", "detail"]
