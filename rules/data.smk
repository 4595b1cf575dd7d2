from snakemake.exceptions import WorkflowError

from mpbench.data.subset import frames_list_path
from mpbench.data.synthetic import foreign_folder_problem

if 0 < DATA["synthetic_frames"] < DATA["n_samples"]:
    raise WorkflowError(
        f"data.n_samples ({DATA['n_samples']}) is larger than data.synthetic_frames "
        f"({DATA['synthetic_frames']}): preprocess cannot draw more frames than are generated. "
        "Lower data.n_samples or raise data.synthetic_frames."
    )


if DATA["synthetic_frames"] > 0:
    # Never into (or over) a folder the generator did not write: a user's BAGLS copy stops the
    # workflow here, before Snakemake plans anything (mpbench.data.synthetic.foreign_folder_problem).
    _FOREIGN = foreign_folder_problem(DATA["bagls_dir"], DATA["synthetic_frames"])
    if _FOREIGN:
        raise WorkflowError(_FOREIGN)

    localrules:
        synthetic_bagls,

    rule synthetic_bagls:
        """Synthetic frames in the real BAGLS on-disk format (demo and tests). The output is the
        generator's marker, named by count and seed: other settings, another marker, the frames
        regenerated; Snakemake never deletes the folder itself."""
        output:
            marker=SYNTHETIC_MARKER,
        log:
            f"{RESULTS}/logs/synthetic_bagls.log",
        conda:
            "../envs/data.yaml"
        params:
            bagls_dir=lambda wc, output: os.path.dirname(output.marker),
            n_frames=DATA["synthetic_frames"],
            seed=DATA["seed"],
        script:
            "../workflow/scripts/synthetic_bagls.py"


checkpoint preprocess:
    """BAGLS frames → 224×224 grayscale crops, binary masks and fold labels in one HDF5, plus the
    list of the frames used (one index per line: a file data.subset accepts), in the folder named by
    the data settings (mpbench.data.freshness). A checkpoint: the jobs that read the HDF5 decide after
    it whether they rerun, on its content (data_input in rules/common.smk)."""
    input:
        bagls=bagls_input,
        # data.subset, when set and present (preprocess names a missing one)
        subset=lambda wc: DATA["subset"] if DATA.get("subset") and os.path.isfile(DATA["subset"]) else [],
    output:
        h5=H5,
        frames=str(frames_list_path(H5)),
        report=f"{DATA_DIR}/preprocess_report.json",
    log:
        f"{RESULTS}/logs/preprocess/{DATA_KEY}.log",
    conda:
        "../envs/data.yaml"
    resources:
        **device_resources("cpu"),
    params:
        bagls_dir=DATA["bagls_dir"],
        n_samples=DATA["n_samples"],
        seed=DATA["seed"],
        n_folds=DATA["n_folds"],
        crop_size=DATA["crop"]["size"],
        crop_policy=DATA["crop"]["policy"],
        on_bad_sample=DATA["on_bad_sample"],
        subset=DATA.get("subset"),
        folds_by=DATA.get("folds_by", "frame"),
        data_settings=DATA,
    script:
        "../workflow/scripts/preprocess.py"
