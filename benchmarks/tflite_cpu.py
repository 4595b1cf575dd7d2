"""Batch-1 CPU throughput of the TFLite variants (float32, fp16, int8) of the U-Net, per model size.

    python benchmarks/tflite_cpu.py --filters 8 32 [--threads 2] [--repeats 50] [--warmup 10]

Builds the float32 U-Net with the Edge-TPU-friendly upsampling at 224×224, batch 1 (untrained: the
weights do not change the op count; calibration uses random frames), converts it to every TFLite
variant and times ``invoke`` in the LiteRT interpreter (XNNPACK, ``--threads`` threads): warm-up
excluded, median and interquartile range over the timed calls. Prints a Markdown table.
"""
import argparse
import os
import platform

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def float_tflite(model):
    import tensorflow as tf
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--filters", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args(argv)

    from mpbench.models import UNetSpec
    from mpbench.models.unet_keras import build_unet
    from mpbench.provenance import cpu_name
    from mpbench.quantization.convert import convert
    from mpbench.quantization.tflite_model import TFLiteModel

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (16, args.size, args.size), dtype=np.uint8)
    print(f"CPU: {cpu_name()} ({platform.machine()}), {args.threads} interpreter threads, batch 1, "
          f"{args.size}×{args.size}, median of {args.repeats} after {args.warmup} warm-up calls\n")
    print("| f | variant | size (KiB) | ms/image (median) | IQR (ms) | images/s | vs float32 |")
    print("|---|---------|-----------:|------------------:|---------:|---------:|-----------:|")
    for f in args.filters:
        model = build_unet(UNetSpec(f, upsampling="edgetpu"), input_size=args.size, batch_size=1, dtype="float32")
        flats = {"float32": float_tflite(model), "fp16": convert(model, "fp16"),
                 "int8": convert(model, "int8", frames)}
        base = None
        for name, flat in flats.items():
            t = TFLiteModel(flat, threads=args.threads).time_batch1(frames, args.warmup, args.repeats)
            base = base or t["throughput"]
            s = t["per_image_s"]
            print(f"| {f} | {name} | {len(flat) / 1024:.0f} | {s['median'] * 1e3:.2f} | {s['iqr'] * 1e3:.2f} | "
                  f"{t['throughput']:.1f} | {t['throughput'] / base:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
