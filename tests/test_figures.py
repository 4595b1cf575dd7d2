"""summary/speedup tables and every figure from a generated results table with gaps and failures.

Plotted values are read back from the matplotlib artists (by their gid) and compared to the table.
"""
import itertools

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mpbench.figures import paper_figures as pf
from mpbench.figures.style import save
from mpbench.results.tables import COLUMNS, speedup_table

GRID = {"frameworks": ["tensorflow", "pytorch"], "devices": ["a100", "a40", "cpu"],
        "precisions": ["fp32", "mixed_fp16"], "filters": [8, 64]}
BATCHES = [1, 8, 128]
SPEED = {"a100": 1.0, "a40": 1.5, "cpu": 20.0}


def per_sample(fw, dev, prec, f, fold, phase="train", bs=None):
    """A made-up but structured time: bigger f slower, mixed faster, PyTorch a bit faster, fold jitter."""
    t = 1e-3 * SPEED[dev] * (f / 8) ** 0.8 * (0.6 if prec == "mixed_fp16" else 1.0) * (0.9 if fw == "pytorch" else 1.0)
    if phase == "infer":
        t = t / 3 * (1 + 4 / bs)
    return t * (1 + 0.05 * fold)


def row(**kw):
    r = dict.fromkeys(COLUMNS)
    r.update(kw)
    if r.get("per_sample_s") is not None:
        r["throughput"] = 1.0 / r["per_sample_s"]
    return r


def failure(fw, dev, prec, f, fold):
    if dev == "cpu" and fw == "pytorch" and f == 64:
        return "absent"                       # never ran
    if dev == "a40" and fw == "tensorflow" and prec == "mixed_fp16" and f == 64:
        return "oom"
    if dev == "a100" and fw == "pytorch" and prec == "mixed_fp16" and f == 8 and fold == 1:
        return "diverged"                     # fold 0 of that cell is fine
    return None


@pytest.fixture(scope="module")
def summary():
    rows = []
    for fw, dev, prec, f, fold in itertools.product(*GRID.values(), [0, 1]):
        fail = failure(fw, dev, prec, f, fold)
        if fail == "absent":
            continue
        base = dict(framework=fw, device=dev, run_device=dev, precision=prec, filters=f, fold=fold)
        if fail:
            rows.append(row(phase="train", status=fail, batch_size=32, **base))
            continue
        rows.append(row(phase="train", status="ok", batch_size=128, per_sample_s=per_sample(fw, dev, prec, f, fold),
                        val_iou=0.8 + 0.01 * fold + (0.02 if prec == "fp32" else 0.0) + f / 1000,
                        joules_per_sample=None if dev == "cpu" else 0.5 * per_sample(fw, dev, prec, f, fold) * 300,
                        **base))
        if fold == 0:
            for bs in BATCHES:
                st = "oom" if (dev == "a40" and bs == 128 and f == 64) else "ok"
                t = per_sample(fw, dev, prec, f, fold, "infer", bs) if st == "ok" else None
                rows.append(row(phase="infer", status=st, batch_size=bs, per_sample_s=t, **base))
            if dev == "a100":
                pt = 0.01 if fw == "pytorch" else 0.0   # PyTorch's int8 models: their own numbers
                rows.append(row(phase="tflite_cpu", status="ok", variant="int8", batch_size=1,
                                per_sample_s=0.003 * f / 8, val_iou=0.78 + pt, float_iou=0.8 + f / 1000 + pt,
                                **{**base, "run_device": "cpu"}))
                if fw == "tensorflow":
                    rows.append(row(phase="qat", status="ok", variant="int8_qat", batch_size=1,
                                    val_iou=0.79 + f / 1000, **{**base, "run_device": "cpu"}))
                if f == 8:
                    rows.append(row(phase="edgetpu", status="ok", variant="int8", batch_size=1,
                                    per_sample_s=0.004 + pt / 10, val_iou=0.77 + pt, note="Edge TPU unavailable",
                                    **{**base, "run_device": "cpu-int8"}))
    df = pd.DataFrame(rows, columns=COLUMNS)
    for c in ("filters", "batch_size", "fold"):
        df[c] = df[c].astype("Int64")
    return df


