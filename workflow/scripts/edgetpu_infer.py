from mpbench import record
from mpbench.edgetpu.stage import infer_stage, int8_of
from mpbench.logs import setup
from mpbench.record import Status
from mpbench.settings import RunSettings

setup(snakemake.log[0])
p = snakemake.params
int8 = int8_of(snakemake.input.quantized)
infer_stage(RunSettings(**p.settings), compile_json=snakemake.input.compiled, int8_path=int8["path"],
            h5_path=snakemake.input.h5, result_path=snakemake.output.result, threads=p.settings["threads"],
            source_status=Status.derived_from(record.read_one(snakemake.input.train)),
            reference_iou=int8["reference_iou"], no_model_reason=int8["reason"], **p.stage)
