"""The whole workflow on the cut-down demo: every stage's outputs, honest labels, and --report."""
import zipfile

import pandas as pd
import pytest
from PIL import Image

from mpbench import record

from conftest import run_snakemake

pytestmark = pytest.mark.slow
FIGURES = ["fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "energy"]


def test_every_stage_produced_its_results(small_local_run):
    root = small_local_run
    summary = pd.read_csv(root / "summary.csv")
    assert set(summary["phase"]) == {"train", "infer", "tflite_cpu", "edgetpu", "qat"}
    assert len(summary[summary["phase"] == "train"]) == 4 and (summary["status"] == "ok").all()
    edge = summary[summary["phase"] == "edgetpu"]
    assert set(edge["run_device"]) == {"cpu-int8"} and edge["note"].str.contains("unavailable").all()
    # Both frameworks' models went through quantize and the Edge TPU stage (issue 14): int8 rows for each.
    int8 = summary[(summary["phase"] == "tflite_cpu") & (summary["variant"] == "int8")]
    assert sorted(int8["framework"]) == ["pytorch", "pytorch", "tensorflow", "tensorflow"]
    assert (int8["status"] == "ok").all() and int8["val_iou"].between(0, 1).all()
    assert sorted(edge["framework"]) == ["pytorch", "pytorch", "tensorflow", "tensorflow"]
    for fw, dtype in (("tensorflow", "uint8"), ("pytorch", "int8")):
        cell = root / "quantize" / fw / "cpu" / "fp32" / "f8" / "fold0"
        (q,) = record.read(cell / "result.json")
        assert q.details["io"]["input"]["dtype"] == dtype and q.details["edgetpu_check"]["edgetpu_compatible"]
        assert q.settings["framework"] == fw and q.model_path == str(cell / "model_int8.tflite")
        assert (cell / "model_int8.tflite").stat().st_size == q.details["bytes"]
    compiled = record.read_one(next(root.glob("quantize/**/edgetpu_compile.json")))
    assert compiled.status == "unavailable" and "edgetpu_compiler" in compiled.note
    claims = pd.read_csv(root / "claims.csv")
    assert len(claims) >= 13 and set(claims["verdict"]) <= {"supported", "contradicted", "inconclusive", "not measured"}
    gpu = claims[claims["needs"] != "any"]
    assert (gpu["verdict"] == "not measured").all() and gpu["detail"].notna().all()   # no GPU, no Edge TPU here
    speedups = pd.read_csv(root / "speedups.csv")
    assert set(speedups["precision"]) == {"mixed_bf16"} and set(speedups["phase"]) == {"train", "infer"}
    for name in FIGURES:
        with Image.open(root / "figures" / f"{name}.png") as im:
            im.verify()
        assert (root / "figures" / f"{name}.pdf").stat().st_size > 1000


def test_energy_csv_names_what_was_not_measured_here(small_local_run):
    """energy.csv of the cut-down demo: no GPU here, so the GPU rows are empty with NVML's reason; the CPU
    rows are empty with the powercap meter's reason where this machine has no readable counters."""
    from mpbench.energy import PowercapMeter
    e = pd.read_csv(small_local_run / "energy.csv")
    cells = e[e["scope"] == "cell"]
    assert set(cells["phase"]) == {"train", "infer"} and set(cells["meter"]) == {"gpu", "cpu"}
    assert len(cells[(cells["quantity"] == "to_train") & (cells["meter"] == "cpu")]) == 4   # every training cell
    gpu = e[e["meter"] == "gpu"]
    assert gpu["joules"].isna().all() and gpu["g_co2"].isna().all() and gpu["reason"].str.contains("no GPU").all()
    cpu = e[(e["meter"] == "cpu") & (e["quantity"] != "to_target")]   # to_target: maybe never reached
    here = PowercapMeter(poll=False)
    if here.available:
        assert cpu["joules"].notna().all() and (cpu["g_co2"] > 0).all()
    else:
        assert cpu["joules"].isna().all() and cpu["reason"].str.contains(here.reason, regex=False).all()
    train = cells[cells["quantity"] == "to_train"]
    assert (train["seconds"] > 0).all() and train["covers"].str.contains("validation").all()
    assert (e["carbon_intensity_g_per_kwh"] == 380).all() and e["carbon_intensity_source"].notna().all()
    claims = pd.read_csv(small_local_run / "claims.csv").set_index("claim")
    for claim in ("mp_lowers_training_energy", "mp_lowers_energy_to_target"):
        assert claims.loc[claim, "verdict"] == "not measured" and "no GPU" in claims.loc[claim, "detail"]


def test_report_includes_the_figures(small_local_run, tmp_path):
    cfg = small_local_run.parent / "local.yaml"
    report = tmp_path / "report.zip"
    run = run_snakemake("--configfile", str(cfg), "--report", str(report), timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    names = zipfile.ZipFile(report).namelist()
    assert all(any(n.endswith(f"{fig}.png") for n in names) for fig in FIGURES), names


@pytest.mark.xdist_group("workflow")   # after the workflow tests, in their worker: handed out last by file name,
def test_a_blown_up_run_is_recorded_and_the_grid_goes_on(tmp_path):   # it kept the other worker idle for its 40 s
    """lr 1e6: TensorFlow's weights grow huge without a NaN; their int8 model may not run in the
    interpreter. Every job still finishes, a failure is a status, and the figures are drawn."""
    from conftest import small_config
    cfg = small_config(tmp_path, "blown", train={"learning_rate": 1.0e6, "frameworks": ["tensorflow"],
                                                 "precisions": ["fp32"]},
                       quantize={"qat_epochs": 0})   # QAT (~25 s of fixed cost) is checked on small_local_run
    run = run_snakemake("--cores", "2", "--configfile", str(cfg), "--quiet")
    assert run.returncode == 0, run.stderr[-4000:]
    summary = pd.read_csv(tmp_path / "blown" / "summary.csv")
    status = {(r.phase, r.variant if isinstance(r.variant, str) else ""): r.status for r in summary.itertuples()}
    # Whether the interpreter refuses the blown-up int8 model depends on how far the weights grew on
    # this data (it did on the earlier synthetic frames); either way the statuses agree down the chain.
    assert status[("train", "")] == "ok" and status[("tflite_cpu", "int8")] in ("ok", "failed")
    assert status[("edgetpu", "int8")] == status[("tflite_cpu", "int8")]
    assert all((tmp_path / "blown" / "figures" / f"{name}.png").exists() for name in FIGURES)