@pytest.fixture(scope="module")
def speedups(summary):
    return speedup_table(summary)


def by_gid(fig, prefix=""):
    """gid → artist for every artist in the figure carrying a gid."""
    return {a.get_gid(): a for a in fig.findobj() if a.get_gid() and a.get_gid().startswith(prefix)}


def test_speedup_is_mean_over_folds_of_throughput_ratio(speedups):
    r = speedups[(speedups["phase"] == "train") & (speedups["framework"] == "tensorflow")
                 & (speedups["device"] == "a100") & (speedups["filters"] == 64)
                 & (speedups["precision"] == "mixed_fp16")].iloc[0]
    ratios = [per_sample("tensorflow", "a100", "fp32", 64, k) / per_sample("tensorflow", "a100", "mixed_fp16", 64, k)
              for k in (0, 1)]
    assert r["speedup_mean"] == pytest.approx(np.mean(ratios)) and r["n_folds"] == 2
    # Failed folds do not count: the diverged fold leaves one ratio.
    d = speedups[(speedups["framework"] == "pytorch") & (speedups["device"] == "a100") & (speedups["filters"] == 8)
                 & (speedups["phase"] == "train")]
    assert d["n_folds"].tolist() == [1]
    assert speedups[(speedups["device"] == "a40") & (speedups["framework"] == "tensorflow")
                    & (speedups["filters"] == 64) & (speedups["phase"] == "train")].empty


def test_fig2_bars_equal_table_and_failures_are_marked(summary, speedups):
    fig = pf.fig2(summary, speedups, GRID, reference_overlay=True)
    art = by_gid(fig)
    tr = summary[(summary["phase"] == "train") & (summary["status"] == "ok")]
    for fw, dev in itertools.product(GRID["frameworks"], GRID["devices"]):
        key = f"{fw}/{dev}/fp32/f64"
        vals = tr[(tr["framework"] == fw) & (tr["device"] == dev) & (tr["precision"] == "fp32") & (tr["filters"] == 64)]
        if vals.empty:
            assert f"missing:missing:{key}" in art
            continue
        assert art[key].get_height() == pytest.approx(vals["per_sample_s"].mean() * 1e3)
    sp = speedups[(speedups["phase"] == "train") & (speedups["filters"] == 64) & (speedups["reference"] == "fp32")]
    for _, r in sp.iterrows():
        assert art[f"{r['framework']}/{r['device']}/mixed_fp16/f64"].get_height() == pytest.approx(r["speedup_mean"])
    assert "missing:oom:tensorflow/a40/mixed_fp16/f64" in art
    # The stated maxima are drawn as bounds over the cells they cover, never as a cell's value.
    assert "paper-max:1.6" in art and not any(k.startswith("paper:") for k in art)
    (segment,) = art["paper-max:1.6"].get_segments()
    a100 = art["tensorflow/a100/mixed_fp16/f64"]
    centre = a100.get_x() + a100.get_width() / 2
    assert segment[0][1] == pytest.approx(1.6) and segment[0][0] < centre < segment[1][0]


def test_overlay_lists_only_stated_values_with_their_source():
    from mpbench.figures import reference
    values = reference.load()
    assert values and all(v["kind"] in reference.KINDS and v["source"] for v in values)
    assert {(v["kind"], v["speedup"]) for v in values} == {("upper_bound", 1.9), ("upper_bound", 1.6)}


