import os
import sys
from pathlib import Path

# The library lives in src/; make it importable here and in every job's script.
_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _SRC)
# Jobs (local, conda, SLURM) import it through PYTHONPATH, which is set here, not required from the
# user: hence update() and no `envvars:` (what `snakemake --lint` asks for variables a workflow reads).
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p))

from snakemake.logging import logger

from mpbench import grid, stage_params, stages
from mpbench.preflight import checks, locks
from mpbench.preflight.report import startup_report
from mpbench.data import freshness
from mpbench.data.synthetic import marker_name
from mpbench.figures import FIGURE_NAMES
from mpbench.frameworks import FRAMEWORKS
from mpbench.precisions import NAMES as PRECISIONS
from mpbench.settings import RunSettings

RESULTS = config["results_dir"].rstrip("/")
DATA = config["data"]
# The HDF5 lives in a folder named by the data settings that make it: other settings, another file
# (mpbench.data.freshness).
DATA_KEY = freshness.settings_key(DATA)
DATA_DIR = freshness.data_folder(RESULTS, DATA)
H5 = f"{DATA_DIR}/bagls_{DATA['crop']['size']}.h5"
SYNTHETIC_MARKER = os.path.join(DATA["bagls_dir"], marker_name(DATA["synthetic_frames"], DATA["seed"]))
# figures.only_existing (config/from_existing.yaml): tables, figures and claims from the results on disk;
# the rules that make results are not even defined then, so nothing is scheduled, rerun or deleted.
DERIVE_ONLY = config["figures"]["only_existing"]
# One grid cell: where a model was trained, in which precision, how large, on which fold.
CELL = "{device}/{precision}/f{filters}/fold{fold}"
# Held by a real run (onstart … onsuccess/onerror): other checkouts sharing RESULTS are refused.
RESULTS_LOCK = locks.ResultsLock(RESULTS, workdir=os.getcwd())


wildcard_constraints:
    framework="|".join(FRAMEWORKS),
    device="[A-Za-z0-9_]+",
    precision="|".join(PRECISIONS),
    filters=r"\d+",
    fold=r"\d+",


def cell_dir(stage, framework=None):
    """Results of one grid cell in one stage: RESULTS/<stage>[/<framework>]/<CELL>."""
    return os.path.join(RESULTS, stage, framework or "", CELL)


def cell_log(stage, framework=None):
    """The job log of one grid cell in one stage: RESULTS/logs/<stage>[/<framework>]/<CELL>.log."""
    return os.path.join(RESULTS, "logs", stage, framework or "", CELL) + ".log"


def bagls_input(wildcards):
    """The BAGLS folder, or with synthetic frames the marker of rule synthetic_bagls (the user's folder
    may not exist at dry-run)."""
    if DATA["synthetic_frames"] > 0:
        return SYNTHETIC_MARKER
    if not os.path.isdir(DATA["bagls_dir"]):
        return []  # preprocess then fails with a message naming data.bagls_dir
    return DATA["bagls_dir"]


def data_input(framework=None):
    """Input function: the HDF5 for a job of one grid cell (the ``{framework}`` wildcard's, or ``framework``).

    ``ancient`` (its time ignored) when the cell's training record was made from the HDF5's current
    content, plain otherwise: a rebuilt, touched or copied HDF5 with the same content reruns nothing,
    other content reruns the cell. Asked after the preprocess checkpoint, so a rebuild in this run is
    judged on what it wrote (mpbench.data.freshness).
    """

    def h5(wc):
        checkpoints.preprocess.get()
        trained = cell_file("train", "result.json", dict(wc.items()), framework or wc.framework)
        return ancient(H5) if freshness.made_from(trained, H5) else H5

    return h5


def cell_settings(framework):
    """The settings of the job's grid cell (a params function)."""
    return lambda wc: RunSettings.from_config(
        config, framework, wc.device, wc.precision, int(wc.filters), int(wc.fold)
    ).to_dict()


SLURM_KEYS = (
    "slurm_partition",
    "gres",
    "slurm_cluster",
    "constraint",
    "runtime",
    "mem_mb",
    "cpus_per_task",
    "slurm_account",
)


