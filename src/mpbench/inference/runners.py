"""A trained model loaded on its device in its training precision, ready to be timed.

A runner (:class:`Runner`) has ``prepare(images_uint8) -> batch``, ``run(batch)``, ``sync()``
(waits for the device), ``is_oom(exc)`` and ``gpu_index``. Inputs are normalised exactly as in
training ([-1, 1]) and placed as ``data_placement`` says: on the device before timing, or in host
RAM with the copy to the device inside each timed pass (the paper's set-up). The sigmoid is part of
the timed forward pass in both frameworks.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

import numpy as np

from .. import frameworks


class Runner(Protocol):
    gpu_index: int | None

    def prepare(self, images: np.ndarray) -> Any: ...
    def run(self, x) -> Any: ...
    def sync(self) -> None: ...
    def is_oom(self, exc: BaseException) -> bool: ...


class ModelRunner:
    """Any framework's trained model through its :class:`~mpbench.frameworks.Runtime`."""

    def __init__(self, settings, model_path):
        # A model trained with Apex AMP runs as its native equivalent (O1: autocast, O3: a half model).
        settings = replace(settings, precision=settings.spec.inference)
        self.runtime = frameworks.runtime(settings)
        self.gpu_index = self.runtime.gpu_index
        predict = self.runtime.predictor(self.runtime.load_model(model_path))
        if settings.data_placement == "host":   # as the paper: frames in RAM, the copy is part of each pass
            self.prepare = lambda images: self.runtime.to_device(images, device="cpu")
            self.run = lambda x: predict(self.runtime.batch_to_device(x))
        else:                                   # device-resident: only the model's work is timed
            self.prepare, self.run = self.runtime.to_device, predict
        self.sync = self.runtime.sync
        self.is_oom = self.runtime.is_oom


def make_runner(settings, model_path) -> Runner:
    return ModelRunner(settings, model_path)
