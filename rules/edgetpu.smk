# The int8 model of either framework compiled for the Edge TPU, then timed and scored on it (or on the
# CPU as cpu-int8). The int8 model is the one the quantize job's record names (none if it failed).


rule edgetpu_compile:
    input:
        quantized=rules.quantize.output.result,
    output:
        result=f"{QUANT_DIR}/edgetpu_compile.json",
        compiler_log=f"{QUANT_DIR}/edgetpu_compiler.log",
    log:
        cell_log("edgetpu_compile", "{framework}"),
    conda:
        "../envs/edgetpu.yaml"
    resources:
        **device_resources("cpu"),
    params:
        settings=lambda wc: cell_settings(wc.framework)(wc),
        stage=stage_params.of("edgetpu_compile", config),
    script:
        "../workflow/scripts/edgetpu_compile.py"


rule edgetpu_infer:
    input:
        compiled=rules.edgetpu_compile.output.result,
        quantized=rules.quantize.output.result,
        train=trained_file("result.json"),
        h5=data_input(),
    output:
        result=f"{QUANT_DIR}/edgetpu_infer.json",
    log:
        cell_log("edgetpu_infer", "{framework}"),
    conda:
        "../envs/edgetpu.yaml"
    threads: timed_threads
    resources:
        **device_resources("cpu", timed=True),
    params:
        settings=lambda wc: cell_settings(wc.framework)(wc),
        stage=stage_params.of("edgetpu_infer", config),
    script:
        "../workflow/scripts/edgetpu_infer.py"
