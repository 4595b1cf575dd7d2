# Post-training quantization of the trained models (CPU work) of both frameworks, and quantization-aware
# training (TensorFlow). {framework} picks the trained model and the converter's conda env.
QUANT_DIR = cell_dir("quantize", "{framework}")


rule quantize:
    """Every variant of quantize.variants → model_<variant>.tflite beside result.json, whose records name
    each file (a variant the converter refuses is recorded `failed` with no file; the others go on)."""
    input:
        model=trained_file("model"),
        train=trained_file("result.json"),
        h5=data_input(),
    output:
        result=f"{QUANT_DIR}/result.json",
    log:
        cell_log("quantize", "{framework}"),
    conda:
        lambda wc: f"../envs/{FRAMEWORKS[wc.framework].edge_env}.yaml"
    threads: timed_threads
    resources:
        **device_resources("cpu", timed=True),
    params:
        settings=lambda wc: cell_settings(wc.framework)(wc),
        stage=stage_params.of("quantize", config),
    script:
        "../workflow/scripts/quantize.py"


rule qat:
    """Quantization-aware fine-tuning → int8 TFLite: the comparison for post-training int8 (TensorFlow)."""
    input:
        model=rules.train_tensorflow.output.model,
        train=rules.train_tensorflow.output.result,
        h5=data_input("tensorflow"),
    output:
        result=f"{cell_dir('quantize', 'tensorflow')}/qat.json",  # names the model file it wrote beside it (none if skipped)
    log:
        cell_log("qat", "tensorflow"),
    conda:
        "../envs/qat.yaml"
    threads: timed_threads
    resources:
        **device_resources("cpu", timed=True),
    params:
        model=lambda wc, output: str(Path(output.result).with_name("model_qat_int8.tflite")),
        settings=cell_settings("tensorflow"),
        stage=stage_params.of("qat", config),
    script:
        "../workflow/scripts/qat.py"
