# mpbench: what mixed precision and int8 quantization buy — training and inference speed, energy
# and accuracy across frameworks, devices, precisions and model sizes.
# Reproduces Dörrich, Fan & Kist, IEEE Access 11 (2023). See README.md.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/infer.smk"
include: "rules/quantize.smk"


if "int8" in config["quantize"]["variants"]:

    include: "rules/edgetpu.smk"


include: "rules/figures.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
