"""edgetpu_compiler log parsing on real logs, and the Edge TPU stages where nothing is installed."""
import stat
from pathlib import Path

import pytest

from mpbench import record
from mpbench.edgetpu.compiler import parse_log, to_bytes
from mpbench.edgetpu.stage import CPU_FALLBACK_DEVICE, compile_stage, infer_stage
from mpbench.settings import RunSettings

SETTINGS = RunSettings(framework="tensorflow", device="cpu", device_type="cpu", precision="fp32", filters=8, fold=0)
LOGS = Path(__file__).parent / "data" / "edgetpu_compiler"


def compile(int8_model, stem: Path, compiler: str, required: bool) -> dict:
    return compile_stage(SETTINGS, int8_path=int8_model, result_path=stem.with_suffix(".json"),
                         log_path=stem.with_suffix(".log"), compiler=compiler, required=required)


def infer(compile_json, int8_model, h5, result, n_images, warmup, repeats, required):
    return infer_stage(SETTINGS, compile_json=compile_json, int8_path=int8_model, h5_path=h5, result_path=result,
                       eval_images=n_images, timing_warmup=warmup, timing_repeats=repeats, required=required)


def test_memory_sizes():
    assert to_bytes("0.00B") == 0
    assert to_bytes("3.00KiB") == 3072
    assert to_bytes("7.04MiB") == round(7.04 * 1024**2)
    with pytest.raises(ValueError):
        to_bytes("lots")


def test_parse_v15_printed_output_with_ops_on_cpu():
    r = parse_log((LOGS / "v15_stdout_partial.log").read_text())
    assert r["compiler_version"] == "15.0.340273435" and r["compile_ms"] == 577
    assert r["on_chip_used_bytes"] == 3072 and r["off_chip_used_bytes"] == 0
    assert r["on_chip_remaining_bytes"] == round(7.67 * 1024**2)
    assert r["total_ops"] == 36 and r["edgetpu_subgraphs"] == 1
    # The table agrees with the compiler's own summary lines.
    assert (r["n_ops_on_edgetpu"], r["n_ops_on_cpu"]) == (2, 34)
    assert (r["ops_on_edgetpu_reported"], r["ops_on_cpu_reported"]) == (2, 34)
    assert r["ops_mapped"] == {"QUANTIZE": 1, "CONV_2D": 1}
    assert r["ops_on_cpu"]["LEAKY_RELU"] == {"Operation not supported": 11}
    assert r["ops_on_cpu"]["QUANTIZE"] == {
        "Operation is otherwise supported, but not mapped due to some unspecified limitation": 2,
        "More than one subgraph is not supported": 1}
    assert r["ops_on_cpu"]["RESIZE_NEAREST_NEIGHBOR"] == {"Operation version not supported": 1}
    assert not r["fully_mapped"]


def test_parse_v15_fully_mapped():
    r = parse_log((LOGS / "v15_stdout_full.log").read_text())
    assert r["fully_mapped"] and r["n_ops_on_cpu"] == 0
    assert r["n_ops_on_edgetpu"] == r["total_ops"] == 214
    assert r["on_chip_used_bytes"] == round(7.04 * 1024**2)
    assert r["off_chip_used_bytes"] == round(15.06 * 1024**2)   # parameters streamed: slower inference
    assert r["ops_mapped"]["CONV_2D"] == 132


def test_parse_v14_operation_log_file():
    r = parse_log((LOGS / "v14_operation_log_partial.log").read_text())
    assert r["compiler_version"] == "14.1.317412892"
    assert r["total_ops"] is None and r["on_chip_used_bytes"] is None   # the .log file has only the table
    assert r["ops_mapped"] == {"MAX_POOL_2D": 6, "CONV_2D": 11, "QUANTIZE": 2}
    assert (r["n_ops_on_edgetpu"], r["n_ops_on_cpu"]) == (19, 6)
    assert len(r["operators"]) == 8


@pytest.fixture(scope="module")
def int8_model(trained, train_h5, tmp_path_factory):
    from mpbench.quantization.pipeline import quantize
    s, path = trained("tensorflow", "fp32")
    out = tmp_path_factory.mktemp("int8")
    quantize(s, model_path=path, h5_path=train_h5, variants=["int8"],
             result_path=out / "result.json", representative_samples=16, eval_images=8, timing_warmup=0,
             timing_repeats=3)
    return out / "model_int8.tflite"


