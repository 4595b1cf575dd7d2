"""mpbench.stages: each stage written once; the job lists, local rules and README's table derive from it."""
import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from mpbench import record, stages
from mpbench.preflight import checks

REPO = Path(__file__).resolve().parents[1]


def demo_config() -> dict:
    from snakemake.utils import update_config
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    update_config(cfg, yaml.safe_load((REPO / "config" / "demo.yaml").read_text()))
    return cfg


def test_readme_stage_table_is_the_stage_table():
    text = (REPO / "README.md").read_text()
    table = re.search(r"<!-- stages table: .*? -->\n(.*?)\n<!-- end of stages table -->", text, re.S)
    assert table and table.group(1) == stages.markdown_table()
    for s in stages.STAGES:   # every stage's rule is declared in the workflow
        rule = s.rule.replace("{framework}", "")
        assert any(rule in p.read_text() for p in (REPO / "rules").glob("*.smk")), s.rule


def test_rules_map_to_their_stage_framework_and_device():
    assert stages.stage_of_rule("train_pytorch").name == "train"
    assert stages.stage_of_rule("infer_bench_tensorflow").name == "infer"
    assert stages.stage_of_rule("train_") is None and stages.stage_of_rule("all") is None
    assert stages.rule_framework("infer_bench_pytorch") == "pytorch" and stages.rule_framework("qat") == "tensorflow"
    assert stages.rule_framework("quantize") is None
    cell = {"device": "a100", "precision": "fp32", "filters": 8, "fold": 0}
    assert stages.job_device("train_tensorflow", cell) == "a100" and stages.job_device("quantize", cell) == "cpu"
    order = [stages.rule_order(r) for r in ("preprocess", "train_pytorch", "infer_bench_pytorch", "quantize", "qat",
                                           "edgetpu_compile", "edgetpu_infer", "unknown")]
    assert order == sorted(order)
    # the records' vocabulary is the stages'
    assert record.Record("edgetpu", {"device": "cpu"}, status="ok").stage == "edgetpu"


def test_submitted_jobs_and_results_of_the_demo_grid():
    cfg = demo_config()
    jobs = list(stages.submitted_jobs(cfg))
    rules = [rule for rule, _, _ in jobs]
    n_train = len(cfg["train"]["frameworks"]) * len(cfg["train"]["precisions"]) * len(cfg["train"]["folds"])
    assert rules.count("preprocess") == 1 and rules.count("train_pytorch") + rules.count("train_tensorflow") == n_train
    assert not set(rules) & set(stages.LOCAL_RULES)
    quantize = [run for rule, run, _ in jobs if rule == "quantize"]
    assert quantize and all("framework" in run for run in quantize)           # one rule for both frameworks
    assert all("framework" not in run for rule, run, _ in jobs if rule in ("train_pytorch", "qat"))
    # each job's result file, as the rules write it
    run = {"device": "cpu", "precision": "fp32", "filters": 8, "fold": 0}
    assert stages.job_result("R", "train_pytorch", run) == "R/train/pytorch/cpu/fp32/f8/fold0/result.json"
    assert stages.job_result("R", "qat", run) == "R/quantize/tensorflow/cpu/fp32/f8/fold0/qat.json"
    assert stages.job_result("R", "edgetpu_infer", {**run, "framework": "pytorch"}).endswith(
        "quantize/pytorch/cpu/fp32/f8/fold0/edgetpu_infer.json")
    assert stages.job_result("R", "preprocess", {}) is None
    summary = stages.summary_results("R", cfg)
    assert not any(p.endswith("edgetpu_compile.json") for p in summary)       # no measurement in it
    cfg["quantize"]["variants"] = ["fp16"]                                    # no int8: no Edge TPU jobs
    assert not {"edgetpu_compile", "edgetpu_infer"} & {rule for rule, _, _ in stages.submitted_jobs(cfg)}


