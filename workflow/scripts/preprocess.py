from mpbench.data.preprocess import preprocess_bagls
from mpbench.logs import setup

setup(snakemake.log[0])
p = snakemake.params
preprocess_bagls(
    p.bagls_dir, snakemake.output.h5, n_samples=p.n_samples, seed=p.seed, n_folds=p.n_folds,
    crop_size=p.crop_size, crop_policy=p.crop_policy, on_bad_sample=p.on_bad_sample,
    bad_report=snakemake.output.report, subset=p.subset, folds_by=p.folds_by,
    frames_list=snakemake.output.frames, data_settings=p.data_settings,
)
