"""A trained PyTorch U-Net → float32 and int8 TFLite (litert-torch, ai-edge-quantizer), checked like the Keras ones."""
import pytest

from mpbench.data.dataset import load_h5, normalise, split_fold
from mpbench.metrics import image_counts, iou_scores
from mpbench.quantization.edgetpu_ops import edgetpu_check
from mpbench.quantization.tflite_model import TFLiteModel, op_counts, op_details

pytest.importorskip("litert_torch", reason="pip install 'mpbench[edge-torch]' (the test extra has it)")
pytestmark = pytest.mark.slow

IOU_TOLERANCE = {"float32": 0.005, "int8": 0.02, "dynamic": 0.02}   # |IoU(TFLite) − IoU(PyTorch)|


@pytest.fixture(scope="module")
def exported(trained, train_h5):
    import torch

    from mpbench.frameworks.torch_runtime import TorchRuntime
    from mpbench.quantization.torch_export import convert_torch, pixel_input_module
    s, path = trained("pytorch", "fp32")
    model = TorchRuntime(s).load_model(path)
    split = split_fold(load_h5(train_h5), 0)
    module = pixel_input_module(model, s.normalisation)
    size = split.x_val.shape[1]
    flats = {v: convert_torch(module, v, size, split.x_train[:16]) for v in IOU_TOLERANCE}
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
    # What the NCHW model costs in an NHWC graph: TRANSPOSE around each concat+reshape upsampling.
    assert counts["CONV_2D"] >= 18 and counts.get("TRANSPOSE", 0) == 8, counts
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