def test_fig2_divides_by_the_configured_baseline_and_says_so(summary, speedups):
    from mpbench.results.tables import speedup_table
    tf32 = summary.replace({"precision": {"fp32": "tf32"}})
    grid = {**GRID, "precisions": ["tf32", "mixed_fp16"], "baseline": "tf32"}
    sp = speedup_table(tf32)
    fig = pf.fig2(tf32, sp, grid)
    assert "float32 (TF32)" in fig.axes[1].get_ylabel() and "float32 (TF32)" in fig.axes[0].get_ylabel()
    art = by_gid(fig)
    r = sp[(sp["phase"] == "train") & (sp["filters"] == 64) & (sp["reference"] == "tf32")].iloc[0]
    assert art[f"{r['framework']}/{r['device']}/mixed_fp16/f64"].get_height() == pytest.approx(r["speedup_mean"])


def test_fig3_points_are_the_fold_ious(summary, speedups):
    art = by_gid(pf.fig3(summary, speedups, GRID))
    tr = summary[(summary["phase"] == "train") & (summary["status"] == "ok")]
    for fw, dev, p in itertools.product(GRID["frameworks"], GRID["devices"], GRID["precisions"]):
        vals = tr[(tr["framework"] == fw) & (tr["device"] == dev) & (tr["precision"] == p)]["val_iou"]
        key = f"{fw}/{dev}/{p}"
        assert sorted(art[key].get_offsets()[:, 1]) == pytest.approx(sorted(vals))


def test_fig4_lines_equal_table(summary, speedups):
    fig = pf.fig4(summary, speedups, GRID, device="a100")
    tr = summary[(summary["phase"] == "train") & (summary["device"] == "a100") & (summary["status"] == "ok")]
    for fw, p in itertools.product(GRID["frameworks"], GRID["precisions"]):
        cell = tr[(tr["framework"] == fw) & (tr["precision"] == p)]
        expect = [cell[cell["filters"] == f]["per_sample_s"].mean() * 1e3 for f in GRID["filters"]]
        line = [a for a in fig.axes[0].get_lines() if a.get_gid() == f"{fw}/a100/{p}"][0]
        assert list(line.get_xdata()) == GRID["filters"]
        assert list(line.get_ydata()) == pytest.approx(expect)
    assert "TensorFlow, mixed fp16" in [c.get_label() for c in fig.axes[1].containers]


def test_fig5_speedup_lines_and_gaps(summary, speedups):
    fig = pf.fig5(summary, speedups, GRID)
    art = by_gid(fig)
    assert list(art["tensorflow/a40/mixed_fp16"].get_xdata()) == [8]         # f=64 OOM: no point …
    assert "missing:oom:tensorflow/a40/mixed_fp16@64" in art                 # … but a visible mark
    sp = speedups[(speedups["phase"] == "train") & (speedups["framework"] == "pytorch") & (speedups["device"] == "a40")
                  & (speedups["reference"] == "fp32")].sort_values("filters")
    assert list(art["pytorch/a40/mixed_fp16"].get_ydata()) == pytest.approx(sp["speedup_mean"].tolist())


def test_fig6_inference_curve_and_oom_batch(summary, speedups):
    art = by_gid(pf.fig6(summary, speedups, GRID))
    inf = summary[(summary["phase"] == "infer") & (summary["filters"] == 64) & (summary["framework"] == "pytorch")
                  & (summary["device"] == "a100") & (summary["precision"] == "fp32")]
    line = art["pytorch/a100/fp32/f64"]
    assert list(line.get_xdata()) == BATCHES
    assert list(line.get_ydata()) == pytest.approx((inf.sort_values("batch_size")["per_sample_s"] * 1e3).tolist())
    assert "missing:oom:tensorflow/a40/fp32/f64@128" in art


