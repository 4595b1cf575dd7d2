import copy
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from mpbench import grid

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "config" / "schema.yaml")


def load(name):
    return yaml.safe_load((REPO / "config" / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "demo.yaml"])
def test_configs_validate(name):
    cfg = load(name)
    validate(cfg, SCHEMA)
    assert cfg["infer"]["repeats"] >= 3  # defaults filled in


def test_unknown_key_rejected_and_named():
    cfg = load("demo.yaml")
    cfg["train"]["learning_rat"] = 0.1
    with pytest.raises(WorkflowError, match="learning_rat"):
        validate(cfg, SCHEMA)


def test_wrong_type_rejected_and_named():
    cfg = load("demo.yaml")
    cfg["data"]["n_samples"] = "many"
    with pytest.raises(WorkflowError, match="n_samples"):
        validate(cfg, SCHEMA)


def test_unknown_precision_rejected():
    cfg = load("demo.yaml")
    cfg["train"]["precisions"] = ["fp32", "fp8"]
    with pytest.raises(WorkflowError, match="fp8"):
        validate(cfg, SCHEMA)


def test_paper_grid_and_batch_overrides():
    cfg = load("config.yaml")
    validate(cfg, SCHEMA)
    runs = list(grid.train_runs(cfg))
    assert len(runs) == 2 * 3 * 2 * 4 * 4
    t = cfg["train"]
    assert grid.batch_size(t, "pytorch", "rtx3090", "fp32", 64) == 32
    assert grid.batch_size(t, "tensorflow", "rtx3090", "mixed_fp16", 32) == 64
    assert grid.batch_size(t, "pytorch", "a100", "fp32", 64) == 128
    quant = grid.quantize_runs(cfg)   # both frameworks' models go to TFLite and the Edge TPU; QAT is TensorFlow's
    assert {r["framework"] for r in quant} == {"tensorflow", "pytorch"} and len(quant) == len(runs)   # infer.folds: all
    qat = grid.qat_runs(cfg)
    assert all(r["framework"] == "tensorflow" for r in qat) and len(qat) == len(quant) // 2
    baseline_only = {**cfg, "quantize": {**cfg["quantize"], "qat_precisions": ["tf32"]}}
    assert [r for r in qat if r["precision"] == "tf32"] == grid.qat_runs(baseline_only) != []
    paper_only = {**cfg, "quantize": {**cfg["quantize"], "frameworks": ["tensorflow"]}}
    assert {r["framework"] for r in grid.quantize_runs(paper_only)} == {"tensorflow"}


def test_device_resources():
    cfg = load("config.yaml")
    r = grid.slurm_resources(cfg, "a100")
    assert r["slurm_partition"] == "a100" and r["gres"] == "gpu:a100:1" and r["gpu"] == 1
    assert grid.slurm_resources(cfg, "cpu") == {"gpu": 0}
    cfg2 = copy.deepcopy(cfg)
    cfg2["slurm"]["account"] = "b999dc"
    assert grid.slurm_resources(cfg2, "a40")["slurm_account"] == "b999dc"


def test_uncaught_job_error_lands_in_the_job_log(tmp_path):
    import subprocess
    import sys
    log = tmp_path / "job.log"
    code = f"from mpbench.logs import setup; setup({str(log)!r}); raise RuntimeError('device a100 sees no GPU')"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 1
    text = log.read_text()
    assert "job failed: RuntimeError: device a100 sees no GPU" in text and "Traceback" in text


