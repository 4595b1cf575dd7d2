"""What each stage's job takes from the config besides its grid cell (:class:`mpbench.settings.RunSettings`):
a frozen dataclass per stage (:data:`PARAMS`), built from the stage's ``params`` in
:data:`mpbench.stages.STAGES` (for each keyword of its entry function: the type and the config key it is
read from), whose ``from_config`` reads the validated config once.

A key a stage shares with another is named once (:data:`mpbench.stages.TFLITE_TIMING`: the TFLite, QAT
and Edge TPU timings score as many images and warm up as many passes as each other, the warm-up being the
inference benchmark's ``infer.warmup``), so that no rule restates or borrows a key on its own. A rule
passes ``stage_params.of("<stage>", config)`` as ``params.stage`` and its script calls the entry function
with ``**snakemake.params.stage``; tests/test_stages.py checks each stage's keywords against its entry
function's signature.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, make_dataclass

from . import stages


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


def _dataclass(stage: stages.Stage) -> type[_Params]:
    name = "".join(part.capitalize() for part in stage.name.split("_")) + "Params"
    return make_dataclass(name, [(k, t, source(key)) for k, (t, key) in stage.params.items()], bases=(_Params,),
                          frozen=True, namespace={"__doc__": f"The keywords of :func:`{stage.entry}`."})


PARAMS: dict[str, type[_Params]] = {s.name: _dataclass(s) for s in stages.STAGES if s.params}


def of(stage: str, config: dict) -> dict:
    """``stage``'s parameters read from the validated ``config``, as the rule's ``params.stage``."""
    return PARAMS[stage].from_config(config).to_dict()
