"""The conda envs used on the cluster pin what pyproject.toml pins."""
import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[\[=<>!~ ]", req, maxsplit=1)[0].lower().replace("_", "-")


def _spec(req: str) -> str:
    return re.sub(r"\[.*?\]", "", req).replace(" ", "")


def test_env_pins_match_pyproject():
    py = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {_name(r): _spec(r) for r in py["dependencies"]}
    for extra in py["optional-dependencies"].values():
        pins.update({_name(r): _spec(r) for r in extra if _name(r) not in pins})
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert {e.stem for e in envs} >= {"tensorflow", "pytorch", "edgetpu", "plots", "data"}
    for env in envs:
        deps = yaml.safe_load(env.read_text())["dependencies"]
        pip = next(d["pip"] for d in deps if isinstance(d, dict))
        for req in pip:
            assert _name(req) in pins, f"{env.name}: {req} is not declared in pyproject.toml"
            assert _spec(req) == pins[_name(req)], f"{env.name}: {req} differs from pyproject's {pins[_name(req)]}"
