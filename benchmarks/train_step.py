"""Per-sample training time of one optimiser step, per framework / precision / model size / batch.

    python benchmarks/train_step.py --framework pytorch --precisions fp32 tf32 mixed_fp16 mixed_bf16 \
        --filters 8 64 --batch 128 [--device cuda] [--formats nchw nhwc auto]

Runs the trainers' own ``train_step`` (PyTorch and Keras backends alike) on random
224×224 data resident on the device: warm-up steps excluded, the device synchronised around every
timed step, median and interquartile range over the timed steps. Every precision runs in each memory
format of ``--formats`` (PyTorch; ``auto`` = what ``train.channels_last: auto`` picks). Speed-up =
throughput ratio to strict ``fp32`` (TF32 off), as the paper defines it, twice: against fp32 in the
same format, and against the best fp32 of any format — so a format that slows fp32 down cannot
inflate what mixed precision buys. Prints a Markdown table.
"""
import argparse
import sys
from types import SimpleNamespace

import numpy as np

from mpbench import provenance
from mpbench.settings import RunSettings
from mpbench.timing import measure, summarize


def fake_split(n: int, size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
    y = (rng.random((n, size, size)) > 0.9).astype(np.uint8)
    return SimpleNamespace(x_train=x, y_train=y, x_val=x[:1], y_val=y[:1], fold=0)


def time_steps(settings, split, warmup, steps):
    """Per-step seconds of the trainer's own ``train_step`` on one device-resident batch."""
    from mpbench.training.backend import make_backend
    b = make_backend(settings, split)
    xb, yb = (b.rt.batch_to_device(t[:settings.batch_size]) for t in (b.x_train, b.y_train))
    m = measure(lambda: b.train_step(xb, yb), warmup=warmup, repeats=steps, sync=b.sync)
    device_name = provenance.collect(settings.framework).get("gpu") or "cpu"
    return m.seconds, device_name, b.peak_memory_bytes()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--framework", choices=["pytorch", "tensorflow"], default="pytorch")
    ap.add_argument("--precisions", nargs="+", default=["fp32", "tf32", "mixed_fp16", "mixed_bf16"])
    ap.add_argument("--filters", nargs="+", type=int, default=[8, 64])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--device", choices=["cpu", "cuda"], default=None)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--formats", nargs="+", choices=["nchw", "nhwc", "auto"], default=["nchw", "nhwc"],
                    help="PyTorch memory formats to time each precision in (Keras: one, NHWC)")
    ap.add_argument("--cudnn-benchmark", action=argparse.BooleanOptionalAction, default=False)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.device is None:
        import torch
        a.device = "cuda" if torch.cuda.is_available() else "cpu"
    if a.device == "cpu":
        print("note: no GPU here — CPU numbers only; GPU targets need a CUDA device", file=sys.stderr)
    split = fake_split(a.batch, a.size)
    formats = a.formats if a.framework == "pytorch" else ["nhwc"]
    channels_last = {"nchw": False, "nhwc": True, "auto": "auto"}
    rows = []
    for f in a.filters:
        for fmt_name in formats:
            for p in a.precisions:
                s = RunSettings(framework=a.framework, device=a.device, device_type=a.device, precision=p,
                                filters=f, fold=0, batch_size=a.batch, channels_last=channels_last[fmt_name],
                                cudnn_benchmark=a.cudnn_benchmark, threads=a.threads)
                ran = "NHWC" if s.channels_last else "NCHW"
                try:
                    times, dev, peak = time_steps(s, split, a.warmup, a.steps)
                except Exception as e:  # report and go on: one precision failing must not hide the rest
                    error = f"{type(e).__name__}: {e}"[:80]
                    rows.append({"f": f, "p": p, "format": fmt_name, "ran": ran, "error": error})
                    continue
                st = summarize(times)
                print(f"  f={f} {p} {fmt_name} ({ran}): {st['median'] / a.batch * 1e3:.3f} ms/image", file=sys.stderr,
                      flush=True)
                rows.append({"f": f, "p": p, "format": fmt_name, "ran": ran, "ms": st["median"] / a.batch * 1e3,
                             "iqr": st["iqr"] / a.batch * 1e3, "thr": a.batch / st["median"],
                             "peak": peak / 2**30 if peak else None, "dev": dev})
    fp32 = {(r["f"], r["format"]): r["thr"] for r in rows if r["p"] == "fp32" and "thr" in r}
    best = {f: max((t for (g, _), t in fp32.items() if g == f), default=None) for f in a.filters}
    print(f"\n{a.framework}, batch {a.batch}, {a.size}x{a.size}, cudnn_benchmark={a.cudnn_benchmark}, "
          f"{a.warmup} warm-up + {a.steps} timed steps")
    print("| f | precision | format (ran) | ms/image (median) | IQR ms/image | images/s | speed-up vs fp32 same format "
          "| speed-up vs best fp32 | peak GiB | device |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    fmt = lambda v, spec: "—" if v is None else format(v, spec)  # noqa: E731
    for r in rows:
        if "error" in r:
            print(f"| {r['f']} | {r['p']} | {r['format']} ({r['ran']}) | — | — | — | — | — | — | {r['error']} |")
            continue
        same, top = fp32.get((r["f"], r["format"])), best[r["f"]]
        print(f"| {r['f']} | {r['p']} | {r['format']} ({r['ran']}) | {fmt(r['ms'], '.3f')} | {fmt(r['iqr'], '.3f')} | "
              f"{fmt(r['thr'], '.0f')} | {fmt(r['thr'] / same if same else None, '.2f')} | "
              f"{fmt(r['thr'] / top if top else None, '.2f')} | {fmt(r['peak'], '.1f')} | {r['dev']} |")


if __name__ == "__main__":
    main()
