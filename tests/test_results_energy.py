"""energy.csv on synthetic records with known joules (known kWh, CO2, energy to train and to target), and
without meters (empty, with the meter's reason); the energy claims on the same records; the energy figure."""
import dataclasses

import pandas as pd
import pytest
from test_claims import CLAIMS, config, verdicts

from mpbench import record
from mpbench.energy import co2
from mpbench.results import claims, energy

ENERGY = {"carbon_intensity_g_per_kwh": 380.0, "carbon_intensity_source": "UBA 2024 (test)", "target_iou": 0.7}
GPU_METER = {"available": True, "reason": None, "source": "nvml_total_energy"}
CPU_METER = {"available": True, "reason": None, "source": "powercap_rapl", "note": "RAPL counts whole CPU packages"}
NO_GPU = {"available": False, "reason": "NVML unavailable for GPU 0: Driver Not Loaded", "source": "nvml_total_energy"}
NO_POWERCAP = {"available": False, "source": "powercap_rapl", "note": "RAPL counts whole CPU packages",
               "reason": "no powercap interface: /sys/class/powercap does not exist (…): CPU energy not measured"}


def epoch(n, val_iou, gpu=(800.0, 200.0), cpu=(240.0, 60.0), seconds=(8.0, 2.0), first=False):
    return {"epoch": n, "loss": 0.3, "val_iou": val_iou, "seconds": seconds[0], "val_seconds": seconds[1],
            "joules": gpu[0], "val_joules": gpu[1], "cpu_joules": cpu[0], "val_cpu_joules": cpu[1],
            "first_in_process": first}


# Three epochs: the first (warm-up) dearer; validation IoU 0.5, 0.72, 0.75 → the target 0.7 is reached at epoch 2.
HISTORY = [epoch(1, 0.5, gpu=(1000.0, 200.0), cpu=(300.0, 60.0), seconds=(10.0, 2.0), first=True),
           epoch(2, 0.72), epoch(3, 0.75)]


def trained(history=HISTORY, device="a100", precision="fp32", fold=0, gpu=GPU_METER, cpu=CPU_METER,
            per_sample=(8.0, 2.4), status="ok"):
    settings = {"framework": "pytorch", "device": device, "precision": precision, "filters": 8, "fold": fold}
    return record.Record("train", settings, status, batch_size=16, epochs=len(history), best_epoch=3,
                         joules_per_sample=per_sample[0], cpu_joules_per_sample=per_sample[1], energy_meter=gpu,
                         cpu_energy_meter=cpu, latency=record.latency([0.08, 0.08], unit="epoch"),
                         details={"history": history})


def inferred(per_image=(0.5, 0.1), batch=8, repeats=10, gpu=GPU_METER, cpu=CPU_METER):
    settings = {"framework": "pytorch", "device": "a100", "precision": "fp32", "filters": 8, "fold": 0}
    return record.Record("infer", settings, "ok", batch_size=batch, joules_per_sample=per_image[0],
                         cpu_joules_per_sample=per_image[1], energy_meter=gpu, cpu_energy_meter=cpu,
                         latency=record.latency([0.002] * repeats, unit="repeat"), details={"repeats": repeats})


def rows(table, **where):
    m = table
    for k, v in where.items():
        m = m[m[k] == v]
    return m


def one(table, **where):
    found = rows(table, **where)
    assert len(found) == 1, (where, found)
    return found.iloc[0]


