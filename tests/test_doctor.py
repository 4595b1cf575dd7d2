"""`python -m mpbench doctor`: what this machine can measure, and which cells will be unavailable or emulated."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mpbench import CLUSTER_INSTALL, grid
from mpbench.data.synthetic import marker_name
from mpbench.preflight import doctor, report, support
from mpbench.preflight import facts as machine_facts
from mpbench.preflight import findings as cells

from conftest import merged_config, run_snakemake, small_config

REPO = Path(__file__).resolve().parents[1]
PAPER, _ = doctor.load_config()
DEMO, _ = doctor.load_config([REPO / "config" / "demo.yaml"])


@pytest.fixture(scope="module")
def quick_facts():
    return machine_facts.collect(PAPER, quick=True)


def has_gpu(facts) -> bool:
    return bool(facts["nvml"].get("gpus") or facts["nvml"].get("nvidia_smi"))


def by_what(found) -> dict:
    return {f["what"]: f for f in found}


def test_doctor_here_lists_gpu_and_edgetpu_cells_as_unavailable_with_their_fixes(quick_facts):
    """This machine has no GPU and no Edge TPU: every GPU cell of the paper's grid and every Edge TPU cell
    is named unavailable, with the fix (where to run it, what to install)."""
    if has_gpu(quick_facts):
        pytest.skip("this machine has an NVIDIA GPU")
    found = by_what(cells.findings(PAPER, quick_facts))
    for dev in ("rtx3090", "a100", "a40"):
        f = found[f"{dev}: every cell"]
        assert f["status"] == "unavailable" and f["cells"] == 64 + 64        # training + inference cells
        assert "no NVIDIA GPU" in f["why"]
        assert "snakemake --profile slurm" in f["fix"] and CLUSTER_INSTALL in f["fix"]
    if not quick_facts["edgetpu"]["compiler"]:
        f = found["Edge TPU: edgetpu_compile cells"]
        assert f["status"] == "unavailable" and f["cells"] == 192   # 2 frameworks × 3 GPUs × 2 precisions × 4 × 4
        assert "edgetpu.required: true" in f["why"] and "edgetpu-compiler" in f["fix"]
    if not quick_facts["edgetpu"]["devices"]:
        f = found["Edge TPU: edgetpu_infer cells"]
        assert f["status"] == "unavailable" and "libedgetpu1-std" in f["fix"] and "Coral" in f["fix"]
    assert found["energy of GPU cells"]["status"] == "note"


def test_cli_prints_the_machine_and_the_cells_with_fixes():
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    run = subprocess.run([sys.executable, "-m", "mpbench", "doctor", "--quick"], cwd=REPO, capture_output=True,
                         text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    for heading in ("CPU ", "features  AVX2", "bf16 ", "fp16 ", "PyTorch ", "TensorFlow ", "NVML ", "SLURM ",
                    "Edge TPU ", "Cells of config/config.yaml here (192 training"):
        assert heading in out, heading
    if not has_gpu(machine_facts.collect(None, quick=True)):
        assert "unavailable a100: every cell (128 cells): no NVIDIA GPU on this machine" in out
        assert out.count("fix: ") >= 4
    usage = subprocess.run([sys.executable, "-m", "mpbench"], cwd=REPO, capture_output=True, text=True, env=env)
    assert usage.returncode == 2 and "doctor" in usage.stderr


def test_full_doctor_imports_each_framework_in_a_time_boxed_probe():
    """Both frameworks are asked what they see (GPUs; bf16/fp16 convolutions on the CPU against fp32)."""
    facts = machine_facts.collect(DEMO, timeout_s=120)
    for name in ("pytorch", "tensorflow"):
        fw = facts["frameworks"][name]
        if not fw["installed"]:
            continue
        assert "error" not in fw, fw
        assert fw["version"] and isinstance(fw["gpus"], list)
        assert fw["cpu_ratio"]["bf16"] is not None and fw["cpu_ratio"]["bf16"] > 0
    text = report.render(facts, DEMO, "demo")
    assert "measured: a bf16 convolution takes" in text and "GPUs it sees:" in text


def test_a_framework_that_does_not_answer_in_time_is_reported_not_fatal(monkeypatch):
    monkeypatch.setattr(machine_facts, "probe_command",
                        lambda name: [sys.executable, "-c", "import time; time.sleep(30)"])
    info = machine_facts.probe_framework("pytorch", timeout_s=1)
    if info["installed"]:
        assert "no answer within 1 s" in info["error"]


def test_without_frameworks_nvml_or_slurm_nothing_crashes(monkeypatch):
    real = machine_facts.importlib.util.find_spec
    hidden = {"torch", "tensorflow", "pynvml", "snakemake_executor_plugin_slurm", "apex",
              "tensorflow_model_optimization", "tf_keras", "ai_edge_litert"}
    monkeypatch.setattr(machine_facts.importlib.util, "find_spec",
                        lambda name, *a: None if name in hidden else real(name, *a))
    monkeypatch.setenv("PATH", "/nonexistent")
    facts = machine_facts.collect(PAPER)
    assert all(fw == {**fw, "installed": False} for fw in facts["frameworks"].values())
    assert facts["slurm"]["sbatch"] is None and not facts["slurm"]["plugin"]
    text = report.render(facts, PAPER, "paper")
    assert "PyTorch     not installed" in text and "no sbatch on PATH" in text
    found = by_what(cells.findings(PAPER, facts))
    assert found["a100: every cell"]["status"] == "unavailable"
    assert found["qat cells"]["status"] == "unavailable" and "'.[qat]'" in found["qat cells"]["fix"]


def test_startup_report_never_raises(monkeypatch):
    def broken(*a, **k):
        raise OSError("boom")
    monkeypatch.setattr(report, "collect", broken)
    assert "mpbench doctor could not run (OSError: boom)" in report.startup_report(PAPER)


# --------------------------------------------------------------------------- CPUs this project meets

EPYC_AVX_ONLY = "avx fma f16c sse4_2"                        # an EPYC with AVX and FMA, no AVX2, no AVX-512
EPYC_ZEN4 = "avx avx2 fma f16c avx512f avx512bw avx512_bf16"
AVX512_NO_BF16 = "avx avx2 fma f16c avx512f avx512bw"
SAPPHIRE_RAPIDS = "avx2 avx512f avx512_bf16 avx512_fp16 amx_bf16 amx_int8 amx_tile"


@pytest.mark.parametrize("flags, bf16, fp16", [
    (EPYC_AVX_ONLY, "emulated", "emulated"),
    (EPYC_ZEN4, "native", "emulated"),
    (AVX512_NO_BF16, "converted", "emulated"),
    (SAPPHIRE_RAPIDS, "native", "emulated"),                 # AVX512_FP16 is not enough (measured)
    (SAPPHIRE_RAPIDS + " amx_fp16", "native", "native"),
])
def test_cpu_precision_support_from_flags(flags, bf16, fp16):
    support = machine_facts.cpu_precision_support(flags.split())
    assert support["bf16"][0] == bf16 and support["fp16"][0] == fp16


def test_cpu_info_parses_proc_cpuinfo():
    info = machine_facts.cpu_info(
        "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu avx fma\n\nprocessor\t: 1\n")
    assert info["model"] == "AMD EPYC 7B13" and info["flags"] == ["avx", "fma", "fpu"]


def fake_facts(flags: str, **changes) -> dict:
    facts = {"cpu": {"model": "test CPU", "arch": "x86_64", "cores": 2, "flags": flags.split()},
             "cpu_support": machine_facts.cpu_precision_support(flags.split()), "quick": True,
             "frameworks": {"pytorch": {"installed": True, "version": "2.13.0+cpu", "cpu_only_build": True},
                            "tensorflow": {"installed": True, "version": "2.21.0", "cuda_libraries": False}},
             "nvml": {"available": False, "gpus": [], "reason": "nvidia-ml-py not installed"},
             "slurm": {"sbatch": None, "version": None, "plugin": False},
             "edgetpu": {"compiler": "/usr/bin/edgetpu_compiler", "libedgetpu": "libedgetpu.so.1", "devices": ["USB"]},
             "packages": {"qat": True, "apex": False, "litert": True, "edge_torch": True}}
    for key, value in changes.items():
        facts[key] = {**facts[key], **value} if isinstance(value, dict) else value
    return facts


def test_demo_on_a_cpu_without_avx512_names_bf16_cells_emulated_with_the_fix():
    found = by_what(cells.findings(DEMO, fake_facts(EPYC_AVX_ONLY)))
    for label in ("PyTorch", "TensorFlow"):
        f = found[f"cpu: {label} mixed_bf16 cells"]
        assert f["status"] == "emulated" and f["cells"] == 3        # 2 training + 1 inference cell per framework
        assert "bf16 is emulated on this CPU" in f["why"] and "AVX512_BF16 or AMX" in f["fix"]
    assert not [f for f in found.values() if f["status"] == "unavailable"]    # Edge TPU present in these facts
    text = report.render(fake_facts(EPYC_AVX_ONLY), DEMO, "demo")
    assert "features  AVX2 no, AVX-512 no, AVX512_BF16 no" in text
    assert re.search(r"^  emulated +cpu: PyTorch mixed_bf16 cells \(3 cells\)", text, re.M)
    assert re.search(r"^ +fix: run them on a CPU with AVX512_BF16", text, re.M)


def test_an_avx_cap_without_tf_onednn_off_is_warned_about():
    """ONEDNN_MAX_CPU_ISA=AVX alone on an AVX-512 CPU: TensorFlow's bf16 convolutions fail (seen on this
    project's EPYC); the doctor says to add TF_ENABLE_ONEDNN_OPTS=0, and is quiet once it is there."""
    capped = {"ONEDNN_MAX_CPU_ISA": "AVX", "ATEN_CPU_CAPABILITY": "default"}
    text = report.render(fake_facts(EPYC_ZEN4, cpu={"isa_limits": capped}), DEMO, "demo")
    assert re.search(r"^  warning   ONEDNN_MAX_CPU_ISA=AVX hides AVX-512 .* set TF_ENABLE_ONEDNN_OPTS=0", text, re.M)
    text = report.render(fake_facts(EPYC_ZEN4, cpu={"isa_limits": {**capped, "TF_ENABLE_ONEDNN_OPTS": "0"}}),
                         DEMO, "demo")
    assert "capped    ONEDNN_MAX_CPU_ISA=AVX" in text and "warning   " not in text
    # a cap that keeps AVX-512 (bf16 then converted), or a CPU without AVX-512: nothing to warn about
    assert support.cap_conflict(EPYC_ZEN4.split(), {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}) is None
    assert support.cap_conflict(EPYC_AVX_ONLY.split(), capped) is None