@pytest.mark.slow
def test_missing_compiler_required_fails_early_naming_it(int8_model, tmp_path):
    with pytest.raises(RuntimeError, match="edgetpu_compiler.*not found.*edgetpu.required"):
        compile(int8_model, tmp_path / "c", "edgetpu_compiler_absent", required=True)
    assert not (tmp_path / "c.json").exists()


@pytest.mark.slow
def test_unavailable_path_times_int8_on_cpu_labelled_cpu_int8(int8_model, train_h5, tmp_path):
    c = compile(int8_model, tmp_path / "c", "edgetpu_compiler_absent", required=False)
    assert c.status == "unavailable" and "not found" in c.note and c.config_hash
    assert "not found" in (tmp_path / "c.log").read_text()
    with pytest.raises(RuntimeError, match="edgetpu.required"):
        infer(tmp_path / "c.json", int8_model, train_h5, tmp_path / "i.json", 8, 1, 3, required=True)
    r = infer(tmp_path / "c.json", int8_model, train_h5, tmp_path / "i.json", 8, 1, 3, required=False)
    assert r.details["edgetpu"] == "unavailable" and r.run_device == CPU_FALLBACK_DEVICE
    assert r.status == "ok" and r.stage == "edgetpu"    # the stand-in measurement itself worked
    assert r.model_path == str(int8_model) and c.note in r.note
    assert r.latency["per_sample_s"]["n"] == 3 and 0 <= r.iou <= 1
    assert record.read_one(tmp_path / "i.json").run_device == CPU_FALLBACK_DEVICE


@pytest.mark.slow
def test_compiler_run_is_logged_and_parsed(int8_model, train_h5, tmp_path):
    """A stand-in executable replays a real compiler output and writes the compiled model, so the
    subprocess call, the saved log and the parse run for real; the Edge TPU runtime is still absent."""
    fake = tmp_path / "edgetpu_compiler"
    fake.write_text(f"""#!/bin/sh
# args: -s -o OUTDIR MODEL
cat {LOGS / 'v15_stdout_full.log'}
cp "$4" "$3/$(basename "$4" .tflite)_edgetpu.tflite"
""")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    out = tmp_path / "q"
    out.mkdir()
    c = compile(int8_model, out / "c", str(fake), required=True)
    assert c.status == "ok" and c.fully_mapped and c.details["total_ops"] == 214
    assert Path(c.compiled_model).exists() and "Operator" in (out / "c.log").read_text()
    r = infer(out / "c.json", int8_model, train_h5, out / "i.json", 4, 0, 3, required=False)
    assert r.details["edgetpu"] == "unavailable" and "libedgetpu" in r.note


@pytest.mark.slow
def test_failing_compiler_is_recorded(int8_model, tmp_path):
    fake = tmp_path / "edgetpu_compiler"
    fake.write_text("#!/bin/sh\necho 'Internal compiler error. Aborting!'\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    c = compile(int8_model, tmp_path / "c", str(fake), required=False)
    assert c.status == "failed" and c.details["returncode"] == 1 and c.compiled_model is None
    with pytest.raises(RuntimeError, match="exited with 1"):
        compile(int8_model, tmp_path / "d", str(fake), required=True)
    assert record.read_one(tmp_path / "d.json").status == "failed"


def test_no_int8_model_is_recorded_failed_by_both_jobs(tmp_path):
    """The quantize job recorded its int8 conversion `failed` (no file): both Edge TPU jobs say why and the
    grid goes on, even with edgetpu.required (nothing is missing on this machine's side)."""
    from mpbench.edgetpu.stage import int8_of
    quantized = tmp_path / "result.json"
    record.write(quantized, [record.Record("tflite_cpu", SETTINGS.to_dict(), status="failed", variant="int8",
                                           error="RuntimeError: quantizer says no")])
    int8 = int8_of(quantized)
    assert int8["path"] is None and "quantizer says no" in int8["reason"] and str(quantized) in int8["reason"]
    c = compile_stage(SETTINGS, int8_path=None, result_path=tmp_path / "c.json", log_path=tmp_path / "c.log",
                      required=True, no_model_reason=int8["reason"])
    assert c.status == "failed" and "quantizer says no" in c.error
    assert "no int8 model" in (tmp_path / "c.log").read_text()
    e = infer_stage(SETTINGS, compile_json=tmp_path / "c.json", int8_path=None, h5_path=tmp_path / "absent.h5",
                    result_path=tmp_path / "e.json", eval_images=4, timing_warmup=0, timing_repeats=3, required=True,
                    no_model_reason=int8["reason"])
    assert e.status == "failed" and record.read_one(tmp_path / "e.json").error.startswith("no int8 model")
