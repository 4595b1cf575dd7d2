"""A .tflite model in the LiteRT interpreter: predictions, IoU, batch-1 timing and its op list."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from .. import record
from ..io import damaged
from ..metrics import image_counts, iou_scores
from ..record import Status
from ..timing import measure


def _rule_of(path) -> str:
    """The rule that writes a .tflite file (named in load errors)."""
    name = Path(path).name
    if name.endswith("_edgetpu.tflite"):
        return "edgetpu_compile"
    return "qat" if name.startswith("model_qat") else "quantize"


def _interpreter_cls():
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    return Interpreter, OpResolverType


class TFLiteModel:
    """Single-input, single-output segmentation model (batch 1), float or quantised I/O."""

    def __init__(self, model: str | Path | bytes, threads: int | None = None, delegates=None):
        Interpreter, _ = _interpreter_cls()
        kw = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
        if not isinstance(model, bytes) and not Path(model).is_file():
            raise FileNotFoundError(f"{model} does not exist: rule {_rule_of(model)} writes it (rerun snakemake)")
        try:
            self.interpreter = Interpreter(**kw, num_threads=threads, experimental_delegates=delegates)
        except ValueError as e:   # LiteRT: "not a valid Flatbuffer buffer" / "mmap of size 0", no path
            if isinstance(model, bytes):
                raise
            raise damaged(model, e, "a TFLite model (flatbuffer)", _rule_of(model)) from e
        self.interpreter.allocate_tensors()
        self.inp = self.interpreter.get_input_details()[0]
        self.out = self.interpreter.get_output_details()[0]

    def io_details(self) -> dict:
        """dtype and (scale, zero point) of the input and output tensors, as recorded in results."""
        return {name: {"dtype": np.dtype(d["dtype"]).name, "quantization": list(d["quantization"])}
                for name, d in (("input", self.inp), ("output", self.out))}

    def quantize_input(self, image: np.ndarray) -> np.ndarray:
        """uint8 (H, W) frame → the model's input tensor (1, H, W, 1): the raw pixels (the model normalises).

        An integer input is quantised with the model's own scale and zero point (mpbench's int8
        models have 1 and 0, so the frame goes in unchanged).
        """
        x = image[None, ..., None].astype(np.float32)
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

    def iou(self, images: np.ndarray, masks: np.ndarray, empty_iou: float = 1.0) -> dict:
        """:func:`~mpbench.metrics.iou_scores` of the model's predictions (mean, pooled, per image)."""
        return iou_scores(*image_counts((self.predict(img) for img in images), masks), empty_iou)

    def time_batch1(self, images: np.ndarray, warmup: int, repeats: int) -> dict:
        """Latency block of ``invoke`` at batch 1; input quantisation and warm-up excluded."""
        xs = [self.quantize_input(images[i % len(images)]) for i in range(warmup + repeats)]
        m = measure(self.interpreter.invoke, warmup=warmup, repeats=repeats,
                    before_each=lambda i: self.interpreter.set_tensor(self.inp["index"], xs[i]))
        return record.latency(m.seconds, unit="repeat", excluded=f"{warmup} warm-up invocations")


def evaluate_tflite(flat: bytes, images: np.ndarray, masks: np.ndarray, *, threads: int, warmup: int,
                    repeats: int, empty_iou: float = 1.0) -> dict:
    """Status, IoU (mean per image; pooled too), batch-1 CPU latency and I/O quantization of one model.

    A model the interpreter refuses (e.g. XNNPACK and int8 scales from weights that grew to ~1e28 in
    a run that never produced NaN) is ``failed`` with the reason: recorded, and the grid goes on.
    """
    try:
        tfl = TFLiteModel(flat, threads=threads)
    except RuntimeError as e:
        return {"status": Status.FAILED, "error": record.error_text(e), "iou": None, "iou_pooled": None,
                "per_image": None, "latency": None, "io": None}
    scores = tfl.iou(images, masks, empty_iou)
    return {"status": Status.OK, "error": None, "iou": scores["mean"], "iou_pooled": scores["pooled"],
            "per_image": scores["per_image"],
            "latency": tfl.time_batch1(images, warmup, repeats), "io": tfl.io_details()}


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


def op_counts(ops: list[dict]) -> dict[str, int]:
    """How often each operator occurs in an :func:`op_details` list."""
    return dict(sorted(Counter(o["op"] for o in ops).items()))


def describe_ops(flat: bytes) -> dict:
    """Size, op counts and the Edge TPU op check of a converted model, as results record them."""
    from .edgetpu_ops import edgetpu_check
    ops = op_details(flat)
    return {"bytes": len(flat), "op_counts": op_counts(ops), "edgetpu_check": edgetpu_check(ops)}
