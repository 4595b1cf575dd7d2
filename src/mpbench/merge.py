"""``python -m mpbench merge DIR... --into OUT``: result folders made in several places combined into one,
and what differs between them named.

A grid is often run in pieces — the GPUs on a cluster, an RTX3090 on a workstation, the Edge TPU on a
lab machine — and the result folders copied together. This does the copying so that nothing is lost
and nothing is passed off as one experiment when it is not:

**What is merged**: the folders of the per-cell stages (:data:`mpbench.stages.STAGES`: ``train/``,
``infer/``, ``quantize/``: records, models, TFLite and compiled files), the preprocessed data
(``data/<key>/``) and the logs of those jobs (``logs/<folder>/``, ``logs/preprocess/``). The tables,
figures and claims at the top of a folder are not merged: they are re-derived from the merged records
(``snakemake figures claims --configfile … config/from_existing.yaml``, which schedules no other job).
What was left out is listed in the report.

**Never overwriting**: ``OUT`` must be new (absent or empty). A file present in several sources is
copied once when its content is the same everywhere (JSON compared as parsed JSON, other files byte
for byte: file times are never looked at, so copies that lost them merge the same). The same file with
different content is a *conflict*: it is not merged — nor is anything of its group (a stage's result
file and the model files its records name), so no record sits beside another site's model — and each
source's version is kept aside under ``OUT/merge_conflicts/<source>/<path>`` and named in the report.

**Compared across sources** (per source, per key): the data each source's records were made from
(``data_sha256``: a training record's ``details.data.content_sha256``, and the ``content_sha256`` of
each HDF5 under ``data/``), and every setting and version :data:`mpbench.results.speedups.TIMING`
says two runs must share to be paired — the mpbench version and commit and the framework versions
among them — read from the records as ``summary.csv`` reads them
(:func:`mpbench.results.tables.row_from_record`). Keys that differ by design between frameworks are
compared per framework.

**The report** (``OUT/merge_report.json`` and ``OUT/merge_report.md``): the sources, what was copied,
the conflicts (with both versions' digests and where they were kept aside), what was not merged, and
every key whose values differ between sources, with each source's values. The summary, figures and
claims of the merged folder then say which comparisons cross such a difference: ``speedups.csv`` and
``accuracy.csv`` name it in ``differs`` (a speed-up across it is not judged; an IoU comparison across
other data is not comparable), the figures carry a note and ``claims.csv`` a caveat in ``detail``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import pandas as pd

from . import io, record, stages
from .data import freshness
from .results import speedups, tables

REPORT_JSON = "merge_report.json"
REPORT_MD = "merge_report.md"
CONFLICTS = "merge_conflicts"
LOGS = "logs"
# Stage folders (train, infer, quantize) and the data folder, and the logs of the jobs that write them.
STAGE_FOLDERS = tuple(dict.fromkeys(s.folder for s in stages.STAGES if s.folder))
MERGED = (*STAGE_FOLDERS, freshness.FOLDER,
          *(f"{LOGS}/{s.folder or s.name}" for s in stages.STAGES if s.where != "local"))
RESULT_FILES = {s.result: s for s in stages.STAGES if s.folder}
DATA_KEY = "data_sha256"
# What a difference in a key does to the merged folder's comparisons (the report says it per key).
EFFECT_SAME_EXPERIMENT = ("not one experiment: speed-ups across it are not judged (speedups.csv differs), "
                          "IoU comparisons across it are caveated (accuracy.csv differs) and claims.csv says so")
EFFECT_DATA = ("other data: IoU comparisons across it are not comparable (no CI; accuracy.csv), speed-ups across it "
               "are not judged (speedups.csv differs), claims.csv says so")
EFFECT_TIMING = "timing-relevant: a speed-up pairing runs across it names it in speedups.csv differs and is not judged"


class MergeError(ValueError):
    """A merge that cannot start (bad folders); the message names them and what to do."""


def canonical_digest(path: Path) -> str:
    """SHA-256 of a file's content; JSON files as parsed JSON (key order and whitespace ignored)."""
    if path.suffix == ".json":
        try:
            canonical = json.dumps(json.loads(path.read_text()), sort_keys=True, separators=(",", ":"))
            return "json:" + hashlib.sha256(canonical.encode()).hexdigest()
        except (ValueError, UnicodeDecodeError):
            pass   # not JSON after all: compared byte for byte
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def labels(sources: list[Path]) -> list[str]:
    """A short unique name per source folder (its name, ``-2``… when two share one)."""
    out: list[str] = []
    for src in sources:
        name, n = src.name or "results", 1
        while (name if n == 1 else f"{name}-{n}") in out:
            n += 1
        out.append(name if n == 1 else f"{name}-{n}")
    return out


