"""A precision emulated on the CPU that measured it is labelled so: provenance flags → summary.csv and
speedups.csv ``precision_support`` → the figures of speed (note over the bar, legend suffix, title)."""
import pandas as pd
import pytest

from mpbench import provenance, record
from mpbench.figures import paper_figures as pf
from mpbench.preflight import support
from mpbench.results.tables import write_tables

# /proc/cpuinfo flags (the relevant part) of the two kinds of machine this project runs on
EPYC_BF16 = "fpu sse4_2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16"
EPYC_AVX = "fpu sse4_2 avx fma f16c"                      # AVX and FMA, no AVX2, no AVX-512
XEON_AVX512 = "fpu avx avx2 fma avx512f avx512bw"         # AVX-512 without AVX512_BF16


def prov(flags: str, **extra) -> dict:
    f = support.effective_flags(flags.split(), env={})
    return {"cpu": "AMD EPYC", "cpu_flags": f, "cpu_precision_support": support.cpu_support(f), **extra}


def rec(precision, per_sample, flags=EPYC_BF16, stage="train", fold=0, device_type="cpu", prov_=None, seed=0):
    import numpy as np
    rng = np.random.default_rng(seed)
    settings = {"framework": "pytorch", "device": "cpu" if device_type == "cpu" else "a100",
                "device_type": device_type, "precision": precision, "filters": 8, "fold": fold}
    return record.Record(stage, settings, status="ok", provenance=prov(flags) if prov_ is None else prov_,
                         batch_size=8, iou=0.9,
                         latency=record.latency(list(per_sample * (1 + rng.normal(0, 0.02, 6))), unit="epoch",
                                                statistic="mean" if stage == "train" else "median"))


@pytest.mark.parametrize("flags,bf16,fp16", [(EPYC_BF16, "native", "emulated"), (EPYC_AVX, "emulated", "emulated"),
                                              (XEON_AVX512, "converted", "emulated")])
def test_records_say_whether_their_precision_ran_natively(flags, bf16, fp16):
    assert support.of_record(rec("mixed_bf16", 0.01, flags)) == bf16
    assert support.of_record(rec("mixed_fp16", 0.01, flags)) == fp16
    assert support.of_record(rec("fp16", 0.01, flags, stage="infer")) == fp16
    assert support.of_record(rec("fp32", 0.01, flags)) == "native"
    assert support.of_record(rec("tf32", 0.01, flags)) == "native"       # float32 on a CPU


def test_gpu_records_judge_by_compute_capability_and_old_records_are_unknown():
    v100 = {"compute_capability": "7.0"}                                   # PyTorch's form
    a100 = {"compute_capability": [8, 0]}                                  # TensorFlow's form
    assert support.of_record(rec("mixed_bf16", 0.01, device_type="cuda", prov_=v100)) == "emulated"
    assert support.of_record(rec("mixed_fp16", 0.01, device_type="cuda", prov_=v100)) == "native"
    assert support.of_record(rec("mixed_bf16", 0.01, device_type="cuda", prov_=a100)) == "native"
    assert support.of_record(rec("mixed_bf16", 0.01, device_type="cuda", prov_={})) == "unknown"
    assert support.of_record(rec("mixed_bf16", 0.01, prov_={"cpu": "x"})) == "unknown"   # before cpu_flags
    assert support.of_record(rec("mixed_bf16", 0.01, prov_={"cpu_flags": EPYC_AVX.split()})) == "emulated"
    q = record.Record("tflite_cpu", {"precision": "fp32"}, status="ok", provenance={})
    assert support.of_record(q) is None


