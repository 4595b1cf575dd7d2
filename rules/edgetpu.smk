# The int8 model compiled for the Edge TPU, then timed and scored on it (or on the CPU as cpu-int8).


rule edgetpu_compile:
    input:
        model=rules.quantize.output.int8,
    output:
        result=f"{QUANT_DIR}/edgetpu_compile.json",
        compiler_log=f"{QUANT_DIR}/edgetpu_compiler.log",
    log:
        cell_log("edgetpu_compile"),
    conda:
        "../envs/edgetpu.yaml"
    resources:
        **device_resources("cpu"),
    params:
        settings=cell_settings("tensorflow"),
        compiler=config["edgetpu"]["compiler"],
        required=config["edgetpu"]["required"],
    script:
        "../workflow/scripts/edgetpu_compile.py"


rule edgetpu_infer:
    input:
        compiled=rules.edgetpu_compile.output.result,
        model=rules.quantize.output.int8,
        train=rules.train_tensorflow.output.result,
        quantized=rules.quantize.output.result,
        h5=H5,
    output:
        result=f"{QUANT_DIR}/edgetpu_infer.json",
    log:
        cell_log("edgetpu_infer"),
    conda:
        "../envs/edgetpu.yaml"
    threads: 1
    resources:
        **device_resources("cpu"),
    params:
        settings=cell_settings("tensorflow"),
        eval_images=config["quantize"]["eval_images"],
        warmup=config["infer"]["warmup"],
        repeats=config["quantize"]["timing_repeats"],
        required=config["edgetpu"]["required"],
    script:
        "../workflow/scripts/edgetpu_infer.py"
