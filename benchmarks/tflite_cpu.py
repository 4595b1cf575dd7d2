"""Batch-1 CPU latency and size of the TFLite variants of the U-Net, Keras and PyTorch side by side.

    python benchmarks/tflite_cpu.py --filters 8 32 [--frameworks tensorflow pytorch] [--threads 2]
                                    [--repeats 50] [--warmup 10]

Builds the float32 U-Net of each framework with the Edge-TPU-friendly upsampling at 224×224, batch 1,
behind the same raw-pixel input the workflow's models have (untrained: the weights do not change the
op list or the kernels; int8 calibration uses random frames), exports it the way the quantize job
does (Keras: TensorFlow's converter; PyTorch: litert-torch, then ai-edge-quantizer) and times
``invoke`` in the LiteRT interpreter (XNNPACK, ``--threads`` threads): warm-up excluded, median and
interquartile range over the timed calls. Prints a Markdown table with the CPU named, and per model
the I/O types of int8, whether any TRANSPOSE is left and whether every op is in the Edge TPU's table.
PyTorch needs the edge-torch extra (the test extra has it).
"""
import argparse
import os
import platform

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
VARIANTS = ("float32", "fp16", "dynamic", "int8")


def keras_flats(f: int, size: int, frames: np.ndarray) -> dict[str, bytes]:
    from mpbench.models import UNetSpec
    from mpbench.models.unet_keras import build_unet
    from mpbench.quantization.convert import convert, pixel_input_model
    model = pixel_input_model(build_unet(UNetSpec(f, upsampling="edgetpu"), input_size=size, batch_size=1,
                                         dtype="float32"), "symmetric")
    return {v: convert(model, v, frames) for v in VARIANTS}


def torch_flats(f: int, size: int, frames: np.ndarray) -> dict[str, bytes]:
    from mpbench.models import UNetSpec
    from mpbench.models.unet_torch import build_unet
    from mpbench.quantization.torch_export import export_float32, pixel_input_module, quantize_float32
    float32 = export_float32(pixel_input_module(build_unet(UNetSpec(f, upsampling="edgetpu")).eval(), "symmetric"),
                             size)
    return {v: quantize_float32(float32, v, frames) for v in VARIANTS}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--filters", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--frameworks", nargs="+", default=["tensorflow", "pytorch"], choices=["tensorflow", "pytorch"])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args(argv)

    from mpbench.provenance import cpu_name, edge_info
    from mpbench.quantization.edgetpu_ops import edgetpu_check
    from mpbench.quantization.tflite_model import TFLiteModel, op_counts, op_details

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (16, args.size, args.size), dtype=np.uint8)
    tools = ", ".join(f"{k} {v}" for k, v in edge_info().items())
    print(f"CPU: {cpu_name()} ({platform.machine()}), {os.cpu_count()} cores; {args.threads} interpreter threads, "
          f"batch 1, {args.size}×{args.size}, median of {args.repeats} after {args.warmup} warm-up calls; {tools}\n")
    print("| f | framework | variant | size (KiB) | ms/image (median) | IQR (ms) | vs float32 | I/O | TRANSPOSE | "
          "Edge TPU ops |")
    print("|---|-----------|---------|-----------:|------------------:|---------:|-----------:|-----|----------:|"
          "--------------|")
    make = {"tensorflow": keras_flats, "pytorch": torch_flats}
    for f in args.filters:
        for fw in args.frameworks:
            base = None
            for variant, flat in make[fw](f, args.size, frames).items():
                model = TFLiteModel(flat, threads=args.threads)
                s = model.time_batch1(frames, args.warmup, args.repeats)["per_sample_s"]
                base = base or s["median"]
                io = model.io_details()
                ops = op_details(flat)
                ok = edgetpu_check(ops)["edgetpu_compatible"]
                print(f"| {f} | {fw} | {variant} | {len(flat) / 1024:.0f} | {s['median'] * 1e3:.2f} | "
                      f"{s['iqr'] * 1e3:.2f} | {base / s['median']:.2f}× | {io['input']['dtype']}/"
                      f"{io['output']['dtype']} | {op_counts(ops).get('TRANSPOSE', 0)} | "
                      f"{'all' if ok else 'not all'} |", flush=True)


if __name__ == "__main__":
    main()