def source_files(src: Path) -> tuple[list[str], list[str]]:
    """``(merged, not merged)``: the relative paths of ``src``'s files under :data:`MERGED`, and the
    top-level entries it has besides (tables, figures, claims, other logs, …)."""
    merged, other = [], []
    for top in sorted(src.iterdir()):
        if top.name.startswith("."):
            continue
        rel = top.name
        if not any(m == rel or m.startswith(rel + "/") for m in MERGED):
            other.append(rel + ("/" if top.is_dir() else ""))
            continue
        for sub in sorted(top.rglob("*")):
            if sub.is_file():
                r = sub.relative_to(src).as_posix()
                if any(r.startswith(m + "/") for m in MERGED):
                    merged.append(r)
                elif rel == LOGS:
                    other.append(r)
    return merged, other


def result_records(src: Path, rel: str) -> list[record.Record] | None:
    """The records of a stage's result file (None: not a result file)."""
    parts = rel.split("/")
    if parts[0] not in STAGE_FOLDERS or parts[-1] not in RESULT_FILES:
        return None
    return record.read(src / rel)


def groups(src: Path, files: list[str]) -> list[set[str]]:
    """Each result file of ``src`` with the model files its records name (beside it, as the stages find
    them in a copied folder): merged or left out together."""
    present = set(files)
    out = []
    for rel in files:
        recs = result_records(src, rel)
        if recs is None:
            continue
        folder = rel.rsplit("/", 1)[0]
        named = {f"{folder}/{Path(r.model_path).name}" for r in recs if r.model_path}
        out.append({rel, *(n for n in named if n in present)})
    return out


def rows_of(src: Path, files: list[str]) -> pd.DataFrame:
    """Summary rows (:func:`mpbench.results.tables.row_from_record`) of every measured record of ``src``."""
    rows = []
    for rel in files:
        for rec in result_records(src, rel) or ():
            if rec.stage in stages.SUMMARY_RECORD_STAGES:
                rows.append(tables.row_from_record(rec, rel))
    df = pd.DataFrame(rows, columns=tables.COLUMNS)
    return tables.with_training_data(df) if len(df) else df


def values_by_key(src: Path, files: list[str]) -> dict[str, list[str]]:
    """Every :data:`mpbench.results.speedups.TIMING` key's values in ``src``'s records (per framework where
    they differ by design between frameworks), and the data digests of its records and HDF5 files."""
    out = speedups.values(rows_of(src, files), speedups.TIMING)
    h5 = {freshness.h5_digest(src / rel) for rel in files
          if rel.startswith(freshness.FOLDER + "/") and rel.endswith(".h5")} - {None}
    if h5:
        out[DATA_KEY] = sorted(set(out.get(DATA_KEY, [])) | h5)
    return out


def effect(key: str) -> str:
    name = key.split(" [")[0]
    if name == DATA_KEY:
        return EFFECT_DATA
    return EFFECT_SAME_EXPERIMENT if name in speedups.PROVENANCE else EFFECT_TIMING


def differences(values: dict[str, dict[str, list[str]]]) -> list[dict]:
    """Per key: each source's values, where the sources that recorded the key do not all agree."""
    keys = sorted({k for v in values.values() for k in v})
    out = []
    for k in keys:
        per = {label: v[k] for label, v in values.items() if k in v}
        if len({tuple(v) for v in per.values()}) > 1:
            out.append({"key": k, "values": per, "effect": effect(k)})
    return out


def check_folders(sources: list[Path], into: Path) -> None:
    if not sources:
        raise MergeError("merge: name at least one result folder to merge")
    for src in sources:
        if not src.is_dir():
            raise MergeError(f"merge: {src} is not a folder (a results_dir holding train/, infer/, quantize/, data/)")
        if not any((src / m).exists() for m in MERGED):
            raise MergeError(f"merge: {src} holds none of {', '.join(MERGED[:len(STAGE_FOLDERS) + 1])}: not a "
                             "results_dir (name the folder results_dir points to)")
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise MergeError(f"merge: {into} exists and is not empty; merge into a new folder (nothing is ever "
                         "overwritten)")
    out = into.resolve()
    for src in sources:
        s = src.resolve()
        if out == s or s in out.parents or out in s.parents:
            raise MergeError(f"merge: {into} lies inside {src} or holds it; merge into a folder beside the sources")
    if len({s.resolve() for s in sources}) < len(sources):
        raise MergeError("merge: a folder is named twice")


