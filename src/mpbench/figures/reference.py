"""The paper's own numbers, for optional reference markers (config ``figures.reference_overlay``)."""
from __future__ import annotations

from pathlib import Path

import yaml

DEFAULT = Path(__file__).with_name("paper_reference.yaml")


def load(path: str | Path = DEFAULT) -> list[dict]:
    data = yaml.safe_load(Path(path).read_text())
    return data.get("values", [])


def values_for(figure: str, path: str | Path = DEFAULT) -> list[dict]:
    return [v for v in load(path) if v["figure"] == figure]
