"""Post-training quantization of trained Keras U-Nets: rebuild, convert, check ops, evaluate."""
import numpy as np
import pytest

from mpbench import record
from mpbench.data.dataset import load_h5, normalise, split_fold
from mpbench.quantization.convert import convert, pixel_input_model
from mpbench.quantization.edgetpu_ops import EDGETPU_SUPPORTED_OPS, edgetpu_check
from mpbench.quantization.pipeline import keras_iou, quantize
from mpbench.quantization.rebuild import float32_rebuild
from mpbench.quantization.tflite_model import TFLiteModel, op_details

from conftest import trained_as

pytestmark = pytest.mark.slow

# Stated tolerances: IoU of each TFLite variant minus the float32 Keras model's, same 60 frames.
IOU_TOLERANCE = {"int8": 0.05, "fp16": 0.01, "dynamic": 0.02}


@pytest.fixture(scope="module")
def split(train_h5):
    return split_fold(load_h5(train_h5), 0)


def predict(model, images):
    return np.asarray(model(normalise(images)[..., None], training=False), dtype=np.float32)[..., 0]


def test_fp32_rebuild_gives_identical_predictions(trained, split):
    import keras
    s, path = trained("tensorflow", "fp32")
    original = keras.models.load_model(path, compile=False)
    rebuilt = float32_rebuild(path, s.filters, upsampling="edgetpu", batch_size=None)
    x = split.x_val[:8]
    np.testing.assert_allclose(predict(rebuilt, x), predict(original, x), atol=1e-5)


def test_mixed_rebuild_is_float32_with_the_same_weights(trained, split):
    import keras
    s, path = trained("tensorflow", "mixed_bf16")
    original = keras.models.load_model(path, compile=False)
    assert original.get_layer("enc0_conv1").dtype_policy.name == "mixed_bfloat16"
    rebuilt = float32_rebuild(path, s.filters, upsampling="nearest", batch_size=None)
    assert {layer.dtype_policy.name for layer in rebuilt.layers} == {"float32"}
    for a, b in zip(original.weights, rebuilt.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a, dtype=np.float32), np.asarray(b))
    # Same weights, float32 arithmetic instead of bfloat16: probabilities agree to bf16 precision.
    x = split.x_val[:8]
    assert np.abs(predict(rebuilt, x) - predict(original, x)).mean() < 0.02


def test_rebuild_rejects_a_model_of_another_size(trained):
    _, path = trained("tensorflow", "fp32")
    with pytest.raises(ValueError, match="f=16"):
        float32_rebuild(path, 16)


@pytest.fixture(scope="module")
def converted(trained, split):
    s, path = trained("tensorflow", "fp32")
    model = pixel_input_model(float32_rebuild(path, s.filters, upsampling="edgetpu", batch_size=1), s.normalisation)
    flats = {v: convert(model, v, split.x_train[:32]) for v in IOU_TOLERANCE}
    return model, flats


def test_int8_has_uint8_io_and_only_integer_tensors(converted):
    _, flats = converted
    tfl = TFLiteModel(flats["int8"])
    assert tfl.inp["dtype"] == np.uint8 and tfl.out["dtype"] == np.uint8
    ops = op_details(flats["int8"])
    dtypes = {d for o in ops for d in o["inputs"] + o["outputs"]}
    assert dtypes <= {"uint8", "int8", "int32"}, dtypes
    assert edgetpu_check(ops) == {"unsupported_ops": [], "ops_with_float_tensors": [], "edgetpu_compatible": True}
    # QUANTIZE only at the ends (uint8 → int8 in, int8 → uint8 out), never in between.
    quantize_at = [i for i, o in enumerate(ops) if o["op"] == "QUANTIZE"]
    assert all(i in (0, len(ops) - 1) for i in quantize_at)


@pytest.mark.parametrize("variant", sorted(IOU_TOLERANCE))
def test_variant_iou_within_tolerance_of_float(converted, split, variant):
    model, flats = converted
    x, y = split.x_val, split.y_val
    float_iou = keras_iou(model, x, y, normalisation=None)   # the wrapped model takes raw pixels
    assert float_iou > 0.5
    assert abs(TFLiteModel(flats[variant]).iou(x, y)["mean"] - float_iou) <= IOU_TOLERANCE[variant]


def test_every_exported_model_checked_against_edgetpu_table(converted):
    _, flats = converted
    for variant, flat in flats.items():
        ops = {o["op"] for o in op_details(flat)}
        assert ops - {"DEQUANTIZE"} <= EDGETPU_SUPPORTED_OPS, (variant, ops)


def test_keras_nearest_upsampling_is_not_edgetpu_friendly(trained, split):
    """Why the `edgetpu` upsampling exists: UpSampling2D converts to ops outside the table."""
    s, path = trained("tensorflow", "fp32")
    nearest = pixel_input_model(float32_rebuild(path, s.filters, upsampling="nearest", batch_size=1), "symmetric")
    check = edgetpu_check(op_details(convert(nearest, "int8", split.x_train[:8])))
    assert not check["edgetpu_compatible"] and check["unsupported_ops"]


