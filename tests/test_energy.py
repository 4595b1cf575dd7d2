"""Energy meters on fakes with known readings: a powercap tree (wrap-around, no permission, no tree), a fake
NVML module (joules, GPU state), and the CO2 and energy-to-target arithmetic on known histories."""
import errno
import math
import pathlib
import sys
import types

import pytest

from mpbench.energy import EnergyMeter, PowercapMeter, co2, gpu_state, target
from mpbench.timing import timed_call

RANGE = 262_143_328_850   # a real package's max_energy_range_uj


def zone(root, folder, name, energy_uj, max_range=RANGE):
    d = root / folder
    d.mkdir(parents=True)
    (d / "name").write_text(name + "\n")
    (d / "energy_uj").write_text(f"{energy_uj}\n")
    (d / "max_energy_range_uj").write_text(f"{max_range}\n")
    return d


def set_uj(d, value):
    (d / "energy_uj").write_text(f"{value}\n")


@pytest.fixture
def tree(tmp_path):
    """Two packages, one with core/uncore/dram sub-zones, and a psys zone (whole platform)."""
    root = tmp_path / "powercap"
    zones = {"pkg0": zone(root, "intel-rapl:0", "package-0", RANGE - 2_000_000),
             "core0": zone(root, "intel-rapl:0:0", "core", 5_000_000),
             "dram0": zone(root, "intel-rapl:0:2", "dram", 1_000_000, max_range=65_712_999_613),
             "pkg1": zone(root, "intel-rapl:1", "package-1", 10_000_000),
             "psys": zone(root, "intel-rapl:2", "psys", 7_000_000)}
    (root / "intel-rapl").mkdir()   # the control type folder: no zone
    return root, zones


def test_package_and_dram_joules_across_a_wrap_around(tree):
    root, z = tree
    m = PowercapMeter(root, poll=False, cpus=(4, 4))
    assert m.available and m.reason is None
    assert [(x.zone, x.name) for x in m.zones] == [("intel-rapl:0", "package-0"), ("intel-rapl:0:2", "dram"),
                                                   ("intel-rapl:1", "package-1")]   # core, psys: counted twice
    e0 = m.read_joules()
    set_uj(z["pkg0"], 3_000_000)          # wrapped: 2 J to the end of the range, then 3 J
    set_uj(z["dram0"], 1_500_000)         # +0.5 J
    set_uj(z["pkg1"], 11_000_000)         # +1 J
    set_uj(z["core0"], 9_000_000)         # inside package-0's count: not added
    set_uj(z["psys"], 70_000_000)         # the platform: not added
    assert m.read_joules() - e0 == pytest.approx(2 + 3 + 0.5 + 1)
    assert {d["zone"]: d["wraps"] for d in m.describe()["zones"]}["intel-rapl:0"] == 1


def test_timed_call_reads_cpu_joules_from_the_counters(tree):
    root, z = tree
    m = PowercapMeter(root, poll=False, cpus=(2, 2))
    t = timed_call(lambda: set_uj(z["pkg1"], 10_000_000 + 42_000_000), meter=m)
    assert t.joules == pytest.approx(42.0)


def test_poller_reads_between_the_callers_reads(tree):
    root, z = tree
    m = PowercapMeter(root, poll=True, cpus=(2, 2))
    try:
        # RANGE µJ at 1 kW wraps in 262 s: polled every 60 s at most; half a wrap period for a small range
        assert m.poll_s == pytest.approx(min(60.0, 65_712_999_613 / 1e9 / 2))
        assert m._thread is not None and m._thread.is_alive()
    finally:
        m.close()
    assert m._thread is None


def test_missing_permission_gives_none_and_the_reason(tree, monkeypatch):
    root, z = tree
    (z["pkg1"] / "energy_uj").chmod(0o000)
    real_read = pathlib.Path.read_text

    def as_unprivileged(self, *a, **k):   # root reads any file: behave as the unprivileged user would
        if not self.stat().st_mode & 0o444:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_read(self, *a, **k)

    monkeypatch.setattr(pathlib.Path, "read_text", as_unprivileged)
    m = PowercapMeter(root, poll=False, cpus=(2, 2))
    assert not m.available and m.read_joules() is None
    assert "intel-rapl:1/energy_uj is not readable" in m.reason and "CVE-2020-8694" in m.reason
    assert m.describe()["reason"] == m.reason


