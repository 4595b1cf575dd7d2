"""Timed jobs hold the CPU alone (issue 24): no two timed jobs of a local run overlap, no untimed job runs
beside a timed one, and the records say what each timing ran with (threads, cores held, denormal mode)."""
import json
import re
import subprocess
import sys
from datetime import datetime
from itertools import combinations
from pathlib import Path
from types import SimpleNamespace

import pytest

from mpbench import provenance, record
from mpbench.timing import summarize

from conftest import run_snakemake, small_config

# The log folders (RESULTS/logs/<stage>/…) of the rules that time something: training, the inference
# benchmark, TFLite timing in quantize, QAT timing, the Edge TPU (or its cpu-int8 stand-in) run.
TIMED = ("train", "infer", "quantize", "qat", "edgetpu_infer")
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def job_spans(root: Path) -> dict[str, tuple[datetime, datetime]]:
    """Every job's first and last timestamped log line, keyed by its log path under RESULTS/logs."""
    spans = {}
    for log in sorted((root / "logs").rglob("*.log")):
        if any(p.endswith(".attempts") for p in log.parts):
            continue
        stamps = [datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
                  for line in log.read_text().splitlines() if (m := _STAMP.match(line))]
        if stamps:
            spans[str(log.relative_to(root / "logs"))] = (stamps[0], stamps[-1])
    return spans


def overlaps(spans: dict) -> list[str]:
    """Pairs of jobs that ran at the same time where at least one of them is timed."""
    timed = lambda name: name.split("/", 1)[0] in TIMED  # noqa: E731
    found = []
    for (a, (a0, a1)), (b, (b0, b1)) in combinations(spans.items(), 2):
        if (timed(a) or timed(b)) and a0 < b1 and b0 < a1:
            found.append(f"{a} [{a0:%H:%M:%S.%f} … {a1:%H:%M:%S.%f}] and {b} [{b0:%H:%M:%S.%f} … {b1:%H:%M:%S.%f}]")
    return found


def test_overlap_finder_sees_a_timed_job_beside_another_job():
    t = lambda s: datetime(2025, 1, 1, 0, 0, s)  # noqa: E731
    spans = {"edgetpu_infer/tensorflow/a.log": (t(0), t(5)), "edgetpu_infer/pytorch/a.log": (t(1), t(6)),
             "edgetpu_compile/pytorch/a.log": (t(7), t(8)), "figures/fig2.log": (t(9), t(11)),
             "figures/fig3.log": (t(10), t(12))}
    found = overlaps(spans)
    assert len(found) == 1 and "edgetpu_infer/tensorflow" in found[0] and "edgetpu_infer/pytorch" in found[0]


def test_every_timed_job_claims_all_cores_in_a_dry_run(tmp_path):
    """The scheduler's side, cheaply: with --cores 3 every timed job asks for all 3 (nothing fits beside it);
    the untimed ones (preprocess, Edge TPU compile, tables, figures) ask for fewer."""
    cfg = small_config(tmp_path, "dry")
    out = run_snakemake("-n", "--cores", "3", "--configfile", str(cfg), timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    threads = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out.stdout):
        if m := re.match(r"(?:local)?rule (\w+):", block):
            t = re.search(r"^\s*threads: (\d+)", block, re.M)
            threads.setdefault(m.group(1), set()).add(int(t.group(1)) if t else 1)
    timed = {r for r in threads if r.startswith(("train_", "infer_bench_"))
             or r in ("quantize", "qat", "edgetpu_infer")}
    assert timed == {"train_tensorflow", "train_pytorch", "infer_bench_tensorflow", "infer_bench_pytorch",
                     "quantize", "qat", "edgetpu_infer"}, threads
    assert all(threads[r] == {3} for r in timed), threads
    assert all(max(v) < 3 for r, v in threads.items() if r not in timed), threads


def test_every_summary_of_repeats_carries_its_coefficient_of_variation():
    s = summarize([1.0, 2.0, 3.0, 6.0])
    assert s["cv"] == pytest.approx(s["std"] / s["mean"]) and s["std"] == pytest.approx(2.160246899)
    assert summarize([0.5])["cv"] is None and summarize([])["cv"] is None   # one repeat: no spread known
    lat = record.latency([0.01, 0.012, 0.011], unit="repeat")
    assert lat["per_sample_s"]["cv"] == pytest.approx(0.001 / 0.011)