def test_an_isa_cap_makes_the_cpu_what_the_frameworks_then_see():
    """ONEDNN_MAX_CPU_ISA=AVX ATEN_CPU_CAPABILITY=default: the fast EPYC imitates the AVX-only one."""
    flags = EPYC_BF16.split()
    capped = support.effective_flags(flags, {"ONEDNN_MAX_CPU_ISA": "AVX", "ATEN_CPU_CAPABILITY": "default"})
    assert capped == ["avx", "f16c"]
    assert support.cpu_support(capped) == {"bf16": "emulated", "fp16": "emulated"}
    assert support.effective_flags(flags, {"ONEDNN_MAX_CPU_ISA": "avx512_core"}) == \
        ["avx", "avx2", "avx512bw", "avx512f", "avx512vl", "f16c", "fma"]
    assert support.cpu_support(support.effective_flags(flags, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}))["bf16"] \
        == "converted"
    # ATen's cap is PyTorch's own: TensorFlow keeps AVX2 under it
    assert "avx2" in support.effective_flags(flags, {"ATEN_CPU_CAPABILITY": "default"}, framework="tensorflow")
    assert "avx2" not in support.effective_flags(flags, {"ATEN_CPU_CAPABILITY": "default"}, framework="pytorch")


def test_provenance_records_the_flags_and_any_cap(monkeypatch):
    here = support.read_flags()
    for name in support.ISA_ENV:            # a test run may itself be capped (README: imitating an older CPU)
        monkeypatch.delenv(name, raising=False)
    p = provenance.cpu_facts("pytorch")
    assert p["cpu_flags"] == sorted(here & set(support.RELEVANT_FLAGS)) and "cpu_isa_limits" not in p
    assert p["cpu_precision_support"]["bf16"] == support.cpu_level_from_flags(here, "bf16")[0]
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX")
    p = provenance.cpu_facts("tensorflow")
    assert p["cpu_isa_limits"] == {"ONEDNN_MAX_CPU_ISA": "AVX"}
    assert not {"avx2", "avx512f", "avx512_bf16"} & set(p["cpu_flags"])
    assert p["cpu_precision_support"]["bf16"] == "emulated"


def tables(tmp_path, flags):
    paths = []
    for fold in (0, 1):
        for p, t in (("fp32", 0.01), ("mixed_bf16", 0.04 if flags == EPYC_AVX else 0.006)):
            for stage in ("train", "infer"):
                path = tmp_path / f"{stage}-{p}-{fold}.json"
                record.write(path, [rec(p, t, flags, stage=stage, fold=fold, seed=fold)])
                paths.append(path)
    return write_tables(paths, tmp_path / "summary.csv", tmp_path / "speedups.csv")


def test_summary_and_speedups_carry_the_label_and_the_slowdown(tmp_path):
    summary, speedups = tables(tmp_path, EPYC_AVX)
    back = pd.read_csv(tmp_path / "summary.csv").set_index(["phase", "precision", "fold"])
    assert (back.loc[("train", "mixed_bf16"), "precision_support"] == "emulated").all()
    assert (back.loc[("infer", "mixed_bf16"), "precision_support"] == "emulated").all()
    assert (back.loc[("train", "fp32"), "precision_support"] == "native").all()
    sp = pd.read_csv(tmp_path / "speedups.csv").set_index("phase")
    assert sp.loc["train", "precision_support"] == "emulated"
    assert sp.loc["train", "speedup_mean"] == pytest.approx(0.25, rel=0.05)   # the slowdown, not hidden
    (tmp_path / "fast").mkdir()
    summary, speedups = tables(tmp_path / "fast", EPYC_BF16)
    assert set(summary["precision_support"]) == {"native"} and set(speedups["precision_support"]) == {"native"}


def test_a_folds_mix_is_labelled_by_its_worst_member():
    assert support.combine(["native", "emulated", None]) == "emulated"
    assert support.combine(["native", "converted"]) == "converted"
    assert support.combine(["native", float("nan")]) == "native"
    assert support.combine([None]) is None


GRID = {"frameworks": ["tensorflow", "pytorch"], "devices": ["cpu"], "precisions": ["fp32", "mixed_bf16"],
        "filters": [8], "baseline": "fp32"}


def texts(fig):
    return {a.get_gid(): a.get_text() for a in fig.findobj() if a.get_gid() and a.get_gid().startswith("support:")}


