"""The precisions the study compares, one declarative record each.

Every stage reads these fields instead of branching on names: the trainers (dtypes, TF32, loss
scaling, Adam epsilon, Keras policy, Apex level), the inference runners (``inference``: the
precision a model trained with Apex runs in), the workflow (the ``{precision}`` wildcard, the
schema's enum — a test proves they agree) and the figures (label, hatch, line).

- ``fp32``: float32 with TF32 tensor cores switched off (strict IEEE float32).
- ``tf32``: float32 storage, TF32 tensor-core matmuls/convolutions (the frameworks' default on Ampere+).
- ``mixed_fp16`` / ``mixed_bf16``: float32 weights, float16/bfloat16 compute (autocast, Keras mixed
  policies); float16 with dynamic loss scaling.
- ``fp16``: weights and compute in float16, static loss scaling and a larger Adam epsilon
  (``train.fp16_loss_scale``, ``train.fp16_adam_epsilon``).
- ``apex_o1`` / ``apex_o3``: NVIDIA Apex AMP (PyTorch only, CUDA only; not on the registries).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Precision:
    name: str
    label: str                     # as the figures and the report write it
    compute_dtype: str             # dtype of convolutions/matmuls: float32, float16 or bfloat16
    param_dtype: str               # dtype the weights are stored and updated in
    tf32: bool | None              # TF32 tensor cores on (True), off (False)
    loss_scaling: str              # none | dynamic | static (static: train.fp16_loss_scale)
    half_adam_epsilon: bool        # Adam epsilon from train.fp16_adam_epsilon (the default underflows)
    keras_policy: str | None       # Keras dtype policy; None: not available in TensorFlow
    apex_level: str | None         # NVIDIA Apex AMP opt level; None: native PyTorch
    inference: str                 # the precision a trained model of this kind is timed in
    hatch: str                     # bar hatch in the figures
    line: str | tuple              # line style in the figures

    @property
    def autocast_dtype(self) -> str | None:
        """Dtype of autocast regions (mixed precision), None when the model runs in its own dtype."""
        return self.compute_dtype if self.compute_dtype != self.param_dtype else None


PRECISIONS: dict[str, Precision] = {p.name: p for p in (
    Precision("fp32", "float32 (strict)", "float32", "float32", tf32=False, loss_scaling="none",
              half_adam_epsilon=False, keras_policy="float32", apex_level=None, inference="fp32", hatch="", line="-"),
    Precision("tf32", "float32 (TF32)", "float32", "float32", tf32=True, loss_scaling="none", half_adam_epsilon=False,
              keras_policy="float32", apex_level=None, inference="tf32", hatch="..", line=":"),
    Precision("mixed_fp16", "mixed fp16", "float16", "float32", tf32=True, loss_scaling="dynamic",
              half_adam_epsilon=False, keras_policy="mixed_float16", apex_level=None, inference="mixed_fp16",
              hatch="//", line="--"),
    Precision("mixed_bf16", "mixed bf16", "bfloat16", "float32", tf32=True, loss_scaling="none",
              half_adam_epsilon=False, keras_policy="mixed_bfloat16", apex_level=None, inference="mixed_bf16",
              hatch="\\\\", line="-."),
    Precision("fp16", "float16", "float16", "float16", tf32=True, loss_scaling="static", half_adam_epsilon=True,
              keras_policy="float16", apex_level=None, inference="fp16", hatch="xx", line=(0, (1, 1))),
    Precision("apex_o1", "Apex O1", "float16", "float32", tf32=True, loss_scaling="dynamic",
              half_adam_epsilon=False, keras_policy=None, apex_level="O1", inference="mixed_fp16",
              hatch="++", line=(0, (5, 1))),
    Precision("apex_o3", "Apex O3", "float16", "float16", tf32=True, loss_scaling="dynamic",
              half_adam_epsilon=True, keras_policy=None, apex_level="O3", inference="fp16",
              hatch="oo", line=(0, (3, 1, 1, 1))),
)}
NAMES: tuple[str, ...] = tuple(PRECISIONS)


class PrecisionUnavailable(RuntimeError):
    """The precision cannot run here (e.g. Apex missing); the message says what to install."""


def get(name: str) -> Precision:
    try:
        return PRECISIONS[name]
    except KeyError:
        raise ValueError(f"unknown precision {name!r}; choose one of {NAMES}") from None


def label(name: str) -> str:
    """Plot label of a precision name (unknown names as they are)."""
    return PRECISIONS[name].label if name in PRECISIONS else name
