# Post-training quantization of the TensorFlow models (CPU work), and quantization-aware training.
QUANT_DIR = cell_dir("quantize")


rule quantize:
    input:
        model=rules.train_tensorflow.output.model,
        train=rules.train_tensorflow.output.result,
        h5=H5,
    output:
        **{v: f"{QUANT_DIR}/model_{v}.tflite" for v in config["quantize"]["variants"]},
        result=f"{QUANT_DIR}/result.json",
    log:
        cell_log("quantize"),
    conda:
        "../envs/tensorflow.yaml"
    threads: config["train"]["threads"]
    resources:
        **device_resources("cpu"),
    params:
        settings=cell_settings("tensorflow"),
        variants=config["quantize"]["variants"],
        representative_samples=config["quantize"]["representative_samples"],
        eval_images=config["quantize"]["eval_images"],
        warmup=config["infer"]["warmup"],
        repeats=config["quantize"]["timing_repeats"],
    script:
        "../workflow/scripts/quantize.py"


rule qat:
    """Quantization-aware fine-tuning → int8 TFLite: the comparison for post-training int8."""
    input:
        model=rules.train_tensorflow.output.model,
        train=rules.train_tensorflow.output.result,
        h5=H5,
    output:
        result=f"{QUANT_DIR}/qat.json",  # names the model file it wrote beside it (none if skipped)
    log:
        cell_log("qat"),
    conda:
        "../envs/qat.yaml"
    threads: config["train"]["threads"]
    resources:
        **device_resources("cpu"),
    params:
        model=lambda wc, output: str(Path(output.result).with_name("model_qat_int8.tflite")),
        settings=cell_settings("tensorflow"),
        epochs=config["quantize"]["qat_epochs"],
        learning_rate=config["quantize"]["qat_learning_rate"],
        eval_images=config["quantize"]["eval_images"],
        warmup=config["infer"]["warmup"],
        repeats=config["quantize"]["timing_repeats"],
    script:
        "../workflow/scripts/qat.py"
