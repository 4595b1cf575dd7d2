"""config/from_existing.yaml: summary, figures and claims re-derived from copied result files only,
and the claims table in the --report."""
import zipfile

import numpy as np
import pandas as pd
import pytest

from mpbench import record

from conftest import REPO, run_snakemake, small_config

pytestmark = pytest.mark.slow


def copied_train_result(root, precision, shift):
    """A training record of pytorch/cpu/f8/fold0 as a cluster run writes it (per-image IoU, timed epochs)."""
    rng = np.random.default_rng(len(precision))
    iou = np.clip(np.random.default_rng(0).normal(0.85, 0.05, 40), 0, 0.99) + shift   # the same images
    settings = {"framework": "pytorch", "device": "cpu", "precision": precision, "filters": 8, "fold": 0}
    rec = record.Record("train", settings, status="ok", provenance={}, batch_size=8, iou=float(iou.mean()),
                      latency=record.latency(list(0.01 * (1 + rng.normal(0, 0.02, 6))), unit="epoch",
                                             statistic="mean"),
                      per_image_iou=record.per_image(np.arange(40), iou), best_epoch=3)
    path = root / "train" / "pytorch" / "cpu" / precision / "f8" / "fold0" / "result.json"
    path.parent.mkdir(parents=True)
    record.write(path, [rec])


def test_from_existing_rederives_tables_figures_and_claims_without_running_jobs(tmp_path):
    cfg = small_config(tmp_path, "copied", figures={"only_existing": True, "fig4_device": "cpu", "baseline": "fp32"})
    root = tmp_path / "copied"
    copied_train_result(root, "fp32", 0.0)
    copied_train_result(root, "mixed_bf16", 0.002)
    run = run_snakemake("figures", "claims", "--cores", "2", "--configfile", str(cfg),
                        str(REPO / "config" / "from_existing.yaml"), timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    claims = pd.read_csv(root / "claims.csv").set_index("claim")
    assert claims.loc["mp_iou_unchanged", "measured"] == pytest.approx(0.002, abs=1e-6)
    # A constant 0.002 on 40 images, but each side is one training run on one fold: the per-image CI does not
    # cover how two training runs differ, so the verdict waits for more folds
    # (mpbench.results.claims.verdicts.equivalence).
    assert claims.loc["mp_iou_unchanged", "verdict"] == "inconclusive"
    assert "more folds" in claims.loc["mp_iou_unchanged", "detail"]
    acc = pd.read_csv(root / "accuracy.csv")
    assert set(acc["comparison"]) == {"precision vs baseline"} and (acc["n"] == [40, 1]).all()
    assert (root / "claims.html").exists() and (root / "figures" / "fig3.png").exists()
    assert not (root / "data").exists() and not (root / "infer").exists()   # nothing was rerun
    report = tmp_path / "report.zip"
    run = run_snakemake("figures", "claims", "--configfile", str(cfg), str(REPO / "config" / "from_existing.yaml"),
                        "--report", str(report), timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    with zipfile.ZipFile(report) as z:
        (page,) = [n for n in z.namelist() if n.endswith("claims.html")]
        html = z.read(page).decode()
    assert 'id="mp_iou_unchanged"' in html and "inconclusive" in html and "not measured" in html
