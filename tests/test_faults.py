"""Faults found in use, reproduced: inconsistent configs, failed writes, lost job logs, shared results
folders and checkpoints, damaged model files (issue "Nothing lost, nothing stale, nothing silently wrong")."""
import copy
import errno
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from mpbench import io, logs, record
from mpbench.preflight import checks, locks
from mpbench.settings import RunSettings

REPO = Path(__file__).resolve().parents[1]


def paper_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


# --- 2. names and folds the config refers to must exist ------------------------------------------
def test_the_shipped_configs_are_consistent():
    paper = paper_config()
    assert checks.config_problems(paper) == []
    demo = copy.deepcopy(paper)
    for section, values in yaml.safe_load((REPO / "config" / "demo.yaml").read_text()).items():
        demo[section] = {**demo[section], **values} if isinstance(values, dict) else values
    assert checks.config_problems(demo) == []


def test_an_unknown_device_is_named_with_the_known_ones():
    cfg = paper_config()
    cfg["train"]["devices"] = ["a100", "a1000"]
    (problem,) = checks.config_problems(cfg)
    assert "train.devices: 'a1000' is not defined under devices:" in problem
    assert "a100, a40, cpu" in problem and "add devices.a1000" in problem
    with pytest.raises(checks.ConfigError, match="a1000"):
        checks.check_config(cfg)


def test_an_override_that_can_never_match_is_named():
    cfg = paper_config()
    cfg["train"]["batch_size_overrides"] = [{"precision": "fp23", "batch_size": 4},
                                            {"device": "rtx390", "filters": 64, "batch_size": 32},
                                            {"framework": "jax", "batch_size": 8},
                                            {"device": "rtx3090", "precision": "mixed_fp16", "batch_size": 16}]
    problems = checks.config_problems(cfg)
    assert len(problems) == 3
    assert "batch_size_overrides[0]: precision 'fp23' is not one of the precisions" in problems[0]
    assert "fp32" in problems[0] and "would never match" in problems[0]
    assert "batch_size_overrides[1]: device 'rtx390'" in problems[1] and "rtx3090" in problems[1]
    assert "batch_size_overrides[2]: framework 'jax'" in problems[2]


def test_folds_must_exist_and_inference_folds_must_be_trained():
    cfg = paper_config()
    cfg["data"].update(n_folds=4, n_samples=3)
    cfg["train"]["folds"] = [0, 1, 4]
    cfg["infer"]["folds"] = [2, 5]
    problems = checks.config_problems(cfg)
    assert "data.n_folds (4) is larger than data.n_samples (3)" in problems[0]
    assert any("train.folds: fold 4 does not exist: data.n_folds is 4 (folds 0..3)" in p for p in problems)
    assert any("infer.folds: fold 5 does not exist" in p for p in problems)
    assert any("infer.folds: fold 2 is not in train.folds ([0, 1, 4])" in p for p in problems)
    cfg["quantize"]["qat_precisions"] = ["fp16"]
    assert any("quantize.qat_precisions: 'fp16' is not in train.precisions" in p for p in checks.config_problems(cfg))


def test_the_workflow_refuses_an_inconsistent_config_at_once(tmp_path):
    from conftest import run_snakemake, small_config
    cfg = small_config(tmp_path, "bad", train={"devices": ["a1000"],
                                               "batch_size_overrides": [{"precision": "fp23", "batch_size": 4}]},
                       infer={"folds": [1]})
    run = run_snakemake("-n", "--configfile", str(cfg), timeout=300)
    assert run.returncode != 0
    out = run.stdout + run.stderr
    assert "train.devices: 'a1000' is not defined under devices:" in out
    assert "precision 'fp23' is not one of the precisions" in out
    assert "infer.folds: fold 1 is not in train.folds ([0])" in out
    assert not (tmp_path / "bad").exists()


# --- 8. a full disk names the file and the free space; nothing partial stays ---------------------
@pytest.mark.parametrize("failure", [
    OSError(errno.ENOSPC, "No space left on device"),
    RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 2097152 vs 2096994"),
])
def test_a_failed_write_names_the_file_and_the_free_space(tmp_path, failure):
    target = tmp_path / "cell" / "last.pt"
    io.write_bytes(target, b"the previous, complete file")

    def writer_that_fills_the_disk(tmp):
        Path(tmp).write_bytes(b"x" * 2048)   # a partial file under the temporary name …
        raise failure
    with pytest.raises(io.WriteError) as e:
        with io.atomic_path(target) as tmp:
            writer_that_fills_the_disk(tmp)
    msg = str(e.value)
    assert msg.startswith(f"could not write {target} (")
    assert "free of" in msg and "the disk is full" in msg and "Nothing was left under that name" in msg
    assert target.read_bytes() == b"the previous, complete file"   # … never replaces the good one
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.pt"]


def test_a_failed_write_that_is_not_a_full_disk_says_so(tmp_path):
    with pytest.raises(io.WriteError, match="check that the folder is writable") as e:
        with io.atomic_path(tmp_path / "x.json"):
            raise OSError(errno.EIO, "Input/output error")
    assert e.value.errno == errno.EIO and isinstance(e.value, OSError)


