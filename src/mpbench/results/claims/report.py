"""The claims table: each claim of config/claims.yaml judged by its test (:data:`TESTS`), and written as
claims.csv, claims.md (next to summary.csv) and claims.html (shown in the --report), with
accuracy.csv; where this run's config departs from the paper's setup, the pages say so first."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ... import record
from ...record import Verdict
from . import accuracy, edgetpu, energy, speed
from .evidence import Evidence
from .verdicts import NOT_MEASURED

COLUMNS = ["claim", "statement", "where", "needs", "measured", "ci_low", "ci_high", "n", "p", "verdict", "detail"]


def not_in_grid(evidence: Evidence, claim: dict) -> dict:
    """A claim about hardware mpbench does not run (the Cloud TPU): listed, never judged."""
    return {"detail": claim["reason"]}


# Every claim test by the name config/claims.yaml gives it (``test:``): (evidence, claim) -> the claim's row.
TESTS = {test.__name__: test for test in (*speed.TESTS, *energy.TESTS, *accuracy.TESTS, *edgetpu.TESTS, not_in_grid)}


def load(path) -> list[dict]:
    return yaml.safe_load(Path(path).read_text())["claims"]


# The paper's setup where a schema default differs from it (config/config.yaml sets the paper's values):
# (section, key, the paper's value). A run with other values is listed in claims.md, not refused.
PAPER_SETUP = (("figures", "baseline", "tf32"), ("train", "data_placement", "host"), ("train", "channels_last", False),
               ("train", "fused_adam", False), ("train", "learning_rate", 5e-4), ("train", "batch_size", 128),
               ("train", "patience", 10), ("data", "n_folds", 4))
PAPER_FOLDS = 4


def departures(config: dict) -> list[str]:
    """Where this run's config departs from the paper's setup (:data:`PAPER_SETUP`, all 4 folds trained
    and timed), in words: e.g. ``train.data_placement: device (paper: host)``. Only sections the config has."""
    out = []
    for section, name, paper in PAPER_SETUP:
        have = config.get(section) or {}
        if name in have and have[name] != paper:
            out.append(f"{section}.{name}: {have[name]} (paper: {paper})")
    for section in ("train", "infer"):
        folds = (config.get(section) or {}).get("folds")
        if folds is not None and sorted(folds) != list(range(PAPER_FOLDS)):
            out.append(f"{section}.folds: {list(folds)} (paper: all {PAPER_FOLDS} folds)")
    return out


def check(claims: list[dict], records: list[record.Record], config: dict,
          evidence: Evidence | None = None) -> pd.DataFrame:
    """One row per claim (:data:`COLUMNS`), judged by the test its ``test:`` names; an unknown name is refused
    before any claim is judged."""
    for c in claims:
        if c["test"] not in TESTS:
            raise ValueError(f"claim {c['id']!r}: unknown test {c['test']!r} (config/claims.yaml's test: names one "
                             f"of {', '.join(sorted(TESTS))})")
    evidence = evidence or Evidence(records, config)
    rows = []
    for c in claims:
        result = TESTS[c["test"]](evidence, c)
        verdict = result.get("verdict") or NOT_MEASURED
        if c["needs"] == "edgetpu" and verdict != NOT_MEASURED and evidence.edgetpu_rows()[1]:
            verdict = NOT_MEASURED   # never on a stand-in
        rows.append({"claim": c["id"], "statement": c["statement"], "where": c["where"], "needs": c["needs"],
                     "measured": result.get("measured"), "ci_low": result.get("ci_low"),
                     "ci_high": result.get("ci_high"), "n": result.get("n"), "p": result.get("p"),
                     "verdict": verdict, "detail": result.get("detail")})
    return pd.DataFrame(rows, columns=COLUMNS)


def write(claims_yaml, result_paths, config: dict, claims_csv, claims_md, claims_html=None,
          accuracy_csv=None) -> pd.DataFrame:
    """claims.csv, the same as a Markdown table (next to summary.csv) and as an HTML page (shown in
    the --report), and accuracy.csv (every paired IoU comparison, per fold and over folds)."""
    from ... import io
    records = [rec for p in sorted(map(str, result_paths)) for rec in record.read(p)]
    evidence = Evidence(records, config)
    table = check(load(claims_yaml), records, config, evidence)
    notes = departures(config) + ([evidence.baseline_note] if evidence.baseline_note else [])
    io.write_text(claims_csv, table.to_csv(index=False))
    io.write_text(claims_md, markdown(table, notes))
    if claims_html:
        io.write_text(claims_html, html(table, config["stats"]["iou_margin"], notes))
    if accuracy_csv:
        io.write_text(accuracy_csv, evidence.accuracy.to_csv(index=False))
    return table


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def markdown(table: pd.DataFrame, notes=()) -> str:
    fmt = _fmt
    lines = ["This run departs from the paper's setup: " + "; ".join(notes) + ".", ""] if notes else []
    lines += ["| claim | where | measured | 95 % CI | n | verdict | detail |", "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        ci = f"[{fmt(r.ci_low)}, {fmt(r.ci_high)}]" if pd.notna(r.ci_low) else ""
        lines.append(f"| {r.statement} | {r.where} | {fmt(r.measured)} | {ci} | {fmt(r.n)} | **{r.verdict}** | "
                     f"{fmt(r.detail)} |")
    return "\n".join(lines) + "\n"


VERDICT_COLOURS = {Verdict.SUPPORTED: "#d8f0d8", Verdict.CONTRADICTED: "#f6d5d5", Verdict.INCONCLUSIVE: "#fdf1cf",
                   NOT_MEASURED: "#e8e8e8"}


def html(table: pd.DataFrame, margin: float, notes=()) -> str:
    """A self-contained HTML page of the claims table (the Snakemake report shows HTML inline)."""
    from html import escape
    head = "".join(f"<th>{h}</th>" for h in ("claim", "where", "needs", "measured", "95 % CI", "n", "p", "verdict",
                                             "detail"))
    body = []
    for r in table.itertuples():
        ci = f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]" if pd.notna(r.ci_low) else ""
        cells = [r.statement, r.where, r.needs, _fmt(r.measured), ci, _fmt(r.n), _fmt(r.p)]
        tds = "".join(f"<td>{escape(str(c))}</td>" for c in cells)
        colour = VERDICT_COLOURS.get(r.verdict, "white")
        body.append(f'<tr id="{escape(r.claim)}">{tds}<td style="background:{colour}"><b>{escape(r.verdict)}</b></td>'
                    f"<td>{escape(_fmt(r.detail))}</td></tr>")
    counts = ", ".join(f"{n} {v}" for v, n in table["verdict"].value_counts().items())
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>The paper's claims, checked</title>"
            "<style>body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
            "td,th{border:1px solid #bbb;padding:3px 6px;vertical-align:top;text-align:left}</style></head><body>"
            f"<h3>The paper's claims checked on this grid ({counts})</h3>"
            "<p>supported: the 95 % CI lies on the claimed side of the threshold (or, for an unchanged IoU, "
            f"within &plusmn;{margin}); contradicted: on the other side; inconclusive: the CI spans it, or a part of "
            "the claim could not be checked; not measured: the hardware is not in this grid (a stand-in is never "
            "evidence).</p>"
            + (f"<p>This run departs from the paper's setup: {escape('; '.join(notes))}.</p>" if notes else "")
            + f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></body></html>\n")
