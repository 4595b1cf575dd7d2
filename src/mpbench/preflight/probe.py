"""What a framework sees, measured in its own process: ``python -m mpbench.preflight.probe pytorch|tensorflow``.

Imports the framework (only here, never in the doctor's process: an import can hang or take a GPU),
and prints one line ``MPBENCH-PROBE <json>``: version, CUDA build, the GPUs it sees (name, memory,
compute capability) and, per low-precision format (:data:`mpbench.preflight.support.LOW_FORMATS`),
how much slower than float32 a small convolution (forward and backward) runs on the CPU
(``cpu_ratio``; above :data:`mpbench.preflight.facts.EMULATED_RATIO` the format is emulated).
:func:`mpbench.preflight.facts.probe_framework` runs it with a time limit.
"""
from __future__ import annotations

import json
import os
import sys
import time

from .support import LOW_FORMATS

MARKER = "MPBENCH-PROBE "


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _best(fn, reps: int = 3, ref: float | None = None) -> float:
    """Best of ``reps`` after a warm-up; a warm-up already 10x slower than ``ref`` is the answer (emulated: no
    need to wait)."""
    first = _timed(fn)
    if ref is not None and first > 10 * ref:
        return first
    return min(_timed(fn) for _ in range(reps))


def _ratios(out: dict, step, fp32_dtype, dtypes: dict) -> None:
    """``out["cpu_ratio"][fmt]``: the format's step time over float32's (None and the error when it fails)."""
    fp32 = _best(step(fp32_dtype))
    for fmt in LOW_FORMATS:
        try:
            out["cpu_ratio"][fmt] = round(_best(step(dtypes[fmt]), ref=fp32) / fp32, 2)
        except Exception as e:  # noqa: BLE001 — e.g. oneDNN refusing a format the CPU cannot run
            out["cpu_ratio"][fmt] = None
            out.setdefault("cpu_errors", {})[fmt] = str(e).splitlines()[0][:200]


def probe_pytorch(out: dict) -> None:
    import torch
    out["version"] = torch.__version__
    out["cuda"] = torch.version.cuda
    for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        p = torch.cuda.get_device_properties(i)
        out["gpus"].append({"name": p.name, "memory_gb": round(p.total_memory / 2**30, 1), "cc": [p.major, p.minor]})
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    conv = torch.nn.Conv2d(16, 16, 3, padding=1)
    x = torch.randn(8, 16, 64, 64)

    def step(dtype):
        def run():
            conv.zero_grad()
            with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                y = conv(x)
            y.float().sum().backward()
        return run
    _ratios(out, step, None, {"bf16": torch.bfloat16, "fp16": torch.float16})


def probe_tensorflow(out: dict) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    out["version"] = tf.__version__
    out["cuda"] = tf.sysconfig.get_build_info().get("cuda_version")
    for g in tf.config.list_physical_devices("GPU"):
        d = tf.config.experimental.get_device_details(g)
        out["gpus"].append({"name": d.get("device_name", g.name), "cc": list(d.get("compute_capability") or [])})
    tf.config.threading.set_intra_op_parallelism_threads(min(4, os.cpu_count() or 1))
    with tf.device("/CPU:0"):
        x = tf.random.normal([8, 64, 64, 16])
        w = tf.Variable(tf.random.normal([3, 3, 16, 16]))

        def step(dtype):
            def run():
                with tf.GradientTape() as tape:
                    y = tf.nn.conv2d(tf.cast(x, dtype), tf.cast(w, dtype), 1, "SAME")
                    loss = tf.reduce_sum(tf.cast(y, tf.float32))
                tape.gradient(loss, w).numpy()
            return run
        _ratios(out, step, tf.float32, {"bf16": tf.bfloat16, "fp16": tf.float16})


PROBES = {"pytorch": probe_pytorch, "tensorflow": probe_tensorflow}


def main(argv=None) -> None:
    name = (argv or sys.argv[1:])[0]
    out: dict = {"gpus": [], "cpu_ratio": {}}
    PROBES[name](out)
    print(MARKER + json.dumps(out))


if __name__ == "__main__":
    main()
