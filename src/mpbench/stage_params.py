"""What each stage's job takes from the config besides its grid cell (:class:`mpbench.settings.RunSettings`):
one dataclass per stage, built once from the validated config by ``from_config``.

Each field names the config key it comes from (``source(...)``, read by the one ``from_config``),
including the keys a stage shares with another (the TFLite, QAT and Edge TPU timings warm up as many
passes as the inference benchmark, ``infer.warmup``), so that no rule restates or borrows a key on its
own. The field names are the keywords of the stage's entry function, so a script calls it with
``**snakemake.params.stage``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


def source(key: str):
    """A field read from the config key ``key`` (dotted: ``"infer.warmup"``)."""
    return field(metadata={"key": key})


@dataclass(frozen=True)
class _Params:
    @classmethod
    def from_config(cls, config: dict):
        """The stage's parameters from the validated config, each from the key its field names."""
        def read(key: str):
            value = config
            for part in key.split("."):
                value = value[part]
            return value
        return cls(**{f.name: read(f.metadata["key"]) for f in fields(cls)})

    def to_dict(self) -> dict:
        """The fields as a plain dict: the rule's ``params.stage``."""
        return asdict(self)


@dataclass(frozen=True)
class InferParams(_Params):
    """:func:`mpbench.inference.bench.benchmark`."""
    batch_sizes: list = source("infer.batch_sizes")
    warmup: int = source("infer.warmup")
    repeats: int = source("infer.repeats")


@dataclass(frozen=True)
class _TFLiteTiming(_Params):
    """How the TFLite models of a cell are scored and timed on the CPU."""
    eval_images: int = source("quantize.eval_images")
    timing_warmup: int = source("infer.warmup")   # the same warm-up as the inference benchmark
    timing_repeats: int = source("quantize.timing_repeats")


@dataclass(frozen=True)
class QuantizeParams(_TFLiteTiming):
    """:func:`mpbench.quantization.pipeline.quantize`."""
    variants: list = source("quantize.variants")
    representative_samples: int = source("quantize.representative_samples")


@dataclass(frozen=True)
class QatParams(_TFLiteTiming):
    """:func:`mpbench.quantization.qat.qat`."""
    epochs: int = source("quantize.qat_epochs")
    learning_rate: float = source("quantize.qat_learning_rate")


@dataclass(frozen=True)
class EdgeTPUCompileParams(_Params):
    """:func:`mpbench.edgetpu.stage.compile_stage`."""
    compiler: str = source("edgetpu.compiler")
    required: bool = source("edgetpu.required")


@dataclass(frozen=True)
class EdgeTPUInferParams(_TFLiteTiming):
    """:func:`mpbench.edgetpu.stage.infer_stage`: the int8 model scored and timed as the TFLite CPU timings
    it is compared with."""
    required: bool = source("edgetpu.required")
