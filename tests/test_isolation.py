"""mpbench.isolation: a native crash in a job's work becomes a recorded failure (issue 23: nothing lost silently)."""
import os
import subprocess

import pytest

from mpbench import isolation, record
from mpbench.quantization import pipeline
from mpbench.settings import RunSettings


def test_a_native_crash_a_python_error_and_success_in_the_child(tmp_path):
    with pytest.raises(isolation.NativeCrash, match="died of SIGABRT"):
        isolation.run(os.abort)
    with pytest.raises(RuntimeError, match="remove failed in its child process .exit code 1"):
        isolation.run(os.remove, path=str(tmp_path / "absent"))
    isolation.run(os.makedirs, name=str(tmp_path / "made"))
    assert (tmp_path / "made").is_dir()
    # Killed from outside (out-of-memory killer, a time limit): not the model's crash; the job may be rerun.
    with pytest.raises(RuntimeError, match="killed by SIGKILL") as e:
        isolation.run(subprocess.run, args=["sh", "-c", "kill -KILL $PPID; sleep 5"])
    assert not isinstance(e.value, isolation.NativeCrash)
    with pytest.raises(isolation.NativeCrash, match="died of SIGSEGV"):
        isolation.run(subprocess.run, args=["sh", "-c", "kill -SEGV $PPID; sleep 5"])


def test_a_crashed_quantize_job_records_every_variant_failed(tmp_path, monkeypatch):
    def crash(fn, **kwargs):
        (tmp_path / "model_int8.tflite").write_bytes(b"half written")   # what the dead process left
        raise isolation.NativeCrash("the process doing it died of SIGABRT (…)")
    monkeypatch.setattr(isolation, "run", crash)
    s = RunSettings(framework="tensorflow", device="cpu", device_type="cpu", precision="fp32", filters=8, fold=0)
    out = tmp_path / "result.json"
    recs = pipeline.quantize_in_child(s, variants=["int8", "fp16"], result_path=out, model_path="m.keras")
    assert [r.variant for r in recs] == ["int8", "fp16"] and all(r.status == "failed" for r in recs)
    assert all("SIGABRT" in r.error for r in recs) and record.read(out) == recs
    assert not (tmp_path / "model_int8.tflite").exists()