def legend(fig):
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def test_figures_of_speed_mark_the_emulated_precision(tmp_path):
    summary, speedups = tables(tmp_path, EPYC_AVX)
    fig = pf.fig2(summary, speedups, GRID)
    bar = next(a for a in fig.findobj() if a.get_gid() == "pytorch/cpu/mixed_bf16/f8")
    assert bar.get_height() == pytest.approx(0.25, rel=0.05)                       # drawn, below 1
    slower = 1 / speedups.set_index("phase").loc["train", "speedup_mean"]
    assert texts(fig) == {"support:pytorch/cpu/mixed_bf16/f8": f"emulated: {slower:.1f}× slower"}   # TF: not run
    assert "emulated = the hardware lacks this precision" in fig._suptitle.get_text()
    fig4 = pf.fig4(summary, speedups, GRID, device="cpu")
    assert "PyTorch, mixed bf16 (emulated)" in legend(fig4) and "PyTorch, float32 (strict)" in legend(fig4)
    assert "emulated =" in fig4._suptitle.get_text()
    assert "cpu, mixed bf16 (emulated)" in legend(pf.fig5(summary, speedups, GRID))
    fig6 = legend(pf.fig6(summary, speedups, GRID))
    assert "cpu, mixed bf16 (emulated)" in fig6 and "cpu, float32 (strict)" in fig6


def test_figures_of_a_native_run_carry_no_mark(tmp_path):
    summary, speedups = tables(tmp_path, EPYC_BF16)
    fig = pf.fig2(summary, speedups, GRID)
    assert texts(fig) == {} and "emulated" not in fig._suptitle.get_text()
    assert "cpu, mixed bf16" in legend(pf.fig5(summary, speedups, GRID))
    assert not any("emulated" in t for t in legend(pf.fig4(summary, speedups, GRID, device="cpu")))
    # a summary.csv written before the column existed still draws, unlabelled
    old = summary.drop(columns=["precision_support"])
    assert texts(pf.fig2(old, speedups.drop(columns=["precision_support"]), GRID)) == {}


# --- train.emulated_max_epochs: the demo's answer to a CPU that emulates bf16 ---------------------------------
def cap_settings(**kw):
    from mpbench.settings import RunSettings
    base = dict(framework="pytorch", device="cpu", device_type="cpu", precision="mixed_bf16", filters=8, fold=0,
                batch_size=16, learning_rate=3e-3, max_epochs=4, patience=10, channels_last=False, threads=2,
                emulated_max_epochs=2)
    return RunSettings(**{**base, **kw})


def test_only_an_emulated_precision_is_cut_short(monkeypatch):
    from mpbench.training.loop import epoch_cap
    monkeypatch.setattr(support, "cpu_flags", lambda framework=None, env=None, cpuinfo=None: EPYC_AVX.split())
    cap = epoch_cap(cap_settings())
    assert cap["max_epochs"] == 2 and cap["configured_max_epochs"] == 4
    assert "mixed_bf16 is emulated on this CPU (bf16: no AVX-512" in cap["note"] and "not comparable" in cap["note"]
    assert epoch_cap(cap_settings(precision="fp32")) is None                 # fp32 is native everywhere
    assert epoch_cap(cap_settings(emulated_max_epochs=None)) is None         # the paper: no limit
    assert epoch_cap(cap_settings(emulated_max_epochs=4)) is None            # not below max_epochs
    assert epoch_cap(cap_settings(device="a100", device_type="cuda")) is None
    monkeypatch.setattr(support, "cpu_flags", lambda framework=None, env=None, cpuinfo=None: EPYC_BF16.split())
    assert epoch_cap(cap_settings()) is None                                 # native bf16: the full run


@pytest.mark.slow
def test_an_emulated_cell_trains_fewer_epochs_and_says_so(monkeypatch, train_h5, tmp_path):
    from mpbench.training import loop
    monkeypatch.setattr(support, "cpu_flags", lambda framework=None, env=None, cpuinfo=None: EPYC_AVX.split())
    rec = loop.train(cap_settings(), train_h5, tmp_path / "result.json", tmp_path / "model.pt", tmp_path / "ckpt")
    assert rec.status == "ok" and rec.epochs == 2 and [h["epoch"] for h in rec.details["history"]] == [1, 2]
    assert rec.epoch_cap["max_epochs"] == 2 and rec.note == rec.epoch_cap["note"]
    assert rec.latency["timed_epochs"] == [2]                             # timed like any other run
    assert rec.settings["max_epochs"] == 4 and rec.settings["emulated_max_epochs"] == 2
    write_tables([tmp_path / "result.json"], tmp_path / "s.csv", tmp_path / "sp.csv")
    row = pd.read_csv(tmp_path / "s.csv").iloc[0]
    assert row["epochs"] == 2 and row["epoch_cap"] == 2 and "train.emulated_max_epochs" in row["note"]


