# Inference speed of every trained model of the inference folds, on its training device and precision.


for _fw in FRAMEWORKS.values():

    rule:
        name:
            f"infer_bench_{_fw.name}"
        input:
            model=getattr(rules, f"train_{_fw.name}").output.model,
            h5=data_input(_fw.name),
        output:
            result=f"{cell_dir('infer', _fw.name)}/result.json",
        log:
            cell_log("infer", _fw.name),
        conda:
            f"../envs/{_fw.conda_env}.yaml"
        threads: timed_threads
        resources:
            **device_resources(timed=True),
        params:
            settings=cell_settings(_fw.name),
            stage=stage_params.of("infer", config),
            stage_to_tmpdir=config["slurm"]["stage_to_tmpdir"],
        script:
            "../workflow/scripts/infer_bench.py"
