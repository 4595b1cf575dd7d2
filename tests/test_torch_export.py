"""A trained PyTorch U-Net → float32 and int8 TFLite (litert-torch, ai-edge-quantizer), checked like the Keras ones."""
import importlib.util
from pathlib import Path

import pytest

from mpbench.data.dataset import load_h5, normalise, split_fold
from mpbench.metrics import image_counts, iou_scores
from mpbench.quantization.edgetpu_ops import edgetpu_check
from mpbench.quantization.tflite_model import TFLiteModel, op_counts, op_details

from conftest import trained_as

# Looked up, not imported: importing litert_torch (torch, JAX and TensorFlow with it) took 16 s of every
# pytest process's collection; the tests import it when they run.
if importlib.util.find_spec("litert_torch") is None:
    pytest.skip("pip install 'mpbench[edge-torch]' (the test extra has it)", allow_module_level=True)
pytestmark = pytest.mark.slow

IOU_TOLERANCE = {"float32": 0.005, "int8": 0.02, "fp16": 0.005, "dynamic": 0.02}   # |IoU(TFLite) − IoU(PyTorch)|


@pytest.fixture(scope="module")
def exported(trained, train_h5):
    import torch

    from mpbench.frameworks.torch_runtime import TorchRuntime
    from mpbench.quantization.torch_export import export_float32, pixel_input_module, quantize_float32
    s, path = trained("pytorch", "fp32")
    model = TorchRuntime(s).load_model(path)
    split = split_fold(load_h5(train_h5), 0)
    module = pixel_input_module(model, s.normalisation)
    size = split.x_val.shape[1]
    float32 = export_float32(module, size)   # exported once, every variant made from it (as the quantize job)
    flats = {v: quantize_float32(float32, v, split.x_train[:16]) for v in IOU_TOLERANCE}
    with torch.no_grad():   # the trained model itself, as training evaluates it
        x = torch.from_numpy(normalise(split.x_val, s.normalisation)[:, None])
        probs = torch.sigmoid(model(x)).numpy()[:, 0]
    reference = iou_scores(*image_counts(probs, split.y_val), s.empty_iou)["mean"]
    return split, flats, reference


@pytest.mark.parametrize("variant", sorted(IOU_TOLERANCE))
def test_tflite_iou_matches_the_pytorch_model(exported, variant):
    split, flats, reference = exported
    assert reference > 0.5
    got = TFLiteModel(flats[variant]).iou(split.x_val, split.y_val)["mean"]
    assert abs(got - reference) <= IOU_TOLERANCE[variant], (variant, got, reference)


def test_int8_is_integer_and_in_the_edgetpu_table(exported):
    _, flats, _ = exported
    ops = op_details(flats["int8"])
    assert edgetpu_check(ops) == {"unsupported_ops": [], "ops_with_float_tensors": [], "edgetpu_compatible": True}
    counts = op_counts(ops)
    # The upsampling written channels-last (unet_torch.EdgeTPUUpsample): litert-torch's NHWC graph needs
    # no TRANSPOSE (written on NCHW axes it had 8, one on each side of every upsampling).
    assert counts["CONV_2D"] >= 18 and "TRANSPOSE" not in counts and counts["RESHAPE"] == 8, counts
    io = TFLiteModel(flats["int8"]).io_details()
    assert io["input"]["dtype"] == io["output"]["dtype"] == "int8"
    assert io["input"]["quantization"] == [1.0, -128]   # pixel p ↦ code p − 128: every value its own code


def test_missing_extra_is_named(monkeypatch):
    import builtins

    from mpbench.quantization import torch_export
    real_import = builtins.__import__

    def no_litert(name, *a, **k):
        if name == "litert_torch":
            raise ImportError("No module named 'litert_torch'")
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_litert)
    with pytest.raises(RuntimeError, match=r"mpbench\[edge-torch\]"):
        torch_export.require()


def test_quantize_job_takes_pytorch_models_through_every_variant_and_the_edgetpu_stage(trained, train_h5, tmp_path):
    """The quantize job (as rule quantize runs it for framework pytorch), then the two Edge TPU jobs."""
    from mpbench import record
    from mpbench.edgetpu.stage import CPU_FALLBACK_DEVICE, compile_stage, infer_stage, int8_of
    from mpbench.quantization.pipeline import quantize
    s, path = trained("pytorch", "fp32")
    variants = ["float32", "int8", "fp16", "dynamic"]
    records = quantize(s, model_path=path, h5_path=train_h5, variants=variants, result_path=tmp_path / "result.json",
                       representative_samples=16, eval_images=20, timing_warmup=1, timing_repeats=3,
                       train_record=trained_as("ok", 8))
    r = {rec.variant: rec for rec in records}
    assert list(r) == variants and all(rec.status == "ok" for rec in records)
    assert all(rec.settings["framework"] == "pytorch" and rec.provenance["litert_torch"] for rec in records)
    assert r["int8"].details["float_iou_as_trained"] == pytest.approx(r["int8"].reference_iou, abs=1e-3)
    for v, rec in r.items():
        assert abs(rec.iou - rec.reference_iou) <= IOU_TOLERANCE[v], (v, rec.iou, rec.reference_iou)
        assert Path(rec.model_path).stat().st_size == rec.details["bytes"]
    assert r["int8"].details["edgetpu_check"]["edgetpu_compatible"]
    assert r["int8"].details["io"]["input"] == {"dtype": "int8", "quantization": [1.0, -128]}
    assert r["fp16"].details["op_counts"]["DEQUANTIZE"] > 0
    assert r["int8"].details["bytes"] < r["fp16"].details["bytes"] < r["float32"].details["bytes"]

    int8 = int8_of(tmp_path / "result.json")
    assert int8["path"] == r["int8"].model_path and int8["reason"] is None
    c = compile_stage(s, int8_path=int8["path"], result_path=tmp_path / "c.json", log_path=tmp_path / "c.log",
                      compiler="edgetpu_compiler_absent", required=False)
    assert c.status == "unavailable" and c.settings["framework"] == "pytorch"
    e = infer_stage(s, compile_json=tmp_path / "c.json", int8_path=int8["path"], h5_path=train_h5,
                    result_path=tmp_path / "e.json", eval_images=20, timing_warmup=1, timing_repeats=3, required=False,
                    reference_iou=int8["reference_iou"])
    assert e.status == "ok" and e.run_device == CPU_FALLBACK_DEVICE
    assert e.iou == pytest.approx(r["int8"].iou)   # the same model on the same interpreter
    assert record.read_one(tmp_path / "e.json").settings["framework"] == "pytorch"
