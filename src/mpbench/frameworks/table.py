"""The two frameworks: the file a trained model is saved as and the conda envs its jobs run in."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Framework:
    name: str
    label: str           # as the figures write it
    model_ext: str       # trained model file: model.<ext>
    conda_env: str       # envs/<conda_env>.yaml
    marker: str          # marker in the figures
    edge_env: str        # envs/<edge_env>.yaml: the quantize job (the model → TFLite converter)


FRAMEWORKS: dict[str, Framework] = {f.name: f for f in (
    Framework("tensorflow", "TensorFlow", "keras", "tensorflow", "o", "tensorflow"),
    Framework("pytorch", "PyTorch", "pt", "pytorch", "s", "edge-torch"),
)}