def test_the_iou_of_a_run_cut_short_is_not_compared():
    """Its pairs stay in accuracy.csv (delta of the means, for the record) without a CI, so the IoU claim
    cannot be decided on them; derived models against their own float model are still compared."""
    import numpy as np

    from mpbench.results import accuracy, claims
    recs = []
    for fold in (0, 1):
        for p, cap, shift in (("fp32", None, 0.0), ("mixed_bf16", 3, -0.2)):
            r = rec(p, 0.01, EPYC_AVX, fold=fold)
            iou = np.full(40, 0.85 + shift)
            r.epochs, r.per_image_iou = 3 if cap else 12, record.per_image(np.arange(40), iou)
            r.epoch_cap = {"max_epochs": cap} if cap else None
            r.iou = float(iou.mean())
            recs.append(r)
    m = claims.measurements(recs)
    table = accuracy.accuracy_table(m, "fp32", 0.01)
    assert len(table) == 3 and (table["verdict"] == "inconclusive").all()
    assert table["ci_low"].isna().all() and table["delta"].tolist() == pytest.approx([-0.2] * 3)
    assert table["method"].str.startswith("not comparable: mixed_bf16 trained 3 epochs (emulated on its CPU").all()
    for r in recs:                      # the same runs, none cut short: the difference is decided
        r.epoch_cap = None
    table = accuracy.accuracy_table(claims.measurements(recs), "fp32", 0.01)
    assert (table["verdict"] == "contradicted").all()


def test_fig3_marks_a_run_cut_short(tmp_path):
    summary, speedups = tables(tmp_path, EPYC_AVX)
    summary["val_iou"] = 0.8
    summary.loc[(summary["phase"] == "train") & (summary["precision"] == "mixed_bf16"), "epoch_cap"] = 3
    fig = pf.fig3(summary, speedups, GRID, margin=0.01)
    caps = {a.get_gid(): a.get_text() for a in fig.findobj() if str(a.get_gid()).startswith("cap:")}
    assert caps == {"cap:pytorch/cpu/mixed_bf16": "3 epochs only\n(emulated)"}
    assert "(emulated: fewer epochs, IoU not comparable)" in fig.axes[0].get_title()
    summary["epoch_cap"] = pd.NA
    assert "not comparable" not in pf.fig3(summary, speedups, GRID, margin=0.01).axes[0].get_title()


def test_the_doctor_judges_a_capped_cpu_as_capped_and_names_the_epoch_limit(monkeypatch):
    from mpbench import config as config_module
    from mpbench.preflight import doctor, report
    from mpbench.preflight import facts as machine_facts
    from mpbench.preflight import findings as cells
    caps = {"ONEDNN_MAX_CPU_ISA": "AVX", "ATEN_CPU_CAPABILITY": "default", "TF_ENABLE_ONEDNN_OPTS": "0"}
    for name in support.ISA_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in caps.items():
        monkeypatch.setenv(name, value)
    config, _ = doctor.load_config([config_module.REPO / "config" / "demo.yaml"])
    facts = machine_facts.collect(config, quick=True)
    assert facts["cpu"]["isa_limits"] == caps
    assert facts["cpu_support"]["bf16"][0] == "emulated"
    text = report.render(facts, config, "demo")
    assert "capped    ONEDNN_MAX_CPU_ISA=AVX, ATEN_CPU_CAPABILITY=default, TF_ENABLE_ONEDNN_OPTS=0" in text
    assert "warning   " not in text                     # all three caps: TensorFlow's bf16 runs (emulated)
    found = {f["what"]: f for f in cells.findings(config, facts)}
    f = found["cpu: PyTorch mixed_bf16 cells"]
    assert f["status"] == "emulated" and "train.emulated_max_epochs" in f["fix"] and "label them emulated" in f["why"]
