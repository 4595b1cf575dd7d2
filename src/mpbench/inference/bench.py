"""The inference benchmark: per-image time over batch sizes, warm-up excluded, device-synchronised.

For every batch size, ``warmup`` forward passes are run and discarded, then ``repeats`` passes are
each timed between device synchronisations (:func:`mpbench.timing.measure`). Per-image time = pass
time / batch size; each batch size is one record with the per-repeat times, their mean, median and
spread, the throughput (images/s from the mean, as the paper) and the energy per image over the timed
passes: GPU joules (``joules_per_sample``) where NVML is present, CPU package and DRAM joules
(``cpu_joules_per_sample``) where powercap counters can be read; each is None otherwise, with the meter's
reason in ``energy_meter``/``cpu_energy_meter``. The GPU's power limit, clocks and temperature before
and after the run are in ``details.gpu_state``. A batch size that runs out of device memory is recorded
as ``oom`` and the larger ones are still tried (the allocator may have fragmented; usually they fail too).
"""
from __future__ import annotations

import logging
from functools import partial

import numpy as np

from .. import provenance, record
from ..energy import EnergyMeter, PowercapMeter, gpu_state
from ..record import Status
from ..timing import measure

log = logging.getLogger(__name__)


def tile_batch(images: np.ndarray, batch_size: int) -> np.ndarray:
    """``batch_size`` images taken cyclically from ``images`` (real frames, not noise)."""
    idx = np.arange(batch_size) % len(images)
    return images[idx]


def time_batch_sizes(runner, images: np.ndarray, batch_sizes, warmup: int, repeats: int, meter=None,
                     cpu_meter=None) -> list[dict]:
    """One row per batch size: ``batch_size``, ``status``, ``error``, ``latency``, ``joules_per_sample`` (GPU,
    from ``meter``) and ``cpu_joules_per_sample`` (CPU, from ``cpu_meter``)."""
    meter = meter or EnergyMeter(None)
    rows = []
    for bs in batch_sizes:
        try:
            m = measure(partial(runner.run, runner.prepare(tile_batch(images, bs))), warmup=warmup, repeats=repeats,
                        sync=runner.sync, meter=meter, cpu_meter=cpu_meter)
        except Exception as e:
            if not runner.is_oom(e):
                raise
            msg = record.error_text(e)
            log.error("batch %d: out of device memory (%s)", bs, msg)
            rows.append({"batch_size": bs, "status": Status.OOM, "error": msg, "latency": None,
                         "joules_per_sample": None, "cpu_joules_per_sample": None})
            continue
        # The paper's statistic: mean time per batch / batch size (the median is kept in the summary).
        lat = record.latency([t / bs for t in m.seconds], unit="repeat", statistic="mean",
                             excluded=f"{warmup} warm-up passes")
        row = {"batch_size": bs, "status": Status.OK, "error": None, "latency": lat,
               **{key: None if j is None else j / (repeats * bs)
                  for key, j in (("joules_per_sample", m.joules), ("cpu_joules_per_sample", m.cpu_joules))}}
        per_image = lat["per_sample_s"]
        log.info("batch %4d: %.3f ms/image (mean of %d; median %.3f, IQR %.3f ms), %.1f images/s", bs,
                 per_image["mean"] * 1e3, repeats, per_image["median"] * 1e3, per_image["iqr"] * 1e3,
                 lat["throughput"])
        rows.append(row)
    return rows


def benchmark(settings, model_path, h5_path, result_path, batch_sizes, warmup: int, repeats: int,
              n_images: int = 128) -> list[record.Record]:
    """Time a trained model on its fold's validation frames; write and return its records."""
    from ..data.dataset import load_h5, split_fold  # h5py only where the HDF5 is read
    from .runners import make_runner
    data = load_h5(h5_path)
    images = split_fold(data, settings.fold).x_val[:n_images]
    log.info("inference %s %s %s f=%d fold %d: batch sizes %s, %d warm-up + %d timed passes each",
             settings.framework, settings.device, settings.precision, settings.filters, settings.fold,
             list(batch_sizes), warmup, repeats)
    runner = make_runner(settings, model_path)
    meter = EnergyMeter(runner.gpu_index)
    start = gpu_state(runner.gpu_index)
    with PowercapMeter() as cpu_meter:
        rows = time_batch_sizes(runner, images, batch_sizes, warmup, repeats, meter, cpu_meter)
    state = {"start": start, "end": gpu_state(runner.gpu_index)}
    prov = provenance.collect(settings.framework)
    records = [record.Record("infer", settings.to_dict(), provenance=prov, model_path=model_path,
                             energy_meter=meter.describe(), cpu_energy_meter=cpu_meter.describe(),
                             details={"warmup": warmup, "repeats": repeats, "n_images": len(images),
                                      "gpu_state": state}, **row)
               for row in rows]
    record.write(result_path, records)
    return records
