# Post-training quantization of the TensorFlow models (CPU work), then the Edge TPU compile and run.
QUANT_DIR = f"{RESULTS}/quantize/{{device}}/{{precision}}/f{{filters}}/fold{{fold}}"


rule quantize:
    input:
        model=f"{RESULTS}/train/tensorflow/{{device}}/{{precision}}/f{{filters}}/fold{{fold}}/model.keras",
        train=f"{RESULTS}/train/tensorflow/{{device}}/{{precision}}/f{{filters}}/fold{{fold}}/result.json",
        h5=H5,
    output:
        result=f"{QUANT_DIR}/result.json",
        models=expand(f"{QUANT_DIR}/model_{{variant}}.tflite", variant=config["quantize"]["variants"],
                      allow_missing=True),
    params:
        settings=train_params("tensorflow"),
        variants=config["quantize"]["variants"],
        representative_samples=config["quantize"]["representative_samples"],
        eval_images=config["quantize"]["eval_images"],
        warmup=config["infer"]["warmup"],
        repeats=config["quantize"]["timing_repeats"],
    threads: config["train"].get("threads", 2)
    resources:
        **device_resources("cpu"),
    log:
        f"{RESULTS}/logs/quantize/{{device}}/{{precision}}/f{{filters}}/fold{{fold}}.log",
    conda:
        "../envs/tensorflow.yaml"
    script:
        "../workflow/scripts/quantize.py"


rule edgetpu_compile:
    input:
        model=f"{QUANT_DIR}/model_int8.tflite",
    output:
        result=f"{QUANT_DIR}/edgetpu_compile.json",
        compiler_log=f"{QUANT_DIR}/edgetpu_compiler.log",
    params:
        compiler=config["edgetpu"]["compiler"],
        required=config["edgetpu"]["required"],
    log:
        f"{RESULTS}/logs/edgetpu_compile/{{device}}/{{precision}}/f{{filters}}/fold{{fold}}.log",
    conda:
        "../envs/edgetpu.yaml"
    script:
        "../workflow/scripts/edgetpu_compile.py"


rule edgetpu_infer:
    input:
        compiled=f"{QUANT_DIR}/edgetpu_compile.json",
        quantized=f"{QUANT_DIR}/result.json",
        model=f"{QUANT_DIR}/model_int8.tflite",
        h5=H5,
    output:
        result=f"{QUANT_DIR}/edgetpu_infer.json",
    params:
        settings=train_params("tensorflow"),
        eval_images=config["quantize"]["eval_images"],
        warmup=config["infer"]["warmup"],
        repeats=config["quantize"]["timing_repeats"],
        required=config["edgetpu"]["required"],
    threads: 1
    log:
        f"{RESULTS}/logs/edgetpu_infer/{{device}}/{{precision}}/f{{filters}}/fold{{fold}}.log",
    conda:
        "../envs/edgetpu.yaml"
    script:
        "../workflow/scripts/edgetpu_infer.py"


rule qat:
    """Quantization-aware fine-tuning → int8 TFLite: the comparison for post-training int8."""
    input:
        model=f"{RESULTS}/train/tensorflow/{{device}}/{{precision}}/f{{filters}}/fold{{fold}}/model.keras",
        train=f"{RESULTS}/train/tensorflow/{{device}}/{{precision}}/f{{filters}}/fold{{fold}}/result.json",
        h5=H5,
    output:
        result=f"{QUANT_DIR}/qat.json",   # names the model file it wrote beside it (none if skipped)
    params:
        model=lambda wc, output: str(Path(output.result).with_name("model_qat_int8.tflite")),
        settings=train_params("tensorflow"),
        epochs=config["quantize"]["qat_epochs"],
        learning_rate=config["quantize"]["qat_learning_rate"],
        eval_images=config["quantize"]["eval_images"],
    threads: config["train"].get("threads", 2)
    resources:
        **device_resources("cpu"),
    log:
        f"{RESULTS}/logs/qat/{{device}}/{{precision}}/f{{filters}}/fold{{fold}}.log",
    conda:
        "../envs/qat.yaml"
    script:
        "../workflow/scripts/qat.py"
