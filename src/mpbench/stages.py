"""The pipeline's stages, each written once: its rule, where its results go, which grid cells it runs
on, where it runs, and the stage name its records carry.

Everything that used to spell the job list out again derives from :data:`STAGES`: the jobs a cluster
executor submits (:func:`submitted_jobs`, checked against a dry run by tests/test_slurm.py), the rules
that run where snakemake runs (:data:`LOCAL_RULES`, which the Snakefile's ``localrules`` must equal —
tested), the device a job's SLURM keys come from (:func:`job_device`), the order of the pre-flight
check's report (:func:`rule_order`), each job's result file (:func:`result_path`), the result files the
summary gathers (:func:`summary_results`), the records' stage vocabulary (:data:`RECORD_STAGES`) and
README's stage table (:func:`markdown_table`, kept true by tests/test_stages.py).

Adding a stage: one :class:`Stage` entry here, one rule in rules/*.smk, one script in
workflow/scripts/, one entry function in the library.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import grid

FRAMEWORK = "{framework}"   # in a rule name: one rule per framework (train_tensorflow, train_pytorch)


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline.

    ``rule``: the Snakemake rule, with ``{framework}`` where each framework has its own rule.
    ``folder``/``result``: a grid cell's job writes ``<results>/<folder>/<framework>/<cell>/<result>``
    (None: not a per-cell stage). ``cells``: the grid cells it runs on (a function of the config; None:
    one job). ``where``: ``local`` (where snakemake runs, never submitted), ``cpu`` (the CPU work of
    ``devices.cpu``) or ``device`` (the cell's own device). ``record_stage``: the ``stage`` of its records
    (None: it writes none). ``summarised``: the summary gathers its result files. ``timed``: it times
    something and holds its cores alone. ``framework``: the one framework it serves (QAT: TensorFlow).
    ``needs_variant``: it runs only when ``quantize.variants`` has this variant. ``entry``: the library
    function its script calls; ``params``: what that function takes from the config besides the cell,
    ``{keyword: (type, config key)}`` (:mod:`mpbench.stage_params` builds the rule's ``params.stage``).
    """
    name: str
    rule: str
    where: str
    what: str
    folder: str | None = None
    result: str | None = None
    cells: Callable[[dict], list] | None = None
    record_stage: str | None = None
    summarised: bool = False
    timed: bool = False
    framework: str | None = None
    needs_variant: str | None = None
    entry: str | None = None
    params: dict[str, tuple[type, str]] = field(default_factory=dict)

    def rule_name(self, framework: str | None = None) -> str:
        return self.rule.replace(FRAMEWORK, framework) if FRAMEWORK in self.rule else self.rule

    @property
    def per_framework_rule(self) -> bool:
        return FRAMEWORK in self.rule

    def runs(self, config: dict) -> list[dict]:
        """The grid cells this stage runs on for ``config`` (``[{}]``: one job; ``[]``: none)."""
        if self.needs_variant and self.needs_variant not in (config.get("quantize") or {}).get("variants", ()):
            return []
        return list(self.cells(config)) if self.cells else [{}]


# How the TFLite models of a cell are scored and timed on the CPU: quantize, QAT and the Edge TPU stage alike
# (the Edge TPU's int8 model is read against the TFLite CPU timings), with the inference benchmark's warm-up.
TFLITE_TIMING = {"eval_images": (int, "quantize.eval_images"), "timing_warmup": (int, "infer.warmup"),
                 "timing_repeats": (int, "quantize.timing_repeats")}

STAGES: tuple[Stage, ...] = (
    Stage("synthetic_bagls", "synthetic_bagls", "local", "synthetic frames in the BAGLS format (demo, tests)"),
    Stage("preprocess", "preprocess", "cpu", "BAGLS frames → crops, masks and folds in one HDF5"),
    Stage("train", "train_{framework}", "device", "training of one cell, timed per epoch", "train", "result.json",
          grid.train_runs, "train", summarised=True, timed=True),
    Stage("infer", "infer_bench_{framework}", "device", "inference benchmark over batch sizes", "infer",
          "result.json", grid.infer_runs, "infer", summarised=True, timed=True,
          entry="mpbench.inference.bench.benchmark",
          params={"batch_sizes": (list, "infer.batch_sizes"), "warmup": (int, "infer.warmup"),
                  "repeats": (int, "infer.repeats")}),
    Stage("quantize", "quantize", "cpu", "TFLite variants (int8, fp16, …), evaluated and timed on the CPU",
          "quantize", "result.json", grid.quantize_runs, "tflite_cpu", summarised=True, timed=True,
          entry="mpbench.quantization.pipeline.quantize",
          params={**TFLITE_TIMING, "variants": (list, "quantize.variants"),
                  "representative_samples": (int, "quantize.representative_samples")}),
    Stage("qat", "qat", "cpu", "quantization-aware fine-tuning → int8 TFLite, timed", "quantize", "qat.json",
          grid.qat_runs, "qat", summarised=True, timed=True, framework="tensorflow",
          entry="mpbench.quantization.qat.qat",
          params={**TFLITE_TIMING, "epochs": (int, "quantize.qat_epochs"),
                  "learning_rate": (float, "quantize.qat_learning_rate")}),
    Stage("edgetpu_compile", "edgetpu_compile", "cpu", "edgetpu_compiler on the int8 model", "quantize",
          "edgetpu_compile.json", grid.quantize_runs, "edgetpu_compile", needs_variant="int8",
          entry="mpbench.edgetpu.stage.compile_stage",
          params={"compiler": (str, "edgetpu.compiler"), "required": (bool, "edgetpu.required")}),
    Stage("edgetpu_infer", "edgetpu_infer", "cpu", "Edge TPU inference (or its CPU stand-in), timed", "quantize",
          "edgetpu_infer.json", grid.quantize_runs, "edgetpu", summarised=True, timed=True, needs_variant="int8",
          entry="mpbench.edgetpu.stage.infer_stage", params={**TFLITE_TIMING, "required": (bool, "edgetpu.required")}),
    Stage("summary", "summary", "local", "summary.csv, speedups.csv and energy.csv from every result"),
    Stage("figures", "figures", "local", "the paper's figures and the energy figure (PNG and PDF), one job"),
    Stage("claims", "claims", "local", "the paper's claims checked: claims.csv/.md/.html, accuracy.csv"),
)
BY_NAME = {s.name: s for s in STAGES}
# Rules that only gather targets (no job of their own).
TARGET_RULES = ("all",)
LOCAL_RULES = (*TARGET_RULES, *(s.rule for s in STAGES if s.where == "local"))
RECORD_STAGES = tuple(s.record_stage for s in STAGES if s.record_stage)
SUMMARY_RECORD_STAGES = tuple(s.record_stage for s in STAGES if s.summarised)


