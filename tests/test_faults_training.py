"""Training checkpoints that must not be resumed, and writes that fail, reproduced the way they were found:
a job killed after epoch 2, then rerun with other settings / a damaged checkpoint / a full disk / a
second live process on the same cell."""
import json
import logging
import subprocess
import sys

import pytest

from mpbench import io, record
from mpbench.data.preprocess import preprocess_bagls
from mpbench.data.synthetic import write_synthetic_bagls
from mpbench.preflight import locks
from mpbench.settings import RunSettings
from mpbench.training import checkpoint, loop

pytestmark = pytest.mark.slow
EXT = {"pytorch": "pt", "tensorflow": "keras"}
LAST = {"pytorch": "last.pt", "tensorflow": "last_weights.npz"}


@pytest.fixture(scope="module")
def two_h5(tmp_path_factory):
    """The same 120 synthetic frames preprocessed with data.n_samples 120 and 100 (other folds), 64×64."""
    src = write_synthetic_bagls(tmp_path_factory.mktemp("bagls_faults"), 120, seed=7)
    out = tmp_path_factory.mktemp("h5_faults")
    for n in (120, 100):
        preprocess_bagls(src, out / f"n{n}.h5", n_samples=n, seed=1, n_folds=2, crop_size=64)
    return out / "n120.h5", out / "n100.h5"


def settings(framework="pytorch", **kw):
    base = dict(framework=framework, device="cpu", device_type="cpu", precision="fp32", filters=8, fold=0,
                batch_size=16, learning_rate=3e-3, max_epochs=4, patience=10, channels_last=False, threads=2)
    return RunSettings(**{**base, **kw})


def backend_class(framework):
    if framework == "pytorch":
        from mpbench.training.torch_backend import TorchBackend
        return TorchBackend
    from mpbench.training.keras_backend import KerasBackend
    return KerasBackend


def cell(tmp_path, framework="pytorch"):
    out = tmp_path / framework
    return out, dict(result_path=out / "result.json", model_path=out / f"model.{EXT[framework]}",
                     checkpoint_dir=out / "checkpoint")


def killed_in_epoch_3(monkeypatch, s, h5, paths):
    """Train until a simulated SLURM time limit in epoch 3: a checkpoint of epoch 2 stays."""
    cls = backend_class(s.framework)
    real, calls = cls.train_epoch, {"n": 0}

    def epoch(self):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated SLURM time limit")
        return real(self)
    monkeypatch.setattr(cls, "train_epoch", epoch)
    with pytest.raises(KeyboardInterrupt):
        loop.train(s, h5, **paths)
    monkeypatch.setattr(cls, "train_epoch", real)
    state = json.loads((paths["checkpoint_dir"] / checkpoint.STATE_FILE).read_text())
    assert state["epoch"] == 2 and not paths["result_path"].exists()
    return state


def aside(out, kind):
    found = sorted(out.glob(f"checkpoint.{kind}-*"))
    assert len(found) == 1, sorted(p.name for p in out.iterdir())
    return found[0]


# --- 1. a checkpoint from other settings ---------------------------------------------------------
def test_a_checkpoint_from_other_settings_is_set_aside_not_resumed(two_h5, tmp_path, monkeypatch, caplog):
    h5_old, h5_new = two_h5
    out, paths = cell(tmp_path)
    killed_in_epoch_3(monkeypatch, settings(learning_rate=3e-3), h5_old, paths)
    # The user changes train.learning_rate and data.n_samples; Snakemake rebuilds the HDF5 and reruns.
    with caplog.at_level(logging.INFO):
        rec = loop.train(settings(learning_rate=1e-3), h5_new, **paths)
    assert "continuing at epoch" not in caplog.text
    assert f"checkpoint {paths['checkpoint_dir']} not resumed: it was written for another run" in caplog.text
    assert "learning_rate 0.003 → 0.001" in caplog.text
    assert "the HDF5's frames or folds differ (it was rebuilt: fold_sizes [60, 60] → [50, 50], frames 120 → 100)" \
        in caplog.text
    assert "Training starts at epoch 1" in caplog.text
    stale = aside(out, "stale")
    assert f"Moved aside to {stale}" in caplog.text
    assert json.loads((stale / checkpoint.STATE_FILE).read_text())["epoch"] == 2   # kept, not deleted
    assert rec.status == "ok" and rec.details["resumed_at_epochs"] == []
    assert [h["epoch"] for h in rec.details["history"]] == [1, 2, 3, 4]
    assert rec.details["n_train"] == 50 and rec.settings["learning_rate"] == 1e-3
    assert rec.details["checkpoints_set_aside"][0]["path"] == str(stale)
    assert record.read_one(paths["result_path"]).status == "ok" and not paths["checkpoint_dir"].exists()


def test_a_longer_run_of_the_same_cell_still_resumes(two_h5, tmp_path, monkeypatch, caplog):
    """Stopping rules (max_epochs, patience) may change between attempts: the epochs done stay valid."""
    out, paths = cell(tmp_path)
    killed_in_epoch_3(monkeypatch, settings(max_epochs=4), two_h5[0], paths)
    with caplog.at_level(logging.INFO):
        rec = loop.train(settings(max_epochs=5, patience=8), two_h5[0], **paths)
    assert "continuing at epoch 3" in caplog.text and rec.details["resumed_at_epochs"] == [3]
    assert [h["epoch"] for h in rec.details["history"]] == [1, 2, 3, 4, 5]
    assert not list(out.glob("checkpoint.*"))


