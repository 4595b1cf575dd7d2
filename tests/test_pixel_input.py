"""The int8 (Edge TPU) model's input is the raw uint8 frame: scale 1, zero point 0, all 256 values exact."""
import numpy as np
import pytest

from mpbench.data.dataset import normalise
from mpbench.quantization.convert import check_pixel_input, convert, pixel_input_model, quiet_convert
from mpbench.quantization.tflite_model import TFLiteModel, describe_ops

SIZE = 16


def tiny_model():
    """Normalised frame → sigmoid(2·x − 0.25) per pixel: a model whose output is known at every pixel value."""
    import keras
    inp = keras.Input((SIZE, SIZE, 1), batch_size=1)
    conv = keras.layers.Conv2D(1, 1, activation="sigmoid")
    out = conv(inp)
    conv.set_weights([np.full((1, 1, 1, 1), 2.0, np.float32), np.array([-0.25], np.float32)])
    return keras.Model(inp, out)


def frames(lo=0, hi=256, n=4):
    return np.random.default_rng(0).integers(lo, hi, (n, SIZE, SIZE), dtype=np.uint8)


@pytest.mark.parametrize("normalisation", ["symmetric", "unit"])
def test_int8_fed_0_and_255_matches_the_float_model(normalisation):
    model = tiny_model()
    # Calibration frames that never reach 0 or 255 (dim, no reflections): the input still covers both.
    flat = convert(pixel_input_model(model, normalisation), "int8", frames(40, 200))
    tfl = TFLiteModel(flat)
    assert tfl.io_details()["input"] == {"dtype": "uint8", "quantization": [1.0, 0]}
    step = tfl.out["quantization"][0]
    for value in (0, 255, 128):
        image = np.full((SIZE, SIZE), value, np.uint8)
        np.testing.assert_array_equal(tfl.quantize_input(image)[0, ..., 0], image)   # the frame goes in as is
        expected = np.asarray(model(normalise(image, normalisation)[None, ..., None]))[0, ..., 0]
        got = tfl.predict(image)
        assert np.abs(got - expected).max() <= step, (value, got[0, 0], expected[0, 0])


def test_every_pixel_value_has_its_own_input_code():
    flat = convert(pixel_input_model(tiny_model(), "symmetric"), "int8", frames(60, 120))
    tfl = TFLiteModel(flat)
    ramp = np.arange(256, dtype=np.uint8)[:SIZE * SIZE].reshape(SIZE, SIZE)
    np.testing.assert_array_equal(tfl.quantize_input(ramp)[0, ..., 0], ramp)


def test_a_calibrated_input_range_is_refused():
    """What the fixed input prevents: calibration on frames within 40..200 gives an input that clips."""
    import tensorflow as tf
    conv = tf.lite.TFLiteConverter.from_keras_model(pixel_input_model(tiny_model(), "symmetric"))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    reps = frames(40, 200)[..., None].astype(np.float32)
    conv.representative_dataset = lambda: ([r[None]] for r in reps)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.uint8
    flat = quiet_convert(conv)
    assert TFLiteModel(flat).io_details()["input"]["quantization"] != [1.0, 0]
    with pytest.raises(RuntimeError, match="not \\[1.0, 0\\]"):
        check_pixel_input(flat)


def test_float_variants_take_raw_pixels_too():
    model = tiny_model()
    flat = convert(pixel_input_model(model, "unit"), "fp16")
    image = frames(n=1)[0]
    expected = np.asarray(model(normalise(image, "unit")[None, ..., None]))[0, ..., 0]
    np.testing.assert_allclose(TFLiteModel(flat).predict(image), expected, atol=2e-3)


@pytest.mark.parametrize("variant", ["float32", "int8"])
def test_the_converter_gives_what_from_keras_model_gives(variant, monkeypatch):
    """mpbench converts a module holding the variables and the inference function (keras_converter), not
    the whole Keras model (from_keras_model, seconds slower): the same ops, bitwise the same outputs, and the
    signature named after the model's input and output."""
    import keras
    import tensorflow as tf

    from mpbench.models import UNetSpec
    from mpbench.models.unet_keras import build_unet
    from mpbench.quantization import convert as conversion
    unet = build_unet(UNetSpec(8, upsampling="edgetpu"), input_size=32, batch_size=1)
    rng = np.random.default_rng(0)
    for layer in unet.layers:   # batch norm's moving statistics as training leaves them, not 0 and 1: folded in
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.5, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2, layer.moving_variance.shape))
    model = pixel_input_model(unet, "symmetric")
    reps = np.random.default_rng(1).integers(0, 256, (4, 32, 32), dtype=np.uint8)
    ours = convert(model, variant, reps)
    monkeypatch.setattr(conversion, "keras_converter", tf.lite.TFLiteConverter.from_keras_model)
    theirs = convert(model, variant, reps)
    assert describe_ops(ours)["op_counts"] == describe_ops(theirs)["op_counts"]
    for image in np.random.default_rng(2).integers(0, 256, (3, 32, 32), dtype=np.uint8):
        np.testing.assert_array_equal(TFLiteModel(ours).predict(image), TFLiteModel(theirs).predict(image))
    signatures = TFLiteModel(ours).interpreter.get_signature_list()
    assert signatures == {"serving_default": {"inputs": ["pixels"], "outputs": [model.output_names[0]]}}
