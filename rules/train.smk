TRAIN_DIR = f"{RESULTS}/train/{{framework}}/{{device}}/{{precision}}/f{{filters}}/fold{{fold}}"


for _framework, _ext, _env in (("tensorflow", "keras", "tensorflow"), ("pytorch", "pt", "pytorch")):

    rule:
        name:
            f"train_{_framework}"
        input:
            h5=H5,
        output:
            result=f"{TRAIN_DIR}/result.json".replace("{framework}", _framework),
            model=f"{TRAIN_DIR}/model.{_ext}".replace("{framework}", _framework),
        params:
            settings=train_params(_framework),
            checkpoint_dir=lambda wc, output: str(Path(output.result).parent / "checkpoint"),
            stage_to_tmpdir=config.get("slurm", {}).get("stage_to_tmpdir", True),
        threads: config["train"].get("threads", 2)
        resources:
            **device_resources(),
        log:
            f"{RESULTS}/logs/train/{_framework}/{{device}}/{{precision}}/f{{filters}}/fold{{fold}}.log",
        conda:
            f"../envs/{_env}.yaml"
        script:
            "../workflow/scripts/train.py"