def test_fig7_uses_the_cpu_int8_stand_in_and_labels_it(summary, speedups):
    fig = pf.fig7(summary, speedups, GRID)
    art = by_gid(fig)
    edge = art["edgetpu/tensorflow/cpu-int8"]
    assert list(edge.get_xdata()) == [8] and list(edge.get_ydata()) == pytest.approx([4.0])
    assert any("cpu-int8" in c.get_label() and "no Edge TPU" in c.get_label() for c in fig.axes[0].containers)
    assert "missing:missing:edgetpu/tensorflow/cpu-int8@64" in art
    assert list(art["iou/tensorflow/float"].get_ydata()) == pytest.approx([0.808, 0.864])
    assert list(art["iou/tensorflow/cpu-int8"].get_ydata()) == pytest.approx([0.77])
    assert list(art["iou/qat"].get_ydata()) == pytest.approx([0.798, 0.854])


def test_fig7_shows_both_frameworks_int8_models(summary, speedups):
    """PyTorch's int8 models (litert-torch) beside TensorFlow's, each against its own float model."""
    fig = pf.fig7(summary, speedups, GRID)
    art = by_gid(fig)
    assert list(art["edgetpu/pytorch/cpu-int8"].get_ydata()) == pytest.approx([5.0])
    assert list(art["iou/pytorch/float"].get_ydata()) == pytest.approx([0.818, 0.874])
    assert list(art["iou/pytorch/cpu-int8"].get_ydata()) == pytest.approx([0.78])
    labels = [c.get_label() for c in fig.axes[0].containers]
    assert any(lbl.startswith("PyTorch int8") for lbl in labels) and any(lbl.startswith("TensorFlow int8")
                                                                        for lbl in labels)
    tf_only = summary[summary["framework"] == "tensorflow"]
    assert "iou/pytorch/float" not in by_gid(pf.fig7(tf_only, speedup_table(tf_only), GRID))


def test_every_workflow_figure_has_a_drawing_function():
    from mpbench.figures import FIGURE_NAMES
    assert set(FIGURE_NAMES) == set(pf.FIGURES)


