"""Workflow-level faults, reproduced through Snakemake: a results folder shared by two checkouts, a
read-only output folder, and the job log Snakemake deletes before it reruns a job."""
import contextlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mpbench.preflight import locks

from conftest import REPO, h5_of, run_snakemake, small_config

pytestmark = pytest.mark.slow


def h5_target(tmp_path, name):
    """A cheap real run: the synthetic frames and the HDF5 of the cut-down demo config."""
    cfg = small_config(tmp_path, name)
    return cfg, tmp_path / name, str(h5_of(cfg))


# --- 4. two checkouts sharing one results_dir ----------------------------------------------------
def test_a_results_folder_another_checkout_is_using_is_left_alone(tmp_path):
    cfg, results, h5 = h5_target(tmp_path, "shared")
    first = run_snakemake(h5, "--cores", "1", "--configfile", str(cfg), timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert not (results / locks.RESULTS_LOCK).exists()          # taken for the run, dropped after it
    before = Path(h5).stat().st_mtime_ns

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])   # checkout B's snakemake
    try:
        lock = locks.ResultsLock(results, workdir=tmp_path / "checkout_b")
        holder = {**locks.me(cwd=str(lock.workdir)), "pid": other.pid, "pid_start": locks._start_ticks(other.pid)}
        held = lock.folder / f"{holder['host']}-{other.pid}.json"
        lock.folder.mkdir()
        held.write_text(json.dumps(holder))

        run = run_snakemake(h5, "--cores", "1", "--configfile", str(cfg), "--forcerun", "preprocess", timeout=600)
        assert run.returncode != 0
        out = run.stdout + run.stderr
        assert f"results_dir {results} is in use by another workflow run" in out
        assert f"pid {other.pid} on " in out and "checkout_b" in out and "Nothing was changed" in out
        assert Path(h5).stat().st_mtime_ns == before and held.exists()    # nothing removed, lock untouched
        # Dry-runs and reports neither take nor break the lock.
        dry = run_snakemake(h5, "-n", "--configfile", str(cfg), "--forcerun", "preprocess", timeout=600)
        assert dry.returncode == 0, dry.stderr[-3000:]
        assert [p.name for p in lock.folder.glob("*.json")] == [held.name]
    finally:
        other.kill()
        other.wait()
    # Checkout B's snakemake was killed: its lock is stale, named, and removed by the next run.
    run = run_snakemake(h5, "--cores", "1", "--configfile", str(cfg), "--forcerun", "preprocess", timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"removed a stale lock on {results}: pid {other.pid}" in run.stdout + run.stderr
    assert Path(h5).stat().st_mtime_ns > before and not (results / locks.RESULTS_LOCK).exists()


# --- 13. a read-only output folder -------------------------------------------------------------
@contextlib.contextmanager
def read_only(folder: Path):
    """``folder`` made unwritable for this user: chmod, or for root (which ignores modes) chattr +i."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("running as root without chattr +i: cannot make a folder read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_a_read_only_output_folder_is_named_before_snakemake_removes_anything(tmp_path):
    cfg, results, h5 = h5_target(tmp_path, "readonly")
    first = run_snakemake(h5, "--cores", "1", "--configfile", str(cfg), timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    data = Path(h5).parent                                   # results/data/<key of the data settings>
    before = {p.name: p.stat().st_mtime_ns for p in data.iterdir()}
    with read_only(data):
        run = run_snakemake(h5, "--cores", "1", "--configfile", str(cfg), "--forcerun", "preprocess", timeout=600)
    assert run.returncode != 0
    out = run.stdout + run.stderr
    assert "1 folder(s) that jobs of this run write in are read-only" in out and str(data) in out
    assert "Nothing was changed" in out
    assert "os.remove" not in out                            # Snakemake's own traceback never came
    assert {p.name: p.stat().st_mtime_ns for p in data.iterdir()} == before
    assert not (results / locks.RESULTS_LOCK).exists()


# --- 12. the log of a killed attempt ------------------------------------------------------------
def test_snakemake_deletes_a_rerun_jobs_log_but_the_attempt_is_kept(tmp_path):
    """A job that logs and dies, rerun: Snakemake removes its log first (checked here), the copy stays."""
    (tmp_path / "job.py").write_text(textwrap.dedent("""
        import logging
        from pathlib import Path
        from mpbench.logs import setup
        setup(snakemake.log[0])
        log = logging.getLogger("mpbench.job")
        if not Path("second_attempt").exists():
            log.info("epoch 1/12 loss 0.7")
            log.info("epoch 2/12 loss 0.6")
            raise RuntimeError("killed (simulated time limit)")
        log.info("epoch 1/12 loss 0.7 (again)")
        Path(snakemake.output[0]).write_text("done")
    """))
    (tmp_path / "Snakefile").write_text(textwrap.dedent("""
        rule train:
            output: "cell/result.json"
            log: "logs/cell.log"
            script: "job.py"
    """))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}

    def snakemake():
        return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
    assert snakemake().returncode != 0
    log = tmp_path / "logs" / "cell.log"
    assert "epoch 2/12" in log.read_text()              # Snakemake keeps the log of a failed job …
    (tmp_path / "second_attempt").touch()
    assert snakemake().returncode == 0
    text = log.read_text()
    assert "epoch 2/12" not in text                      # … and deletes it when it reruns the job
    assert "attempt 2 of this job" in text and "earlier attempts' logs: 1.log" in text
    kept = tmp_path / "logs" / "cell.log.attempts"
    assert "epoch 2/12 loss 0.6" in (kept / "1.log").read_text()
    assert "killed (simulated time limit)" in (kept / "1.log").read_text()
    assert "(again)" in (kept / "2.log").read_text()


# --- 6. a truncated HDF5 --------------------------------------------------------------------------
def test_a_damaged_hdf5_stops_the_workflow_before_anything_is_rerun(tmp_path):
    cfg, results, h5 = h5_target(tmp_path, "truncated")
    first = run_snakemake(h5, "--cores", "1", "--configfile", str(cfg), timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    finished = results / "train" / "finished_result.json"   # stands for every result downstream
    finished.parent.mkdir(parents=True, exist_ok=True)
    finished.write_text("{}")
    data = Path(h5).read_bytes()
    Path(h5).write_bytes(data[: len(data) // 3])             # a copy cut short
    for args in (("-n",), ("--cores", "1")):                 # a dry run says it too
        run = run_snakemake(*args, "--configfile", str(cfg), timeout=600)
        out = run.stdout + run.stderr
        assert run.returncode != 0 and f"{h5} is damaged: it does not open or read as HDF5" in out, out[-3000:]
        assert "Nothing was scheduled" in out and "are not rerun" in out
    assert finished.exists() and Path(h5).stat().st_size == len(data) // 3   # nothing deleted or rewritten
