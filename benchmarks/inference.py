"""Inference time per image vs batch size and precision (the paper's Fig. 6 scenario), with energy.

    PYTHONPATH=src python benchmarks/inference.py --framework pytorch --device cuda --filters 64 \
        --precisions fp32 tf32 mixed_fp16 mixed_bf16 --batches 1 8 32 128 [--warmup 10 --repeats 30]

Uses the workflow's own code path: the model saved as the trainer saves it (untrained weights; they
do not change the arithmetic), loaded by :func:`mpbench.inference.runners.make_runner`, timed by
:func:`mpbench.inference.bench.time_batch_sizes` (warm-up excluded, device synchronised around every
timed pass) and metered with NVML when a GPU is present. Speed-up = throughput ratio to ``fp32`` at
the same batch size. Prints a Markdown table, and the device and provenance it ran on.
"""
import argparse
import tempfile
from pathlib import Path

import numpy as np

from mpbench import provenance
from mpbench.energy import EnergyMeter
from mpbench.inference.bench import time_batch_sizes
from mpbench.inference.runners import make_runner
from mpbench.models import UNetSpec
from mpbench.settings import RunSettings


def save_untrained(framework: str, filters: int, size: int, precision: str, folder: Path) -> Path:
    """The model file as the trainer leaves it: PyTorch float32 state dict; Keras with the precision's
    dtype policy stored per layer (inference runs in the policy the model was built with)."""
    if framework == "pytorch":
        import torch

        from mpbench.models.unet_torch import build_unet
        path = folder / "model.pt"
        torch.save({"state_dict": build_unet(UNetSpec(filters)).state_dict(), "spec": vars(UNetSpec(filters)),
                    "precision": "fp32"}, path)
        return path
    import keras

    from mpbench.models.unet_keras import build_unet
    from mpbench.precisions import PRECISIONS
    keras.mixed_precision.set_global_policy(PRECISIONS[precision].keras_policy)
    path = folder / f"model_{precision}.keras"
    build_unet(UNetSpec(filters), input_size=size).save(path)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--framework", choices=["pytorch", "tensorflow"], default="pytorch")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--filters", type=int, nargs="+", default=[8])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "mixed_bf16"])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args(argv)

    frames = np.random.default_rng(0).integers(0, 256, (max(args.batches), args.size, args.size), dtype=np.uint8)
    print("| f | precision | batch | ms/image (median) | IQR (ms) | images/s | J/image | vs fp32 |")
    print("|---|-----------|------:|------------------:|---------:|---------:|--------:|--------:|")
    gpu = None
    with tempfile.TemporaryDirectory() as tmp:
        for f in args.filters:
            base = {}
            for p in args.precisions:
                model = save_untrained(args.framework, f, args.size, p, Path(tmp))
                s = RunSettings(framework=args.framework, device=args.device, device_type=args.device, precision=p,
                                  filters=f, fold=0, threads=args.threads, channels_last=args.channels_last)
                runner = make_runner(s, model)
                gpu = runner.gpu_index
                rows = time_batch_sizes(runner, frames, args.batches, args.warmup, args.repeats, EnergyMeter(gpu))
                for r in rows:
                    if r["status"] != "ok":
                        print(f"| {f} | {p} | {r['batch_size']} | {r['status']} | | | | |", flush=True)
                        continue
                    if p == "fp32":
                        base[r["batch_size"]] = r["latency"]["throughput"]
                    ref = base.get(r["batch_size"])
                    j, lat = r["joules_per_sample"], r["latency"]
                    joules = "" if j is None else f"{j:.4f}"
                    ratio = "" if not ref else f"{lat['throughput'] / ref:.2f}x"
                    print(f"| {f} | {p} | {r['batch_size']} | {lat['per_sample_s']['median'] * 1e3:.3f} | "
                          f"{lat['per_sample_s']['iqr'] * 1e3:.3f} | {lat['throughput']:.1f} | {joules} | {ratio} |",
                          flush=True)
    prov = provenance.collect(args.framework)
    print(f"\n{args.framework} on {prov.get('gpu') or prov['cpu']} (driver {prov.get('nvidia_driver')}, "
          f"CUDA {prov.get('cuda')}, cuDNN {prov.get('cudnn')}); energy: {EnergyMeter(gpu).describe()}")


if __name__ == "__main__":
    main()
