"""The inference benchmark: per-image time over batch sizes, warm-up excluded, device-synchronised.

For every batch size, ``warmup`` forward passes are run and discarded, then ``repeats`` passes are
each timed between device synchronisations. Per-image time = pass time / batch size; the result
holds its median and spread, the throughput (images/s from the median) and, when NVML is present,
joules per image over the timed passes. A batch size that runs out of device memory is recorded
as ``oom`` and the larger ones are still tried (the allocator may have fragmented; usually they
fail too).
"""
from __future__ import annotations

import logging
import time

import numpy as np

from .. import io, provenance
from ..energy import EnergyMeter
from ..timing import summarize
from ..training.settings import TrainSettings

log = logging.getLogger(__name__)


def tile_batch(images: np.ndarray, batch_size: int) -> np.ndarray:
    """``batch_size`` images taken cyclically from ``images`` (real frames, not noise)."""
    idx = np.arange(batch_size) % len(images)
    return images[idx]


def time_batch_sizes(runner, images: np.ndarray, batch_sizes, warmup: int, repeats: int, meter=None) -> list[dict]:
    meter = meter or EnergyMeter(None)
    rows = []
    for bs in batch_sizes:
        try:
            x = runner.prepare(tile_batch(images, bs))
            for _ in range(warmup):
                runner.run(x)
            runner.sync()
            times = []
            e0 = meter.read_joules()
            for _ in range(repeats):
                t0 = time.perf_counter()
                runner.run(x)
                runner.sync()
                times.append(time.perf_counter() - t0)
            e1 = meter.read_joules()
            del x
        except Exception as e:
            if not runner.is_oom(e):
                raise
            msg = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
            log.error("batch %d: out of device memory (%s)", bs, msg)
            rows.append({"batch_size": bs, "status": "oom", "error": msg})
            continue
        per_image = summarize([t / bs for t in times])
        row = {"batch_size": bs, "status": "ok", "per_image_s": per_image,
               "throughput": 1.0 / per_image["median"], "batch_s": summarize(times),
               "joules_per_image": (e1 - e0) / (repeats * bs) if e0 is not None and e1 is not None else None}
        log.info("batch %4d: %.3f ms/image (median of %d, IQR %.3f ms), %.1f images/s", bs,
                 per_image["median"] * 1e3, repeats, per_image["iqr"] * 1e3, row["throughput"])
        rows.append(row)
    return rows


def benchmark(settings: TrainSettings, model_path, h5_path, result_path, batch_sizes, warmup: int,
              repeats: int, n_images: int = 128) -> dict:
    """Time a trained model on its fold's validation frames; write and return the result JSON."""
    from ..data.dataset import load_h5, split_fold   # h5py only where the HDF5 is read
    from .runners import make_runner
    data = load_h5(h5_path)
    images = split_fold(data, settings.fold).x_val[:n_images]
    log.info("inference %s %s %s f=%d fold %d: batch sizes %s, %d warm-up + %d timed passes each",
             settings.framework, settings.device, settings.precision, settings.filters, settings.fold,
             list(batch_sizes), warmup, repeats)
    runner = make_runner(settings, model_path)
    meter = EnergyMeter(runner.gpu_index)
    rows = time_batch_sizes(runner, images, batch_sizes, warmup, repeats, meter)
    n_ok = sum(r["status"] == "ok" for r in rows)
    result = {
        "phase": "infer",
        "status": "ok" if n_ok == len(rows) else ("partial" if n_ok else "oom"),
        "settings": settings.to_dict(),
        "warmup": warmup, "repeats": repeats,
        "batches": rows,
        "energy_meter": meter.describe(),
        "model_path": str(model_path),
        "provenance": provenance.collect(settings.framework),
        "config_hash": provenance.config_hash(settings.to_dict()),
    }
    io.write_json(result_path, result)
    return result