def test_a_measured_slow_conversion_wins_over_the_flags():
    facts = fake_facts(EPYC_ZEN4, frameworks={"pytorch": {"installed": True, "version": "2.13.0", "gpus": [],
                                                          "cpu_ratio": {"bf16": 4.2, "fp16": 30.0}}})
    assert cells.cpu_level(facts, "pytorch", "bf16")[0] == "emulated"
    assert cells.cpu_level(facts, "tensorflow", "bf16")[0] == "native"     # not measured: the flags
    found = by_what(cells.findings(DEMO, facts))
    assert found["cpu: PyTorch mixed_bf16 cells"]["status"] == "emulated"
    assert "×4.2" in found["cpu: PyTorch mixed_bf16 cells"]["why"]


def test_gpu_cells_on_a_pre_ampere_gpu_and_a_framework_without_cuda():
    v100 = {"name": "Tesla V100", "memory_gb": 32.0, "cc": [7, 0]}
    facts = fake_facts(SAPPHIRE_RAPIDS, nvml={"available": True, "gpus": [{**v100, "energy": True}], "energy": True},
                       frameworks={"pytorch": {"installed": True, "version": "2.13.0", "gpus": [v100], "cpu_ratio": {}},
                                   "tensorflow": {"installed": True, "version": "2.21.0", "gpus": [], "cpu_ratio": {}}})
    config = {**PAPER, "train": {**PAPER["train"], "devices": ["a100"], "precisions": ["tf32", "mixed_bf16"]}}
    found = by_what(cells.findings(config, facts))
    assert found["a100: TensorFlow cells"]["status"] == "unavailable"
    assert CLUSTER_INSTALL in found["a100: TensorFlow cells"]["fix"]
    assert found["a100: PyTorch mixed_bf16 cells"]["status"] == "emulated"
    assert found["a100: PyTorch tf32 cells"]["status"] == "note"
    assert "energy of GPU cells" not in found
    assert "compute capability 7.0, tensor cores: fp16" in report.render(facts, config)


