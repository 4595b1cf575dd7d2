import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# The suite runs Snakemake (the cut-down demo, started in the background at the first test: see
# _workflow_in_the_background) beside its in-process training, on as few as 2 cores. PyTorch's OpenMP threads
# busy-wait for each other by default; with more runnable threads than cores a step of the tests' small U-Net
# then took 1-5 s instead of 0.1-0.2 s (measured on 2 cores). Passive waiting (threads sleep at a barrier)
# keeps such steps at about 0.2 s however busy the cores are. Set before torch is imported here, and inherited
# by every Snakemake job the tests start; the tests time nothing they check. The demo and the paper's runs
# keep the default: there a timed job holds its cores alone.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from mpbench.data.preprocess import preprocess_bagls  # noqa: E402
from mpbench.data.synthetic import write_synthetic_bagls  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Real BAGLS frames (CC BY-NC-SA 4.0, never copied into the repository): $MPBENCH_BAGLS_SAMPLE, else
# ../shared/data/bagls_sample beside the repository.
REAL_SAMPLE = Path(os.environ.get("MPBENCH_BAGLS_SAMPLE") or REPO.parent / "shared" / "data" / "bagls_sample")


@pytest.fixture(autouse=True)
def _keras_policy_restored():
    """Keras' dtype policy is process state: a job sets its precision's (frameworks.keras_runtime) for the
    rest of its process. Tests share a process, so each gets the policy back as it found it (a test building
    a plain Keras model after an in-process mixed_bf16 run would otherwise build it in bfloat16)."""
    keras = sys.modules.get("keras")
    before = keras.mixed_precision.global_policy() if keras else None
    yield
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.mixed_precision.set_global_policy(before or "float32")


@pytest.fixture(scope="session")
def bagls_dir(tmp_path_factory) -> Path:
    """48 synthetic frames in the BAGLS on-disk format."""
    return write_synthetic_bagls(tmp_path_factory.mktemp("bagls"), 48, seed=3)


@pytest.fixture(scope="session")
def real_sample() -> Path:
    """The folder of real BAGLS frames (N.png, N_seg.png, N.meta, MANIFEST.csv); skips the test if absent."""
    if not (REAL_SAMPLE / "MANIFEST.csv").is_file():
        how = ("the path in $MPBENCH_BAGLS_SAMPLE" if os.environ.get("MPBENCH_BAGLS_SAMPLE")
               else "the default ../shared/data/bagls_sample; set $MPBENCH_BAGLS_SAMPLE to use another folder")
        pytest.skip(f"no real BAGLS sample at {REAL_SAMPLE} (no MANIFEST.csv there; {how})")
    return REAL_SAMPLE


