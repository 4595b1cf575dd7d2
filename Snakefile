# mpbench: what mixed precision and int8 quantization buy — training and inference speed, energy
# and accuracy across frameworks, devices, precisions and model sizes.
# Reproduces Dörrich, Fan & Kist, IEEE Access 11 (2023). See README.md.
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"


# What the schema cannot see: names that must exist (devices, precisions), folds that must fit.
CONFIG_PROBLEMS = checks.config_message(config)
if CONFIG_PROBLEMS:
    raise WorkflowError(CONFIG_PROBLEMS)


# The rules that make results; with figures.only_existing not even defined (DERIVE_ONLY): re-deriving
# tables, figures and claims from copied results then schedules, reruns and deletes nothing.
if not DERIVE_ONLY:

    include: "rules/data.smk"

    # A damaged HDF5 stops the workflow here, before any job that reads it is planned; an HDF5 made with
    # other data settings than the config's as well. See src/mpbench/data/integrity.py and freshness.py.
    from mpbench.data import integrity

    if workflow.is_main_process:
        _H5_PROBLEM = integrity.h5_problem(H5)
        if _H5_PROBLEM:
            raise WorkflowError(integrity.damaged_h5_message(H5, _H5_PROBLEM))
        _H5_STALE = freshness.settings_problem(H5, DATA)
        if _H5_STALE:
            raise WorkflowError(_H5_STALE)

    include: "rules/train.smk"
    include: "rules/infer.smk"
    include: "rules/quantize.smk"

    if "int8" in config["quantize"]["variants"]:

        include: "rules/edgetpu.smk"


include: "rules/figures.smk"
include: "rules/findings.smk"


# Light work runs where snakemake runs (under SLURM: the login node), never as a cluster job: the
# tables, figures and claims (and the demo's synthetic frames, rules/data.smk); mpbench.stages.LOCAL_RULES.
localrules:
    all,
    summary,
    figures,
    claims,


# What each job asks SLURM for: jobs on a CUDA device without gres would get no GPU, jobs without a
# GPU on a GPU-only cluster (slurm.gpu_only) would be refused. Snakemake gives a dry run no hook and
# parses the Snakefile before it knows the executor, so a dry run reads the command line here and
# lists them (for the grid's jobs not done yet); a real run checks its own jobs in onstart and
# stops before submitting any.
if workflow.is_main_process and checks.requested_executor() == ("slurm", True):
    _SLURM_MESSAGE = checks.slurm_message(checks.slurm_problems(config, grid_slurm_jobs()), dry_run=True)
    if _SLURM_MESSAGE:
        logger.warning(_SLURM_MESSAGE)


# Only a real run takes the lock on the results folder: Snakemake runs no hooks for dry-runs,
# --report, --lint, or inside SLURM job steps (--no-hooks). See src/mpbench/preflight/locks.py.
# It also logs once what this machine can measure (mpbench.preflight.report, quick: no framework imported).
onstart:
    _EXECUTOR = workflow.executor_plugin.name if workflow.executor_plugin is not None else "local"
    if _EXECUTOR == "slurm":
        _message = checks.slurm_message(checks.slurm_problems(config, dag_slurm_jobs(workflow.dag)), dry_run=False)
        if _message:
            raise WorkflowError(_message)
    checks.check_writable(planned_files(workflow.dag), RESULTS)
    logger.info(startup_report(config, _EXECUTOR, workflow.configfiles))
    for _line in RESULTS_LOCK.acquire():
        logger.warning(_line)


onsuccess:
    RESULTS_LOCK.release()


onerror:
    RESULTS_LOCK.release()


rule all:
    default_target: True
    input:
        all_outputs(),
