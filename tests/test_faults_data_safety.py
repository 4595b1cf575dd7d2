"""Issue 23 cases 1, 2, 4, 5: a user's BAGLS folder and copied results are never deleted; reruns are
decided on the HDF5's content; a changed data config never reuses the old HDF5."""
import json
import os
import shutil
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from mpbench import record
from mpbench.data import freshness
from mpbench.data.preprocess import preprocess_bagls
from mpbench.data.synthetic import foreign_folder_problem, marker_name, write_synthetic_bagls

from conftest import REPO, h5_of, run_snakemake, small_config

FROM_EXISTING = str(REPO / "config" / "from_existing.yaml")


def users_bagls(folder: Path) -> dict[str, bytes]:
    """A user's BAGLS folder: frames whose metas are not synthetic, and a notes file; returns its files."""
    write_synthetic_bagls(folder, 48, seed=5)
    for marker in folder.glob(".mpbench-synthetic-*"):
        marker.unlink()
    for meta in folder.glob("*.meta"):
        m = json.loads(meta.read_text())
        meta.write_text(json.dumps({**m, "Subject disorder status": "healthy"}))
    (folder / "notes.txt").write_text("my annotations, nowhere else\n")
    return snapshot(folder)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def mtimes(*paths) -> list[int]:
    return [Path(p).stat().st_mtime_ns for p in paths]


# --- 1. the synthetic generator never writes into, or deletes, a folder it did not write ----------
def test_the_generator_refuses_a_folder_it_did_not_write(tmp_path):
    before = users_bagls(tmp_path / "bagls")
    problem = foreign_folder_problem(tmp_path / "bagls", 48)
    assert "data.bagls_dir" in problem and "data.synthetic_frames is 48" in problem and "Nothing was changed" in problem
    with pytest.raises(ValueError, match="did not write"):
        write_synthetic_bagls(tmp_path / "bagls", 48, seed=1)
    assert snapshot(tmp_path / "bagls") == before

    own = write_synthetic_bagls(tmp_path / "own", 6, seed=1)          # its own folder: replaced, marker first
    assert (own / marker_name(6, 1)).is_file() and foreign_folder_problem(own, 6) is None
    write_synthetic_bagls(own, 4, seed=2)
    assert sorted(p.name for p in own.iterdir()) == sorted(
        [marker_name(4, 2)] + [f"{n}{s}" for n in range(4) for s in (".png", "_seg.png", ".meta")])
    (own / "notes.txt").write_text("added by the user")
    assert "notes.txt" in foreign_folder_problem(own, 4)
    # A copy of BAGLS' frames without their metas (N.png, N_seg.png only) is the user's too.
    pngs = tmp_path / "pngs_only"
    pngs.mkdir()
    for p in list(own.glob("*.png")):
        (pngs / p.name).write_bytes(p.read_bytes())
    assert "did not write" in foreign_folder_problem(pngs, 4)


@pytest.mark.slow
def test_the_demo_overlay_on_a_users_bagls_folder_stops_and_deletes_nothing(tmp_path):
    """The README's demo-plus-overlay recipe: synthetic_frames > 0 and bagls_dir at the user's copy."""
    bagls = tmp_path / "my_bagls"
    before = users_bagls(bagls)
    cfg = small_config(tmp_path, "demo")
    overlay = yaml.safe_load(cfg.read_text())
    overlay["data"]["bagls_dir"] = str(bagls)
    cfg.write_text(yaml.safe_dump(overlay))
    # --forcerun synthetic_bagls: Snakemake's own reason to rerun it ("Code has changed since last execution"
    # in the issue), which deleted the folder as the rule's output before rewriting it.
    for args in (("-n",), ("--cores", "1"), ("--cores", "1", "--forcerun", "synthetic_bagls")):
        run = run_snakemake(*args, "--configfile", str(cfg), "--", str(h5_of(cfg)), timeout=300)
        out = run.stdout + run.stderr
        assert run.returncode != 0, out[-3000:]
        assert f"data.bagls_dir {bagls} holds files mpbench's synthetic generator did not write" in out, out[-3000:]
        assert "data.synthetic_frames: 0" in out
    assert snapshot(bagls) == before