@pytest.fixture(scope="session")
def h5_path(bagls_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("h5") / "bagls.h5"
    preprocess_bagls(bagls_dir, out, n_samples=40, seed=1, n_folds=2)
    return out


@pytest.fixture(scope="session")
def train_h5(tmp_path_factory) -> Path:
    """120 synthetic frames cropped to 64×64 (2 folds of 60): small enough to train on 2 cores."""
    src = write_synthetic_bagls(tmp_path_factory.mktemp("bagls_train"), 120, seed=7)
    out = tmp_path_factory.mktemp("h5_train") / "bagls_64.h5"
    preprocess_bagls(src, out, n_samples=120, seed=1, n_folds=2, crop_size=64)
    return out


@pytest.fixture(scope="session")
def trained(train_h5, tmp_path_factory):
    """Models trained on the 64×64 data, by framework and precision: fp32 for 8 epochs (val IoU > 0.5), the
    other precisions for 2 (their tests read the dtypes, the weights and the records, not the accuracy).

    Returns a function ``(framework, precision) -> (settings, model_path)``; each model is trained
    once per session, on first use. ``get.record(framework, precision)`` is the record
    :func:`~mpbench.training.loop.train` returned for it (tests of the trainer itself use it rather than
    train the same cell again).
    """
    from mpbench.settings import RunSettings
    from mpbench.training import loop
    root = tmp_path_factory.mktemp("trained")
    cache = {}

    def get(framework: str, precision: str = "fp32"):
        if (framework, precision) not in cache:
            s = RunSettings(framework=framework, device="cpu", device_type="cpu", precision=precision, filters=8,
                              fold=0, batch_size=16, learning_rate=3e-3, max_epochs=8 if precision == "fp32" else 2,
                              patience=10, channels_last=False, threads=2)
            out = root / framework / precision
            model = out / ("model.pt" if framework == "pytorch" else "model.keras")
            result = loop.train(s, train_h5, out / "result.json", model, out / "checkpoint")
            assert result.status == "ok" and math.isfinite(result.iou), (precision, result.status, result.iou)
            assert result.iou > 0.5 or precision != "fp32", result.iou
            cache[framework, precision] = (s, model)
            records[framework, precision] = result
        return cache[framework, precision]

    records = {}

    def record_of(framework: str, precision: str = "fp32") -> dict:
        get(framework, precision)
        return records[framework, precision]
    get.record = record_of
    return get


def small_config(tmp_path: Path, name: str, **extra) -> Path:
    """tests/slurm/demo_small.yaml with results under ``tmp_path/name``; ``extra`` merges into sections."""
    cfg = yaml.safe_load((REPO / "tests" / "slurm" / "demo_small.yaml").read_text())
    cfg["results_dir"] = str(tmp_path / name)
    cfg["data"]["bagls_dir"] = str(tmp_path / name / "bagls_synthetic")
    for k, v in extra.items():
        cfg[k] = {**cfg.get(k, {}), **v}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


class CountingMeter:
    """An energy meter (GPU or CPU) whose counter rises by ``step`` joules at every read: a pass read
    before and after measures exactly ``step`` J."""

    def __init__(self, step: float, *_, **__):
        self.step, self.total, self.closed = step, 0.0, False

    def read_joules(self) -> float:
        self.total += self.step
        return self.total

    def describe(self) -> dict:
        return {"available": True, "reason": None, "source": f"counting {self.step} J per read"}

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def trained_as(status: str = "ok", best_epoch: int | None = 8):
    """A training record with only a status and a best epoch: what the stages derived from a trained model
    read of it (record.Status.derived_from)."""
    from mpbench import record
    return record.Record("train", {"device": "cpu"}, status, best_epoch=best_epoch)


def merged_config(*configfiles: Path) -> dict:
    """config/config.yaml with ``configfiles`` laid over it, validated with the schema's defaults: the config
    the workflow's jobs get (mpbench.config.load)."""
    from mpbench import config
    return config.load(*configfiles, base=REPO / "config" / "config.yaml")


def h5_of(*configfiles: Path) -> Path:
    """The HDF5 the workflow writes for config/config.yaml with ``configfiles`` laid over it (its folder is
    named by the data settings: mpbench.data.freshness)."""
    from mpbench.data.freshness import data_folder
    merged = merged_config(*configfiles)
    data = merged["data"]
    return Path(data_folder(merged["results_dir"], data)) / f"bagls_{data['crop']['size']}.h5"


def run_snakemake(*args, timeout=1500, snakemake=(sys.executable, "-m", "snakemake")):
    return subprocess.run([*snakemake, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def _start_small_local_run(tmp_path_factory) -> tuple[Path, subprocess.Popen]:
    """The cut-down demo config under a new temporary folder, and Snakemake started on it (every rule)."""
    tmp = tmp_path_factory.mktemp("workflow")
    cfg = small_config(tmp, "local")
    with open(tmp / "snakemake.out", "w") as out:   # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", str(cfg),
                                 "--quiet"], cwd=REPO, stdout=out, stderr=subprocess.STDOUT, text=True)
    return tmp, proc


# Tests sharing an expensive fixture run in one pytest-xdist worker (make test: pytest -n 2 --dist loadgroup),
# so it is made once: the whole workflow (small_local_run) and the local SLURM cluster (one per machine), the
# models trained once per session (trained), and a module's own module-scoped fixtures.
SHARED_GROUPS = {"small_local_run": "workflow", "local_slurm": "workflow", "trained": "trained"}


def _shared_group(item) -> str | None:
    for fixture, group in SHARED_GROUPS.items():
        if fixture in item.fixturenames:
            return group
    return None


@pytest.hookimpl(tryfirst=True)   # before pytest-xdist's own, which reads the marks into the test ids
def pytest_collection_modifyitems(config, items):
    """Marks every test that shares an expensive fixture with ``xdist_group`` (see SHARED_GROUPS); a test using
    only its module's module-scoped fixtures goes with the rest of its module (with the module's shared group
    when one of its tests has one). Under xdist the shared groups come first: the scheduler hands out work in
    this order, and a long group handed out last would leave one worker running it alone at the end."""
    module_group = {}
    for item in items:
        group = _shared_group(item)
        if group:
            module_group.setdefault(item.module.__name__, group)
    for item in items:
        group = _shared_group(item)
        if group is None and any(d[-1].scope == "module" for d in item._fixtureinfo.name2fixturedefs.values()):
            group = module_group.get(item.module.__name__, item.module.__name__)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
    if os.environ.get("PYTEST_XDIST_WORKER"):   # the longest groups first, so the other worker takes the rest
        order = {g: i for i, g in enumerate(dict.fromkeys(SHARED_GROUPS.values()))}

        def group_of(item):   # the shared group, or one a test names itself (@pytest.mark.xdist_group)
            mark = item.get_closest_marker("xdist_group")
            return mark.args[0] if mark and mark.args else None
        items.sort(key=lambda item: order.get(group_of(item), len(order)))


def pytest_collection_finish(session):
    """Under ``--dist loadgroup`` the groups must have reached the test ids xdist schedules by (they do not with
    pytest 9.2 and xdist 3.8): otherwise two workers would each start a local SLURM cluster on this machine."""
    if not (os.environ.get("PYTEST_XDIST_WORKER") and getattr(session.config.option, "loadgroup", False)):
        return
    lost = [i.nodeid for i in session.items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid]
    if lost:
        raise pytest.UsageError(f"pytest-xdist did not group {len(lost)} tests (e.g. {lost[0]}): use the pytest and "
                                "pytest-xdist versions pinned in pyproject.toml's test extra")


_BACKGROUND: dict = {}


@pytest.fixture(scope="session", autouse=True)
def _workflow_in_the_background(request, tmp_path_factory):
    """Starts small_local_run's Snakemake run at the session's first test when a selected test needs it, so the
    workflow (minutes, its jobs mostly one process at a time) runs beside the in-process tests instead of after
    them; stops it at the end of the session if it is still running. Not under pytest-xdist: there the other
    worker runs beside it, and every worker would start its own."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    if any("small_local_run" in item.fixturenames for item in request.session.items):
        _BACKGROUND["run"] = _start_small_local_run(tmp_path_factory)
    yield
    proc = _BACKGROUND["run"][1] if "run" in _BACKGROUND else None
    if proc is not None and proc.poll() is None:   # e.g. the session was interrupted: Snakemake stops its jobs
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def small_local_run(tmp_path_factory) -> Path:
    """The whole workflow (every rule) on the cut-down demo config, run locally once per session (started in
    the background at the first test: _workflow_in_the_background)."""
    tmp, proc = _BACKGROUND.get("run") or _start_small_local_run(tmp_path_factory)
    proc.wait(timeout=1800)
    out = (tmp / "snakemake.out").read_text()
    assert proc.returncode == 0, out[-8000:]
    return tmp / "local"
