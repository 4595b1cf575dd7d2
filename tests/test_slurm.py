"""The SLURM profiles: sbatch arguments from the config, and the demo through a real local SLURM.

The ``slurm`` tests start a single-node cluster with tests/slurm/local_cluster.sh (Debian's
slurm-wlm + munge; installed when missing and running as root, as in CI) and stop it afterwards.
"""
import hashlib
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import yaml

from mpbench import record

from conftest import run_snakemake, small_config

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "tests" / "slurm" / "local_cluster.sh"


def dry_run_resources(*args) -> dict:
    """jobid → (rule, wildcards, resources) parsed from a dry run's job listing."""
    out = run_snakemake("-n", *args, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    jobs = []
    for block in re.split(r"\n(?=rule \w+:)", out.stdout):
        m = re.match(r"rule (\w+):", block)
        if not m:
            continue
        wc = re.search(r"wildcards: (.*)", block)
        res = re.search(r"resources: (.*)", block)
        parse = lambda s: dict(kv.split("=", 1) for kv in s.split(", ")) if s else {}  # noqa: E731
        jobs.append((m.group(1), parse(wc.group(1) if wc else ""), parse(res.group(1) if res else "")))
    return jobs


def test_profile_dry_run_on_paper_grid_asks_alex_for_gpus():
    pytest.importorskip("snakemake_executor_plugin_slurm")
    jobs = dry_run_resources("--profile", "profiles/slurm")
    train = [(w, r) for rule, w, r in jobs if rule.startswith("train_")]
    assert len(train) == 192
    a100 = [r for w, r in train if w["device"] == "a100"]
    assert a100 and all(r["slurm_partition"] == "a100" and r["gres"] == "gpu:a100:1" and r["gpu"] == "0"
                        and r["runtime"] == "1440" and r["cpus_per_task"] == "16" for r in a100)
    a40 = [r for w, r in train if w["device"] == "a40"]
    assert a40 and all(r["slurm_partition"] == "a40" and r["gres"] == "gpu:a40:1" for r in a40)
    cpu_rules = [r for rule, _, r in jobs if rule in ("preprocess", "quantize", "summary", "figure")]
    assert cpu_rules and not any("gres" in r or r.get("gpu", "0") != "0" for r in cpu_rules)


def test_plugin_builds_gres_and_cpus_from_those_resources():
    """The plugin's own argument builders, fed the resources the rules compute for an a100 job."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    from mpbench import grid
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    res = {**grid.slurm_resources(config, "a100"), "gpu": 0}   # the profile's set-resources gpu: 0

    class Resources(SimpleNamespace):
        def get(self, key, default=None):
            return getattr(self, key, default)
    job = SimpleNamespace(resources=Resources(**res), threads=2, name="train_pytorch", is_group=lambda: False)
    assert set_gres_string(job).strip() == "--gres=gpu:a100:1"
    call = get_submit_command(job, {"run_uuid": "u", "slurm_logfile": "l", "comment_str": "c", "account": "",
                                    "partition": f"-p {res['slurm_partition']}", "workdir": str(REPO)})
    assert "-p a100" in call and "-t 1440" in call.replace("'", "") and "--cpus-per-task=16" in call
    assert "--mem" not in call                 # mem_mb: 0 on Alex: memory comes with the GPU share


# --------------------------------------------------------------------------- real local SLURM

ETC_SLURM = Path("/etc/slurm")


def etc_slurm_state(root: Path = ETC_SLURM):
    """/etc/slurm as found: every entry (not following links) with its kind, mode and link target or
    SHA-256; None when it does not exist. The local cluster must leave this exactly as it was."""
    def entry(p: Path):
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            return ("link", os.readlink(p))
        if stat.S_ISDIR(st.st_mode):
            return ("dir", oct(stat.S_IMODE(st.st_mode)))
        if stat.S_ISREG(st.st_mode):
            return ("file", oct(stat.S_IMODE(st.st_mode)), hashlib.sha256(p.read_bytes()).hexdigest())
        return ("other", oct(st.st_mode))
    if not os.path.lexists(root):
        return None
    state = {".": entry(root)}
    if state["."][0] == "dir":
        for dirpath, dirnames, filenames in os.walk(root):          # links to folders are not followed
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                state[str(p.relative_to(root))] = entry(p)
    return state


class LocalSlurm:
    """A running local cluster: its folder, and `stop()` (idempotent) for the last test and the teardown."""

    def __init__(self, state: Path, etc_before):
        self.state, self.etc_before = state, etc_before
        self.stopped = self.etc_checked = False

    def daemons_alive(self) -> list:
        alive = []
        for d in ("slurmd", "slurmctld", "munged"):
            pid_file = self.state / f"{d}.pid"
            try:
                os.kill(int(pid_file.read_text()), 0)
                alive.append(d)
            except (OSError, ValueError):
                pass
        return alive

    def stop(self):
        if not self.stopped:
            self.stopped = True
            subprocess.run(["bash", str(CLUSTER), "stop", str(self.state)], timeout=60, check=True)


@pytest.fixture(scope="module")
def local_slurm(tmp_path_factory):
    """Starts the cluster with its clients' environment (SLURM_CONF, PATH with its srun) set in this
    process, so every snakemake/scontrol call of the tests reaches it. Always stops it again, also when
    a test or the start failed, and then fails the teardown if /etc/slurm is not as it was found."""
    if os.geteuid() != 0 and not shutil.which("slurmctld"):
        pytest.skip("needs root (to install slurm-wlm/munge) or an installed SLURM")
    pytest.importorskip("snakemake_executor_plugin_slurm")
    prepare = subprocess.run(["bash", str(CLUSTER), "prepare"], capture_output=True, text=True, timeout=600)
    if prepare.returncode == 3:
        pytest.skip(prepare.stderr.strip())
    assert prepare.returncode == 0, prepare.stdout + prepare.stderr
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"), etc_slurm_state())   # after any install
    saved_env = {k: os.environ.get(k) for k in ("SLURM_CONF", "PATH")}
    try:
        start = subprocess.run(["bash", str(CLUSTER), "start", str(cluster.state)], capture_output=True, text=True,
                               timeout=600)
        assert start.returncode == 0, start.stdout + start.stderr
        env = dict(line.split("=", 1) for line in (cluster.state / "env").read_text().splitlines())
        assert set(env) == set(saved_env), env
        os.environ.update(env)
        yield cluster
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        cluster.stop()
    if not cluster.etc_checked:
        assert etc_slurm_state() == cluster.etc_before, "the local SLURM cluster changed /etc/slurm"


def content(root: Path) -> dict:
    """What must be identical between a local and a SLURM run: data, learning, quantized ops."""
    out = {}
    with h5py.File(root / "data" / "bagls_224.h5") as f:
        out["h5"] = {k: np.asarray(f[k]).tolist() for k in f.keys()}
    for p in sorted(root.glob("train/**/result.json")):
        r = record.read_one(p)
        d = r["details"]
        out[str(p.relative_to(root))] = (r["status"], d["epochs"], [round(h["loss"], 4) for h in d["history"]])
    for p in sorted(root.glob("quantize/**/result.json")):
        out[str(p.relative_to(root))] = {r["variant"]: r["details"]["op_counts"] for r in record.read(p)}
    out["files"] = sorted(str(p.relative_to(root)) for p in root.rglob("*")
                          if p.is_file() and "logs" not in p.parts and ".snakemake" not in p.parts
                          and p.suffix not in (".out",))
    return out


@pytest.mark.slurm
@pytest.mark.slow
def test_demo_through_local_slurm_matches_local_run(local_slurm, small_local_run, tmp_path):
    slurm_cfg = small_config(tmp_path, "slurm")
    slurm = run_snakemake("--profile", "profiles/slurm-local", "--configfile", str(slurm_cfg), "--verbose")
    log = slurm.stdout + slurm.stderr
    assert slurm.returncode == 0, log[-6000:]
    submitted = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log)
    jobs_run = int(re.search(r"(\d+) of \d+ steps \(100%\) done", log).group(1))
    assert len(submitted) == jobs_run - 1 > 20          # every job but the local target rule `all`
    sbatch_calls = re.findall(r"sbatch call: (.*)", log)
    assert len(sbatch_calls) == len(submitted) and all(" -p debug" in c or "-p 'debug'" in c for c in sbatch_calls)
    a, b = content(small_local_run), content(tmp_path / "slurm")
    assert a["files"] == b["files"] and "figures/fig2.png" in a["files"]
    # TensorFlow's oneDNN CPU kernels are not bitwise reproducible across processes: its losses
    # must agree to 2 %; everything else (data, PyTorch training, quantized ops) exactly.
    tf_keys = [k for k in a if k.startswith("train/tensorflow/")]
    for k in tf_keys:
        (sa, ea, la), (sb, eb, lb) = a.pop(k), b.pop(k)
        assert (sa, ea) == (sb, eb) and np.allclose(la, lb, rtol=0.02), (k, la, lb)
    assert tf_keys and any(k.startswith("train/pytorch/") for k in a)
    assert a == b


@pytest.mark.slurm
@pytest.mark.slow
def test_gpu_training_job_is_submitted_to_its_partition_with_gres(local_slurm, tmp_path):
    """A training job for device a100 goes to partition a100 with --gres=gpu:a100:1 (fake GPUs on the
    local node); there is no CUDA there, so the job then fails with the trainer's clear message."""
    cfg = small_config(tmp_path, "gpu", train={"devices": ["a100"], "frameworks": ["pytorch"], "precisions": ["fp32"]},
                       devices={"a100": {"type": "cuda", "partition": "a100", "gres": "gpu:a100:1", "runtime_min": 10,
                                         "mem_mb": 1000, "cpus_per_task": 1}})
    target = str(tmp_path / "gpu" / "train" / "pytorch" / "a100" / "fp32" / "f8" / "fold0" / "result.json")
    run = run_snakemake("--profile", "profiles/slurm-local", "--configfile", str(cfg), "--verbose", target)
    log = run.stdout + run.stderr
    assert run.returncode != 0                                           # no GPU behind the fake gres
    call = next(c for c in re.findall(r"sbatch call: (.*)", log) if "train_pytorch" in c)
    assert re.search(r"-p '?a100'?", call) and "--gres=gpu:a100:1" in call, call
    jobid = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", log)[-1]
    info = subprocess.run(["scontrol", "show", "job", jobid], capture_output=True, text=True).stdout
    assert "Partition=a100" in info and "gpu:a100:1" in info, info
    job_log = (tmp_path / "gpu" / "logs" / "train" / "pytorch" / "a100" / "fp32" / "f8" / "fold0.log").read_text()
    assert "is a CUDA device" in job_log and "sees no GPU" in job_log


# Keep this test last in the module: it stops the cluster (pytest runs a module's tests in file order).
@pytest.mark.slurm
@pytest.mark.slow
def test_local_cluster_leaves_etc_slurm_as_found(local_slurm):
    """The cluster runs from its own folder: nothing in /etc/slurm changes while it runs or after it
    stopped (links left there made every later SLURM client, `snakemake --version` included, wait
    ~10 s for the dead controller)."""
    assert etc_slurm_state() == local_slurm.etc_before
    assert subprocess.run(["scontrol", "ping"], capture_output=True, text=True).returncode == 0   # still up
    local_slurm.stop()
    assert local_slurm.daemons_alive() == []
    assert etc_slurm_state() == local_slurm.etc_before
    local_slurm.etc_checked = True
    if "slurm.conf" not in (local_slurm.etc_before or {}):
        # no cluster configured on this machine: without SLURM_CONF a client now finds no configuration
        # and gives up at once (the SLURM plugin's `scontrol show config` when snakemake loads it)
        env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
        probe = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, env=env, timeout=5)
        assert probe.returncode != 0, probe.stdout
