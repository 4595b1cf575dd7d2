"""The SLURM profile: sbatch arguments from the config, the check of what each job asks for, and the
demo through a real local SLURM, all through the users' literal command `snakemake --profile slurm`.

The ``slurm`` tests start a single-node cluster with tests/slurm/local_cluster.sh (Debian's
slurm-wlm + munge; installed when missing and running as root, as in CI) and stop it afterwards.
Its partitions a100 and a40 are GPU-only (fake GPUs; jobs requesting none are refused there).
"""
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import yaml

from mpbench import grid, record, stages
from mpbench.preflight import checks

from conftest import run_snakemake, small_config

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "tests" / "slurm" / "local_cluster.sh"


def dry_run_jobs(*args) -> tuple[list, str]:
    """[(rule, local?, wildcards, resources)] parsed from a dry run's job listing, and its whole output."""
    out = run_snakemake("-n", *args, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    jobs = []
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \w+:)", out.stdout):   # preprocess: a checkpoint
        m = re.match(r"(local)?(?:rule|checkpoint) (\w+):", block)
        if not m:
            continue
        wc = re.search(r"wildcards: (.*)", block)
        res = re.search(r"resources: (.*)", block)
        parse = lambda s: dict(kv.split("=", 1) for kv in s.split(", ")) if s else {}  # noqa: E731
        jobs.append((m.group(2), bool(m.group(1)), parse(wc.group(1) if wc else ""),
                     parse(res.group(1) if res else "")))
    return jobs, out.stdout + out.stderr


