"""Both trainers on CPU with tiny data: they learn, stop early, resume, and record divergence."""
import json
import logging
import math

import pytest
import torch

from mpbench import record
from mpbench.models import UNetSpec
from mpbench.models.unet_keras import build_unet as build_keras
from mpbench.models.unet_torch import build_unet as build_torch
from mpbench.precisions import PrecisionUnavailable
from mpbench.record import Status
from mpbench.settings import RunSettings
from mpbench.training import loop

from conftest import CountingMeter, trained_as

EXT = {"pytorch": "pt", "tensorflow": "keras"}


def settings(framework, **kw):
    base = dict(framework=framework, device="cpu", device_type="cpu", precision="fp32", filters=8, fold=0,
                batch_size=16, learning_rate=3e-3, max_epochs=8, patience=10, channels_last=False, threads=2)
    base.update(kw)
    return RunSettings(**base)


def run(s, h5, tmp_path):
    out = tmp_path / s.framework / s.precision
    return loop.train(s, h5, out / "result.json", out / f"model.{EXT[s.framework]}", out / "checkpoint"), out


def backend_class(framework):
    if framework == "pytorch":
        from mpbench.training.torch_backend import TorchBackend
        return TorchBackend
    from mpbench.training.keras_backend import KerasBackend
    return KerasBackend


@pytest.mark.parametrize("filters", [8, 16, 32, 64])
@pytest.mark.parametrize("upsampling", ["nearest", "transpose", "edgetpu"])
def test_unets_have_equal_parameter_counts(filters, upsampling):
    spec = UNetSpec(filters, upsampling=upsampling)
    n_torch = sum(p.numel() for p in build_torch(spec).parameters() if p.requires_grad)
    n_keras = sum(int(w.numpy().size) for w in build_keras(spec, input_size=32).trainable_weights)
    assert n_torch == n_keras > 0


def test_edgetpu_upsampling_equals_nearest():
    from mpbench.models.unet_torch import EdgeTPUUpsample
    x = torch.randn(2, 3, 5, 7)
    assert torch.equal(EdgeTPUUpsample()(x), torch.nn.Upsample(scale_factor=2, mode="nearest")(x))


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_trainer_learns_and_records(framework, trained):
    # The session's fp32 model of ``trained`` (conftest) is this very run: settings(framework), 8 epochs.
    s, model = trained(framework, "fp32")
    assert s == settings(framework)
    result, out = trained.record(framework, "fp32"), model.parent
    assert result.status == "ok" and result.epochs == 8
    ious = [h["val_iou"] for h in result.details["history"]]
    # Synthetic glottis segmentation is easy: 8 epochs on 60 frames reach IoU > 0.6.
    assert result.iou == max(ious) > 0.6
    assert max(ious) > ious[0]
    saved = record.read_one(out / "result.json")
    assert saved == result and json.loads((out / "result.json").read_text())["record_version"] == record.RECORD_VERSION
    t = saved.latency
    assert t["excluded"] and t["per_sample_s"]["n"] == 7 and t["timed_epochs"] == list(range(2, 9))
    n_train = saved.details["n_train"]
    mean_epoch = sum(h["seconds"] for h in saved.details["history"][1:]) / 7
    assert math.isclose(t["per_sample_s"]["mean"], mean_epoch / n_train, rel_tol=1e-9)
    assert t["statistic"] == "mean" and math.isclose(t["throughput"] * t["per_sample_s"]["mean"], 1.0)
    assert t["samples_s"] == [h["seconds"] / n_train for h in saved.details["history"][1:]]
    assert saved.joules_per_sample is None and saved.energy_meter["reason"]
    # Per-image IoU of the best weights, keyed by HDF5 row: pairs two models of a fold image by image.
    index, per_image = record.unpack_per_image(saved.per_image_iou)
    assert len(index) == len(per_image) == saved.details["n_val"] and per_image.dtype.itemsize == 4
    assert float(per_image.mean()) == pytest.approx(saved.iou, abs=1e-6)
    assert 0 <= saved.iou_pooled <= 1
    prov = saved.provenance
    assert prov["hostname"] and prov["cpu"] and prov["python"]
    assert prov["torch" if framework == "pytorch" else "tensorflow"]
    assert (out / f"model.{EXT[framework]}").stat().st_size > 0
    assert not (out / "checkpoint").exists()  # removed once complete


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_mixed_bf16_trains_on_cpu(framework, train_h5, tmp_path, trained):
    if framework == "pytorch":   # trained for the inference tests anyway (2 epochs)
        result = trained.record(framework, "mixed_bf16")
    else:
        result, _ = run(settings(framework, precision="mixed_bf16", max_epochs=2), train_h5, tmp_path)
    assert result.status == "ok" and all(math.isfinite(h["loss"]) for h in result.details["history"])


