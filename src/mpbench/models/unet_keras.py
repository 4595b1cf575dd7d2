"""Keras U-Net from :class:`~mpbench.models.spec.UNetSpec` (channels-last), sigmoid output in float32.

Layers take the global dtype policy at build time (``keras.mixed_precision.set_global_policy``);
pass ``dtype`` to override it, e.g. to rebuild a mixed-precision model as float32 for TFLite.
"""
from __future__ import annotations

from .spec import UNetSpec


def _keras():
    import keras  # imported lazily: TensorFlow is slow to import
    return keras


def edgetpu_upsample(x, name: str, dtype=None, keras=None):
    """Nearest ×2 from CONCATENATION + RESHAPE on 4-D tensors only (Edge TPU maps both)."""
    layers = (keras or _keras()).layers
    _, h, w, c = x.shape
    x = layers.Concatenate(axis=-1, name=f"{name}_catw", dtype=dtype)([x, x])   # (h, w, 2c)
    x = layers.Reshape((h, 2 * w, c), name=f"{name}_w", dtype=dtype)(x)         # rows doubled in width
    x = layers.Concatenate(axis=2, name=f"{name}_cath", dtype=dtype)([x, x])    # (h, 4w, c)
    return layers.Reshape((2 * h, 2 * w, c), name=f"{name}_h", dtype=dtype)(x)


def _conv_block(x, c: int, name: str, dtype=None, keras=None):
    layers = (keras or _keras()).layers
    for i in (1, 2):
        x = layers.Conv2D(c, 3, padding="same", use_bias=False, name=f"{name}_conv{i}", dtype=dtype)(x)
        # PyTorch's BatchNorm2d defaults (running-stat momentum 0.1 ≙ Keras 0.9, eps 1e-5), so both
        # frameworks train the same model; Keras' own 0.99 lags badly in short runs.
        x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_bn{i}", dtype=dtype)(x)
        x = layers.ReLU(name=f"{name}_relu{i}", dtype=dtype)(x)
    return x


def build_unet(spec: UNetSpec, input_size: int = 224, batch_size: int | None = None, dtype=None, keras=None,
               pixel_input: str | None = None):
    """The Keras U-Net. ``batch_size`` fixes the batch dimension (TFLite export uses 1).

    ``keras``: the Keras module to build with (default Keras 3; ``tf_keras`` for quantization-aware
    training, which tensorflow-model-optimization only supports there). ``pixel_input``: a
    normalisation name (``data.normalisation``); the model then takes raw pixel values 0..255 and
    normalises them in a ``Rescaling`` layer named ``normalise`` (no weights: the weight list is
    the same either way).
    """
    keras = keras or _keras()
    layers = keras.layers
    inp = keras.Input((input_size, input_size, spec.in_channels), batch_size=batch_size, name="image")
    x, skips = inp, []
    if pixel_input is not None:
        from ..data.dataset import pixel_scale_offset
        scale, offset = pixel_scale_offset(pixel_input)
        x = layers.Rescaling(scale, offset, name="normalise", dtype=dtype)(x)
    for i, c in enumerate(spec.encoder_channels):
        x = _conv_block(x, c, f"enc{i}", dtype, keras)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{i}", dtype=dtype)(x)
    x = _conv_block(x, spec.bottleneck_channels, "bottleneck", dtype, keras)
    for i, (c, skip) in enumerate(zip(reversed(spec.encoder_channels), reversed(skips), strict=True)):
        if spec.upsampling == "nearest":
            x = layers.UpSampling2D(2, interpolation="nearest", name=f"up{i}", dtype=dtype)(x)
        elif spec.upsampling == "transpose":
            x = layers.Conv2DTranspose(x.shape[-1], 2, strides=2, name=f"up{i}", dtype=dtype)(x)
        else:
            x = edgetpu_upsample(x, f"up{i}", dtype, keras)
        x = layers.Concatenate(name=f"skip{i}", dtype=dtype)([x, skip])
        x = _conv_block(x, c, f"dec{i}", dtype, keras)
    x = layers.Conv2D(spec.out_channels, 1, name="head", dtype=dtype)(x)
    out = layers.Activation("sigmoid", dtype="float32", name="probability")(x)
    return keras.Model(inp, out, name=f"unet_f{spec.filters}_{spec.upsampling}")