def test_quantize_job_writes_models_and_result(trained, train_h5, tmp_path):
    s, path = trained("tensorflow", "fp32")
    outputs = {v: tmp_path / f"model_{v}.tflite" for v in ("float32", "int8", "fp16")}
    records = quantize(s, model_path=path, h5_path=train_h5, variants=list(outputs),
                       result_path=tmp_path / "result.json", representative_samples=16, eval_images=20,
                       timing_warmup=1, timing_repeats=3,
                       train_record=trained_as("ok", 8))
    assert records == record.read(tmp_path / "result.json")
    r = {rec.variant: rec for rec in records}
    assert all(rec.status == "ok" and rec.stage == "tflite_cpu" for rec in records)
    assert all(p.stat().st_size > 10_000 for p in outputs.values())
    int8 = r["int8"]
    assert int8.details["n_eval"] == 20
    assert int8.details["float_iou_as_trained"] == pytest.approx(int8.reference_iou, abs=1e-3)
    assert int8.details["io"]["input"] == {"dtype": "uint8", "quantization": [1.0, 0]}   # the raw pixel
    assert int8.details["edgetpu_check"]["edgetpu_compatible"]
    assert int8.model_path == str(outputs["int8"]) and 0 <= int8.iou <= 1
    assert int8.latency["per_sample_s"]["n"] == 3 and int8.latency["throughput"] > 0
    assert r["fp16"].details["op_counts"]["DEQUANTIZE"] > 0   # fp16 weights dequantised at load
    assert r["float32"].details["io"]["input"]["dtype"] == "float32"
    assert r["float32"].iou == pytest.approx(r["float32"].reference_iou, abs=1e-3)   # the same model
    assert outputs["float32"].stat().st_size > 3 * outputs["int8"].stat().st_size
    assert r["float32"].provenance["ai_edge_litert"] and r["float32"].provenance["tensorflow"]


def test_a_variant_the_converter_refuses_is_failed_and_the_others_go_on(trained, train_h5, tmp_path, monkeypatch):
    from mpbench.quantization import pipeline
    s, path = trained("tensorflow", "fp32")
    real = pipeline.convert

    def refuse_fp16(model, variant, reps):
        if variant == "fp16":
            raise RuntimeError("converter says no\nsecond line")
        return real(model, variant, reps)
    monkeypatch.setattr(pipeline, "convert", refuse_fp16)
    (tmp_path / "model_fp16.tflite").write_bytes(b"stale")   # from an earlier run: must not stay beside `failed`
    records = quantize(s, model_path=path, h5_path=train_h5, variants=["fp16", "int8"],
                       result_path=tmp_path / "result.json", representative_samples=8, eval_images=8,
                       timing_warmup=0, timing_repeats=3, train_record=trained_as("ok", 1))
    fp16, int8 = records
    assert fp16.status == "failed" and fp16.error == "RuntimeError: converter says no"
    assert fp16.model_path is None and not (tmp_path / "model_fp16.tflite").exists()
    assert int8.status == "ok" and (tmp_path / "model_int8.tflite").is_file()


def test_f32_edgetpu_unet_quantizes_to_edgetpu_ops_only():
    """The model size the paper had to patch (f=32): with the `edgetpu` upsampling every op of the
    int8 model is in the Edge TPU's table and integer (the compiler itself is not available here)."""
    from mpbench.models import UNetSpec
    from mpbench.models.unet_keras import build_unet
    model = build_unet(UNetSpec(32, upsampling="edgetpu"), input_size=224, batch_size=1, dtype="float32")
    frames = np.random.default_rng(0).integers(0, 256, (4, 224, 224), dtype=np.uint8)
    ops = op_details(convert(pixel_input_model(model, "symmetric"), "int8", frames))
    assert edgetpu_check(ops)["edgetpu_compatible"]
    # MUL and ADD: the [-1, 1] normalisation of the raw uint8 frame, inside the model.
    assert {o["op"] for o in ops} == {"CONV_2D", "MAX_POOL_2D", "CONCATENATION", "RESHAPE", "LOGISTIC", "QUANTIZE",
                                      "MUL", "ADD"}


def test_quantize_job_after_a_run_with_no_finished_epoch(trained, train_h5, tmp_path):
    """The files and op lists are real, but the model is not run or scored: its weights are unusable."""
    s, path = trained("tensorflow", "fp32")
    out = {"int8": tmp_path / "model_int8.tflite"}
    (v,) = quantize(s, model_path=path, h5_path=train_h5, variants=["int8"], result_path=tmp_path / "result.json",
                    representative_samples=8, eval_images=8, timing_warmup=0, timing_repeats=3,
                    train_record=trained_as("diverged", None))
    assert v.status == "train_diverged" and out["int8"].stat().st_size > 10_000
    assert v.iou is None and v.latency is None and v.details["op_counts"]["CONV_2D"] == 19
