"""Epoch times of the demo's training cells on this CPU: the trainers' own loop on demo-sized data.

    PYTHONPATH=src .venv/bin/python benchmarks/demo_epochs.py [--configfile config/demo.yaml] [--frames N] \
        [--epochs 3] [--frameworks pytorch tensorflow] [--precisions fp32 mixed_bf16]

    # an AVX-only CPU (AVX and FMA, no AVX2, no AVX-512), approximated on a newer one:
    ONEDNN_MAX_CPU_ISA=AVX ATEN_CPU_CAPABILITY=default TF_ENABLE_ONEDNN_OPTS=0 \
        PYTHONPATH=src .venv/bin/python benchmarks/demo_epochs.py

Writes ``--frames`` synthetic BAGLS frames, preprocesses them as the demo does, and trains fold 0 of each
framework × precision for ``--epochs`` epochs through :func:`mpbench.training.loop.train`. Frames, crop,
folds, model size, batch size, learning rate, threads, frameworks and precisions default to the demo's
(``--configfile``, laid over config/config.yaml and validated by :func:`mpbench.config.load`). Prints a
Markdown table: seconds per training epoch (median of the epochs after the first, which builds graphs),
seconds of validation per epoch, the time of the first epoch, and the bf16/fp16 support the record's
provenance derives from the CPU flags (capped by ``ONEDNN_MAX_CPU_ISA`` / ``ATEN_CPU_CAPABILITY`` where set;
see :mod:`mpbench.preflight.support`). The caps make oneDNN, PyTorch's ATen and TensorFlow use only AVX
kernels (without ``TF_ENABLE_ONEDNN_OPTS=0`` TensorFlow's bf16 convolutions fail under the oneDNN cap: it
picks oneDNN's bf16 kernels from the CPU's own flags): an approximation of an AVX-only CPU (same cores, caches
and memory), not the machine itself.
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

from mpbench import config
from mpbench.data.preprocess import preprocess_bagls
from mpbench.data.synthetic import write_synthetic_bagls
from mpbench.preflight import support
from mpbench.settings import RunSettings
from mpbench.training import loop

REPO = Path(__file__).resolve().parents[1]


def main():
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--configfile", type=Path, default=REPO / "config" / "demo.yaml")
    cfg = config.load(pre.parse_known_args()[0].configfile)
    data, train = cfg["data"], cfg["train"]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 parents=[pre])
    ap.add_argument("--frames", type=int, default=data["n_samples"], help="frames in the HDF5 (data.n_samples)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--frameworks", nargs="+", default=train["frameworks"])
    ap.add_argument("--precisions", nargs="+", default=train["precisions"])
    ap.add_argument("--filters", type=int, default=train["filters"][0])
    ap.add_argument("--batch", type=int, default=train["batch_size"])
    ap.add_argument("--threads", type=int, default=train["threads"])
    a = ap.parse_args()
    size = data["crop"]["size"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = write_synthetic_bagls(tmp / "bagls", a.frames + 16, seed=42)
        h5 = tmp / f"bagls_{size}.h5"
        preprocess_bagls(src, h5, n_samples=a.frames, seed=42, n_folds=data["n_folds"], crop_size=size)
        flags = support.cpu_flags()
        print(f"CPU flags the frameworks may use: {' '.join(flags)}; caps: {support.isa_limits() or 'none'}")
        print("| framework | precision | support | training frames | s/epoch (median, epochs 2+) "
              "| s validation/epoch | s first epoch | s total | val IoU |")
        print("|---|---|---|---|---|---|---|---|---|", flush=True)
        for fw in a.frameworks:
            for p in a.precisions:
                s = RunSettings(framework=fw, device="cpu", device_type="cpu", precision=p, filters=a.filters, fold=0,
                                batch_size=a.batch, learning_rate=train["learning_rate"], max_epochs=a.epochs,
                                patience=a.epochs, channels_last=False, threads=a.threads)
                out = tmp / fw / p
                t0 = time.perf_counter()
                try:
                    rec = loop.train(s, h5, out / "result.json",
                                     out / ("model.pt" if fw == "pytorch" else "model.keras"), out / "checkpoint")
                except Exception as e:   # e.g. oneDNN refusing bf16 under ONEDNN_MAX_CPU_ISA=AVX
                    print(f"| {fw} | {p} | failed: {type(e).__name__}: {str(e).strip().splitlines()[-1][:150]} "
                          "| | | | | | |", flush=True)
                    continue
                wall = time.perf_counter() - t0
                hist = rec.details["history"]
                later = [h["seconds"] for h in hist[1:]] or [hist[0]["seconds"]]
                val = statistics.median([h.get("val_seconds") or 0.0 for h in hist])
                print(f"| {fw} | {p} | {support.of_record(rec)} | {rec.details['n_train']} "
                      f"| {statistics.median(later):.1f} | {val:.1f} | {hist[0]['seconds']:.1f} | {wall:.0f} "
                      f"| {rec.iou:.3f} |", flush=True)


if __name__ == "__main__":
    main()