@pytest.mark.parametrize("name", sorted(pf.FIGURES))
def test_every_figure_saves_valid_png_and_pdf(name, summary, speedups, tmp_path):
    kw = {"device": "a40"} if name == "fig4" else {}
    fig = pf.FIGURES[name](summary, speedups, GRID, **kw)
    save(fig, tmp_path / f"{name}.png", tmp_path / f"{name}.pdf")
    with Image.open(tmp_path / f"{name}.png") as im:
        im.verify()
        assert im.size[0] > 600 and im.size[1] > 400
    assert (tmp_path / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"


def test_figures_survive_an_almost_empty_table(tmp_path):
    empty = pd.DataFrame([row(phase="train", framework="pytorch", device="cpu", run_device="cpu", precision="fp32",
                              filters=8, fold=0, status="diverged")], columns=COLUMNS)
    grid = {"frameworks": ["pytorch"], "devices": ["cpu"], "precisions": ["fp32", "mixed_bf16"], "filters": [8]}
    for name, fn in pf.FIGURES.items():
        fig = fn(empty, speedup_table(empty), grid, **({"device": "cpu"} if name == "fig4" else {}))
        save(fig, tmp_path / f"{name}.png")


def test_fig2b_marks_a_ratio_without_its_float32_reference(summary):
    no_fp32 = summary[~((summary["device"] == "a100") & (summary["framework"] == "pytorch")
                        & (summary["precision"] == "fp32"))]
    art = by_gid(pf.fig2(no_fp32, speedup_table(no_fp32), GRID))
    assert "pytorch/a100/mixed_fp16/f64" not in art                     # no bar from a mixed time alone
    assert "missing:missing:pytorch/a100/mixed_fp16/f64" in art


@pytest.fixture(scope="module")
def speedups_with_ci(speedups):
    """A known, asymmetric CI around every speed-up (as speedups.csv carries from the timed samples)."""
    sp = speedups.copy()
    sp["ci_low"], sp["ci_high"] = sp["speedup_mean"] - 0.1, sp["speedup_mean"] + 0.2
    return sp


def whisker(art, key):
    (segment,) = art[f"ci:{key}"].get_segments()
    return segment[0][0], segment[0][1], segment[1][1]    # x, low, high


def test_fig2_and_fig5_speedups_carry_their_ci_whiskers(summary, speedups_with_ci):
    fig = pf.fig2(summary, speedups_with_ci, GRID)
    art = by_gid(fig)
    sp = speedups_with_ci[(speedups_with_ci["phase"] == "train") & (speedups_with_ci["filters"] == 64)]
    assert len(sp)
    for _, r in sp.iterrows():
        key = f"{r['framework']}/{r['device']}/mixed_fp16/f64"
        x, lo, hi = whisker(art, key)
        assert (lo, hi) == pytest.approx((r["speedup_mean"] - 0.1, r["speedup_mean"] + 0.2))
        assert x == pytest.approx(art[key].get_x() + art[key].get_width() / 2)
    assert "95 % CI" in fig._suptitle.get_text()
    art5 = by_gid(pf.fig5(summary, speedups_with_ci, GRID))
    sp5 = speedups_with_ci[(speedups_with_ci["phase"] == "train") & (speedups_with_ci["framework"] == "pytorch")
                           & (speedups_with_ci["device"] == "a40")].sort_values("filters")
    segments = art5["ci:pytorch/a40/mixed_fp16"].get_segments()
    assert [s[0][0] for s in segments] == sp5["filters"].tolist()
    assert [s[1][1] for s in segments] == pytest.approx((sp5["speedup_mean"] + 0.2).tolist())


def test_speedups_without_a_ci_keep_the_std_and_say_so(summary, speedups):
    fig = pf.fig2(summary, speedups, GRID)
    assert not by_gid(fig, "ci:") and "std over folds" in fig._suptitle.get_text()


def test_fig3_shows_the_equivalence_band_around_the_baseline(summary, speedups):
    art = by_gid(pf.fig3(summary, speedups, GRID, margin=0.01))
    tr = summary[(summary["phase"] == "train") & (summary["status"] == "ok") & (summary["precision"] == "fp32")]
    for fw, dev in itertools.product(GRID["frameworks"], GRID["devices"]):
        band = art[f"band:{fw}/{dev}"]
        mean = tr[(tr["framework"] == fw) & (tr["device"] == dev)]["val_iou"].mean()
        assert band.get_y() == pytest.approx(mean - 0.01) and band.get_height() == pytest.approx(0.02)
        xs = art[f"{fw}/{dev}/fp32"].get_offsets()[:, 0]
        assert band.get_x() < xs.min() and xs.max() < band.get_x() + band.get_width()
    assert not by_gid(pf.fig3(summary, speedups, GRID), "band:")


def test_a_figure_that_cannot_be_drawn_is_named_after_the_others_are_drawn(summary, speedups, tmp_path, monkeypatch):
    """make_figures (rule figures' one job, the tables read once): a figure that cannot be drawn does not keep
    the others from being drawn, and the error afterwards names it (the job fails)."""
    from mpbench.figures.make import make_figures
    summary.to_csv(tmp_path / "summary.csv", index=False)
    speedups.to_csv(tmp_path / "speedups.csv", index=False)
    cfg = {"train": {k: GRID[k] for k in ("frameworks", "devices", "precisions", "filters")},
           "figures": {"baseline": "fp32"}, "stats": {}}

    def broken(*_, **__):
        raise ValueError("no such column")
    monkeypatch.setitem(pf.FIGURES, "fig3", broken)
    outputs = {n: (tmp_path / f"{n}.png", tmp_path / f"{n}.pdf") for n in ("fig3", "fig5")}
    with pytest.raises(RuntimeError, match=r"1 of 2 figures could not be drawn .*fig3: ValueError: no such column"):
        make_figures(tmp_path / "summary.csv", tmp_path / "speedups.csv", cfg, outputs)
    assert not outputs["fig3"][0].exists()
    with Image.open(outputs["fig5"][0]) as im:
        im.verify()
    assert outputs["fig5"][1].stat().st_size > 1000