def test_other_errors_inside_a_write_are_not_disguised(tmp_path):
    with pytest.raises(RuntimeError, match="^matplotlib could not render$"):
        with io.atomic_path(tmp_path / "fig.png") as tmp:
            tmp.write_bytes(b"half a figure")
            raise RuntimeError("matplotlib could not render")
    assert list(tmp_path.iterdir()) == []


# --- 12. the log of an earlier attempt is kept --------------------------------------------------
def _job(logfile: Path, *lines: str, fail: bool = False):
    code = textwrap.dedent(f"""
        import logging
        from mpbench.logs import setup
        setup({str(logfile)!r})
        for line in {list(lines)!r}:
            logging.getLogger("mpbench.job").info(line)
        if {fail}:
            raise SystemExit(1)
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_each_attempt_keeps_its_log_when_the_job_log_is_deleted(tmp_path):
    log = tmp_path / "logs" / "fold0.log"
    assert _job(log, "epoch 1/12", "epoch 2/12", fail=True).returncode == 1
    log.unlink()   # what Snakemake does before it reruns the job
    assert _job(log, "epoch 1/12 (again)").returncode == 0
    text = log.read_text()
    assert "epoch 2/12" not in text and "epoch 1/12 (again)" in text
    first = text.splitlines()[0]
    assert "attempt 2 of this job" in first and f"earlier attempts' logs: 1.log in {log}.attempts" in first
    assert [p.name for p in logs.attempt_logs(log)] == ["1.log", "2.log"]
    assert "epoch 2/12" in (tmp_path / "logs" / "fold0.log.attempts" / "1.log").read_text()


def test_only_the_newest_attempts_are_kept(tmp_path):
    log = tmp_path / "job.log"
    for i in range(5):
        code = (f"from mpbench.logs import setup; import logging; setup({str(log)!r}, keep=3); "
                f"logging.getLogger('mpbench').info('line {i}')")
        subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert [p.name for p in logs.attempt_logs(log)] == ["3.log", "4.log", "5.log"]
    assert "line 4" in (tmp_path / "job.log.attempts" / "5.log").read_text()


# --- 4. a results folder or checkpoint another live process uses ---------------------------------
def _sleeper():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


def _holder_file(lock: locks.ResultsLock, pid: int, **kw) -> Path:
    holder = {**locks.me(), "pid": pid, "pid_start": locks._start_ticks(pid), **kw}
    path = lock.folder / f"{holder['host']}-{pid}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(holder))
    return path


def test_a_results_folder_in_use_by_another_checkout_is_refused(tmp_path):
    lock = locks.ResultsLock(tmp_path / "results", workdir=tmp_path / "checkout_b")
    other = _sleeper()
    try:
        held = _holder_file(lock, other.pid, cwd=str(tmp_path / "checkout_a"))
        with pytest.raises(locks.LockedError) as e:
            lock.acquire()
        msg = str(e.value)
        assert f"results_dir {tmp_path / 'results'} is in use by another workflow run" in msg
        assert f"pid {other.pid} on {socket.gethostname()}" in msg and "checkout_a" in msg and "— running" in msg
        assert held.exists() and not lock.path.exists()
    finally:
        other.kill()
        other.wait()
    # Its process is gone now: the stale lock is named, removed, and this run takes the folder.
    removed = lock.acquire()
    assert len(removed) == 1 and f"pid {other.pid}" in removed[0] and "no longer running" in removed[0]
    assert not held.exists() and lock.path.exists()
    lock.release()
    assert not lock.folder.exists()


def test_runs_from_one_checkout_share_the_lock_and_other_hosts_are_named(tmp_path):
    lock = locks.ResultsLock(tmp_path / "results", workdir=tmp_path / "checkout")
    sibling = _sleeper()
    try:
        _holder_file(lock, sibling.pid, cwd=str(lock.workdir))   # e.g. `snakemake figures` beside the grid
        assert lock.acquire() == [] and lock.path.exists()
        lock.release()
        assert lock.folder.exists() and not lock.path.exists()     # the sibling's entry stays
    finally:
        sibling.kill()
        sibling.wait()
    remote = _holder_file(lock, 4242, host="login2.cluster", cwd="/home/x/other")
    with pytest.raises(locks.LockedError, match="on another host, so it cannot be checked from here") as e:
        lock.acquire()
    assert f"delete {remote}" in str(e.value)


def test_a_checkpoint_held_by_a_live_process_is_not_adopted(tmp_path):
    ckpt = tmp_path / "checkpoint"
    code = (f"from mpbench.preflight import locks; import time\nwith locks.claim_checkpoint({str(ckpt)!r}):\n"
            "    print('held', flush=True); time.sleep(120)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(locks.LockedError) as e:
            with locks.claim_checkpoint(ckpt):
                pass
        assert f"checkpoint {ckpt} is being written by pid {child.pid}" in str(e.value)
        assert "This job leaves it alone" in str(e.value)
    finally:
        child.kill()
        child.wait()
    with locks.claim_checkpoint(ckpt) as previous:   # the kernel dropped the dead child's lock
        assert previous["pid"] == child.pid
        assert json.loads((ckpt / locks.CKPT_OWNER).read_text())["pid"] == os.getpid()


def test_without_file_locks_a_live_owner_file_still_refuses(tmp_path, monkeypatch):
    """Some cluster filesystems refuse flock (ENOLCK): the owner file is then checked on its own host."""
    import fcntl

    def no_locks(*a):
        raise OSError(errno.ENOLCK, "No locks available")
    monkeypatch.setattr(fcntl, "flock", no_locks)
    ckpt = tmp_path / "checkpoint"
    ckpt.mkdir()
    other = _sleeper()
    try:
        owner = {**locks.me(), "pid": other.pid, "pid_start": locks._start_ticks(other.pid)}
        (ckpt / locks.CKPT_OWNER).write_text(json.dumps(owner))
        with pytest.raises(locks.LockedError, match=f"written by pid {other.pid} on .*running"):
            with locks.claim_checkpoint(ckpt):
                pass
    finally:
        other.kill()
        other.wait()
    with locks.claim_checkpoint(ckpt) as previous:
        assert previous["pid"] == other.pid


# --- 13. read-only folders are found before Snakemake removes anything ---------------------------
def test_unwritable_folders_are_named(tmp_path, monkeypatch):
    (tmp_path / "train" / "cell_a").mkdir(parents=True)
    (tmp_path / "train" / "cell_b").mkdir(parents=True)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: real(p, mode) and not str(p).endswith("cell_a"))
    files = [tmp_path / "train" / "cell_a" / "result.json", tmp_path / "train" / "cell_b" / "result.json",
             tmp_path / "train" / "cell_a" / "new" / "deeper" / "model.pt"]
    assert checks.unwritable_dirs(files) == [tmp_path / "train" / "cell_a"]
    with pytest.raises(PermissionError, match="1 folder.s. that jobs of this run write in are read-only") as e:
        checks.check_writable(files, tmp_path)
    assert str(tmp_path / "train" / "cell_a") in str(e.value) and "Nothing was changed" in str(e.value)


# --- 7. damaged model files name themselves and the rule that rewrites them ----------------------
def _settings(framework):
    return RunSettings(framework=framework, device="cpu", device_type="cpu", precision="fp32", filters=8, fold=0,
                       batch_size=4, channels_last=False, threads=2)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_truncated_pytorch_model_is_named_damaged(tmp_path):
    from mpbench.frameworks.torch_runtime import TorchRuntime
    from mpbench.models import UNetSpec
    rt = TorchRuntime(_settings("pytorch"))
    path = tmp_path / "model.pt"
    rt.save_model(rt.build_model(UNetSpec(8)), path)
    assert rt.load_model(path) is not None
    _truncate(path)
    with pytest.raises(io.DamagedFileError) as e:
        rt.load_model(path)
    msg = str(e.value)
    assert msg.startswith(f"{path} is damaged: it exists") and "rule train_pytorch" in msg and "Delete it" in msg
    with pytest.raises(FileNotFoundError, match="rule train_pytorch writes it"):
        rt.load_model(tmp_path / "missing.pt")


def test_a_truncated_keras_model_is_named_damaged_not_missing(tmp_path):
    from mpbench.frameworks.keras_runtime import KerasRuntime
    from mpbench.models import UNetSpec
    rt = KerasRuntime(_settings("tensorflow"))
    path = tmp_path / "model.keras"
    rt.save_model(rt.build_model(UNetSpec(8), input_size=32), path)
    _truncate(path)
    with pytest.raises(io.DamagedFileError) as e:
        rt.load_model(path)
    msg = str(e.value)
    assert msg.startswith(f"{path} is damaged: it exists") and "rule train_tensorflow" in msg


def test_a_damaged_int8_model_is_recorded_failed_by_the_edgetpu_stage(h5_path, tmp_path):
    from mpbench.edgetpu.stage import compile_stage, infer_stage
    from mpbench.quantization.tflite_model import TFLiteModel
    s = _settings("tensorflow")
    int8 = tmp_path / "model_int8.tflite"
    int8.write_bytes(b"TFL3" + b"\0" * 1000)   # a cut-off flatbuffer
    with pytest.raises(io.DamagedFileError, match="rule quantize"):
        TFLiteModel(int8)
    compile_stage(s, int8_path=int8, result_path=tmp_path / "edgetpu_compile.json",
                  log_path=tmp_path / "edgetpu_compiler.log", compiler="no-such-edgetpu-compiler", required=False)
    rec = infer_stage(s, compile_json=tmp_path / "edgetpu_compile.json", int8_path=int8, h5_path=h5_path,
                      result_path=tmp_path / "edgetpu_infer.json", eval_images=4, timing_warmup=1, timing_repeats=2,
                      required=False)
    assert rec.status == "failed"
    saved = record.read_one(tmp_path / "edgetpu_infer.json")
    assert saved.status == "failed" and saved.error.startswith(f"{int8} is damaged")
    assert "rule quantize" in saved.error