def copy_new(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst``, which must not exist (never overwrites)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as f, open(dst, "xb") as g:
        shutil.copyfileobj(f, g)


def merge(sources, into) -> dict:
    """Merge the result folders ``sources`` into the new folder ``into`` (module doc); returns the report,
    also written as ``into/merge_report.json`` and ``.md``."""
    sources, into = [Path(s) for s in sources], Path(into)
    check_folders(sources, into)
    names = labels(sources)
    files: dict[str, list[str]] = {}
    not_merged: dict[str, list[str]] = {}
    digests: dict[str, dict[str, str]] = {}   # relative path -> source -> digest
    grouped: list[set[str]] = []
    values: dict[str, dict[str, list[str]]] = {}
    for label, src in zip(names, sources, strict=True):
        files[label], not_merged[label] = source_files(src)
        for rel in files[label]:
            digests.setdefault(rel, {})[label] = canonical_digest(src / rel)
        grouped += groups(src, files[label])
        values[label] = values_by_key(src, files[label])
    conflicting = {rel for rel, d in digests.items() if len(set(d.values())) > 1}
    left_out = set(conflicting)
    for g in grouped:
        if g & conflicting:
            left_out |= g
    into.mkdir(parents=True, exist_ok=True)
    copied = {label: 0 for label in names}
    identical = 0
    for rel in sorted(digests):
        have = [label for label in names if label in digests[rel]]
        if rel in left_out:
            for label in have:
                copy_new(sources[names.index(label)] / rel, into / CONFLICTS / label / rel)
            continue
        copy_new(sources[names.index(have[0])] / rel, into / rel)
        copied[have[0]] += 1
        identical += len(have) > 1
    report = {
        "into": str(into),
        "sources": [{"label": label, "path": str(src), "files": len(files[label]), "copied": copied[label]}
                    for label, src in zip(names, sources, strict=True)],
        "identical_in_several": identical,
        "conflicts": [{"path": rel, "sources": sorted(digests[rel]), "sha256": digests[rel],
                       "kept_aside": {label: f"{CONFLICTS}/{label}/{rel}" for label in sorted(digests[rel])}}
                      for rel in sorted(conflicting)],
        "left_out_with_a_conflict": sorted(left_out - conflicting),
        "not_merged": {label: v for label, v in not_merged.items() if v},
        "values": values,
        "differs": differences(values),
    }
    io.write_text(into / REPORT_JSON, json.dumps(report, indent=1) + "\n")
    io.write_text(into / REPORT_MD, markdown(report))
    return report


def _short(v: str) -> str:
    return v[:speedups.DIGEST_SHOWN] if len(v) == 64 and all(c in "0123456789abcdef" for c in v) else v


def markdown(report: dict) -> str:
    """merge_report.md: the report in words and tables."""
    names = [s["label"] for s in report["sources"]]
    lines = [f"# Merge into `{report['into']}`", "", "| source | folder | files | copied from it |",
             "|---|---|---|---|"]
    lines += [f"| {s['label']} | `{s['path']}` | {s['files']} | {s['copied']} |" for s in report["sources"]]
    lines += ["", f"{report['identical_in_several']} files were in several sources with the same content (copied "
                  "once). File times were not compared.", ""]
    lines += ["## Conflicts (left out, each version kept aside)", ""]
    if report["conflicts"]:
        for c in report["conflicts"]:
            kept = ", ".join(f"{label}: `{p}` ({c['sha256'][label].split(':')[-1][:12]})"
                             for label, p in c["kept_aside"].items())
            lines.append(f"- `{c['path']}` differs between {', '.join(c['sources'])}; kept aside: {kept}")
        for rel in report["left_out_with_a_conflict"]:
            lines.append(f"- `{rel}` left out with its conflicting group (kept aside likewise)")
    else:
        lines.append("None: every file present in several sources had the same content.")
    lines += ["", "## What differs between the sources", ""]
    if report["differs"]:
        lines += ["| key | " + " | ".join(names) + " | what it means for the merged results |",
                  "|---|" + "---|" * len(names) + "---|"]
        for d in report["differs"]:
            cells = [", ".join(_short(v) for v in d["values"].get(label, [])) or "—" for label in names]
            lines.append(f"| {d['key']} | " + " | ".join(cells) + f" | {d['effect']} |")
        lines += ["", "Per source: " + "; ".join(
            f"{label} differs in {', '.join(d['key'] for d in report['differs'] if label in d['values'])}"
            for label in names) + "."]
    else:
        lines.append("Nothing: the same data, mpbench, framework versions and timing-relevant settings.")
    if report["not_merged"]:
        lines += ["", "## Not merged (re-derived from the merged records, or not results)", ""]
        lines += [f"- {label}: {', '.join(v[:12])}{', …' if len(v) > 12 else ''}"
                  for label, v in report["not_merged"].items()]
    lines += ["", "Tables, figures and claims of the merged folder: `snakemake figures claims --cores 2 "
                  "--configfile <your config with results_dir: this folder> config/from_existing.yaml`."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mpbench merge", description=__doc__.splitlines()[0])
    p.add_argument("sources", nargs="+", type=Path, help="result folders (each a results_dir)")
    p.add_argument("--into", required=True, type=Path, help="the merged folder (new or empty)")
    args = p.parse_args(argv)
    try:
        report = merge(args.sources, args.into)
    except (MergeError, record.ResultFileError) as e:
        print(e, file=sys.stderr)
        return 2
    n = len(report["conflicts"])
    print(f"merged {len(report['sources'])} folders into {args.into}: "
          f"{sum(s['copied'] for s in report['sources'])} files; {n} conflict{'s' * (n != 1)} left out"
          f"{' (kept aside in ' + CONFLICTS + '/)' if n else ''}; {len(report['differs'])} keys differ between "
          f"sources — see {args.into / REPORT_MD}")
    return 0