def test_known_joules_give_known_energy_kwh_and_co2_per_cell_and_grid():
    t = energy.table([trained(), inferred()], ENERGY)
    train = one(t, scope="cell", quantity="to_train", meter="gpu")
    # every epoch, warm-up and validation included: 1000+200 + 800+200 + 800+200
    assert train["joules"] == pytest.approx(3200.0) and train["seconds"] == pytest.approx(32.0)
    assert train["epochs"] == 3 and "validation" in train["covers"] and pd.isna(train["reason"])
    assert train["kwh"] == pytest.approx(3200 / 3.6e6)
    assert train["g_co2"] == pytest.approx(3200 / 3.6e6 * 380)
    assert train["carbon_intensity_source"] == "UBA 2024 (test)"
    assert one(t, scope="cell", quantity="to_train", meter="cpu")["joules"] == pytest.approx(960.0)
    # MLPerf-style: up to the end of epoch 2's validation, the first to reach 0.7
    hit = one(t, scope="cell", quantity="to_target", meter="gpu")
    assert (hit["joules"], hit["seconds"], hit["epochs"], hit["target_iou"]) == (pytest.approx(2200.0),
                                                                               pytest.approx(22.0), 2, 0.7)
    assert one(t, scope="cell", quantity="to_target", meter="cpu")["joules"] == pytest.approx(660.0)
    per = one(t, scope="cell", phase="train", quantity="per_sample", meter="cpu")
    assert per["joules"] == pytest.approx(2.4) and "first epoch" in per["covers"]
    assert per["meter_note"].startswith("RAPL counts whole")
    image = one(t, scope="cell", phase="infer", quantity="per_sample", meter="gpu")
    assert image["joules"] == pytest.approx(0.5) and image["batch_size"] == 8
    # grid: training totals over cells, inference: every timed pass (0.5 J/image × 10 repeats × 8 images)
    two = energy.table([trained(), trained(precision="mixed_bf16"), inferred()], ENERGY)
    assert one(two, scope="grid", quantity="to_train", meter="gpu")["joules"] == pytest.approx(6400.0)
    assert one(two, scope="grid", quantity="to_target", meter="cpu")["g_co2"] == pytest.approx(
        co2.grams_co2(1320.0, 380.0))
    assert one(two, scope="grid", quantity="timed_passes", meter="gpu")["joules"] == pytest.approx(40.0)
    assert one(two, scope="grid", quantity="timed_passes", meter="cpu")["joules"] == pytest.approx(8.0)


def test_without_a_meter_the_energy_is_empty_with_the_meters_reason():
    unmetered = [{**h, "joules": None, "val_joules": None, "cpu_joules": None, "val_cpu_joules": None}
                 for h in HISTORY]
    t = energy.table([trained(unmetered, gpu=NO_GPU, cpu=NO_POWERCAP, per_sample=(None, None)),
                      inferred(per_image=(None, None), gpu=NO_GPU, cpu=NO_POWERCAP)], ENERGY)
    cells = rows(t, scope="cell")
    assert cells["joules"].isna().all() and cells["g_co2"].isna().all() and cells["kwh"].isna().all()
    assert rows(cells, meter="cpu")["reason"].str.contains("no powercap interface").all()
    assert rows(cells, meter="gpu")["reason"].str.contains("Driver Not Loaded").all()
    # the time to target is still known without a meter
    hit = one(t, scope="cell", quantity="to_target", meter="cpu")
    assert hit["seconds"] == pytest.approx(22.0) and hit["epochs"] == 2
    grid = rows(t, scope="grid", meter="cpu")
    assert grid["joules"].isna().all() and grid["reason"].str.contains("no powercap interface").all()


def test_one_unmetered_cell_empties_the_grid_total_and_a_target_never_reached_is_named():
    older = dataclasses.replace(trained(fold=1), cpu_energy_meter=None, cpu_joules_per_sample=None,
                                details={"history": [{k: v for k, v in h.items() if "cpu" not in k} for h in HISTORY]})
    t = energy.table([trained(), older], {**ENERGY, "target_iou": 0.9})
    total = one(t, scope="grid", quantity="to_train", meter="cpu")
    assert pd.isna(total["joules"]) and total["reason"].startswith("1 of 2 training cells have none")
    assert "names no powercap meter" in total["reason"]
    assert one(t, scope="grid", quantity="to_train", meter="gpu")["joules"] == pytest.approx(6400.0)
    never = rows(t, scope="cell", quantity="to_target", meter="gpu")
    assert never["joules"].isna().all()
    assert never["reason"].str.startswith("never reached: best validation IoU 0.75").all()


