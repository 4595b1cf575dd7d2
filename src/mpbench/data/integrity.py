"""The HDF5's own checksum: written by preprocess, verified before the workflow schedules any job.

A damaged HDF5 (truncated by a full disk, a killed copy, a bad sync) would otherwise cost every
finished result: its new modification time makes Snakemake rerun — and first delete — every job
that reads it, and each then fails with h5py's "truncated file" and no path. So the preprocess rule
stores ``content_sha256`` (SHA-256 over the datasets' dtypes, shapes and bytes) in the file's
attributes and in the preprocess report, and the Snakefile calls :func:`h5_problem` on an existing
HDF5 before it plans anything: a damaged file stops the workflow with its path and the fix. The same
checksum decides, after a rebuild, which results are still current (:mod:`mpbench.data.freshness`).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..io import first_line

DIGEST_ATTR = "content_sha256"
REQUIRED = ("images", "masks", "fold", "source")


def content_digest(datasets: dict) -> str:
    """SHA-256 of the named arrays (name, dtype, shape, bytes; strings as UTF-8), in name order."""
    h = hashlib.sha256()
    for name in sorted(datasets):
        a = datasets[name]
        if a is None:
            continue
        a = np.asarray(a)
        if a.dtype == object or a.dtype.kind in "SU":
            a = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in a.ravel()])
            payload = "\n".join(a.tolist()).encode()
            h.update(f"{name}:str:{a.shape}".encode())
        else:
            a = np.ascontiguousarray(a)
            payload = memoryview(a).cast("B")
            h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(payload)
    return h.hexdigest()


def file_digest(f) -> str:
    """:func:`content_digest` of every dataset of an open ``h5py.File``."""
    return content_digest({name: f[name][...] for name in f})


def h5_problem(path: str | Path) -> str | None:
    """Why the preprocessed HDF5 at ``path`` cannot be used, or None when it is whole (or absent).

    Opens it, checks the datasets every stage reads, and recomputes the checksum when the file has
    one (files written before it existed are only opened and checked).
    """
    import h5py
    path = Path(path)
    if not path.exists():
        return None
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in REQUIRED if k not in f]
            if missing:
                return f"it has no dataset {', '.join(map(repr, missing))}"
            stored = f.attrs.get(DIGEST_ATTR)
            if stored is None:
                return None
            actual = file_digest(f)
    except Exception as e:   # h5py raises OSError/KeyError/RuntimeError variants for damaged files
        return f"it does not open or read as HDF5 ({first_line(e)})"
    if actual != stored:
        return (f"its content does not match the checksum it was written with ({DIGEST_ATTR} {stored[:12]}…, "
                f"now {actual[:12]}…)")
    return None


def damaged_h5_message(path: str | Path, problem: str) -> str:
    """The workflow's stop message for a damaged HDF5: what happened, that nothing was lost, the fix."""
    return (
        f"{path} is damaged: {problem}. Nothing was scheduled and no result was touched. Fix: delete it "
        f"(or move it aside) and run snakemake again: rule preprocess rebuilds it (the same BAGLS folder, "
        f"seed and data settings give the same content — compare {DIGEST_ATTR} in the preprocess_report.json "
        "beside it with data.content_sha256 in a training record), and finished jobs whose records were "
        "made from that content are not rerun, however new the rebuilt file is (mpbench.data.freshness)."
    )
