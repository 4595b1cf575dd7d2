"""A trained Keras U-Net rebuilt from code in float32 with the trained weights copied in.

The TFLite converter cannot take a ``mixed_float16`` model ("tf.Conv2D op is neither a custom op
nor a flex op"), and ``clone_model``/``load_model`` keep each layer's mixed policy, so the model is
built again from :func:`~mpbench.models.unet_keras.build_unet` under float32 — with batch size 1 and
the Edge-TPU-friendly upsampling by default — and the weights are copied one by one. All three
upsampling modes but ``transpose`` have no weights, so ``nearest`` ↔ ``edgetpu`` swap freely.
"""
from __future__ import annotations

from ..models import UNetSpec


def float32_rebuild(model_path, filters: int, upsampling: str = "edgetpu", batch_size: int | None = 1,
                    trained_upsampling: str = "nearest", trained=None):
    """``trained``: the model already loaded from ``model_path`` (saves reading the file again)."""
    import keras

    from ..models.unet_keras import build_unet
    if (upsampling == "transpose") != (trained_upsampling == "transpose"):
        raise ValueError(f"cannot rebuild a {trained_upsampling!r}-upsampling model as {upsampling!r}: "
                         "transposed convolutions carry weights the other modes do not have")
    if trained is None:
        from ..frameworks.keras_runtime import load_keras_model
        trained = load_keras_model(model_path, keras)
    size = trained.input_shape[1]
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")   # also the layers that take no dtype (Input)
    try:
        model = build_unet(UNetSpec(filters, upsampling=upsampling), input_size=size, batch_size=batch_size,
                           dtype="float32")
    finally:
        keras.mixed_precision.set_global_policy(previous)
    src, dst = trained.weights, model.weights
    if len(src) != len(dst):
        raise ValueError(f"{model_path}: {len(src)} weights but the f={filters} U-Net has {len(dst)}; "
                         "was it trained with a different filters/upsampling setting?")
    for s, d in zip(src, dst, strict=True):
        if tuple(s.shape) != tuple(d.shape):
            raise ValueError(f"{model_path}: weight {s.path} has shape {tuple(s.shape)}, rebuilt model "
                             f"expects {tuple(d.shape)} ({d.path}) for f={filters}; was it trained with other filters?")
        d.assign(keras.ops.cast(s, "float32"))
    return model
