"""TensorFlow/Keras side of the trainer: dtype policies, device-resident data, a tf.function loop.

Precisions: ``fp32`` (TF32 disabled), ``tf32`` (TensorFlow's default on Ampere+), ``mixed_fp16``
(``mixed_float16`` policy + dynamic loss scaling), ``mixed_bf16`` (``mixed_bfloat16``), ``fp16``
(``float16`` policy, Adam epsilon ``fp16_adam_epsilon``, loss scaling starting at
``fp16_loss_scale``). The output sigmoid is always float32. XLA is off (``jit_compile=False``), as in
the paper's TensorFlow 2.9 defaults.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..io import atomic_path
from .settings import PrecisionUnavailable, TrainSettings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

POLICIES = {"fp32": "float32", "tf32": "float32", "mixed_fp16": "mixed_float16",
            "mixed_bf16": "mixed_bfloat16", "fp16": "float16"}


def configure_tensorflow(settings: TrainSettings):
    """Threads, visible devices and precision policy; must run before any model is built."""
    import tensorflow as tf
    import keras
    if settings.precision not in POLICIES:
        raise PrecisionUnavailable(f"{settings.precision} is PyTorch-only (NVIDIA Apex AMP); "
                                   "use mixed_fp16 for TensorFlow")
    if settings.device_type == "cpu":
        try:  # only possible before TensorFlow initialises its runtime (first op in this process)
            tf.config.threading.set_intra_op_parallelism_threads(settings.threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
            tf.config.set_visible_devices([], "GPU")
        except RuntimeError as e:
            logging.getLogger(__name__).info("TensorFlow already initialised, keeping its threads/devices: %s", e)
    elif not tf.config.list_physical_devices("GPU"):
        raise RuntimeError(
            f"device {settings.device!r} is a CUDA device but TensorFlow {tf.__version__} sees no GPU "
            f"(built for CUDA {tf.sysconfig.get_build_info().get('cuda_version')}). Install "
            "'mpbench[gpu]' (tensorflow[and-cuda]) and run on a GPU node.")
    tf.config.experimental.enable_tensor_float_32_execution(settings.precision != "fp32")
    keras.mixed_precision.set_global_policy(POLICIES[settings.precision])
    keras.utils.set_random_seed(settings.seed * 100 + settings.fold)
    return tf, keras


def dice_loss(tf, prob, target, eps: float = 1.0):
    p = tf.cast(prob, tf.float32)
    t = tf.cast(target, tf.float32)
    inter = tf.reduce_sum(p * t)
    return 1.0 - (2.0 * inter + eps) / (tf.reduce_sum(p) + tf.reduce_sum(t) + eps)


class KerasBackend:
    def __init__(self, settings: TrainSettings, split):
        from ..models import UNetSpec
        from ..models.unet_keras import build_unet
        self.s = settings
        tf, keras = configure_tensorflow(settings)
        self.tf, self.keras = tf, keras
        self.gpu_index = 0 if settings.device_type == "cuda" else None
        self.device = "/GPU:0" if settings.device_type == "cuda" else "/CPU:0"
        size = split.x_train.shape[1]
        self.model = build_unet(UNetSpec(settings.filters, upsampling=settings.upsampling), input_size=size)
        eps = settings.fp16_adam_epsilon if settings.precision == "fp16" else 1e-7
        opt = keras.optimizers.Adam(settings.learning_rate, epsilon=eps)
        if settings.precision == "mixed_fp16":
            opt = keras.optimizers.LossScaleOptimizer(opt)
        elif settings.precision == "fp16":
            opt = keras.optimizers.LossScaleOptimizer(opt, initial_scale=settings.fp16_loss_scale)
        self.opt = opt
        self.opt.build(self.model.trainable_variables)
        with tf.device(self.device):
            self.x_train, self.y_train = self._to_device(split.x_train, split.y_train)
            self.x_val, self.y_val = self._to_device(split.x_val, split.y_val)
        self.rng = np.random.default_rng(settings.seed * 100 + settings.fold)
        self._train_step = tf.function(self._step, jit_compile=False)
        self._predict = tf.function(lambda x: self.model(x, training=False), jit_compile=False)

    def _to_device(self, images, masks):
        tf = self.tf
        x = tf.constant(images[..., None])
        x = tf.cast(x, self.keras.mixed_precision.global_policy().compute_dtype) / 127.5 - 1.0
        y = tf.cast(tf.constant(masks[..., None]), tf.float32)
        return x, y

    def _step(self, idx):
        tf = self.tf
        xb, yb = tf.gather(self.x_train, idx), tf.gather(self.y_train, idx)
        with tf.GradientTape() as tape:
            prob = self.model(xb, training=True)
            loss = dice_loss(tf, prob, yb)
            scaled = self.opt.scale_loss(loss)
        grads = tape.gradient(scaled, self.model.trainable_variables)
        self.opt.apply_gradients(zip(grads, self.model.trainable_variables))
        return loss

    def train_epoch(self) -> float:
        n = int(self.x_train.shape[0])
        perm = self.rng.permutation(n).astype(np.int32)
        total = 0.0
        with self.tf.device(self.device):
            losses = []
            for i in range(0, n, self.s.batch_size):
                idx = perm[i:i + self.s.batch_size]
                losses.append((self._train_step(self.tf.constant(idx)), len(idx)))
            for loss, k in losses:   # fetching the values synchronises with the device
                total += float(loss) * k
        return total / n

    def evaluate(self) -> float:
        tf = self.tf
        inter = union = 0.0
        bs = self.s.batch_size
        with tf.device(self.device):
            for i in range(0, int(self.x_val.shape[0]), bs):
                pred = self._predict(self.x_val[i:i + bs]) > 0.5
                truth = self.y_val[i:i + bs] > 0.5
                inter += float(tf.reduce_sum(tf.cast(pred & truth, tf.float64)))
                union += float(tf.reduce_sum(tf.cast(pred | truth, tf.float64)))
        return 1.0 if union == 0 else inter / union

    # --- persistence -------------------------------------------------------------------------
    def save_checkpoint(self, folder: Path):
        folder = Path(folder)
        with atomic_path(folder / "last.weights.h5") as tmp:
            self.model.save_weights(tmp)
        with atomic_path(folder / "last_optimizer.npz") as tmp:
            np.savez(tmp, *[v.numpy() for v in self.opt.variables])
        with atomic_path(folder / "last_rng.npy") as tmp:
            np.save(tmp, np.array(self.rng.bit_generator.state, dtype=object), allow_pickle=True)

    def load_checkpoint(self, folder: Path):
        folder = Path(folder)
        self.model.load_weights(folder / "last.weights.h5")
        with np.load(folder / "last_optimizer.npz") as z:
            values = [z[f"arr_{i}"] for i in range(len(z.files))]
        for var, val in zip(self.opt.variables, values, strict=True):
            var.assign(val)
        self.rng.bit_generator.state = np.load(folder / "last_rng.npy", allow_pickle=True).item()

    def save_best(self, folder: Path):
        with atomic_path(Path(folder) / "best.weights.h5") as tmp:
            self.model.save_weights(tmp)

    def restore_best(self, folder: Path):
        self.model.load_weights(Path(folder) / "best.weights.h5")

    def save_model(self, path: Path):
        with atomic_path(path) as tmp:
            self.model.save(tmp)

    def weights_finite(self) -> bool:
        tf = self.tf
        return bool(tf.reduce_all([tf.reduce_all(tf.math.is_finite(w)) for w in self.model.trainable_weights]))

    def peak_memory_bytes(self) -> int | None:
        if self.gpu_index is not None:
            return int(self.tf.config.experimental.get_memory_info("GPU:0")["peak"])
        import resource
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)

    def is_oom(self, exc: BaseException) -> bool:
        return isinstance(exc, self.tf.errors.ResourceExhaustedError) or "out of memory" in str(exc).lower()
