"""PyTorch U-Net → TFLite: float32 with litert-torch; int8, float16 and dynamic range with ai-edge-quantizer.

The PyTorch models go through the same edge stages as the Keras ones (the paper deployed only its
TensorFlow models). Like the Keras export (:mod:`mpbench.quantization.convert`),
the exported model takes the raw frame, NHWC (1, H, W, 1) pixel values 0..255, normalises inside
(``data.normalisation``), uses the Edge-TPU-friendly upsampling (concatenation + reshape, no
weights, so a model trained with ``nearest`` exports unchanged) and returns the probability NHWC.

int8 (ai-edge-quantizer's ``static_wi8_ai8`` recipe, calibrated on training frames) has **int8**
input and output, not uint8: that is what the quantizer writes. The input's range is set to the
pixel range 0..255 after calibration (the quantizer's moving-average ranges would clip bright
pixels), so with scale 1 and zero point −128 every pixel value has its own input code. The Edge TPU
compiler takes int8 as well as uint8 I/O (see the README). float16: float16 weights, float32
compute (ai-edge-quantizer's float-casting algorithm), as TensorFlow's float16 variant. Needs the
``edge-torch`` extra (``pip install 'mpbench[edge-torch]'``).
"""
from __future__ import annotations

import numpy as np

from ..data.dataset import pixel_scale_offset
from .convert import calibration_frames

VARIANTS = ("float32", "int8", "fp16", "dynamic")
INSTALL_HELP = ("exporting PyTorch models to TFLite needs litert-torch and ai-edge-quantizer: "
                "pip install 'mpbench[edge-torch]'")


def require():
    try:
        import ai_edge_quantizer
        import litert_torch
    except ImportError as e:
        raise RuntimeError(f"{INSTALL_HELP} ({e})") from e
    return litert_torch, ai_edge_quantizer


def pixel_input_module(model, normalisation: str):
    """A trained U-Net (NCHW logits) as an edge module: raw NHWC pixels in, NHWC probability out."""
    import torch
    from torch import nn

    from ..models import UNetSpec
    from ..models.unet_torch import build_unet

    spec = model.spec
    edge = build_unet(UNetSpec(spec.filters, depth=spec.depth, in_channels=spec.in_channels,
                               out_channels=spec.out_channels,
                               upsampling="edgetpu" if spec.upsampling != "transpose" else "transpose"))
    edge.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    scale, offset = pixel_scale_offset(normalisation)

    class PixelUNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.unet = edge

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x.permute(0, 3, 1, 2) * scale + offset
            return torch.sigmoid(self.unet(x)).permute(0, 2, 3, 1)
    return PixelUNet().eval().float()


def _signature_input(flat: bytes) -> tuple[str, str, str]:
    """(signature key, input name, input tensor name) of a single-input model written by litert-torch."""
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_content=flat)
    key, sig = next(iter(it.get_signature_list().items()))
    name = sig["inputs"][0]
    return key, name, it.get_signature_runner(key).get_input_details()[name]["name"]


def export_float32(module, input_size: int) -> bytes:
    """float32 TFLite flatbuffer of an edge module (:func:`pixel_input_module`), batch 1, NHWC."""
    import torch
    litert_torch, _ = require()
    sample = torch.full((1, input_size, input_size, 1), 128.0)
    return bytes(litert_torch.convert(module, (sample,)).model_content())


def _fp16_weights(q) -> None:
    """float16 weights, float32 compute (what TensorFlow's float16 post-training quantization writes)."""
    from ai_edge_quantizer import qtyping, quantizer
    config = qtyping.OpQuantizationConfig(
        weight_tensor_config=qtyping.TensorQuantizationConfig(num_bits=16, dtype=qtyping.TensorDataType.FLOAT),
        compute_precision=qtyping.ComputePrecision.FLOAT, explicit_dequantize=True)
    for op in (qtyping.TFLOperationName.CONV_2D, qtyping.TFLOperationName.DEPTHWISE_CONV_2D,
               qtyping.TFLOperationName.CONV_2D_TRANSPOSE):
        q.update_quantization_recipe(regex=".*", operation_name=op, op_config=config,
                                     algorithm_key=quantizer.AlgorithmName.FLOAT_CASTING)


def quantize_float32(flat: bytes, variant: str, representative_images: np.ndarray | None = None) -> bytes:
    """``variant`` of a float32 flatbuffer written by :func:`export_float32`.

    ``representative_images``: uint8 (N, H, W) training frames (int8 only).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown PyTorch TFLite variant {variant!r}; choose from {VARIANTS}")
    if variant == "float32":
        return flat
    _, aeq = require()
    from ai_edge_quantizer import quantizer, recipe
    q = quantizer.Quantizer(flat)
    if variant == "dynamic":
        q.load_quantization_recipe(recipe.dynamic_wi8_afp32())
        return bytes(q.quantize(enable_progress_report=False).quantized_model)
    if variant == "fp16":
        _fp16_weights(q)
        return bytes(q.quantize(enable_progress_report=False).quantized_model)
    q.load_quantization_recipe(recipe.static_wi8_ai8())
    key, name, tensor = _signature_input(flat)
    reps = calibration_frames(representative_images)
    calibration = q.calibrate({key: [{name: r[None]} for r in reps]}, num_threads=1)
    # ai-edge-quantizer keeps a moving average of each tensor's min and max, so even pinned pixels
    # leave the input range short of 0..255 (bright pixels would be clipped): set it to the pixel range.
    shape = np.shape(calibration[tensor]["min"])
    calibration[tensor] = {"min": np.zeros(shape, np.float32), "max": np.full(shape, 255.0, np.float32)}
    return bytes(q.quantize(calibration, enable_progress_report=False).quantized_model)


def load_trained(settings, model_path):
    """The trained model in float32 on the CPU, whatever device and precision trained it (a missing or
    damaged file is named with the rule that writes it)."""
    import dataclasses

    from ..frameworks.torch_runtime import TorchRuntime
    cpu = dataclasses.replace(settings, device="cpu", device_type="cpu", precision="fp32", channels_last=False)
    return TorchRuntime(cpu).load_model(model_path)


def torch_iou(module, images: np.ndarray, masks: np.ndarray, empty_iou: float, normalisation: str | None,
              batch_size: int = 8) -> float:
    """Mean per-image IoU of a float32 PyTorch model on the CPU.

    ``normalisation``: the trained model's (NCHW normalised frames in, logits out); ``None`` for an
    edge module (:func:`pixel_input_module`: NHWC pixels in, probability out).
    """
    import torch

    from ..data.dataset import normalise
    from ..metrics import image_counts, iou_scores

    def probs():
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                batch = images[i:i + batch_size]
                if normalisation is None:
                    yield from module(torch.from_numpy(batch[..., None].astype(np.float32))).numpy()[..., 0]
                else:
                    x = torch.from_numpy(normalise(batch, normalisation)[:, None])
                    yield from torch.sigmoid(module(x)).numpy()[:, 0]
    return iou_scores(*image_counts(probs(), masks), empty_iou)["mean"]
