"""Load a trained model and run batches on its device in its training precision.

A runner has ``prepare(images_uint8) -> device batch``, ``run(batch)``, ``sync()`` (waits for the
device), ``is_oom(exc)`` and ``gpu_index``. Inputs are normalised on the device exactly as in
training ([-1, 1]); the sigmoid is part of the timed forward pass in both frameworks.
"""
from __future__ import annotations

import numpy as np

from ..training.settings import TrainSettings

# Apex AMP at inference time is plain autocast (O1) or a half model (O3).
INFER_PRECISION = {"apex_o1": "mixed_fp16", "apex_o3": "fp16"}


def make_runner(settings: TrainSettings, model_path):
    if settings.precision in INFER_PRECISION:
        from dataclasses import replace
        settings = replace(settings, precision=INFER_PRECISION[settings.precision])
    if settings.framework == "pytorch":
        return TorchRunner(settings, model_path)
    return KerasRunner(settings, model_path)


class TorchRunner:
    def __init__(self, settings: TrainSettings, model_path):
        import torch

        from ..models import UNetSpec
        from ..models.unet_torch import build_unet
        from ..training.torch_backend import PrecisionContext, resolve_device
        self.torch = torch
        if settings.device_type == "cpu":
            torch.set_num_threads(settings.threads)
        self.device = resolve_device(settings)
        self.gpu_index = torch.cuda.current_device() if self.device.type == "cuda" else None
        self.prec = PrecisionContext(settings.precision, self.device, settings)
        saved = torch.load(model_path, map_location="cpu")
        spec = UNetSpec(**saved["spec"]) if saved.get("spec") else UNetSpec(settings.filters, upsampling=settings.upsampling)
        model = build_unet(spec)
        model.load_state_dict(saved["state_dict"])
        self.memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
        self.model = model.to(self.device, dtype=self.prec.param_dtype, memory_format=self.memory_format).eval()

    def prepare(self, images: np.ndarray):
        t = self.torch.from_numpy(np.ascontiguousarray(images)).to(self.device).unsqueeze(1)
        return t.to(self.prec.param_dtype).div_(127.5).sub_(1.0).contiguous(memory_format=self.memory_format)

    def run(self, x):
        with self.torch.inference_mode(), self.prec.autocast():
            return self.torch.sigmoid(self.model(x).float())

    def sync(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()

    def is_oom(self, exc: BaseException) -> bool:
        from ..training.torch_backend import TorchBackend
        return TorchBackend.is_oom(exc)


class KerasRunner:
    def __init__(self, settings: TrainSettings, model_path):
        from ..training.keras_backend import configure_tensorflow
        tf, keras = configure_tensorflow(settings)   # threads, devices, TF32, policy
        self.tf = tf
        self.gpu_index = 0 if settings.device_type == "cuda" else None
        self.device = "/GPU:0" if settings.device_type == "cuda" else "/CPU:0"
        # Layers keep the dtype policy they were trained with (stored in the .keras file).
        self.model = keras.models.load_model(model_path, compile=False)
        self._predict = tf.function(lambda x: self.model(x, training=False), jit_compile=False)

    def prepare(self, images: np.ndarray):
        tf = self.tf
        with tf.device(self.device):
            return tf.cast(tf.constant(images[..., None]), tf.float32) / 127.5 - 1.0

    def run(self, x):
        with self.tf.device(self.device):
            return self._predict(x)

    def sync(self):
        # Waits for every queued op on every device without copying the output to the host.
        self.tf.test.experimental.sync_devices()

    def is_oom(self, exc: BaseException) -> bool:
        return isinstance(exc, self.tf.errors.ResourceExhaustedError) or "out of memory" in str(exc).lower()
