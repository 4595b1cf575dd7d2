"""A .tflite model in the LiteRT interpreter: predictions, IoU, batch-1 timing and its op list."""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np

from ..data.dataset import normalise
from ..metrics import iou_counts, iou_from_counts
from ..timing import summarize


def _interpreter_cls():
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    return Interpreter, OpResolverType


class TFLiteModel:
    """Single-input, single-output segmentation model (batch 1), float or quantised I/O."""

    def __init__(self, model: str | Path | bytes, threads: int | None = None, delegates=None):
        Interpreter, _ = _interpreter_cls()
        kw = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
        self.interpreter = Interpreter(**kw, num_threads=threads, experimental_delegates=delegates)
        self.interpreter.allocate_tensors()
        self.inp = self.interpreter.get_input_details()[0]
        self.out = self.interpreter.get_output_details()[0]

    @property
    def input_dtype(self):
        return self.inp["dtype"]

    def quantize_input(self, image: np.ndarray) -> np.ndarray:
        """uint8 (H, W) frame → the model's input tensor (1, H, W, 1), via [-1, 1] normalisation."""
        x = normalise(image[None, ..., None])
        if np.issubdtype(self.inp["dtype"], np.integer):
            scale, zero = self.inp["quantization"]
            info = np.iinfo(self.inp["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        return x.astype(self.inp["dtype"])

    def dequantize_output(self, y: np.ndarray) -> np.ndarray:
        if np.issubdtype(y.dtype, np.integer):
            scale, zero = self.out["quantization"]
            return (y.astype(np.float32) - zero) * scale
        return y.astype(np.float32)

    def invoke(self, x: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.inp["index"], x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.out["index"])

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Probability map (H, W) for one uint8 frame."""
        return self.dequantize_output(self.invoke(self.quantize_input(image)))[0, ..., 0]

    def iou(self, images: np.ndarray, masks: np.ndarray) -> float:
        inter = union = 0
        for img, mask in zip(images, masks):
            i, u = iou_counts(self.predict(img), mask)
            inter, union = inter + i, union + u
        return iou_from_counts(inter, union)

    def time_batch1(self, images: np.ndarray, warmup: int, repeats: int) -> dict:
        """Per-image time of ``invoke`` (batch 1), input quantisation excluded, warm-up excluded."""
        xs = [self.quantize_input(images[i % len(images)]) for i in range(warmup + repeats)]
        times = []
        for i, x in enumerate(xs):
            self.interpreter.set_tensor(self.inp["index"], x)
            t0 = time.perf_counter()
            self.interpreter.invoke()
            dt = time.perf_counter() - t0
            if i >= warmup:
                times.append(dt)
        s = summarize(times)
        return {"per_image_s": s, "throughput": 1.0 / s["median"]}


def op_details(model: str | Path | bytes) -> list[dict]:
    """The model's operators as written in the file (no delegate rewrites them)."""
    Interpreter, OpResolverType = _interpreter_cls()
    kw = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
    it = Interpreter(**kw, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    ops = []
    for op in it._get_ops_details():  # the only op listing LiteRT exposes in Python
        ops.append({"op": op["op_name"],
                    "inputs": [np.dtype(tensors[i]["dtype"]).name for i in op["inputs"] if i >= 0],
                    "outputs": [np.dtype(tensors[i]["dtype"]).name for i in op["outputs"] if i >= 0]})
    return ops


def op_counts(model: str | Path | bytes) -> dict[str, int]:
    return dict(sorted(Counter(o["op"] for o in op_details(model)).items()))