def _denormals_in_fresh_process(probe_first: bool) -> tuple[dict, dict]:
    """provenance.denormals('pytorch') before and after torch.set_flush_denormal(True), in a fresh process
    (the mode is per thread and would leak into other tests); ``probe_first``: PyTorch's intra-op threads
    are started (by the first probe) before the mode is set."""
    code = (
        "import json, torch; from mpbench import provenance\n"
        "torch.set_num_threads(2)\n"
        f"before = provenance.denormals('pytorch' if {probe_first} else None)\n"
        "assert torch.set_flush_denormal(True); after = provenance.denormals('pytorch')\n"
        "print(json.dumps([before, after]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return tuple(json.loads(out.stdout.splitlines()[-1]))


def test_denormal_mode_is_read_from_the_cpu_not_assumed():
    """The record's flush mode follows the CPU's MXCSR, and the kernel probe what PyTorch's threads really
    do: torch.set_flush_denormal(True) sets FTZ and DAZ in the calling thread; intra-op threads started
    before it keep not flushing (some results flushed), those started after it inherit it (all flushed)."""
    before, after = _denormals_in_fresh_process(probe_first=True)
    if before["flush_to_zero"] is None:
        pytest.skip(before["how"])
    assert (before["flush_to_zero"], before["denormals_are_zero"]) == (False, False)
    assert before["kernels"]["underflows_zeroed"] == 0.0 and before["kernels"]["denormal_inputs_zeroed"] == 0.0
    assert (after["flush_to_zero"], after["denormals_are_zero"]) == (True, True)
    assert 0.0 < after["kernels"]["underflows_zeroed"] < 1.0   # the main thread flushes, the older worker not
    before, after = _denormals_in_fresh_process(probe_first=False)
    assert "kernels" not in before   # no framework named: nothing probed
    assert after["kernels"]["underflows_zeroed"] == 1.0 and after["kernels"]["denormal_inputs_zeroed"] == 1.0


def test_concurrency_says_what_could_run_beside_a_timing(monkeypatch):
    import torch
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    outside = provenance.concurrency("pytorch")
    assert outside["exclusive"] is None and outside["threads"]["torch_intra_op"] == torch.get_num_threads()
    main = sys.modules["__main__"]
    job = SimpleNamespace(rule="train_pytorch", threads=2, resources={"timing_slot": 1, "gpu": 0, "_cores": 2})
    monkeypatch.setattr(main, "snakemake", job, raising=False)
    timed = provenance.concurrency("pytorch")
    assert timed["exclusive"] is True and timed["cores_held"] == 2 and timed["rule"] == "train_pytorch"
    monkeypatch.setattr(main, "snakemake", SimpleNamespace(rule="preprocess", threads=1, resources={}))
    assert provenance.concurrency()["exclusive"] is False
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "4")
    monkeypatch.setenv("SLURM_CPUS_ON_NODE", "4")
    monkeypatch.setattr(provenance.os, "cpu_count", lambda: 64)
    shared = provenance.concurrency()
    assert shared["scheduler"] == "slurm" and shared["cores_held"] == 4 and shared["exclusive"] is False
    monkeypatch.setenv("SLURM_CPUS_ON_NODE", "64")
    assert provenance.concurrency()["exclusive"] is True


@pytest.mark.slow
def test_no_timed_job_ran_beside_another_job(small_local_run):
    """The cut-down demo on 2 cores (every rule): its job logs show no timed job overlapping any other job."""
    spans = job_spans(small_local_run)
    assert {name.split("/", 1)[0] for name in spans} >= set(TIMED), sorted(spans)
    found = overlaps(spans)
    assert not found, "timed jobs ran beside other jobs:\n" + "\n".join(found)


@pytest.mark.slow
def test_records_say_what_each_timing_ran_with(small_local_run):
    """Every timed record's provenance: the cores its job held and that nothing else of the workflow ran
    beside it, the threads it computed with (training and inference: as the framework reports them, equal
    to settings.threads), and the CPU's denormal mode; every latency carries its CV."""
    files = [p for stage in ("train", "infer", "quantize") for p in (small_local_run / stage).rglob("*.json")
             if p.name in ("result.json", "qat.json", "edgetpu_infer.json")]
    stages = set()
    for path in files:
        for rec in record.read(path):
            if rec.latency is None:
                continue
            stages.add(rec.stage)
            c, threads = rec.provenance["concurrency"], rec.settings["threads"]
            assert c["exclusive"] is True and c["cores_held"] == 2 and c["scheduler"] == "snakemake", (path, c)
            if rec.stage in ("train", "infer"):
                assert threads in (c["threads"].get("torch_intra_op"), c["threads"].get("tf_intra_op")), (path, c)
            d = rec.provenance["denormals"]
            assert set(d) >= {"flush_to_zero", "denormals_are_zero", "how"}, (path, d)
            s = rec.latency["per_sample_s"]
            assert s["cv"] is None if s["n"] < 2 else s["cv"] == pytest.approx(s["std"] / s["mean"]), (path, s)
    assert stages == {"train", "infer", "tflite_cpu", "qat", "edgetpu"}, stages