def test_a_new_stage_is_one_entry(monkeypatch):
    """A hypothetical stage appears in the job list, the result files and the report order from its entry alone."""
    extra = stages.Stage("tensorrt", "tensorrt", "device", "TensorRT engine, timed", "tensorrt", "result.json",
                         stages.grid.infer_runs, "infer", summarised=True, timed=True)
    monkeypatch.setattr(stages, "STAGES", (*stages.STAGES, extra))
    cfg = demo_config()
    jobs = [(rule, run, device) for rule, run, device in stages.submitted_jobs(cfg) if rule == "tensorrt"]
    assert len(jobs) == len(list(stages.grid.infer_runs(cfg))) and all(d == "cpu" for _, run, d in jobs)
    assert any(p.startswith("R/tensorrt/") for p in stages.summary_results("R", cfg))
    assert stages.rule_order("tensorrt") == len(stages.STAGES) - 1
    assert "tensorrt" in checks.job_label("tensorrt", jobs[0][1])
    assert dataclasses.replace(extra, where="local").runs(cfg)


def test_readme_names_every_module_of_the_library():
    text = (REPO / "README.md").read_text()
    table = text[text.index("The library, one job per module"):text.index("The stages (`mpbench.stages.STAGES`")]
    src = REPO / "src" / "mpbench"
    modules = [p.relative_to(src).as_posix() for p in sorted(src.rglob("*.py"))
               if p.name not in ("__init__.py", "__main__.py")]
    missing = [m for m in modules if f"`{m}`" not in table]
    assert not missing, f"README's module table does not name {missing}"


def test_stage_params_are_the_keywords_of_each_stages_entry_function():
    """Each stage's params (its Stage entry) are keywords of its entry function (the scripts call it with
    **params.stage), typed as the config holds them; shared keys are taken in one place (infer.warmup)."""
    import importlib
    import inspect

    from mpbench import stage_params, stages
    cfg = demo_config()
    assert set(stage_params.PARAMS) == {"infer", "quantize", "qat", "edgetpu_compile", "edgetpu_infer"}
    for stage in (s for s in stages.STAGES if s.params):
        module, _, name = stage.entry.rpartition(".")
        keywords = set(inspect.signature(getattr(importlib.import_module(module), name)).parameters)
        params = stage_params.of(stage.name, cfg)
        assert set(params) == set(stage.params) and set(params) <= keywords, (stage.name, set(params) - keywords)
        for k, value in params.items():
            assert isinstance(value, stage.params[k][0]), (stage.name, k, value)
    q = stage_params.PARAMS["quantize"].from_config(cfg)
    assert q.timing_warmup == cfg["infer"]["warmup"] and q.timing_repeats == cfg["quantize"]["timing_repeats"]
    # The Edge TPU model is timed and scored as the TFLite models it is read against.
    e = stage_params.PARAMS["edgetpu_infer"].from_config(cfg)
    assert (e.eval_images, e.timing_warmup, e.timing_repeats) == (q.eval_images, q.timing_warmup, q.timing_repeats)
    with pytest.raises(dataclasses.FrozenInstanceError):   # a job's params are read once
        q.timing_warmup = 0


def test_the_rules_of_timed_stages_and_only_they_take_the_timing_slot(tmp_path):
    """Stage.timed and the rules agree: a timed stage's jobs take timing_slot=1 (they hold the CPU alone)."""
    from test_slurm import dry_run_jobs
    fresh = tmp_path / "fresh.yaml"   # a results folder of its own: a finished make demo would plan nothing
    fresh.write_text(yaml.safe_dump({"results_dir": str(tmp_path / "demo"),
                                     "data": {"bagls_dir": str(tmp_path / "demo" / "bagls_synthetic")}}))
    jobs, _ = dry_run_jobs("--configfile", str(REPO / "config" / "demo.yaml"), str(fresh))
    slotted = {stages.stage_of_rule(rule).name for rule, _, _, res in jobs
               if res.get("timing_slot") == "1" and stages.stage_of_rule(rule)}
    planned = {stages.stage_of_rule(rule).name for rule, _, _, _ in jobs if stages.stage_of_rule(rule)}
    assert slotted == {s.name for s in stages.STAGES if s.timed} & planned and slotted
