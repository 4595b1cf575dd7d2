"""The two frameworks: the file a trained model is saved as and the conda env its jobs run in."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Framework:
    name: str
    label: str           # as the figures write it
    model_ext: str       # trained model file: model.<ext>
    conda_env: str       # envs/<conda_env>.yaml
    marker: str          # marker in the figures


FRAMEWORKS: dict[str, Framework] = {f.name: f for f in (
    Framework("tensorflow", "TensorFlow", "keras", "tensorflow", "o"),
    Framework("pytorch", "PyTorch", "pt", "pytorch", "s"),
)}
