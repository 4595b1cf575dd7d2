"""Preprocessing throughput: synthetic BAGLS frames → HDF5. Goal: 4096 frames in < 30 s on 2 cores.

    .venv/bin/python benchmarks/preprocess.py [--frames 4096] [--workdir /tmp/mpbench-bench]
"""
import argparse
import tempfile
import time
from pathlib import Path

from mpbench.data.bagls import list_frames
from mpbench.data.preprocess import preprocess_bagls
from mpbench.data.synthetic import write_synthetic_bagls


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "mpbench-bench"))
    a = ap.parse_args()
    src = Path(a.workdir) / f"bagls_{a.frames}"
    if not src.exists() or len(list_frames(src)) < a.frames:
        t = time.perf_counter()
        write_synthetic_bagls(src, a.frames, seed=0)
        print(f"generated {a.frames} synthetic frames in {time.perf_counter() - t:.1f} s (not timed below)")
    times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        preprocess_bagls(src, Path(a.workdir) / "bench.h5", n_samples=a.frames, seed=42, n_folds=4)
        times.append(time.perf_counter() - t)
    times.sort()
    med = times[len(times) // 2]
    print("| frames | repeats | median s | min s | max s | frames/s | goal |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {a.frames} | {a.repeats} | {med:.1f} | {times[0]:.1f} | {times[-1]:.1f} | {a.frames / med:.0f} "
          "| < 30 s |")


if __name__ == "__main__":
    main()