# --- 5. a damaged checkpoint ---------------------------------------------------------------------
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_a_checkpoint_that_does_not_load_is_set_aside(framework, two_h5, tmp_path, monkeypatch, caplog):
    out, paths = cell(tmp_path, framework)
    s = settings(framework, max_epochs=3, samples_limit=16)   # 16 training frames: resuming is under test
    state = killed_in_epoch_3(monkeypatch, s, two_h5[0], paths)
    last = paths["checkpoint_dir"] / state["last_dir"] / LAST[framework]
    garbage = b"\0" * last.stat().st_size
    last.write_bytes(garbage)    # same size, unreadable (bit rot, a bad copy)
    with caplog.at_level(logging.INFO):
        rec = loop.train(s, two_h5[0], **paths)
    damaged = aside(out, "damaged")
    assert f"checkpoint {paths['checkpoint_dir']} not resumed: it does not load (" in caplog.text
    assert f"Moved aside to {damaged}" in caplog.text and "Training starts at epoch 1" in caplog.text
    assert (damaged / state["last_dir"] / LAST[framework]).read_bytes() == garbage   # kept as it was
    assert rec.status == "ok" and [h["epoch"] for h in rec.details["history"]] == [1, 2, 3]
    assert rec.details["resumed_at_epochs"] == []


def test_a_truncated_checkpoint_is_set_aside(two_h5, tmp_path, monkeypatch, caplog):
    """"PytorchStreamReader failed reading zip archive" on every rerun: the cell was blocked for good."""
    out, paths = cell(tmp_path)
    s = settings(max_epochs=3, samples_limit=16)
    state = killed_in_epoch_3(monkeypatch, s, two_h5[0], paths)
    last = paths["checkpoint_dir"] / state["last_dir"] / "last.pt"
    size = last.stat().st_size
    last.write_bytes(last.read_bytes()[: size // 3])
    with caplog.at_level(logging.INFO):
        rec = loop.train(s, two_h5[0], **paths)
    assert f"{state['last_dir']}/last.pt is {size // 3} bytes, its state recorded {size} (cut short?)" in caplog.text
    aside(out, "damaged")
    assert rec.status == "ok" and rec.details["resumed_at_epochs"] == []


# --- 8. a full disk while checkpointing ----------------------------------------------------------
def test_a_full_disk_names_the_file_and_leaves_the_last_good_checkpoint(two_h5, tmp_path, monkeypatch, caplog):
    import torch
    out, paths = cell(tmp_path)
    real_save, calls = torch.save, {"n": 0}

    def save_until_the_disk_is_full(obj, f, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:    # epoch 2's first file: torch's zip writer runs out of space midway
            with open(f, "wb") as fh:
                fh.write(b"\0" * 2048)
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 2097152 vs 2096994")
        return real_save(obj, f, *a, **kw)
    monkeypatch.setattr(torch, "save", save_until_the_disk_is_full)
    with pytest.raises(io.WriteError) as e:
        loop.train(settings(max_epochs=3), two_h5[0], **paths)
    msg = str(e.value)
    assert msg.startswith(f"could not write {paths['checkpoint_dir'] / 'epoch0002'}/")
    assert "unexpected pos" in msg and "free of" in msg and "the disk is full" in msg
    ckpt = paths["checkpoint_dir"]
    assert json.loads((ckpt / checkpoint.STATE_FILE).read_text())["epoch"] == 1
    assert sorted(p.name for p in ckpt.iterdir()) == sorted([".lock", "epoch0001", "loop_state.json", "owner.json"])
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]          # nothing partial under any name
    assert not paths["result_path"].exists() and not paths["model_path"].exists()
    # Space freed, the job is rerun: it resumes from epoch 1's intact checkpoint.
    monkeypatch.setattr(torch, "save", real_save)
    with caplog.at_level(logging.INFO):
        rec = loop.train(settings(max_epochs=3), two_h5[0], **paths)
    assert "continuing at epoch 2" in caplog.text and rec.details["resumed_at_epochs"] == [2]
    assert rec.status == "ok" and [h["epoch"] for h in rec.details["history"]] == [1, 2, 3]


# --- 4. a second live process on the same cell ---------------------------------------------------
def snapshot(folder):
    """Every file's bytes (the owner file names the live holder and may be rewritten by it)."""
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name != "owner.json"}


def test_a_checkpoint_another_live_job_writes_is_left_alone(two_h5, tmp_path, monkeypatch, caplog):
    out, paths = cell(tmp_path)
    ckpt = paths["checkpoint_dir"]
    killed_in_epoch_3(monkeypatch, settings(), two_h5[0], paths)
    code = (f"from mpbench.preflight import locks; import time\nwith locks.claim_checkpoint({str(ckpt)!r}):\n"
            "    print('training', flush=True); time.sleep(120)")
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "training"
        before = snapshot(ckpt)
        with pytest.raises(locks.LockedError) as e:
            loop.train(settings(), two_h5[0], **paths)
        assert f"checkpoint {ckpt} is being written by pid {other.pid}" in str(e.value)
        assert snapshot(ckpt) == before and not paths["result_path"].exists()
    finally:
        other.kill()
        other.wait()
    with caplog.at_level(logging.INFO):
        rec = loop.train(settings(), two_h5[0], **paths)
    assert f"was last held by pid {other.pid}" in caplog.text and "continuing at epoch 3" in caplog.text
    assert rec.status == "ok" and rec.details["resumed_at_epochs"] == [3]
