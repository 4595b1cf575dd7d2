"""Issue 23, case 6: the Edge TPU stage followed the absolute model path stored in the quantize record.
On a results folder copied elsewhere (cp -r, scp -r) it timed the *original* folder's int8 model and
recorded ``ok``. A copy times its own models: the int8 model beside the quantize record, the compiled
model beside the compile record — whatever became of the original."""
import shutil
import stat
from pathlib import Path

import pytest

from mpbench import record
from mpbench.edgetpu import stage
from mpbench.settings import RunSettings

pytestmark = pytest.mark.slow
LOGS = Path(__file__).parent / "data" / "edgetpu_compiler"
EVAL = 8


def fake_compiler(folder: Path) -> Path:
    """A stand-in for edgetpu_compiler: replays a real compiler output and writes the 'compiled' model
    (the int8 model, byte for byte, so the interpreter runs it)."""
    fake = folder / "edgetpu_compiler"
    fake.write_text(f"""#!/bin/sh
# args: -s -o OUTDIR MODEL
cat {LOGS / 'v15_stdout_full.log'}
cp "$4" "$3/$(basename "$4" .tflite)_edgetpu.tflite"
""")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return fake


@pytest.fixture(scope="module")
def cell_results(train_h5, tmp_path_factory):
    """One TensorFlow cell quantized (float32 and int8) and compiled: the quantize folder as the workflow
    leaves it, with records naming its models by absolute path."""
    from mpbench.quantization.pipeline import quantize
    from mpbench.training import loop
    root = tmp_path_factory.mktemp("edgetpu_paths")
    s = RunSettings(framework="tensorflow", device="cpu", device_type="cpu", precision="fp32", filters=8, fold=0,
                    batch_size=16, learning_rate=3e-3, max_epochs=2, samples_limit=16, channels_last=False,
                    threads=2)
    train = root / "train"
    loop.train(s, train_h5, train / "result.json", train / "model.keras", train / "checkpoint")
    q = root / "quantize"
    quantize(s, model_path=train / "model.keras", h5_path=train_h5, variants=["float32", "int8"],
             result_path=q / "result.json", representative_samples=8, eval_images=EVAL, timing_warmup=0,
             timing_repeats=3)
    stage.compile_stage(s, int8_path=q / "model_int8.tflite", result_path=q / "edgetpu_compile.json",
                        log_path=q / "edgetpu_compiler.log", compiler=str(fake_compiler(root)), required=True)
    assert record.read_one(q / "edgetpu_compile.json").compiled_model == str(
        q / "model_int8_edgetpu.tflite")
    return s, q


def copied(cell_results, tmp_path, fate: str):
    """The quantize folder at ``original``, copied to ``copy``; then the original's models are replaced by
    another model (``changed``) or the original folder is deleted (``deleted``)."""
    s, pristine = cell_results
    original, copy = tmp_path / "original", tmp_path / "copy"
    shutil.copytree(pristine, original)
    for f in (original / "result.json", original / "edgetpu_compile.json"):   # records as the original wrote them
        f.write_text(f.read_text().replace(str(pristine), str(original)))
    shutil.copytree(original, copy)
    if fate == "deleted":
        shutil.rmtree(original)
    else:
        other = (original / "model_float32.tflite").read_bytes()
        for name in ("model_int8.tflite", "model_int8_edgetpu.tflite"):
            (original / name).write_bytes(other)
    assert str(original) in (copy / "result.json").read_text()   # the copy's records still name the original
    return s, original, copy


def run(s, copy, h5, **kw):
    int8 = stage.int8_of(copy / "result.json")
    return int8, stage.infer_stage(
        s, compile_json=copy / "edgetpu_compile.json", int8_path=int8["path"], h5_path=h5,
        result_path=copy / "edgetpu_infer.json", eval_images=EVAL, timing_warmup=0, timing_repeats=3, required=False,
        reference_iou=int8["reference_iou"], no_model_reason=int8["reason"], **kw)


def int8_record(folder):
    return next(r for r in record.read(folder / "result.json") if r.variant == "int8")


@pytest.mark.parametrize("fate", ["changed", "deleted"])
def test_a_copied_results_folder_times_its_own_int8_model(cell_results, train_h5, tmp_path, fate):
    s, original, copy = copied(cell_results, tmp_path, fate)
    int8, rec = run(s, copy, train_h5)
    assert int8["path"] == str(copy / "model_int8.tflite") and int8["reason"] is None
    assert rec.status == "ok" and rec.run_device == stage.CPU_FALLBACK_DEVICE   # no Edge TPU here
    assert rec.model_path == str(copy / "model_int8.tflite")
    assert rec.details["int8_model"] == str(copy / "model_int8.tflite")
    assert rec.iou == pytest.approx(int8_record(copy).iou)   # the same model on the same frames


@pytest.mark.parametrize("fate", ["changed", "deleted"])
def test_a_copied_results_folder_runs_its_own_compiled_model_on_the_edge_tpu(cell_results, train_h5, tmp_path,
                                                                              monkeypatch, fate):
    """With the Edge TPU present the compiled model is run: the one beside the copy's compile record. (The
    delegate is a stand-in: the interpreter runs the model on the CPU, the path it is given is under test.)"""
    from mpbench.quantization import tflite_model
    s, original, copy = copied(cell_results, tmp_path, fate)
    opened = []

    class WithoutDelegate(tflite_model.TFLiteModel):
        def __init__(self, model, threads=None, delegates=None):
            opened.append(str(model))
            super().__init__(model, threads=1)
    monkeypatch.setattr(stage, "load_delegate", lambda: object())
    monkeypatch.setattr(tflite_model, "TFLiteModel", WithoutDelegate)
    _, rec = run(s, copy, train_h5)
    compiled = str(copy / "model_int8_edgetpu.tflite")
    assert opened == [compiled]
    assert rec.status == "ok" and rec.run_device == "edgetpu" and rec.model_path == compiled
    assert rec.iou == pytest.approx(int8_record(copy).iou)


def test_a_copy_without_its_int8_model_is_recorded_failed_not_sent_to_the_original(cell_results, train_h5,
                                                                                   tmp_path):
    s, original, copy = copied(cell_results, tmp_path, "changed")
    (copy / "model_int8.tflite").unlink()
    int8, rec = run(s, copy, train_h5)
    assert int8["path"] is None
    assert int8["reason"].startswith(f"{copy / 'model_int8.tflite'}, the int8 model {copy / 'result.json'} names, "
                                     "is not in that folder; rerun rule quantize")
    assert rec.status == "failed" and rec.error.startswith("no int8 model:")
    assert str(original) not in str(rec.model_path)
