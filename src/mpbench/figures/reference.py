"""What the paper and its authors state about speed-ups, for optional markers (``figures.reference_overlay``).

Each entry: ``figure``, ``kind`` (``value``: a cell's stated value; ``upper_bound``: an "up to"
maximum over the cells in ``scope``), ``speedup``, ``scope`` (framework / device / precision /
filters; a list matches any of its items, a missing key matches all) and ``source``.
"""
from __future__ import annotations

from pathlib import Path

import yaml

DEFAULT = Path(__file__).with_name("paper_reference.yaml")
KINDS = ("value", "upper_bound")


def load(path: str | Path = DEFAULT) -> list[dict]:
    data = yaml.safe_load(Path(path).read_text())
    return data.get("values", [])


def values_for(figure: str, path: str | Path = DEFAULT) -> list[dict]:
    return [v for v in load(path) if v["figure"] == figure]


def in_scope(entry: dict, cell: dict) -> bool:
    """Whether a cell (framework, device, precision, filters) is covered by the entry's scope."""
    for key, want in entry["scope"].items():
        if cell.get(key) not in (want if isinstance(want, list) else [want]):
            return False
    return True
