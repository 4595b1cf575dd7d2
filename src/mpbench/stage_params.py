"""What each stage's job takes from the config besides its grid cell (:class:`mpbench.settings.RunSettings`):
one dataclass per stage, built once from the validated config by ``from_config``.

Each field says which config key it comes from — including the keys a stage shares with another (the
TFLite, QAT and Edge TPU timings warm up as many passes as the inference benchmark, ``infer.warmup``) —
so that no rule restates or borrows a key on its own. The field names are the keywords of the stage's
entry function, so a script calls it with ``**snakemake.params.stage``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class _Params:
    def to_dict(self) -> dict:
        """The fields as a plain dict: the rule's ``params.stage``."""
        return asdict(self)


@dataclass(frozen=True)
class InferParams(_Params):
    """:func:`mpbench.inference.bench.benchmark`."""
    batch_sizes: list       # infer.batch_sizes
    warmup: int             # infer.warmup
    repeats: int            # infer.repeats

    @classmethod
    def from_config(cls, config: dict) -> InferParams:
        i = config["infer"]
        return cls(batch_sizes=list(i["batch_sizes"]), warmup=i["warmup"], repeats=i["repeats"])


@dataclass(frozen=True)
class QuantizeParams(_Params):
    """:func:`mpbench.quantization.pipeline.quantize`."""
    variants: list                 # quantize.variants
    representative_samples: int    # quantize.representative_samples
    eval_images: int               # quantize.eval_images
    timing_warmup: int             # infer.warmup: the same warm-up as the inference benchmark
    timing_repeats: int            # quantize.timing_repeats

    @classmethod
    def from_config(cls, config: dict) -> QuantizeParams:
        q = config["quantize"]
        return cls(variants=list(q["variants"]), representative_samples=q["representative_samples"],
                   eval_images=q["eval_images"], timing_warmup=config["infer"]["warmup"],
                   timing_repeats=q["timing_repeats"])


@dataclass(frozen=True)
class QatParams(_Params):
    """:func:`mpbench.quantization.qat.qat`."""
    epochs: int              # quantize.qat_epochs
    learning_rate: float     # quantize.qat_learning_rate
    eval_images: int         # quantize.eval_images
    timing_warmup: int       # infer.warmup
    timing_repeats: int      # quantize.timing_repeats

    @classmethod
    def from_config(cls, config: dict) -> QatParams:
        q = config["quantize"]
        return cls(epochs=q["qat_epochs"], learning_rate=q["qat_learning_rate"], eval_images=q["eval_images"],
                   timing_warmup=config["infer"]["warmup"], timing_repeats=q["timing_repeats"])


@dataclass(frozen=True)
class EdgeTPUCompileParams(_Params):
    """:func:`mpbench.edgetpu.stage.compile_stage`."""
    compiler: str      # edgetpu.compiler
    required: bool     # edgetpu.required

    @classmethod
    def from_config(cls, config: dict) -> EdgeTPUCompileParams:
        e = config["edgetpu"]
        return cls(compiler=e["compiler"], required=e["required"])


@dataclass(frozen=True)
class EdgeTPUInferParams(_Params):
    """:func:`mpbench.edgetpu.stage.infer_stage`."""
    n_images: int      # quantize.eval_images: the images the TFLite models are scored on
    warmup: int        # infer.warmup
    repeats: int       # quantize.timing_repeats: as the TFLite CPU timings it is compared with
    required: bool     # edgetpu.required

    @classmethod
    def from_config(cls, config: dict) -> EdgeTPUInferParams:
        return cls(n_images=config["quantize"]["eval_images"], warmup=config["infer"]["warmup"],
                   repeats=config["quantize"]["timing_repeats"], required=config["edgetpu"]["required"])
