"""Quantization-aware training runs in its own process (TF_USE_LEGACY_KERAS=1), as the qat job does."""
import importlib.util
import subprocess
import sys

import pytest

from mpbench import record

pytestmark = pytest.mark.slow


def test_qat_job_fine_tunes_and_exports_edgetpu_ready_int8(trained, train_h5, tmp_path):
    if importlib.util.find_spec("tensorflow_model_optimization") is None:   # not imported here: it
        pytest.skip("pip install 'mpbench[qat]'")                          # switches TF to tf_keras
    s, model = trained("tensorflow", "fp32")
    code = f"""
import os
os.environ["TF_USE_LEGACY_KERAS"] = "1"
from mpbench.quantization.qat import qat
from mpbench.settings import RunSettings
qat(RunSettings(**{s.to_dict()!r}), model_path={str(model)!r}, h5_path={str(train_h5)!r},
    tflite_path={str(tmp_path / 'q.tflite')!r}, result_path={str(tmp_path / 'qat.json')!r}, epochs=1,
    learning_rate=1e-4, eval_images=30, timing_warmup=1, timing_repeats=3)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    r = record.read_one(tmp_path / "qat.json")
    d = r.details
    assert r.stage == "qat" and len(d["loss"]) == 1
    assert d["io"]["input"] == {"dtype": "uint8", "quantization": [1.0, 0]}   # raw pixels, all 256 values
    assert d["op_counts"]["DEPTHWISE_CONV_2D"] == 1   # the normalisation, exact in int8 weights
    assert r.iou > 0.5                              # fine-tuning from a trained model keeps it working
    assert d["edgetpu_check"]["edgetpu_compatible"], d["op_counts"]   # batch 1: no SHAPE/PACK ops
    assert (tmp_path / "q.tflite").stat().st_size == d["bytes"] and r.model_path == str(tmp_path / "q.tflite")
    assert r.latency["per_sample_s"]["n"] == 3 and r.config_hash


def test_qat_refuses_to_run_under_keras_3(monkeypatch):
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    from mpbench.quantization.qat import require_legacy_keras
    with pytest.raises(RuntimeError, match="TF_USE_LEGACY_KERAS=1"):
        require_legacy_keras()
