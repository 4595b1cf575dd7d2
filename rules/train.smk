# Training of every grid cell, one rule per framework (its model file and conda env from the table).


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
