"""TensorFlow/Keras trainer: loss scaling per precision, device-resident data, a tf.function step."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import io
from ..frameworks.keras_runtime import KerasRuntime, dice_loss
from ..io import atomic_path
from ..metrics import iou_scores
from ..models import UNetSpec
from ..settings import RunSettings

RNG_FILE = "last_rng.json"   # the state of the generator that shuffles the training frames


class KerasBackend:
    def __init__(self, settings: RunSettings, split):
        self.s = settings
        self.rt = KerasRuntime(settings)
        tf, keras, p = self.rt.tf, self.rt.keras, self.rt.precision
        self.tf, self.keras = tf, keras
        self.gpu_index, self.device = self.rt.gpu_index, self.rt.device
        self.model = self.rt.build_model(UNetSpec(settings.filters, upsampling=settings.upsampling),
                                         input_size=split.x_train.shape[1])
        eps = settings.fp16_adam_epsilon if p.half_adam_epsilon else 1e-7
        opt = keras.optimizers.Adam(settings.learning_rate, epsilon=eps)
        if p.loss_scaling == "dynamic":
            opt = keras.optimizers.LossScaleOptimizer(opt)
        elif p.loss_scaling == "static":   # starts at the configured scale (Keras then adapts it)
            opt = keras.optimizers.LossScaleOptimizer(opt, initial_scale=settings.fp16_loss_scale)
        self.opt = opt
        self.opt.build(self.model.trainable_variables)
        # The fold resident on the device, or (data_placement: host, as the paper) in RAM, copied per batch.
        where = "cpu" if settings.data_placement == "host" else None
        self.x_train, self.y_train = self.rt.to_device(split.x_train, split.y_train, device=where)
        self.x_val, self.y_val = self.rt.to_device(split.x_val, split.y_val, device=where)
        self.rng = np.random.default_rng(settings.run_seed)
        self._compiled_step = None   # traced at the first batch (:meth:`train_step`)
        self._predict = self.rt.predictor(self.model)
        self.rt.reset_peak_memory()

    def train_step(self, xb, yb):
        """One optimiser step in a graph traced once, at the first batch, for any batch size (as Keras's own
        ``fit`` traces it: the batch dimension unknown). Traced for the batch's concrete shape, a fold whose
        size is not a multiple of the batch size was traced a second time for its last, smaller batch (2-4 s
        of TensorFlow's tracing in every training job, in the untimed first epoch)."""
        if self._compiled_step is None:
            spec = [self.tf.TensorSpec([None, *t.shape[1:]], t.dtype) for t in (xb, yb)]
            self._compiled_step = self.tf.function(self._step, jit_compile=False, input_signature=spec)
        return self._compiled_step(xb, yb)

    def _step(self, xb, yb):
        tf = self.tf
        with tf.GradientTape() as tape:
            prob = self.model(xb, training=True)
            loss = dice_loss(tf, prob, yb)
            scaled = self.opt.scale_loss(loss)
        grads = tape.gradient(scaled, self.model.trainable_variables)
        self.opt.apply_gradients(zip(grads, self.model.trainable_variables, strict=True))
        return loss

    def _take(self, data, idx: np.ndarray):
        """Rows ``idx`` of device-resident (gathered there) or host-resident data (copied now)."""
        if isinstance(data, np.ndarray):
            return self.rt.batch_to_device(data[idx])
        return self.tf.gather(data, self.tf.constant(idx))

    def sync(self) -> None:
        self.rt.sync()

    def train_epoch(self) -> float:
        tf = self.tf
        n = int(self.x_train.shape[0])
        perm = self.rng.permutation(n).astype(np.int32)
        total = 0.0
        with tf.device(self.device):
            losses = []
            for i in range(0, n, self.s.batch_size):
                idx = perm[i:i + self.s.batch_size]
                losses.append((self.train_step(self._take(self.x_train, idx), self._take(self.y_train, idx)), len(idx)))
            for loss, k in losses:   # fetching the values synchronises with the device
                total += float(loss) * k
        return total / n

    def evaluate(self) -> float:
        """Mean per-image validation IoU; :attr:`scores` keeps the per-image values and the pooled IoU."""
        tf = self.tf
        inter, union = [], []
        bs = self.s.batch_size
        with tf.device(self.device):
            for i in range(0, int(self.x_val.shape[0]), bs):
                pred = self._predict(self.rt.batch_to_device(self.x_val[i:i + bs])) > 0.5
                truth = self.rt.batch_to_device(self.y_val[i:i + bs]) > 0.5
                inter.append(tf.reduce_sum(tf.cast(pred & truth, tf.int64), axis=[1, 2, 3]))
                union.append(tf.reduce_sum(tf.cast(pred | truth, tf.int64), axis=[1, 2, 3]))
        self.scores = iou_scores(tf.concat(inter, 0).numpy(), tf.concat(union, 0).numpy(), self.s.empty_iou)
        return self.scores["mean"]

    def weights_finite(self) -> bool:
        tf = self.tf
        return bool(tf.reduce_all([tf.reduce_all(tf.math.is_finite(w)) for w in self.model.trainable_weights]))

    def is_oom(self, exc: BaseException) -> bool:
        return self.rt.is_oom(exc)

    def peak_memory_bytes(self) -> int | None:
        return self.rt.peak_memory_bytes()

    # --- persistence -------------------------------------------------------------------------
    # A checkpoint holds data only, nothing that runs code when read (it may come from a copied results
    # folder): weights and optimiser variables as plain arrays (.npz, read without pickle), the shuffling
    # generator's state as JSON. Format 3 kept the weights in Keras' HDF5 (save_weights: ~0.1 s a save for
    # f=8, 20 saves in a 10-epoch run; np.savez: milliseconds); format 2 a pickled object array. Both are set
    # aside as stale (mpbench.training.checkpoint.CHECKPOINT_FORMAT), never read.
    @staticmethod
    def _write_arrays(path: Path, variables) -> None:
        with atomic_path(path) as tmp:
            np.savez(tmp, *[v.numpy() for v in variables])

    @staticmethod
    def _read_arrays(path: Path) -> list[np.ndarray]:
        with np.load(path, allow_pickle=False) as z:
            return [z[f"arr_{i}"] for i in range(len(z.files))]

    def _load_weights(self, path: Path) -> None:
        """The arrays :meth:`_write_arrays` wrote of the model's weights, into the model; refuses a file whose
        arrays do not match the model's weights in number and shapes (assigning nothing then)."""
        values, weights = self._read_arrays(path), self.model.weights
        got, want = [v.shape for v in values], [tuple(w.shape) for w in weights]
        if got != want:
            i = next(i for i in range(max(len(got), len(want))) if got[i:i + 1] != want[i:i + 1])
            raise ValueError(f"{path} holds {len(got)} arrays for the model's {len(want)} weights; from array {i} on "
                             "they do not match (another model size or architecture)")
        for w, v in zip(weights, values, strict=True):
            w.assign(v)

    def save_checkpoint(self, folder: Path):
        folder = Path(folder)
        self._write_arrays(folder / "last_weights.npz", self.model.weights)
        self._write_arrays(folder / "last_optimizer.npz", self.opt.variables)
        io.write_json(folder / RNG_FILE, self.rng.bit_generator.state)

    def load_checkpoint(self, folder: Path):
        folder = Path(folder)
        self._load_weights(folder / "last_weights.npz")
        for var, val in zip(self.opt.variables, self._read_arrays(folder / "last_optimizer.npz"), strict=True):
            var.assign(val)
        self.rng.bit_generator.state = io.read_json(folder / RNG_FILE)

    def save_best(self, folder: Path):
        self._write_arrays(Path(folder) / "best_weights.npz", self.model.weights)

    def restore_best(self, folder: Path):
        self._load_weights(Path(folder) / "best_weights.npz")

    def save_model(self, path: Path):
        self.rt.save_model(self.model, path)
