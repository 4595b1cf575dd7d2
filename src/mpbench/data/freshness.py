"""Whether the HDF5 is the one the config asks for, and whether a result was made from its content.

Snakemake decides reruns by file times, and two of those decisions would cost a user's results or
reuse stale data:

- a rebuilt, touched or copied HDF5 with the *same* content is newer than every result, so every job
  that reads it is rerun (its results deleted first) unless the user remembers, at every such run, to
  leave ``mtime`` out of ``--rerun-triggers`` (which also hides real changes);
- a changed data config (``n_samples``, ``seed`` …) with an HDF5 already there gives "Nothing to be
  done" on a checkout without ``.snakemake`` metadata: new cells train on the old frames while their
  records say the new settings.

So the decisions are taken on content instead:

- :func:`preprocess_settings` are the data keys that make the HDF5; :func:`data_folder` names a folder by
  their hash (:func:`settings_key`), so other settings are another file and returning to earlier ones
  finds the earlier file. Preprocess stores the settings in the file (attribute ``data_settings``) and
  :func:`settings_problem` compares them with the config before any job uses it.
- a job that reads the HDF5 takes it as ``ancient`` (its time ignored) when the grid cell's training
  record was made from the same content (:func:`made_from`, the ``content_sha256`` of
  :mod:`mpbench.data.integrity`), as a plain input otherwise; preprocess is a Snakemake checkpoint, so
  after a rebuild this is decided on the content just written (rules/common.smk, ``data_input``).
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from .integrity import DIGEST_ATTR

SETTINGS_ATTR = "data_settings"
FOLDER = "data"   # under results_dir: one sub-folder per settings key
KEY_LENGTH = 12
# The data keys whose values make the HDF5's content (data.normalisation does not: it is applied when
# the frames are read).
PREPROCESS_KEYS = ("bagls_dir", "synthetic_frames", "n_samples", "seed", "n_folds", "crop", "on_bad_sample", "subset",
                   "folds_by")


def preprocess_settings(data_cfg: dict) -> dict:
    """The ``data`` settings that decide the HDF5's content, as plain JSON values. ``data_cfg``: the validated
    config's ``data`` section (the schema's defaults filled in, as the workflow and :func:`mpbench.config.load`
    give it)."""
    return json.loads(json.dumps({k: data_cfg.get(k) for k in PREPROCESS_KEYS}))


def settings_key(data_cfg: dict) -> str:
    """A short hash of :func:`preprocess_settings`: the name of the folder their HDF5 lives in."""
    text = json.dumps(preprocess_settings(data_cfg), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


def data_folder(results_dir: str, data_cfg: dict) -> str:
    """``<results_dir>/data/<settings_key>``: the HDF5, its frame list and report for these settings."""
    return f"{results_dir.rstrip('/')}/{FOLDER}/{settings_key(data_cfg)}"


def per_version(read):
    """``read(path)``, cached per version of the file (its time and size): the digests are asked for every
    job of the grid while Snakemake plans, and read once per version. A missing file gives None."""
    @functools.lru_cache(maxsize=4096)
    def cached(path: str, stamp):
        return read(path)

    @functools.wraps(read)
    def wrapper(path):
        try:
            st = Path(path).stat()
        except OSError:
            return None
        return cached(str(path), (st.st_mtime_ns, st.st_size))
    return wrapper


@per_version
def h5_digest(h5_path: str | Path) -> str | None:
    """The ``content_sha256`` the HDF5 was written with (None: no file, or unreadable — the workflow's
    damage check names it)."""
    import h5py
    try:
        with h5py.File(h5_path, "r") as f:
            value = f.attrs.get(DIGEST_ATTR)
    except (OSError, KeyError, RuntimeError):
        return None
    return str(value) if value is not None else None


@per_version
def recorded_digest(result_path: str | Path) -> str | None:
    """The ``details.data.content_sha256`` a result file's records were made from (None: no file, none
    recorded, or records that disagree)."""
    from .. import record
    try:
        records = record.read(result_path)
    except (OSError, record.ResultFileError):   # missing or damaged: its job reruns and says why
        return None
    digests = {r.data_sha256 for r in records} - {None}
    return digests.pop() if len(digests) == 1 else None


def made_from(result_path: str | Path, h5_path: str | Path) -> bool:
    """Whether the records in ``result_path`` were made from the HDF5's current content."""
    digest = recorded_digest(result_path)
    return digest is not None and digest == h5_digest(h5_path)


def settings_problem(h5_path: str | Path, data_cfg: dict) -> str | None:
    """Why the HDF5 at ``h5_path`` is not the one ``data_cfg`` asks for (None: it is, or it is absent).

    Files written before the settings were stored in them are accepted (their folder name, the key of
    the settings, already says which settings made them).
    """
    import h5py
    path = Path(h5_path)
    if not path.exists():
        return None
    try:
        with h5py.File(path, "r") as f:
            stored = f.attrs.get(SETTINGS_ATTR)
    except (OSError, KeyError, RuntimeError):
        return None   # the damage check (mpbench.data.integrity) names an unreadable file
    if stored is None:
        return None
    made, wanted = json.loads(stored), preprocess_settings(data_cfg)
    differ = [f"data.{k}: {made.get(k)!r} in the file, {wanted[k]!r} in the config"
              for k in wanted if made.get(k) != wanted[k]]
    if not differ:
        return None
    return (f"{path} was made with other data settings than the config's ({'; '.join(differ)}). "
            f"Nothing was run. This file belongs to other settings: move it back to data/<key>/ of those, "
            f"or delete it and rerun (preprocess writes the HDF5 for these settings)")
