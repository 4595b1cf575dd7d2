"""The inference benchmark: result schema for both frameworks, warm-up exclusion, OOM per batch size."""
import numpy as np
import pytest

from mpbench import record
from mpbench.inference.bench import benchmark, tile_batch, time_batch_sizes

from conftest import CountingMeter


class CountingRunner:
    """Records what the benchmark does; 'runs out of memory' above ``max_batch``."""
    gpu_index = None

    def __init__(self, max_batch=10**9):
        self.max_batch, self.runs, self.syncs = max_batch, [], 0

    def prepare(self, images):
        if len(images) > self.max_batch:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return images

    def run(self, x):
        self.runs.append(len(x))

    def sync(self):
        self.syncs += 1

    def is_oom(self, exc):
        return "out of memory" in str(exc)


def test_tile_batch_uses_real_frames_cyclically():
    imgs = np.arange(3)[:, None, None] * np.ones((3, 2, 2), np.uint8)
    assert tile_batch(imgs, 7)[:, 0, 0].tolist() == [0, 1, 2, 0, 1, 2, 0]


def test_warmup_runs_are_not_timed_and_each_timed_run_is_synchronised():
    r = CountingRunner()
    rows = time_batch_sizes(r, np.zeros((4, 8, 8), np.uint8), [1, 4], warmup=3, repeats=5)
    assert r.runs == [1] * 8 + [4] * 8
    assert r.syncs == 2 * (1 + 5)   # once after warm-up, once per timed pass
    assert [row["latency"]["per_sample_s"]["n"] for row in rows] == [5, 5]
    for row in rows:
        lat = row["latency"]
        assert lat["statistic"] == "mean"    # the paper's: mean time per batch / batch size
        assert lat["throughput"] == pytest.approx(1.0 / lat["per_sample_s"]["mean"])
        assert len(lat["samples_s"]) == 5 and lat["unit"] == "repeat"
        assert row["joules_per_sample"] is None


def test_gpu_and_cpu_joules_per_image_over_the_timed_passes():
    """Each meter is read once before and once after the timed passes: 3 J (GPU) and 6 J (CPU) over 5 × 4 images."""
    rows = time_batch_sizes(CountingRunner(), np.zeros((4, 8, 8), np.uint8), [4], warmup=2, repeats=5,
                            meter=CountingMeter(3.0), cpu_meter=CountingMeter(6.0))
    assert rows[0]["joules_per_sample"] == pytest.approx(3.0 / 20)
    assert rows[0]["cpu_joules_per_sample"] == pytest.approx(6.0 / 20)


def test_benchmark_records_both_meters_and_the_gpu_state(h5_path, tmp_path, monkeypatch):
    from mpbench.inference import bench, runners
    from mpbench.settings import RunSettings
    cpu = CountingMeter(4.0)
    monkeypatch.setattr(runners, "make_runner", lambda settings, model_path: CountingRunner())
    monkeypatch.setattr(bench, "PowercapMeter", lambda: cpu)
    s = RunSettings(framework="pytorch", device="cpu", device_type="cpu", precision="fp32", filters=8, fold=0,
                    batch_size=16)
    (r,) = benchmark(s, tmp_path / "model.pt", h5_path, tmp_path / "r.json", [2], warmup=1, repeats=4)
    assert r.cpu_joules_per_sample == pytest.approx(4.0 / 8) and r.joules_per_sample is None
    assert r.cpu_energy_meter["available"] and cpu.closed and r.energy_meter["reason"]
    assert r.details["gpu_state"]["start"]["reason"] == "no GPU: NVML not applicable"
    assert record.read(tmp_path / "r.json") == [r]


def test_oom_batch_recorded_and_the_grid_goes_on():
    rows = time_batch_sizes(CountingRunner(max_batch=2), np.zeros((4, 8, 8), np.uint8), [1, 2, 4], 1, 3)
    assert [row["status"] for row in rows] == ["ok", "ok", "oom"]
    assert "out of memory" in rows[2]["error"]


def test_other_errors_are_not_swallowed():
    class Broken(CountingRunner):
        def run(self, x):
            raise ValueError("shape mismatch")
    with pytest.raises(ValueError, match="shape mismatch"):
        time_batch_sizes(Broken(), np.zeros((2, 8, 8), np.uint8), [1], 0, 3)


@pytest.mark.slow
@pytest.mark.parametrize("framework,precision", [("pytorch", "fp32"), ("tensorflow", "fp32"),
                                                 ("pytorch", "mixed_bf16")])
def test_benchmark_result_schema(framework, precision, trained, train_h5, tmp_path):
    s, model = trained(framework, precision)
    records = benchmark(s, model, train_h5, tmp_path / "r.json", [1, 2, 8], warmup=1, repeats=3)
    assert records == record.read(tmp_path / "r.json")
    assert [r.batch_size for r in records] == [1, 2, 8]
    for r in records:
        assert r.stage == "infer" and r.status == "ok" and r.model_path == str(model)
        assert r.settings["framework"] == framework and r.settings["precision"] == precision
        assert r.latency["per_sample_s"]["n"] == 3 and len(r.latency["samples_s"]) == 3
        assert r.energy_meter["available"] is False and r.energy_meter["reason"]
        assert r.provenance["hostname"] and r.config_hash