@pytest.mark.slow
def test_each_pass_is_metered_on_gpu_and_cpu_and_the_gpu_state_recorded(train_h5, tmp_path, monkeypatch):
    """Counting meters (2 J per GPU pass, 5 J per CPU pass): the history holds each pass's joules, validation
    too; joules_per_sample stays the GPU's training passes of the timed epochs, its CPU counterpart beside it."""
    meters = {}
    monkeypatch.setattr(loop, "EnergyMeter", lambda gpu_index: meters.setdefault("gpu", CountingMeter(2.0)))
    monkeypatch.setattr(loop, "PowercapMeter", lambda: meters.setdefault("cpu", CountingMeter(5.0)))
    result, _ = run(settings("pytorch", max_epochs=2), train_h5, tmp_path)
    assert [(h["joules"], h["val_joules"], h["cpu_joules"], h["val_cpu_joules"]) for h in result.details["history"]] \
        == [(2.0, 2.0, 5.0, 5.0)] * 2
    n = result.details["n_train"]
    assert result.joules_per_sample == pytest.approx(2.0 / n)        # epoch 2 only, validation not in it
    assert result.cpu_joules_per_sample == pytest.approx(5.0 / n)
    assert result.cpu_energy_meter["available"] and meters["cpu"].closed
    state = result.details["gpu_state"]
    assert set(state) == {"start", "end"} and state["end"]["reason"] == "no GPU: NVML not applicable"
    from mpbench.results import energy
    rows = energy.cell_rows([record.read_one(tmp_path / "pytorch" / "fp32" / "result.json")], target_iou=0.0)
    to_train = rows[rows["quantity"] == "to_train"].set_index("meter")["joules"]
    assert to_train["gpu"] == pytest.approx(8.0) and to_train["cpu"] == pytest.approx(20.0)


def test_without_powercap_the_training_record_says_why_cpu_energy_is_missing(train_h5, tmp_path):
    run_ = loop.TrainingRun(settings("pytorch", max_epochs=1), train_h5, tmp_path / "checkpoint")
    run_.cpu_meter.close()   # this machine's, whatever it has
    run_.cpu_meter = loop.PowercapMeter(tmp_path / "no-powercap", poll=False)
    rec = run_.result(tmp_path / "model.pt")
    assert rec.cpu_joules_per_sample is None and "no powercap interface" in rec.cpu_energy_meter["reason"]
    assert rec.details["gpu_state"]["start"]["reason"] and rec.energy_meter["reason"]


