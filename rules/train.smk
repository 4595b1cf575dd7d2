# Training of every grid cell, one rule per framework (its model file and conda env from the table).


def timed_threads(wildcards):
    """Threads of a timed job (training here; inference, quantize, QAT and the Edge TPU run too): every core
    Snakemake may use (--cores), so that no other job runs beside it and disturbs its timing
    (rules/common.smk ``device_resources``). It computes with ``train.threads`` of them (its settings).
    Where --cores is not known — the main process under SLURM, which submits every job as its own
    allocation of cpus_per_task CPUs — ``train.threads``."""
    return workflow.resource_settings.cores or config["train"]["threads"]


for _fw in FRAMEWORKS.values():

    rule:
        name:
            f"train_{_fw.name}"
        input:
            h5=data_input(_fw.name),
        output:
            result=f"{cell_dir('train', _fw.name)}/result.json",
            model=f"{cell_dir('train', _fw.name)}/model.{_fw.model_ext}",
        log:
            cell_log("train", _fw.name),
        conda:
            f"../envs/{_fw.conda_env}.yaml"
        threads: timed_threads
        resources:
            **device_resources(timed=True),
        params:
            settings=cell_settings(_fw.name),
            checkpoint_dir=lambda wc, output: str(Path(output.result).parent / "checkpoint"),
            stage_to_tmpdir=config["slurm"]["stage_to_tmpdir"],
        script:
            "../workflow/scripts/train.py"