def test_paper_config_resolves_to_the_papers_setup():
    """The paper's float32 (framework default: TF32 on Ampere), NCHW, plain Adam, frames in host RAM,
    every fold timed at inference — set explicitly, whatever the trainer's defaults are."""
    from mpbench.settings import RunSettings
    cfg = load("config.yaml")
    validate(cfg, SCHEMA)
    assert cfg["train"]["precisions"] == ["tf32", "mixed_fp16"] and cfg["figures"]["baseline"] == "tf32"
    assert cfg["infer"]["folds"] == cfg["train"]["folds"] == [0, 1, 2, 3]
    for fw in cfg["train"]["frameworks"]:
        s = RunSettings.from_config(cfg, fw, "a100", "tf32", 64, 0)
        assert (s.channels_last, s.fused_adam, s.data_placement) == (False, False, "host")
        assert s.spec.tf32 is True and s.learning_rate == 5e-4 and s.batch_size == 128 and s.patience == 10
    for key in ("channels_last", "fused_adam", "data_placement"):
        assert key in cfg["train"], f"the paper config must set train.{key} itself"
    # Label-free crop; [-1, 1] pixels as the paper's GPU runs (its Edge TPU runs: data.normalisation unit).
    assert cfg["data"]["crop"]["policy"] == "center" and cfg["data"]["normalisation"] == "symmetric"
    assert RunSettings.from_config(cfg, "pytorch", "a100", "tf32", 8, 0).normalisation == "symmetric"


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
@pytest.mark.parametrize("normalisation", ["symmetric", "unit"])
def test_models_are_fed_the_configured_normalisation(framework, normalisation):
    """Training and inference normalise as data.normalisation says: 0 → -1 or 0, 255 → 1."""
    import numpy as np

    from mpbench.data.dataset import normalise
    from mpbench.frameworks import runtime
    from mpbench.settings import RunSettings
    s = RunSettings(framework=framework, device="cpu", device_type="cpu", precision="fp32", filters=8, fold=0,
                    normalisation=normalisation, threads=1)
    images = np.array([[[0, 128], [200, 255]]], np.uint8)
    for device in (None, "cpu"):   # device-resident and host-resident data
        x = np.asarray(runtime(s).to_device(images, device=device), np.float32).reshape(images.shape)
        np.testing.assert_allclose(x, normalise(images, normalisation), atol=1e-6)
    assert x.min() == (-1.0 if normalisation == "symmetric" else 0.0) and x.max() == 1.0
    with pytest.raises(ValueError, match="normalisation"):
        RunSettings(framework=framework, device="cpu", device_type="cpu", precision="fp32", filters=8, fold=0,
                    normalisation="zscore")


@pytest.mark.parametrize(("device", "precision", "expected"), [
    ("a100", "fp32", False), ("a100", "tf32", True), ("a100", "mixed_fp16", True), ("a100", "mixed_bf16", True),
    ("a100", "fp16", True), ("cpu", "fp32", False), ("cpu", "tf32", False), ("cpu", "mixed_bf16", True)])
def test_channels_last_auto_resolves_per_precision_and_device_and_is_recorded(device, precision, expected):
    """auto: NHWC where reduced-precision matrix units run the convolutions, NCHW for float32 without them;
    the settings every record carries hold the resolved format and say it was chosen automatically."""
    from mpbench.settings import RunSettings
    cfg = load("config.yaml")
    cfg["train"]["channels_last"] = "auto"
    validate(cfg, SCHEMA)
    s = RunSettings.from_config(cfg, "pytorch", device, precision, 8, 0)
    assert s.channels_last is expected and s.channels_last_from == "auto"
    again = RunSettings(**s.to_dict())    # as every job script rebuilds it from the params
    assert again.to_dict() == s.to_dict() and again.channels_last is expected


def test_channels_last_set_by_the_config_is_kept_and_nonsense_refused():
    from mpbench.settings import RunSettings
    cfg = load("config.yaml")
    validate(cfg, SCHEMA)
    assert RunSettings.from_config(cfg, "pytorch", "a100", "mixed_fp16", 8, 0).channels_last_from == "config"
    cfg["train"]["channels_last"] = True
    s = RunSettings.from_config(cfg, "pytorch", "a100", "fp32", 8, 0)
    assert s.channels_last is True and s.channels_last_from == "config"
    cfg["train"]["channels_last"] = "yes"
    with pytest.raises(WorkflowError, match="channels_last"):
        validate(cfg, SCHEMA)
    with pytest.raises(ValueError, match="channels_last must be true, false or 'auto'"):
        RunSettings(framework="pytorch", device="cpu", device_type="cpu", precision="fp32", filters=8, fold=0,
                    channels_last="yes")