def merged_config(*overlays) -> dict:
    """config/config.yaml with ``overlays`` laid over it as Snakemake does (mappings merged, the rest replaced)."""
    def merge(a, b):
        return {**a, **{k: merge(a[k], v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
                        for k, v in b.items()}}
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for overlay in overlays:
        cfg = merge(cfg, yaml.safe_load(Path(overlay).read_text()) if not isinstance(overlay, dict) else overlay)
    return cfg


def test_literal_profile_name_finds_profiles_slurm_from_the_repository_root():
    """`snakemake --profile slurm` looks in ./slurm first: a committed link to profiles/slurm, the one copy."""
    link = REPO / "slurm"
    assert link.is_symlink() and os.readlink(link) == "profiles/slurm"
    assert (link / "config.yaml").resolve() == (REPO / "profiles" / "slurm" / "config.yaml").resolve()
    if (REPO / ".git").exists() and shutil.which("git"):
        out = subprocess.run(["git", "ls-files", "-s", "slurm"], cwd=REPO, capture_output=True, text=True).stdout
        assert out.startswith("120000 "), out       # committed as a link (mode 120000): a fresh clone has it


def test_profile_dry_run_on_paper_grid_asks_alex_for_gpus():
    """The literal command on the paper's config: the grid on the cluster's GPUs (config/cluster.yaml, which
    the profile loads), CPU work on an A40 share, light rules local, and nothing the check would name."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    jobs, log = dry_run_jobs("--profile", "slurm")
    assert "would get no GPU or be refused" not in log
    train = [(w, r) for rule, _, w, r in jobs if rule.startswith("train_")]
    assert len(train) == 128 and {w["device"] for w, _ in train} == {"a100", "a40"}   # no desktop rtx3090
    a100 = [r for w, r in train if w["device"] == "a100"]
    assert a100 and all(r["slurm_partition"] == "a100" and r["gres"] == "gpu:a100:1" and r["gpu"] == "0"
                        and r["runtime"] == "1440" and r["cpus_per_task"] == "16" for r in a100)
    a40 = [r for w, r in train if w["device"] == "a40"]
    assert a40 and all(r["slurm_partition"] == "a40" and r["gres"] == "gpu:a40:1" for r in a40)
    cpu_work = [r for rule, _, _, r in jobs if rule in ("preprocess", "quantize", "qat", "edgetpu_compile",
                                                         "edgetpu_infer")]
    assert cpu_work and all(r["slurm_partition"] == "a40" and r["gres"] == "gpu:a40:1" and r["gpu"] == "0"
                            for r in cpu_work)
    # stages.submitted_jobs (what the check inspects) is exactly what the dry run would submit
    submitted = sorted((rule, checks.job_label("", w) if w else "") for rule, _, w, _ in jobs
                       if rule not in stages.LOCAL_RULES)
    config = merged_config(REPO / "config" / "cluster.yaml")
    expected = sorted((rule, checks.job_label("", run) if run else "")
                      for rule, run, _ in stages.submitted_jobs(config))
    assert submitted == expected


def test_dry_run_names_every_job_that_would_get_no_gpu_or_be_refused(tmp_path):
    """Without config/cluster.yaml (a --configfile given replaces the profile's): the desktop rtx3090's cells
    would get no GPU, and on a GPU-only cluster the CPU work would be refused. The dry run says so, job by job."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    overlay = tmp_path / "gpu_only.yaml"
    overlay.write_text(yaml.safe_dump({"slurm": {"gpu_only": True}}))
    jobs, log = dry_run_jobs("--profile", "slurm", "--configfile", str(overlay))
    assert "dry run with the SLURM executor: these jobs would get no GPU or be refused" in log
    assert "128 job(s) on devices.rtx3090 (type cuda) ask SLURM for no GPU" in log
    config = merged_config(overlay)
    named = {rule for rule, _, _ in stages.submitted_jobs(config)}
    cpu_jobs = sum(1 for _, _, device in stages.submitted_jobs(config) if device == "cpu")
    assert f"{cpu_jobs} job(s) on devices.cpu ask for no GPU, but slurm.gpu_only is true" in log
    for rule in named:
        assert re.search(rf"^ +{rule}( \(\d+\): |$)", log, re.M), rule
    # every job by its cell: 32 per training rule on rtx3090, e.g.
    cells = re.search(r"train_pytorch \(32\): (.*?)\n +train_tensorflow", log, re.S).group(1)
    assert len(re.findall(r"rtx3090/\w+/f\d+/fold\d", cells)) == 32
    assert len(jobs) > 0                               # the plan itself is still printed


def test_light_rules_are_local_rules():
    """stages.LOCAL_RULES (left out of the check) are the rules the Snakefile declares `localrules`."""
    declared = set()
    for path in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        for block in re.findall(r"^\s*localrules:\n((?:\s+\w+,?\n)+)", path.read_text(), re.M):
            declared |= set(re.findall(r"\w+", block))
    assert declared == set(stages.LOCAL_RULES) == {"all", "synthetic_bagls", "summary", "figures", "claims"}


def checks_jobs(config):
    """stages.submitted_jobs with the resources their device gives them (gpu: 0, as the SLURM profile sets)."""
    return [(rule, run, device, {**grid.slurm_resources(config, device), "gpu": 0})
            for rule, run, device in stages.submitted_jobs(config)]


def test_slurm_problems_names_jobs_without_gpu_and_refused_ones():
    config = merged_config({"slurm": {"gpu_only": False}})
    problems = checks.slurm_problems(config, checks_jobs(config))
    assert len(problems) == 1 and problems[0].startswith("128 job(s) on devices.rtx3090 (type cuda)")
    assert "gres" in problems[0] and "config/cluster.yaml" in problems[0]
    config = merged_config({"slurm": {"gpu_only": True}})
    problems = checks.slurm_problems(config, checks_jobs(config))
    assert [p.split(" job(s) on ")[1].split()[0] for p in problems] == ["devices.rtx3090", "devices.cpu"]
    assert "sbatch would refuse them" in problems[1].replace("\n  ", " ")
    assert "    preprocess\n" in problems[1] + "\n"
    config = merged_config(REPO / "config" / "cluster.yaml")
    assert checks.slurm_problems(config, checks_jobs(config)) == []
    assert checks.slurm_message([], dry_run=True) is None


def test_asks_for_gpu():
    assert checks.asks_for_gpu({"gres": "gpu:a100:1", "gpu": 0})
    assert checks.asks_for_gpu({"gpu": 1}) and checks.asks_for_gpu({"gpus": "a100:1"})
    assert not checks.asks_for_gpu({"gpu": 0, "slurm_partition": "a40"}) and not checks.asks_for_gpu({})


def test_requested_executor_reads_the_command_line_with_its_profile(monkeypatch):
    pytest.importorskip("snakemake_executor_plugin_slurm")
    monkeypatch.chdir(REPO)
    assert checks.requested_executor(["--profile", "slurm", "-n"]) == ("slurm", True)
    assert checks.requested_executor(["--profile", "slurm"]) == ("slurm", False)
    assert checks.requested_executor(["--cores", "2"]) == ("local", False)
    assert checks.requested_executor(["--profile", "slurm", "--mode", "remote"]) is None     # a job step
    assert checks.requested_executor(["--no-such-option"]) is None


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
    (h5,) = (root / "data").glob("*/bagls_*.h5")   # data/<key of its data settings>/ (data.freshness)
    with h5py.File(h5) as f:
        out["h5"] = {k: np.asarray(f[k]).tolist() for k in f.keys()}
    for p in sorted(root.glob("train/**/result.json")):
        r = record.read_one(p)
        d = r.details
        out[str(p.relative_to(root))] = (r.status, r.epochs, [round(h["loss"], 4) for h in d["history"]])
    for p in sorted(root.glob("quantize/**/result.json")):
        out[str(p.relative_to(root))] = {r.variant: r.details["op_counts"] for r in record.read(p)}
    # The data folder's name is a key of the data settings, data.bagls_dir among them: each run has its own.
    key = f"data/{h5.parent.name}/"
    out["files"] = sorted(str(p.relative_to(root)).replace(key, "data/<key>/") for p in root.rglob("*")
                          if p.is_file() and "logs" not in p.parts and ".snakemake" not in p.parts
                          and p.suffix not in (".out",))
    return out


# What this single-node cluster needs beyond the profile: it has no accounting daemon (slurmdbd), so the
# plugin asks squeue for job states and no account (sacct would hang), and polls every second instead of
# 40 s (jobs of seconds each, as here, spent most of a run waiting for the next poll; SNAKEMAKE keeps the
# plugin's back-off from stretching that). Everything else comes from profiles/slurm, found as `--profile slurm`.
NO_ACCOUNTING = ("--slurm-status-command", "squeue", "--slurm-no-account",
                 "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1")
# The local cluster as a GPU-only one (as config/cluster.yaml describes Alex): CPU work on a share of a
# (fake) A40, small enough for this machine.
GPU_SHARE = {"cpu": {"type": "cpu", "partition": "a40", "gres": "gpu:a40:1", "runtime_min": 30, "cpus_per_task": 1}}


# snakemake, its status polls no further apart than --seconds-between-status-checks (tests/slurm/snakemake_polling.py)
SNAKEMAKE = (sys.executable, str(REPO / "tests" / "slurm" / "snakemake_polling.py"))


def slurm_snakemake(*args):
    """The users' command, from the repository root, against the local cluster."""
    return run_snakemake("--profile", "slurm", *NO_ACCOUNTING, *args, snakemake=SNAKEMAKE)


def slurm_snakemake_started(output: Path, *args) -> subprocess.Popen:
    """:func:`slurm_snakemake`, started, its stdout and stderr written to ``output``: the caller does other work
    while SLURM runs the jobs, then waits. A file, not a pipe: a pipe nobody reads fills up with the verbose
    log and stops snakemake at its next line until the caller reads (which left every SLURM job of the
    demo test waiting, detected minutes late, until the local run beside it was over)."""
    with open(output, "w") as out:   # the child keeps its own copy of the descriptor
        return subprocess.Popen([*SNAKEMAKE, "--profile", "slurm", *NO_ACCOUNTING, *args], cwd=REPO, stdout=out,
                                stderr=subprocess.STDOUT, text=True)


@pytest.mark.slurm
@pytest.mark.slow
def test_demo_through_local_slurm_matches_local_run(local_slurm, request, tmp_path):
    """The demo with `snakemake --profile slurm` on a GPU-only cluster: every job but the light local ones goes
    through sbatch with a GPU share, and the results equal a local run's. The SLURM side runs PyTorch's fp32
    cell, compared exactly with the same cell of the local run (TensorFlow's oneDNN CPU kernels are not bitwise
    reproducible across processes). Every rule runs but qat and TensorFlow's train_/infer_bench_ rules: those
    are made from the same templates as PyTorch's, and a QAT job is ~25 s of fixed cost here while nothing
    of its submission differs from the quantize job's (test_every_timed_job_claims_all_cores_in_a_dry_run)."""
    slurm_cfg = small_config(tmp_path, "slurm", devices=GPU_SHARE, slurm={"gpu_only": True},
                             train={"frameworks": ["pytorch"], "precisions": ["fp32"]}, quantize={"qat_epochs": 0})
    output = tmp_path / "snakemake.out"
    started = slurm_snakemake_started(output, "--configfile", str(slurm_cfg), "--verbose")
    try:   # the local run (a session fixture) meanwhile, unless an earlier test made it
        small_local_run = request.getfixturevalue("small_local_run")
        started.wait(timeout=1500)
    finally:
        if started.poll() is None:
            started.kill()
            started.wait()
    log = output.read_text()
    assert started.returncode == 0, log[-6000:]
    assert "Using profile slurm for setting default command line arguments" in log
    submitted = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log)
    jobs_run = int(re.search(r"(\d+) of \d+ steps \(100%\) done", log).group(1))
    local_jobs = re.findall(r"^localrule (\w+):", log, re.M)
    assert set(local_jobs) == {"all", "synthetic_bagls", "summary", "figures", "claims"}
    submitted_rules = set(re.findall(r"^(?:rule|checkpoint) (\w+):", log, re.M))
    assert submitted_rules == {"preprocess", "train_pytorch", "infer_bench_pytorch", "quantize", "edgetpu_compile",
                               "edgetpu_infer"}, submitted_rules
    assert len(submitted) == jobs_run - len(local_jobs) == len(submitted_rules)
    sbatch_calls = re.findall(r"sbatch call: (.*)", log)
    assert len(sbatch_calls) == len(submitted)
    assert all(re.search(r"-p '?a40'?", c) and "--gres=gpu:a40:1" in c for c in sbatch_calls), sbatch_calls

    def in_both(path: str) -> bool:   # the cell both runs have: PyTorch's fp32
        return "mixed_bf16" not in path and "tensorflow" not in path and not path.endswith(("qat.json",
                                                                                              "_qat_int8.tflite"))
    a, b = content(small_local_run), content(tmp_path / "slurm")
    a = {k: v for k, v in a.items() if k in ("h5", "files") or in_both(k)}
    a["files"] = [f for f in a["files"] if in_both(f)]
    assert a["files"] == b["files"] and "figures/fig2.png" in a["files"]
    assert any(k.startswith("train/pytorch/") for k in a) and any(k.startswith("quantize/pytorch/") for k in a)
    assert a == b   # data, PyTorch's training losses, the quantized ops: exactly


@pytest.mark.slurm
@pytest.mark.slow
def test_gpu_training_job_is_submitted_to_its_partition_with_gres(local_slurm, small_local_run, tmp_path):
    """A training job for device a100 goes to partition a100 with --gres=gpu:a100:1 (fake GPUs on the
    local node); there is no CUDA there, so the job then fails with the trainer's clear message."""
    cfg = small_config(tmp_path, "gpu", train={"devices": ["a100"], "frameworks": ["pytorch"], "precisions": ["fp32"]},
                       devices={"a100": {"type": "cuda", "partition": "a100", "gres": "gpu:a100:1", "runtime_min": 10,
                                         "mem_mb": 1000, "cpus_per_task": 1}})
    for folder in ("bagls_synthetic", "data"):   # the local run's frames and HDF5 (same data settings), times
        shutil.copytree(small_local_run / folder, tmp_path / "gpu" / folder)   # kept: only the training job runs
    target = str(tmp_path / "gpu" / "train" / "pytorch" / "a100" / "fp32" / "f8" / "fold0" / "result.json")
    # --retries 0: the profile's retry (for a time limit) would only submit the job that must fail a second time
    run = slurm_snakemake("--configfile", str(cfg), "--verbose", "--retries", "0", target)
    log = run.stdout + run.stderr
    assert run.returncode != 0                                           # no GPU behind the fake gres
    call = next(c for c in re.findall(r"sbatch call: (.*)", log) if "train_pytorch" in c)
    assert re.search(r"-p '?a100'?", call) and "--gres=gpu:a100:1" in call, call
    jobid = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", log)[-1]
    info = subprocess.run(["scontrol", "show", "job", jobid], capture_output=True, text=True).stdout
    assert "Partition=a100" in info and "gpu:a100:1" in info, info
    job_log = (tmp_path / "gpu" / "logs" / "train" / "pytorch" / "a100" / "fp32" / "f8" / "fold0.log").read_text()
    assert "is a CUDA device" in job_log and "sees no GPU" in job_log


@pytest.mark.slurm
@pytest.mark.slow
def test_jobs_a_gpu_only_partition_would_refuse_are_named_and_nothing_is_submitted(local_slurm, tmp_path):
    """CPU work sent to the GPU-only partition a40 without a GPU: the cluster refuses such a job, so the
    workflow names every one of them before it submits anything."""
    refused = subprocess.run(["sbatch", "-p", "a40", "--mem", "100", "--wrap", "true"], capture_output=True, text=True)
    assert refused.returncode != 0 and "takes only jobs that request a GPU" in refused.stderr
    no_gpu = {k: v for k, v in GPU_SHARE["cpu"].items() if k != "gres"}
    cfg = small_config(tmp_path, "refused", devices={"cpu": no_gpu}, slurm={"gpu_only": True})
    run = slurm_snakemake("--configfile", str(cfg), "--verbose")
    log = run.stdout + run.stderr
    assert run.returncode != 0
    assert "not submitted: these jobs would get no GPU or be refused by SLURM (nothing was submitted)" in log
    assert "sbatch call" not in log and "has been submitted" not in log
    n_cpu_jobs = sum(1 for _ in stages.submitted_jobs(yaml.safe_load(cfg.read_text())))
    assert f"{n_cpu_jobs} job(s) on devices.cpu ask for no GPU, but slurm.gpu_only is true" in log
    assert re.search(r"^ +preprocess$", log, re.M)
    assert "train_pytorch (2): cpu/fp32/f8/fold0, cpu/mixed_bf16/f8/fold0" in log
    assert not (tmp_path / "refused" / "bagls_synthetic").exists()     # not even the local jobs ran


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
