if DATA["synthetic_frames"] > 0:

    rule synthetic_bagls:
        """Synthetic frames in the real BAGLS on-disk format (demo and tests)."""
        output:
            directory(DATA["bagls_dir"]),
        params:
            n_frames=DATA["synthetic_frames"],
            seed=DATA["seed"],
        log:
            f"{RESULTS}/logs/synthetic_bagls.log",
        conda:
            "../envs/data.yaml"
        script:
            "../workflow/scripts/synthetic_bagls.py"


rule preprocess:
    """BAGLS frames → 224×224 grayscale crops, binary masks and fold labels in one HDF5."""
    input:
        bagls=bagls_input,
    output:
        h5=H5,
        report=f"{RESULTS}/data/preprocess_report.json",
    params:
        bagls_dir=DATA["bagls_dir"],
        n_samples=DATA["n_samples"],
        seed=DATA["seed"],
        n_folds=DATA["n_folds"],
        crop_size=DATA["crop"]["size"],
        crop_policy=DATA["crop"]["policy"],
        on_bad_sample=DATA["on_bad_sample"],
    resources:
        **device_resources("cpu"),
    log:
        f"{RESULTS}/logs/preprocess.log",
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/preprocess.py"