def stage_of_rule(rule: str) -> Stage | None:
    """The stage a rule belongs to (``train_pytorch`` → train), None for a target rule."""
    for s in STAGES:
        head, _, tail = s.rule.partition(FRAMEWORK)
        if rule == s.rule or (s.per_framework_rule and rule.startswith(head) and rule.endswith(tail)
                              and len(rule) > len(head) + len(tail)):
            return s
    return None


def rule_framework(rule: str) -> str | None:
    """The framework a per-framework rule's name carries (``infer_bench_pytorch`` → pytorch), else None."""
    s = stage_of_rule(rule)
    if s is None or not s.per_framework_rule:
        return s.framework if s else None
    head, _, tail = s.rule.partition(FRAMEWORK)
    return rule[len(head):len(rule) - len(tail)]


def job_device(rule: str, wildcards: dict) -> str:
    """The device whose ``devices.<name>`` SLURM keys a job of ``rule`` takes: the cell's for stages that
    run on it, ``cpu`` for the rest."""
    s = stage_of_rule(rule)
    return wildcards["device"] if s is not None and s.where == "device" else "cpu"


def rule_order(rule: str) -> int:
    """The pipeline position of ``rule`` (reports list jobs in this order); unknown rules last."""
    s = stage_of_rule(rule)
    return STAGES.index(s) if s is not None else len(STAGES)


def _job_run(stage: Stage, run: dict) -> dict:
    """A job's wildcards: ``framework`` only where the rule serves every framework (quantize, Edge TPU)."""
    if stage.per_framework_rule or stage.framework:
        return {k: v for k, v in run.items() if k != "framework"}
    return run


def submitted_jobs(config: dict):
    """Every job of the configured grid that a cluster executor submits, as ``(rule, run, device)``.

    ``run`` holds the job's wildcards ({} for preprocess; ``framework`` only where the rule name does not
    carry it); ``device`` is :func:`job_device`. Local stages are left out.
    """
    for s in STAGES:
        if s.where == "local":
            continue
        for r in s.runs(config):
            rule = s.rule_name(r.get("framework"))
            run = _job_run(s, r)
            yield rule, run, job_device(rule, run)


def result_path(results: str, stage: Stage, run: dict, framework: str | None = None) -> str:
    """``<results>/<folder>/<framework>/<device>/<precision>/f<filters>/fold<fold>/<result>`` of one cell."""
    fw = framework or stage.framework or run["framework"]
    cell = f"{run['device']}/{run['precision']}/f{run['filters']}/fold{run['fold']}"
    return f"{results.rstrip('/')}/{stage.folder}/{fw}/{cell}/{stage.result}"


def job_result(results: str, rule: str, run: dict) -> str | None:
    """The result file whose existence says a job of ``rule`` with wildcards ``run`` is done (None: a
    stage without per-cell results, e.g. preprocess: its HDF5 is the workflow's own path)."""
    s = stage_of_rule(rule)
    if s is None or s.folder is None:
        return None
    return result_path(results, s, run, rule_framework(rule))


def stage_results(results: str, config: dict, stage: Stage) -> list[str]:
    """Every result file ``stage`` writes for the configured grid."""
    return [result_path(results, stage, r) for r in stage.runs(config)]


def summary_results(results: str, config: dict) -> list[str]:
    """Every result file the summary (and the claims) gather, in pipeline order."""
    return [p for s in STAGES if s.summarised for p in stage_results(results, config, s)]


def markdown_table() -> str:
    """README's stage table: one row per stage."""
    rows = ["| stage | rule | runs on | result (per grid cell) | record stage | what |", "|---|---|---|---|---|---|"]
    for s in STAGES:
        where = {"local": "where snakemake runs", "cpu": "`devices.cpu`", "device": "the cell's device"}[s.where]
        result = f"`{s.folder}/<framework>/<cell>/{s.result}`" if s.folder else "—"
        timed = " (timed, cores alone)" if s.timed else ""
        rows.append(f"| {s.name} | `{s.rule}` | {where}{timed} | {result} | "
                    f"{f'`{s.record_stage}`' if s.record_stage else '—'} | {s.what} |")
    return "\n".join(rows)
