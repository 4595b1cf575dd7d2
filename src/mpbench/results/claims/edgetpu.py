"""The Edge TPU claims: its IoU against the float model, its speed against the GPUs at batch 1 (Fig. 7),
and the compiler's op mapping per model size.

They are judged on real Edge TPU runs of the paper's TensorFlow models only
(:meth:`~mpbench.results.claims.evidence.Evidence.edgetpu_rows`): the ``cpu-int8`` stand-in is never
evidence, and :func:`mpbench.results.claims.report.check` makes any verdict drawn without a real run
``not measured``.
"""
from __future__ import annotations

import pandas as pd

from ...record import Verdict
from .. import accuracy, speedups
from .evidence import Evidence
from .verdicts import ci_text, combine, combine_parts, equivalence, judged, with_why_not, within


def edgetpu_iou_drop(evidence: Evidence, claim: dict) -> dict:
    rows, why = evidence.edgetpu_rows()
    if why:
        return {"detail": why}
    cells = accuracy.over_folds(evidence.accuracy, "edgetpu vs float", run_device="edgetpu", framework="tensorflow")
    if "filters" in claim:
        cells = cells[cells["filters"].isin(claim["filters"])]
    if cells.empty:
        return {"detail": f"no Edge TPU run with a float model's IoU to compare with (f in {claim.get('filters')})"}
    return equivalence(cells, "IoU(int8 on the Edge TPU) − IoU(float model) on the same images, per f",
                       evidence.margin)


def edge_vs_gpu_cells(evidence: Evidence) -> tuple[list[dict], str | None]:
    """Fig. 7a: throughput of the Edge TPU over each GPU at batch 1 (TensorFlow, baseline-trained models),
    per GPU and f: each fold's pair by :func:`mpbench.results.speedups.run_speedup`, then over runs."""
    edge, why = evidence.edgetpu_rows()
    if why:
        return [], why
    baseline = evidence.baseline
    gpu, why = evidence.gpu_rows(phase="infer", framework="tensorflow", precision=baseline, batch_size=1)
    if why:
        return [], f"{why} (TensorFlow {baseline}, batch 1)"
    edge = edge[edge["precision"] == baseline]
    compare = [k for k in speedups.TIMING if k not in speedups.BY_DESIGN["run_device"]]
    cells = []
    for (dev, f), g in gpu.groupby(["device", "filters"]):
        runs = []
        for _, row in g.iterrows():
            e = edge[(edge["filters"] == f) & (edge["fold"] == row["fold"])]
            e = e[e["device"] == dev] if (e["device"] == dev).any() else e   # any training device
            if len(e):
                runs.append(speedups.run_speedup(row.to_dict(), e.iloc[0].to_dict(), compare))
        if runs:
            cells.append({"device": dev, "filters": int(f), **speedups.over_runs(runs, evidence.max_cv)})
    return cells, None if cells else "no fold and f with both an Edge TPU run and a batch-1 GPU run"


def edgetpu_vs_gpu(evidence: Evidence, claim: dict) -> dict:
    """Supported when the Edge TPU is faster than every GPU at f = ``claim['f']`` and no longer faster than
    every GPU at the largest f (its stated factor is the claim ``edgetpu_max_speedup`` judges)."""
    cells, why = edge_vs_gpu_cells(evidence)
    if why:
        return {"detail": why}
    f_lead = claim["f"]
    fs = sorted({s["filters"] for s in cells})
    at = {f: [s for s in cells if s["filters"] == f] for f in fs}
    text = "; ".join(f"f={f}: " + ", ".join(f"{s['device']} {ci_text(s)}" for s in at[f]) for f in fs)
    verdicts, unchecked = [], []
    if f_lead in at:    # the lead: faster than every GPU
        verdicts.append(combine([judged(s, 1.0) for s in at[f_lead]]))
    else:
        unchecked.append(f"f={f_lead} not measured on both")
    big = fs[-1]
    if big > f_lead:    # the lead lost: some GPU faster (its ratio's CI below 1)
        lead = [judged(s, 1.0) for s in at[big]]
        verdicts.append(Verdict.SUPPORTED if Verdict.CONTRADICTED in lead else
                        Verdict.CONTRADICTED if all(v == Verdict.SUPPORTED for v in lead) else Verdict.INCONCLUSIVE)
    else:
        unchecked.append(f"no f above {f_lead} to see the lead lost")
    best = max(at.get(f_lead, cells), key=lambda s: s["speedup_mean"])
    return {"measured": best["speedup_mean"], "ci_low": best["ci_low"], "ci_high": best["ci_high"],
            "n": len(cells), "verdict": combine_parts(verdicts, unchecked),
            "detail": with_why_not(f"throughput Edge TPU / GPU at batch 1 ({text}); measured: best at "
                                   f"f={best['filters']} ({best['device']})"
                                   + (f"; unchecked: {', '.join(unchecked)}" if unchecked else ""), cells)}