def device_resources(device=None, timed=False):
    """Resources of a job on the ``{device}`` wildcard's device, or on a fixed one (``"cpu"``).

    ``gpu`` (1 on CUDA devices) lets ``--resources gpu=N`` limit concurrent GPU jobs locally; the
    SLURM keys (partition, gres, cluster, …) come from ``devices.<name>`` in the config, so no rule
    names a partition. Keys a device does not set are left out (None is dropped by Snakemake) and
    the profile's default-resources apply.

    ``timed``: the job times something (training, inference, TFLite, QAT, Edge TPU). It holds the CPU
    alone: it claims every core Snakemake may use (``threads: timed_threads``), so
    locally no other job — timed or not — runs beside it, and it takes ``timing_slot=1``, which names it as
    timed to its record (``provenance.concurrency``) and, with ``--resources timing_slot=1`` (the
    Makefile's), keeps timed jobs apart even where ``--set-threads`` lowers a rule's threads. Under SLURM
    each job is its own allocation of ``cpus_per_task`` CPUs; ``slurm.exclusive`` adds ``--exclusive`` (the
    node alone) to the timed jobs.
    """
    slurm = config["slurm"]
    numeric = {
        "runtime": slurm["default_runtime_min"],
        "mem_mb": slurm["default_mem_mb"],
        "cpus_per_task": slurm["default_cpus_per_task"],
    }  # Snakemake needs a number here

    def get(key, default=None):
        return lambda wc: grid.slurm_resources(config, device or wc.device).get(key, default)

    res = {"gpu": get("gpu", 0), **{k: get(k, numeric.get(k)) for k in SLURM_KEYS}}
    if timed:
        res["timing_slot"] = 1
        if slurm["exclusive"]:
            res["slurm_extra"] = "--exclusive"
    return res


def timed_threads(wildcards):
    """Threads of a timed job (training, inference, quantize, QAT, the Edge TPU run): every core
    Snakemake may use (--cores), so that no other job runs beside it and disturbs its timing
    (``device_resources``). It computes with ``train.threads`` of them (its settings).
    Where --cores is not known — the main process under SLURM, which submits every job as its own
    allocation of cpus_per_task CPUs — ``train.threads``."""
    return workflow.resource_settings.cores or config["train"]["threads"]


def cell_file(stage, name, run, framework=None):
    return f"{cell_dir(stage, framework)}/{name}".format(**run)


def trained_file(name):
    """Input function: a file of the {framework} wildcard's training job (result.json, or "model")."""

    def path(wc):
        ext = FRAMEWORKS[wc.framework].model_ext
        return cell_file("train", f"model.{ext}" if name == "model" else name, dict(wc.items()), wc.framework)

    return path


def result_files():
    """Every result file of the configured grid (what summary.csv gathers; mpbench.stages)."""
    return stages.summary_results(RESULTS, config)


def summary_inputs(wildcards):
    """Every result the grid defines; with figures.only_existing, just those already on disk
    (regenerate figures from copied results without rerunning anything)."""
    wanted = result_files()
    if DERIVE_ONLY:
        return [p for p in wanted if os.path.exists(p)]
    return wanted


def figure_file(name, ext):
    return f"{RESULTS}/figures/{name}.{ext}"


def figure_files():
    return [figure_file(name, ext) for name in FIGURE_NAMES for ext in ("png", "pdf")]


def figure_outputs():
    """Rule figures' outputs by name (``fig2_png``, ``fig2_pdf`` …); each PNG in the report with its
    caption (report/figures/<name>.rst: Snakemake reads the path from the folder of the file defining the
    rule, rules/)."""
    outputs = {}
    for name in FIGURE_NAMES:
        outputs[f"{name}_png"] = report(
            figure_file(name, "png"),
            caption=f"../report/figures/{name}.rst",
            category="Figures",
            labels={"figure": name},
        )
        outputs[f"{name}_pdf"] = figure_file(name, "pdf")
    return outputs


def planned_files(dag):
    """Every output and log the jobs of this run will write (their folders must be writable), and
    the results lock."""
    jobs = dag.needrun_jobs() if hasattr(dag, "needrun_jobs") else []  # Snakemake's DAG (9.x)
    files = [str(f) for job in jobs for f in (*job.output, *job.log)]
    return files + [os.path.join(RESULTS, locks.RESULTS_LOCK, "holder.json")]


def all_outputs():
    tables = [f"{RESULTS}/{name}" for name in ("summary.csv", "speedups.csv", "energy.csv", "claims.csv")]
    if DERIVE_ONLY:
        return [*tables, *figure_files()]
    return [H5, *result_files(), *tables, *figure_files()]


# What each job asks SLURM for, checked before anything is submitted (mpbench.preflight.checks.slurm_problems).
def grid_slurm_jobs():
    """The grid's submitted jobs not done yet (mpbench.stages), with the SLURM keys their device gives
    them (``gpu`` left out: the SLURM profile sets it to 0 and requests GPUs through gres)."""
    jobs = []
    for name, run, device in stages.submitted_jobs(config):
        if not os.path.exists(stages.job_result(RESULTS, name, run) or H5):
            res = {k: v for k, v in grid.slurm_resources(config, device).items() if k != "gpu"}
            jobs.append((name, run, device, res))
    return jobs


def dag_slurm_jobs(dag):
    """The jobs this run submits (not local), with the resources Snakemake computed for each."""
    jobs = []
    for job in dag.needrun_jobs():
        if job.is_local:
            continue
        wc = dict(job.wildcards.items())
        run = wc if "device" in wc else {}
        jobs.append((job.rule.name, run, stages.job_device(job.rule.name, wc), dict(job.resources.items())))
    return jobs