# --- 2. re-deriving tables, figures and claims never schedules or deletes a producing job --------
def copied_cell(root: Path, precision: str, h5: Path) -> list[Path]:
    """A training result and model of pytorch/cpu/f8/fold0 as copied off the cluster (file times lost)."""
    iou = np.clip(np.random.default_rng(0).normal(0.85, 0.05, 20), 0, 0.99)
    settings = {"framework": "pytorch", "device": "cpu", "precision": precision, "filters": 8, "fold": 0}
    rec = record.Record("train", settings, status="ok", provenance={}, batch_size=8, iou=float(iou.mean()),
                      latency=record.latency([0.01, 0.0102, 0.0099, 0.0101], unit="epoch", statistic="mean"),
                      per_image_iou=record.per_image(np.arange(20), iou), best_epoch=2)
    rec.details["data"] = {"h5": str(h5), "content_sha256": "0" * 64}
    cell = root / "train" / "pytorch" / "cpu" / precision / "f8" / "fold0"
    cell.mkdir(parents=True)
    record.write(cell / "result.json", [rec])
    (cell / "model.pt").write_bytes(b"weights copied off the cluster")
    return [cell / "result.json", cell / "model.pt"]


@pytest.mark.slow
def test_rederiving_from_copied_results_schedules_and_deletes_nothing(tmp_path):
    cfg = small_config(tmp_path, "copied", train={"frameworks": ["pytorch"], "precisions": ["fp32", "mixed_bf16"]})
    root = tmp_path / "copied"
    h5 = h5_of(cfg)
    copied = copied_cell(root, "fp32", h5) + copied_cell(root, "mixed_bf16", h5)
    time.sleep(0.05)
    # The HDF5 and the synthetic frames copied after the results: newer than every result (scp -r, cp -r).
    write_synthetic_bagls(root / "bagls_synthetic", 48, seed=42)
    h5.parent.mkdir(parents=True)
    preprocess_bagls(root / "bagls_synthetic", h5, n_samples=40, seed=42, n_folds=2, crop_size=64)
    content = {p: p.read_bytes() for p in copied}

    dry = run_snakemake("-n", "figures", "claims", "--configfile", str(cfg), FROM_EXISTING, timeout=600)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "train_pytorch" not in dry.stdout and "preprocess" not in dry.stdout, dry.stdout[-3000:]
    run = run_snakemake("figures", "claims", "--cores", "2", "--configfile", str(cfg), FROM_EXISTING, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    assert {p: p.read_bytes() for p in copied} == content                  # nothing deleted or rewritten
    assert "train_pytorch" not in run.stderr and (root / "claims.csv").exists()


# --- 4 and 5. reruns decided on the HDF5's content; a changed data config never reuses the old HDF5
def one_cell_config(tmp_path: Path, name: str, bagls: Path, **data) -> Path:
    """One PyTorch fp32 cell, 2 epochs on 64x64 crops of the user's frames in ``bagls``."""
    return small_config(tmp_path, name, data={"synthetic_frames": 0, "bagls_dir": str(bagls), **data},
                        train={"frameworks": ["pytorch"], "precisions": ["fp32"], "max_epochs": 2})


def trained_cell(results: Path) -> Path:
    return results / "train" / "pytorch" / "cpu" / "fp32" / "f8" / "fold0" / "result.json"


@pytest.mark.slow
def test_reruns_are_decided_on_the_hdf5s_content(tmp_path):
    bagls = tmp_path / "my_bagls"
    write_synthetic_bagls(bagls, 48, seed=9)
    cfg = one_cell_config(tmp_path, "content", bagls)
    results, h5 = tmp_path / "content", h5_of(cfg)
    result = trained_cell(results)
    first = run_snakemake(str(result), "--cores", "2", "--configfile", str(cfg), timeout=900)
    assert first.returncode == 0, first.stderr[-4000:]
    trained = mtimes(result, result.with_name("model.pt"))
    digest = freshness.h5_digest(h5)
    assert record.read_one(result).details["data"]["content_sha256"] == digest

    def rerun(*targets):
        # --max-checksum-file-size 1: Snakemake compares checksums of inputs under 1 MB instead of their times;
        # a real HDF5 (GBs) is never that small, so this test's 64x64 one must not be either.
        run = run_snakemake(str(result), *targets, "--cores", "2", "--configfile", str(cfg),
                            "--max-checksum-file-size", "1", timeout=900)
        assert run.returncode == 0, run.stderr[-4000:]
        return run.stdout + run.stderr

    # A newer HDF5 with the same content (touched, or copied without its time).
    os.utime(h5)
    out = rerun()
    assert mtimes(result, result.with_name("model.pt")) == trained, out[-3000:]
    # A file added to the BAGLS folder: preprocess reruns, writes the same content, training does not.
    time.sleep(0.05)
    (bagls / "notes.txt").write_text("not a frame")
    out = rerun()
    assert "preprocess" in out and freshness.h5_digest(h5) == digest
    assert mtimes(result, result.with_name("model.pt")) == trained, out[-3000:]
    # The documented recovery for a damaged HDF5: delete it, run again (the default target, rule all,
    # asks for the HDF5 too); nothing finished is rerun.
    h5.unlink()
    out = rerun(str(h5))
    assert h5.exists() and freshness.h5_digest(h5) == digest
    assert mtimes(result, result.with_name("model.pt")) == trained, out[-3000:]
    # Other frames in the folder: other content, the cell is trained again on it.
    shutil.rmtree(bagls)
    write_synthetic_bagls(bagls, 48, seed=10)
    out = rerun()
    assert freshness.h5_digest(h5) != digest
    assert record.read_one(result).details["data"]["content_sha256"] == freshness.h5_digest(h5), out[-3000:]


@pytest.mark.slow
def test_a_changed_data_config_never_reuses_the_old_hdf5(tmp_path):
    """A fresh clone (no .snakemake metadata): n_samples and seed changed, an HDF5 already there."""
    bagls = tmp_path / "my_bagls"
    write_synthetic_bagls(bagls, 48, seed=9)
    cfg = one_cell_config(tmp_path, "changed", bagls)
    result = trained_cell(tmp_path / "changed")
    run = run_snakemake(str(result), "--cores", "2", "--configfile", str(cfg), timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    old_h5 = h5_of(cfg)
    clean = run_snakemake("--cleanup-metadata", str(result), str(result.with_name("model.pt")), str(old_h5),
                          "--configfile", str(cfg), timeout=300)
    assert clean.returncode == 0, clean.stderr[-3000:]

    cfg = one_cell_config(tmp_path, "changed", bagls, n_samples=36, seed=7)
    new_h5 = h5_of(cfg)
    # The cell and its HDF5, as the default target (rule all) asks for both.
    run = run_snakemake(str(result), str(new_h5), "--cores", "2", "--configfile", str(cfg), timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    assert new_h5 != old_h5 and old_h5.exists()                 # the earlier settings' file is kept
    with h5py.File(new_h5) as f:
        assert len(f["images"]) == 36 and f.attrs["seed"] == 7
        made = json.loads(f.attrs[freshness.SETTINGS_ATTR])
    assert made["n_samples"] == 36 and made["seed"] == 7
    data = record.read_one(result).details["data"]
    assert data["seed"] == 7 and data["content_sha256"] == freshness.h5_digest(new_h5)

    # An HDF5 of other settings put where these settings' file belongs is refused before any job runs.
    shutil.copy(old_h5, new_h5)
    run = run_snakemake("-n", str(result), "--configfile", str(cfg), timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode != 0 and "was made with other data settings than the config's" in out, out[-3000:]
    assert "data.n_samples: 40 in the file, 36 in the config" in out and "data.seed: 42 in the file, 7" in out
