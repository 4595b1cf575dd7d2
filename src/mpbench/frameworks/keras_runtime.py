"""TensorFlow/Keras runtime: threads, devices, TF32 and dtype policy; data on the device; sync; model files.

XLA is off (``jit_compile=False``), as in the paper's TensorFlow 2.9 defaults. The output sigmoid
is always float32 (the U-Net builds it so).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .. import CLUSTER_INSTALL
from ..data.dataset import normalise, pixel_scale_offset
from ..io import atomic_path, damaged
from ..precisions import PrecisionUnavailable
from . import host_peak_memory_bytes, says_out_of_memory

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
log = logging.getLogger(__name__)


def cpu_only(threads: int):
    """TensorFlow on the CPU with ``threads`` intra-op threads (conversion, evaluation); returns ``tf``.

    Only possible before TensorFlow initialises its runtime (first op in this process): later calls
    keep the threads and devices it has.
    """
    import tensorflow as tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError as e:
        log.info("TensorFlow already initialised, keeping its threads/devices: %s", e)
    return tf


def load_keras_model(path, keras=None):
    """A trained ``.keras`` model, uncompiled; a missing file or one that does not load names the file and
    the rule to rerun (Keras says "File not found" for a damaged file that exists)."""
    if keras is None:
        import keras
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: rule train_tensorflow writes it (rerun snakemake)")
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)   # no Lambda code: data only
    except Exception as e:
        raise damaged(path, e, "a Keras model (.keras zip)", "train_tensorflow") from e


def dice_loss(tf, prob, target, eps: float = 1.0):
    """Soft Dice loss over the whole batch, computed in float32 (``tf``: the TensorFlow module)."""
    p = tf.cast(prob, tf.float32)
    t = tf.cast(target, tf.float32)
    inter = tf.reduce_sum(p * t)
    return 1.0 - (2.0 * inter + eps) / (tf.reduce_sum(p) + tf.reduce_sum(t) + eps)


class KerasRuntime:
    def __init__(self, settings):
        self.s = settings
        self.precision = settings.spec
        if self.precision.keras_policy is None:
            raise PrecisionUnavailable(f"{self.precision.name} is PyTorch-only (NVIDIA Apex AMP); "
                                       "use mixed_fp16 for TensorFlow")
        import keras
        if settings.device_type == "cpu":
            tf = cpu_only(settings.threads)
        else:
            import tensorflow as tf
            if not tf.config.list_physical_devices("GPU"):
                raise RuntimeError(
                    f"device {settings.device!r} is a CUDA device but TensorFlow {tf.__version__} sees no GPU "
                    f"(built for CUDA {tf.sysconfig.get_build_info().get('cuda_version')}). Run on a GPU node, "
                    f"installed with the cluster line at the repository root: {CLUSTER_INSTALL} (its gpu "
                    "extra brings tensorflow[and-cuda]; `python -m mpbench doctor` shows what TensorFlow sees).")
        tf.config.experimental.enable_tensor_float_32_execution(bool(self.precision.tf32))
        keras.mixed_precision.set_global_policy(self.precision.keras_policy)
        keras.utils.set_random_seed(settings.run_seed)
        self.tf, self.keras = tf, keras
        self.gpu_index = 0 if settings.device_type == "cuda" else None
        self.device = "/GPU:0" if settings.device_type == "cuda" else "/CPU:0"

    # --- data and execution ------------------------------------------------------------------
    def to_device(self, images: np.ndarray, masks: np.ndarray | None = None, device=None):
        """uint8 (N, H, W) frames → (N, H, W, 1) normalised (``settings.normalisation``); masks (if given) float {0, 1}.

        On the device in the policy's compute dtype, or (``device="cpu"``: host-resident data) as
        float32 NumPy arrays in RAM, copied per batch by :meth:`batch_to_device`.
        """
        tf = self.tf
        if device == "cpu":
            x = normalise(images[..., None], self.s.normalisation)
            return x if masks is None else (x, masks[..., None].astype(np.float32))
        with tf.device(self.device):
            x = tf.constant(images[..., None])
            scale, offset = pixel_scale_offset(self.s.normalisation)
            compute = self.keras.mixed_precision.global_policy().compute_dtype
            x = tf.cast(tf.cast(x, tf.float32) * scale + offset, compute)
            if masks is None:
                return x
            return x, tf.cast(tf.constant(masks[..., None]), tf.float32)

    def batch_to_device(self, x):
        """A host-resident batch (NumPy) as a tensor on the device; device tensors pass through."""
        if isinstance(x, np.ndarray):
            with self.tf.device(self.device):
                return self.tf.constant(x)
        return x

    def sync(self) -> None:
        """Waits for every queued op on every device without copying anything to the host."""
        self.tf.test.experimental.sync_devices()

    def is_oom(self, exc: BaseException) -> bool:
        return isinstance(exc, self.tf.errors.ResourceExhaustedError) or says_out_of_memory(exc)

    def reset_peak_memory(self) -> None:
        if self.gpu_index is not None:
            self.tf.config.experimental.reset_memory_stats("GPU:0")

    def peak_memory_bytes(self) -> int | None:
        if self.gpu_index is not None:
            return int(self.tf.config.experimental.get_memory_info("GPU:0")["peak"])
        return host_peak_memory_bytes()

    # --- models ------------------------------------------------------------------------------
    def build_model(self, spec, input_size: int):
        from ..models.unet_keras import build_unet
        return build_unet(spec, input_size=input_size)

    def save_model(self, model, path: Path) -> None:
        with atomic_path(path) as tmp:
            model.save(tmp)

    def load_model(self, path: Path):
        """Layers keep the dtype policy they were trained with (stored in the .keras file)."""
        return load_keras_model(path, self.keras)

    def predictor(self, model):
        """Normalised device batch → probabilities, a compiled graph on this runtime's device."""
        fn = self.tf.function(lambda x: model(x, training=False), jit_compile=False)

        def predict(x):
            with self.tf.device(self.device):
                return fn(x)
        return predict