@pytest.mark.slow
def test_early_stopping(train_h5, tmp_path, monkeypatch):
    monkeypatch.setattr(backend_class("pytorch"), "evaluate", lambda self: 0.5)
    result, _ = run(settings("pytorch", patience=2, max_epochs=8), train_h5, tmp_path)
    assert result.details["stopped_early"] and result.epochs == 3 and result.best_epoch == 1


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_resume_continues_at_next_epoch(framework, train_h5, tmp_path, monkeypatch, caplog):
    cls = backend_class(framework)
    real = cls.train_epoch
    calls = {"n": 0}

    def killed_in_epoch_3(self):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated SLURM time limit")
        return real(self)

    monkeypatch.setattr(cls, "train_epoch", killed_in_epoch_3)
    s = settings(framework, max_epochs=4)
    with pytest.raises(KeyboardInterrupt):
        run(s, train_h5, tmp_path)
    out = tmp_path / framework / "fp32"
    assert not (out / "result.json").exists() and (out / "checkpoint" / "loop_state.json").exists()
    monkeypatch.setattr(cls, "train_epoch", real)
    with caplog.at_level(logging.INFO):
        result, _ = run(s, train_h5, tmp_path)
    assert "continuing at epoch 3" in caplog.text
    assert result.details["resumed_at_epochs"] == [3]
    assert [h["epoch"] for h in result.details["history"]] == [1, 2, 3, 4]
    assert result.status == "ok" and result.iou > 0.3
    # The first epoch of each process builds graphs: epochs 1 and 3 are not timed.
    assert result.latency["timed_epochs"] == [2, 4]


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_nan_loss_is_recorded_as_diverged(framework, train_h5, tmp_path, monkeypatch):
    cls = backend_class(framework)
    real = cls.train_epoch
    epochs = {"n": 0}

    def nan_in_epoch_2(self):
        epochs["n"] += 1
        loss = real(self)
        return float("nan") if epochs["n"] == 2 else loss

    monkeypatch.setattr(cls, "train_epoch", nan_in_epoch_2)
    result, out = run(settings(framework, max_epochs=5), train_h5, tmp_path)
    assert result.status == "diverged" and result.epochs == 1
    assert result.details["history"][-1]["loss"] is None
    assert record.read_one(out / "result.json").status == "diverged"
    assert (out / f"model.{EXT[framework]}").exists()


def test_apex_missing_says_how_to_install(monkeypatch):
    from mpbench.frameworks import torch_runtime
    monkeypatch.setattr(torch_runtime.TorchRuntime, "_resolve_device", lambda self: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    with pytest.raises(PrecisionUnavailable, match="not on PyPI"):
        torch_runtime.TorchRuntime(settings("pytorch", precision="apex_o1", device_type="cuda"))


def test_gpu_device_without_gpu_fails_early(train_h5, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    s = settings("pytorch", device="a100", device_type="cuda")
    with pytest.raises(RuntimeError, match="'a100' is a CUDA device"):
        run(s, train_h5, tmp_path)


def test_unknown_precision_rejected():
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        settings("pytorch", precision="fp8")


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_non_finite_weights_with_a_finite_loss_count_as_diverged(framework, train_h5, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = backend_class(framework).weights_finite

    def nan_weights_in_epoch_2(self):
        calls["n"] += 1
        assert real(self)                      # the real check passes on a healthy model …
        return calls["n"] != 2                 # … and epoch 2 is made to overflow
    monkeypatch.setattr(backend_class(framework), "weights_finite", nan_weights_in_epoch_2)
    result, out = run(settings(framework, max_epochs=4), train_h5, tmp_path)
    assert result.status == "diverged" and result.epochs == 1 and result.best_epoch == 1
    assert Status.derived_from(result) == "ok"   # epoch 1's weights were kept


def test_derived_results_know_whether_the_trained_weights_are_usable():
    assert Status.derived_from(trained_as("ok", 7)) == "ok"
    assert Status.derived_from(trained_as("diverged", 3)) == "ok"        # best epoch restored
    assert Status.derived_from(trained_as("diverged", None)) == "train_diverged"
    assert Status.derived_from(trained_as("oom", None)) == "train_oom"


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_host_resident_data_trains_exactly_like_device_resident(framework):
    """data_placement: host (the paper's RAM-preloaded samples, copied per batch) changes where the
    frames live, not the arithmetic."""
    from types import SimpleNamespace

    import numpy as np

    from mpbench.training.backend import make_backend
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 32, 32), dtype=np.uint8)
    y = (rng.random((8, 32, 32)) > 0.8).astype(np.uint8)
    split = SimpleNamespace(x_train=x, y_train=y, x_val=x[:4], y_val=y[:4], fold=0)
    out = {}
    for place in ("host", "device"):
        b = make_backend(settings(framework, filters=4, batch_size=4, data_placement=place), split)
        out[place] = (b.train_epoch(), b.evaluate())
    assert out["host"] == pytest.approx(out["device"], rel=1e-6)