def test_write_reads_the_result_files_and_skips_other_stages(tmp_path):
    record.write(tmp_path / "train.json", [trained()])
    record.write(tmp_path / "infer.json", [inferred()])
    record.write(tmp_path / "tflite.json", [record.Record("tflite_cpu", {"device": "cpu"}, "ok")])
    out = energy.write([tmp_path / "train.json", tmp_path / "infer.json", tmp_path / "tflite.json"],
                       tmp_path / "energy.csv", ENERGY)
    back = energy.read(tmp_path / "energy.csv")
    assert list(back.columns) == energy.COLUMNS and len(back) == len(out)
    assert set(back["phase"]) == {"train", "infer"}


# --- the energy claims ---------------------------------------------------------------------------

def pair_grid(mixed_scale, fp32_reach=True, mixed_reach=True, folds=4, **kw):
    """fp32 and mixed_bf16 training on an A100 over ``folds`` folds; mixed uses ``mixed_scale`` × the joules."""
    recs = []
    for k in range(folds):
        for p, scale, reach in (("fp32", 1.0, fp32_reach), ("mixed_bf16", mixed_scale, mixed_reach)):
            wobble = 1 + 0.01 * k
            hist = [epoch(h["epoch"], h["val_iou"] if reach else 0.6, gpu=(h["joules"] * scale * wobble,
                                                                            h["val_joules"] * scale * wobble))
                    for h in HISTORY]
            recs.append(trained(hist, precision=p, fold=k, per_sample=(8.0 * scale * wobble, 2.4), **kw))
    return recs


def gpu_config():
    return {**config(devices=("a100",), gpus=("a100",)), "energy": ENERGY}


def test_energy_claims_supported_with_lower_mixed_joules_and_contradicted_with_higher():
    v, table = verdicts(pair_grid(0.6), gpu_config())
    assert v["mp_lowers_training_energy"] == "supported" and v["mp_lowers_energy_to_target"] == "supported"
    row = table.set_index("claim").loc["mp_lowers_training_energy"]
    assert row["measured"] == pytest.approx(0.6, rel=1e-6) and row["n"] == 4
    assert "GPU + CPU packages (powercap)" in row["detail"]
    assert table.set_index("claim").loc["mp_lowers_energy_to_target", "measured"] == pytest.approx(0.6, rel=1e-6)
    v, _ = verdicts(pair_grid(1.3), gpu_config())
    assert v["mp_lowers_training_energy"] == "contradicted" and v["mp_lowers_energy_to_target"] == "contradicted"


def test_mixed_never_reaching_the_target_contradicts_the_energy_to_target_claim():
    v, table = verdicts(pair_grid(0.6, mixed_reach=False), gpu_config())
    assert v["mp_lowers_energy_to_target"] == "contradicted"
    assert "only fp32 reached it" in table.set_index("claim").loc["mp_lowers_energy_to_target", "detail"]
    v, table = verdicts(pair_grid(0.6, mixed_reach=False, fp32_reach=False), gpu_config())
    assert v["mp_lowers_energy_to_target"] == "not measured"
    assert "never reached: best validation IoU 0.6" in table.set_index("claim").loc["mp_lowers_energy_to_target",
                                                                                     "detail"]


def test_energy_claims_not_measured_without_a_meter_name_the_reason():
    unmetered = [dataclasses.replace(r, joules_per_sample=None, details={"history": [
        {**h, "joules": None, "val_joules": None} for h in r.details["history"]]}) for r in pair_grid(0.6, gpu=NO_GPU)]
    v, table = verdicts(unmetered, gpu_config())
    detail = table.set_index("claim")["detail"]
    for claim in ("mp_lowers_training_energy", "mp_lowers_energy_to_target"):
        assert v[claim] == "not measured" and "Driver Not Loaded" in detail[claim], detail[claim]
    v, table = verdicts(pair_grid(0.6, device="cpu"), {**config(), "energy": ENERGY})   # CPU only: not GPU evidence
    assert v["mp_lowers_training_energy"] == v["mp_lowers_energy_to_target"] == "not measured"
    assert "no GPU device" in table.set_index("claim").loc["mp_lowers_energy_to_target", "detail"]