def test_cells_under_the_slurm_profile_are_left_to_the_nodes():
    config, _ = doctor.load_config([REPO / "config" / "cluster.yaml"])
    found = by_what(cells.findings(config, fake_facts(SAPPHIRE_RAPIDS), executor="slurm"))
    assert found["a100: every cell"]["status"] == "note"
    assert "srun -p a100 --gres=gpu:a100:1 python -m mpbench doctor" in found["a100: every cell"]["fix"]
    assert found["Edge TPU: edgetpu_compile and edgetpu_infer cells"]["status"] == "unavailable"


@pytest.mark.slow
def test_workflow_logs_the_doctor_once_at_its_start(tmp_path):
    cfg = small_config(tmp_path, "doctor")
    data = merged_config(cfg)["data"]
    target = str(tmp_path / "doctor" / "bagls_synthetic" / marker_name(data["synthetic_frames"], data["seed"]))
    run = run_snakemake(target, "--cores", "1", "--configfile", str(cfg), timeout=300)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert log.count("mpbench doctor: what this machine") == 1
    assert "[quick: frameworks not imported]" in log and "Cells of config/config.yaml + " in log


def test_readme_gives_the_cluster_install_line_that_the_no_gpu_errors_name():
    """README's cluster install line is CLUSTER_INSTALL; a CUDA device without a GPU fails naming it."""
    assert f"    {CLUSTER_INSTALL}\n" in (REPO / "README.md").read_text()
    if has_gpu(machine_facts.collect(None, quick=True)):
        pytest.skip("this machine has an NVIDIA GPU")
    from mpbench.frameworks import runtime
    from mpbench.settings import RunSettings
    for framework in ("tensorflow", "pytorch"):
        if not machine_facts.framework_packages(framework)["installed"]:
            continue
        s = RunSettings(framework=framework, device="a100", device_type="cuda", precision="fp32", filters=8, fold=0,
                        batch_size=2)
        with pytest.raises(RuntimeError, match="sees no GPU") as err:
            runtime(s)
        assert CLUSTER_INSTALL in str(err.value) and "mpbench doctor" in str(err.value)


def test_pytorch_quantize_cells_without_the_converter_are_named_with_the_fix():
    facts = fake_facts(SAPPHIRE_RAPIDS, packages={"edge_torch": False})
    found = by_what(cells.findings(PAPER, facts))
    f = found["quantize cells of PyTorch models"]
    n_torch = sum(r["framework"] == "pytorch" for r in grid.quantize_runs(PAPER))
    assert f["status"] == "unavailable" and f["cells"] == n_torch > 0 and "[edge-torch]" in f["fix"]
    tf_only = {**PAPER, "quantize": {**PAPER["quantize"], "frameworks": ["tensorflow"]}}
    assert "quantize cells of PyTorch models" not in by_what(cells.findings(tf_only, facts))
    assert "quantize cells of PyTorch models" not in by_what(cells.findings(PAPER, fake_facts(SAPPHIRE_RAPIDS)))
