# Inference speed of every trained model of the inference folds, on its training device and precision.


for _framework, _ext, _env in (("tensorflow", "keras", "tensorflow"), ("pytorch", "pt", "pytorch")):

    rule:
        name:
            f"infer_bench_{_framework}"
        input:
            model=f"{RESULTS}/train/{_framework}/{{device}}/{{precision}}/f{{filters}}/fold{{fold}}/model.{_ext}",
            h5=H5,
        output:
            result=f"{RESULTS}/infer/{_framework}/{{device}}/{{precision}}/f{{filters}}/fold{{fold}}/result.json",
        params:
            settings=train_params(_framework),
            batch_sizes=config["infer"]["batch_sizes"],
            warmup=config["infer"]["warmup"],
            repeats=config["infer"]["repeats"],
        threads: config["train"].get("threads", 2)
        resources:
            **device_resources(),
        log:
            f"{RESULTS}/logs/infer/{_framework}/{{device}}/{{precision}}/f{{filters}}/fold{{fold}}.log",
        conda:
            f"../envs/{_env}.yaml"
        script:
            "../workflow/scripts/infer_bench.py"