def test_energy_claims_are_in_the_claims_file():
    tests = {c["id"]: c["test"] for c in CLAIMS}
    assert tests["mp_lowers_training_energy"] == "energy_lower"
    assert tests["mp_lowers_energy_to_target"] == "energy_to_target_lower"
    assert all(tests[c] in claims.TESTS for c in tests)


# --- the figure ------------------------------------------------------------------------------------

GRID = {"frameworks": ["pytorch"], "devices": ["a100"], "precisions": ["fp32", "mixed_bf16"], "filters": [8],
        "baseline": "fp32"}


def by_gid(fig):
    return {a.get_gid(): a for ax in fig.axes for a in ax.get_children() if a.get_gid()}


def test_energy_figure_stacks_cpu_on_gpu_and_says_when_nothing_was_measured():
    from mpbench.figures import paper_figures as pf
    t = energy.table(pair_grid(0.6) + [inferred()], ENERGY)
    art = by_gid(pf.fig_energy(None, None, GRID, energy=t))
    gpu = art["gpu:train:per_sample/pytorch/a100/fp32/f8"]
    assert gpu.get_height() == pytest.approx(8.0 * (1 + 0.015))           # mean over folds of 8 × (1 + 0.01 k)
    cpu = art["cpu:train:per_sample/pytorch/a100/fp32/f8"]
    assert cpu.get_y() == pytest.approx(gpu.get_height()) and cpu.get_height() == pytest.approx(2.4)
    assert art["gpu:train:to_target/pytorch/a100/mixed_bf16/f8"].get_height() == pytest.approx(2200 * 0.6 * 1.015)
    assert art["gpu:infer:per_sample/pytorch/a100/fp32/f8"].get_height() == pytest.approx(0.5)
    assert "missing:missing:infer:per_sample/pytorch/a100/mixed_bf16/f8" in art   # no mixed inference run
    none = energy.table([trained([{**h, "cpu_joules": None, "val_cpu_joules": None, "joules": None,
                                   "val_joules": None} for h in HISTORY], gpu=NO_GPU, cpu=NO_POWERCAP,
                                 per_sample=(None, None))], ENERGY)
    text = by_gid(pf.fig_energy(None, None, GRID, energy=none))["no-energy"].get_text()
    assert text.startswith("No energy measured") and "Driver Not Loaded" in text and "no powercap" in text


def test_the_workflow_draws_the_energy_figure_from_energy_csv(tmp_path):
    """The energy figure (through make_figures, rule figures' function) reads energy.csv;
    the same records through summary.csv."""
    from mpbench.figures.make import make_figures
    from mpbench.results.tables import write_tables
    paths = [tmp_path / "train.json", tmp_path / "infer.json"]
    record.write(paths[0], pair_grid(0.6))
    record.write(paths[1], [inferred()])
    write_tables(paths, tmp_path / "summary.csv", tmp_path / "speedups.csv")
    energy.write(paths, tmp_path / "energy.csv", ENERGY)
    cfg = {"train": {k: GRID[k] for k in ("frameworks", "devices", "precisions", "filters")},
           "figures": {"baseline": "fp32"}}
    make_figures(tmp_path / "summary.csv", tmp_path / "speedups.csv", cfg, {"energy": (tmp_path / "e.png",
                 tmp_path / "e.pdf")}, energy_csv=tmp_path / "energy.csv")
    assert (tmp_path / "e.png").stat().st_size > 10_000 and (tmp_path / "e.pdf").stat().st_size > 1000
