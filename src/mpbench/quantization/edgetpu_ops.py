"""The Edge TPU's supported operations, to check an int8 model before (or without) the compiler.

Source: Coral documentation, "TensorFlow models on the Edge TPU" → "Supported operations"
(coral.ai/docs/edgetpu/models-intro/#supported-operations), as TFLite builtin op names. The
compiler adds conditions (int8/uint8 tensors, ≤ 3-D for some ops, RESIZE_NEAREST_NEIGHBOR only in
older op versions — version 3 with ``half_pixel_centers`` is rejected as "Operation version not
supported"), so this table is necessary, not sufficient; the compiler log is the final word.
"""
from __future__ import annotations

EDGETPU_SUPPORTED_OPS = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS",
    "FULLY_CONNECTED", "L2_NORMALIZATION", "LOGISTIC", "LSTM", "MAXIMUM", "MAX_POOL_2D", "MEAN",
    "MINIMUM", "MUL", "PACK", "PAD", "PRELU", "QUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6",
    "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE",
    "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM",
    "SQUARED_DIFFERENCE", "TANH", "TRANSPOSE", "TRANSPOSE_CONV",
})
INTEGER_DTYPES = frozenset({"int8", "uint8", "int32"})  # int32: biases


def edgetpu_check(ops: list[dict]) -> dict:
    """Which ops the Edge TPU cannot take, and any float tensor in a full-integer model."""
    unsupported = sorted({o["op"] for o in ops if o["op"] not in EDGETPU_SUPPORTED_OPS})
    float_ops = sorted({o["op"] for o in ops if any(d not in INTEGER_DTYPES for d in o["inputs"] + o["outputs"])})
    return {"unsupported_ops": unsupported, "ops_with_float_tensors": float_ops,
            "edgetpu_compatible": not unsupported and not float_ops}
