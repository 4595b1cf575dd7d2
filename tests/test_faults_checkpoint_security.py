"""Issue 23, case 8: a checkpoint is data, never code. A checkpoint planted in (or copied with) a results
folder whose files carry a pickle payload must not run it on resume; the checkpoints mpbench writes
still resume in both frameworks, and hold nothing that needs unpickling."""
import json
import logging

import numpy as np
import pytest
from test_faults_training import LAST, aside, cell, killed_in_epoch_3, settings

from mpbench.training import checkpoint, loop

pytestmark = pytest.mark.slow


class Payload:
    """Unpickling this runs ``exec``: it writes ``marker`` — what an attacker's code could do instead."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('code from a checkpoint ran')",)


def small(framework, **kw):
    """3 epochs on 16 training frames of 64×64: resuming, not learning, is under test."""
    return settings(framework, max_epochs=3, samples_limit=16, **kw)


def plant(state_path, state, rel: str, write) -> None:
    """Write ``rel`` (below the checkpoint) with ``write(path)`` and make the state name it with its size,
    as a whole checkpoint copied from elsewhere would."""
    ckpt = state_path.parent
    write(ckpt / rel)
    state["files"][rel] = (ckpt / rel).stat().st_size
    state_path.write_text(json.dumps(state))


def plant_torch(state_path, state, marker):
    import torch
    rel = f"{state['last_dir']}/last.pt"
    plant(state_path, state, rel, lambda p: torch.save({"model": Payload(marker)}, p))
    return rel


def plant_keras_rng(state_path, state, marker):
    """The Keras RNG state as format 2 kept it, a pickled object array, carrying the payload."""
    last = state_path.parent / state["last_dir"]
    for f in last.glob("last_rng.*"):
        state["files"].pop(f"{state['last_dir']}/{f.name}", None)
        f.unlink()
    rel = f"{state['last_dir']}/last_rng.npy"
    plant(state_path, state, rel, lambda p: np.save(p, np.array([Payload(marker)], dtype=object), allow_pickle=True))
    return rel


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_a_planted_checkpoint_does_not_run_its_payload_on_resume(framework, train_h5, tmp_path, monkeypatch, caplog):
    out, paths = cell(tmp_path, framework)
    s = small(framework)
    state = killed_in_epoch_3(monkeypatch, s, train_h5, paths)
    state_path = paths["checkpoint_dir"] / checkpoint.STATE_FILE
    marker = tmp_path / "pwned"
    rel = (plant_torch if framework == "pytorch" else plant_keras_rng)(state_path, state, marker)
    planted = (paths["checkpoint_dir"] / rel).read_bytes()
    with caplog.at_level(logging.INFO):
        rec = loop.train(s, train_h5, **paths)
    assert not marker.exists(), "resuming ran code stored in the checkpoint"
    assert "continuing at epoch" not in caplog.text
    assert f"checkpoint {paths['checkpoint_dir']} not resumed:" in caplog.text
    damaged = aside(out, "damaged")
    assert (damaged / rel).read_bytes() == planted            # kept as found, for whoever investigates
    assert rec.status == "ok" and [h["epoch"] for h in rec.details["history"]] == [1, 2, 3]
    assert rec.details["checkpoints_set_aside"][0]["path"] == str(damaged)


def test_an_old_format_keras_checkpoint_is_set_aside_as_stale_never_unpickled(train_h5, tmp_path, monkeypatch, caplog):
    """Format 2 kept the Keras RNG state as a pickled object array: it cannot be read without unpickling."""
    out, paths = cell(tmp_path, "tensorflow")
    s = small("tensorflow")
    state = killed_in_epoch_3(monkeypatch, s, train_h5, paths)
    state["fingerprint"]["format"] = 2
    marker = tmp_path / "pwned"
    plant_keras_rng(paths["checkpoint_dir"] / checkpoint.STATE_FILE, state, marker)
    with caplog.at_level(logging.INFO):
        rec = loop.train(s, train_h5, **paths)
    assert not marker.exists()
    assert f"it was written for another run: checkpoint format 2 → {checkpoint.CHECKPOINT_FORMAT}" in caplog.text
    aside(out, "stale")
    assert rec.status == "ok" and rec.details["resumed_at_epochs"] == []


def load_without_code(path):
    """The file read by a loader that refuses to run code (raises on anything but data)."""
    if path.suffix == ".pt":
        import torch
        return torch.load(path, weights_only=True)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return [z[k] for k in z.files]
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if path.suffix == ".json":
        return json.loads(path.read_text())
    raise AssertionError(f"unexpected checkpoint file {path}")


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_real_checkpoints_hold_only_data_and_still_resume(framework, train_h5, tmp_path, monkeypatch, caplog):
    out, paths = cell(tmp_path, framework)
    s = small(framework)
    state = killed_in_epoch_3(monkeypatch, s, train_h5, paths)
    files = [paths["checkpoint_dir"] / rel for rel in state["files"]]
    assert paths["checkpoint_dir"] / state["last_dir"] / LAST[framework] in files
    for f in files:
        load_without_code(f)
    if framework == "tensorflow":
        from mpbench.training.keras_backend import RNG_FILE
        rng = json.loads((paths["checkpoint_dir"] / state["last_dir"] / RNG_FILE).read_text())
        expected = np.random.default_rng(s.run_seed)
        for _ in range(2):                      # one shuffle per epoch trained
            expected.permutation(16)
        assert rng == expected.bit_generator.state
    with caplog.at_level(logging.INFO):
        rec = loop.train(s, train_h5, **paths)
    assert "continuing at epoch 3" in caplog.text and rec.details["resumed_at_epochs"] == [3]
    assert rec.status == "ok" and [h["epoch"] for h in rec.details["history"]] == [1, 2, 3]
    assert not list(out.glob("checkpoint.*"))