def test_no_powercap_tree_gives_none_and_the_reason(tmp_path):
    m = PowercapMeter(tmp_path / "absent", poll=False, cpus=(2, 2))
    assert not m.available and m.read_joules() is None
    assert "no powercap interface" in m.reason and str(tmp_path / "absent") in m.reason
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no RAPL package zones" in PowercapMeter(empty, poll=False).reason


def test_a_counter_that_vanishes_mid_run_stops_the_meter(tree):
    root, z = tree
    m = PowercapMeter(root, poll=False, cpus=(2, 2))
    (z["dram0"] / "energy_uj").unlink()
    assert m.read_joules() is None and not m.available and "stopped reading" in m.reason


def test_a_shared_node_states_the_share_and_never_scales(tree):
    root, z = tree
    shared = PowercapMeter(root, poll=False, cpus=(8, 64))
    whole = PowercapMeter(root, poll=False, cpus=(64, 64))
    e_shared, e_whole = shared.read_joules(), whole.read_joules()
    set_uj(z["pkg1"], 20_000_000)
    assert shared.read_joules() - e_shared == whole.read_joules() - e_whole == pytest.approx(10.0)
    assert "8 of 64 CPUs (12.5%)" in shared.note and "not scaled" in shared.note
    assert shared.describe()["cpus_used"] == 8 and "all 64 CPUs" in whole.note


class FakeNVMLError(Exception):
    pass


def fake_pynvml(energy_mj, *, init_error=None, unsupported=()):
    """A pynvml stand-in: the energy counter returns ``energy_mj`` values in turn; calls named in
    ``unsupported`` raise as NVML does on boards without them."""
    mod = types.ModuleType("pynvml")
    readings = iter(energy_mj)
    mod.NVML_CLOCK_SM, mod.NVML_CLOCK_MEM, mod.NVML_TEMPERATURE_GPU = 1, 2, 0

    def call(name, value):
        def f(handle, *args):
            assert handle == "gpu0"
            if name in unsupported:
                raise FakeNVMLError("Not Supported")
            return value(*args) if callable(value) else value
        return f

    def init():
        if init_error:
            raise FakeNVMLError(init_error)

    mod.nvmlInit = init
    mod.nvmlDeviceGetHandleByIndex = lambda i: f"gpu{i}"
    mod.nvmlDeviceGetTotalEnergyConsumption = call("energy", lambda: next(readings))
    mod.nvmlDeviceGetPowerManagementLimit = call("limit", 300_000)         # mW
    mod.nvmlDeviceGetEnforcedPowerLimit = call("enforced", 250_000)
    mod.nvmlDeviceGetPowerUsage = call("power", 87_500)
    mod.nvmlDeviceGetClockInfo = call("clock", lambda kind: {1: 1410, 2: 1215}[kind])
    mod.nvmlDeviceGetTemperature = call("temperature", 54)
    return mod


def test_fake_nvml_gives_known_joules(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([0, 1_000_000, 1_250_500]))
    m = EnergyMeter(0)   # the probe reads the counter once (0 mJ)
    assert m.available and m.describe() == {"available": True, "reason": None, "source": "nvml_total_energy"}
    t = timed_call(lambda: None, meter=m)
    assert t.joules == pytest.approx(250.5)


def test_gpu_state_at_a_moment(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([], unsupported=("clock",)))
    s = gpu_state(0)
    assert s["power_limit_w"] == 300.0 and s["enforced_power_limit_w"] == 250.0 and s["power_w"] == 87.5
    assert s["temperature_c"] == 54.0 and s["reason"] is None and s["at"]
    assert s["sm_clock_mhz"] is None and s["memory_clock_mhz"] is None
    assert s["unread"] == {"sm_clock_mhz": "Not Supported", "memory_clock_mhz": "Not Supported"}
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([]))
    assert gpu_state(0)["sm_clock_mhz"] == 1410.0 and gpu_state(0)["memory_clock_mhz"] == 1215.0