def edgetpu_max_speedup(evidence: Evidence, claim: dict) -> dict:
    """"Up to 6x": the best Edge TPU / GPU throughput ratio at f = ``claim['f']``, within ±tolerance."""
    cells, why = edge_vs_gpu_cells(evidence)
    if why:
        return {"detail": why}
    f = claim["f"]
    at = [s for s in cells if s["filters"] == f]
    if not at:
        return {"detail": f"f={f} not measured on both the Edge TPU and a GPU"}
    best = max(at, key=lambda s: s["speedup_mean"])
    value, tol = claim["value"], claim["tolerance"]
    return {"measured": best["speedup_mean"], "ci_low": best["ci_low"], "ci_high": best["ci_high"], "n": len(at),
            "verdict": within(best, value, tol),
            "detail": with_why_not(f"best Edge TPU / GPU throughput ratio at f={f}, batch 1 ({best['device']}); "
                                   f"stated: up to {value}x, judged within ±{tol:.0%}", [best])}


def edgetpu_compiled(evidence: Evidence, claim: dict) -> dict:
    """The compiler's op mapping per f (edgetpu_compile records) and, for the f said to map but
    predict badly, the Edge TPU's IoU against the float model: compromised when the CI of the
    paired difference lies below −margin."""
    compiled = [r for r in evidence.compiled if r.status in ("ok", "failed")
                and r.settings.get("framework", "tensorflow") == "tensorflow"]   # the paper's models
    by_f: dict[int, list] = {}
    for r in compiled:
        by_f.setdefault(int(r.settings["filters"]), []).append(r)
    full = {f: sum(r.status == "ok" and bool(r.fully_mapped) for r in rs) for f, rs in by_f.items()}
    mapping = ", ".join(f"f={f}: {full[f]}/{len(by_f[f])} fully mapped" for f in sorted(by_f))
    _, why = evidence.edgetpu_rows()
    if why:
        return {"detail": why + (f" (compiler: {mapping})" if mapping else "")}
    if not compiled:
        return {"detail": "no Edge TPU compiler output in these results"}
    margin = evidence.margin
    verdicts, unchecked, texts, worst = [], [], [mapping], None
    for f in claim["full"]:
        if f in by_f:
            verdicts.append(Verdict.SUPPORTED if full[f] == len(by_f[f]) else Verdict.CONTRADICTED)
        else:
            unchecked.append(f"f={f} not compiled")
    for f in claim["compromised"]:
        if f not in by_f:
            unchecked.append(f"f={f} not compiled")
            continue
        if full[f] < len(by_f[f]):
            verdicts.append(Verdict.CONTRADICTED)   # it should map fully
            continue
        cells = accuracy.over_folds(evidence.accuracy, "edgetpu vs float", run_device="edgetpu", filters=f,
                                    framework="tensorflow")
        if cells.empty:
            unchecked.append(f"no Edge TPU IoU at f={f}")
            continue
        for cell in cells.itertuples():
            if pd.notna(cell.ci_high) and cell.ci_high < -margin:
                verdicts.append(Verdict.SUPPORTED)
            elif cell.verdict == Verdict.SUPPORTED:     # within the margin: not compromised
                verdicts.append(Verdict.CONTRADICTED)
            else:
                verdicts.append(Verdict.INCONCLUSIVE)
        worst = cells.loc[cells["delta"].idxmin()]
        texts.append(f"f={f}: IoU(Edge TPU) − IoU(float) {worst['delta']:.3g} ({worst['method']}); compromised "
                     f"when its CI lies below −{margin}")
    out = {"n": len(compiled), "verdict": combine_parts(verdicts, unchecked),
           "detail": "; ".join(texts) + (f"; unchecked: {', '.join(unchecked)}" if unchecked else "")}
    if worst is not None:
        out.update(measured=worst["delta"], ci_low=worst["ci_low"], ci_high=worst["ci_high"])
    return out


TESTS = (edgetpu_iou_drop, edgetpu_vs_gpu, edgetpu_max_speedup, edgetpu_compiled)