def test_without_nvml_or_gpu_the_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)   # import fails
    assert "nvidia-ml-py not installed" in EnergyMeter(0).reason
    assert "nvidia-ml-py not installed" in gpu_state(0)["reason"] and gpu_state(0)["temperature_c"] is None
    assert gpu_state(None)["reason"].startswith("no GPU")
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([], init_error="Driver Not Loaded"))
    assert "Driver Not Loaded" in EnergyMeter(0).reason and not EnergyMeter(0).available
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([], unsupported=("energy",)))
    assert EnergyMeter(0).reason == "NVML energy counter unavailable: Not Supported"


def test_co2_from_measured_kwh():
    assert co2.kwh(7.2e6) == 2.0
    assert co2.grams_co2(7.2e6, 380) == pytest.approx(760.0)   # 2 kWh × 380 g/kWh
    assert co2.grams_co2(3600.0, 500) == pytest.approx(0.5)    # 1 Wh
    assert co2.grams_co2(None, 380) is None                    # nothing measured, nothing modelled
    for bad in (-1, math.nan, "380"):
        with pytest.raises(ValueError, match="energy.carbon_intensity_g_per_kwh"):
            co2.grams_co2(1.0, bad)


def epoch(n, iou, seconds=10.0, val_seconds=2.0, joules=1000.0, val_joules=150.0, cpu=None):
    h = {"epoch": n, "loss": 0.5, "val_iou": iou, "seconds": seconds, "val_seconds": val_seconds,
         "joules": joules, "val_joules": val_joules}
    if cpu:
        h.update(cpu_joules=cpu[0], val_cpu_joules=cpu[1])
    return h


HISTORY = [epoch(1, 0.30, seconds=20.0, joules=2500.0, cpu=(400.0, 60.0)),   # the warm-up epoch: counted
           epoch(2, 0.62, cpu=(300.0, 50.0)),
           epoch(3, 0.71, cpu=(300.0, 50.0)),
           epoch(4, 0.69, cpu=(300.0, 50.0))]


def test_energy_to_train_counts_every_epoch_and_validation():
    gpu = target.to_train(HISTORY)
    assert gpu == {"joules": 2500 + 150 + 3 * (1000 + 150), "seconds": 22 + 3 * 12, "epochs": 4, "reason": None}
    assert target.to_train(HISTORY, "cpu")["joules"] == 460 + 3 * 350


def test_energy_to_target_iou():
    r = target.to_target(HISTORY, 0.7)
    assert r == {"target_iou": 0.7, "epoch": 3, "seconds": 22 + 12 + 12, "joules": 2650 + 1150 + 1150,
                 "reason": None}
    assert target.to_target(HISTORY, 0.62, "cpu")["joules"] == 460 + 350   # reached exactly at epoch 2
    never = target.to_target(HISTORY, 0.8)
    assert never["epoch"] is None and never["joules"] is None and never["seconds"] is None
    assert never["reason"] == "never reached: best validation IoU 0.7100 < 0.8"


def test_a_missing_reading_makes_the_total_none_with_the_reason():
    no_meter = [epoch(1, 0.5, joules=None, val_joules=None), epoch(2, 0.75, joules=None, val_joules=None)]
    r = target.to_target(no_meter, 0.7)
    assert r["epoch"] == 2 and r["seconds"] == 24.0 and r["joules"] is None
    assert r["reason"] == "epoch 1 has no joules (gpu energy not measured)"
    gpu_only = HISTORY[:2] + [epoch(3, 0.7)]   # epoch 3: the GPU read, the CPU not
    assert target.to_train(gpu_only)["reason"] is None
    assert "epoch 3 has no cpu_joules" in target.to_train(gpu_only, "cpu")["reason"]


def test_a_diverged_epoch_costs_its_training_pass_only():
    diverged = {"epoch": 3, "loss": None, "val_iou": None, "seconds": 9.0, "joules": 800.0,
                "first_in_process": False}
    r = target.to_train(HISTORY[:2] + [diverged])
    assert r["joules"] == 2650 + 1150 + 800 and r["seconds"] == 22 + 12 + 9 and r["reason"] is None
    assert target.to_target([diverged], 0.1)["reason"] == "never reached: no epoch validated"
    with pytest.raises(ValueError, match="unknown energy source 'tpu'"):
        target.to_train(HISTORY, "tpu")
