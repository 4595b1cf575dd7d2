"""The one way to read a config outside Snakemake: as the workflow sees it.

:func:`load` lays overlays over ``config/config.yaml`` the way ``snakemake --configfile`` does
(mappings merged key by key, everything else replaced: ``snakemake.utils.update_config``) and
validates the result against ``config/schema.yaml`` with its defaults filled in
(``snakemake.utils.validate``, as the Snakefile does), so the doctor, the tests and the benchmarks
read the same values the jobs get — never a key the schema would refuse, never a default restated
by hand. :class:`ConfigError` names the file and the key when it does not validate.
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


class ConfigError(ValueError):
    """A config that does not validate; the message names the files and the key."""


def base_config(folder: Path | None = None) -> Path:
    """``config/config.yaml`` of ``folder`` (default: the current folder, named relative to it), else of this
    package's repository."""
    for root in (folder or Path(), REPO):
        if (root / "config" / "config.yaml").is_file():
            return root / "config" / "config.yaml"
    raise FileNotFoundError("no config/config.yaml in the current folder or in mpbench's repository")


def merge(base: dict, *overlays: dict) -> dict:
    """``base`` with ``overlays`` laid over it in order, as ``snakemake --configfile`` merges them."""
    from snakemake.utils import update_config
    merged = copy.deepcopy(base)
    for overlay in overlays:
        update_config(merged, copy.deepcopy(overlay or {}))
    return merged


def load(*configfiles, base: Path | None = None, validate: bool = True) -> dict:
    """``config/config.yaml`` (or ``base``) with ``configfiles`` (paths or dicts) laid over it, validated
    against ``config/schema.yaml`` with the schema's defaults filled in."""
    base = Path(base) if base else base_config()
    overlays = [c if isinstance(c, dict) else yaml.safe_load(Path(c).read_text()) or {} for c in configfiles]
    config = merge(yaml.safe_load(base.read_text()), *overlays)
    if validate:
        from snakemake.utils import validate as snakemake_validate
        try:
            snakemake_validate(config, str(base.parent / "schema.yaml"), set_default=True)
        except Exception as e:   # snakemake's WorkflowError wraps jsonschema's ValidationError
            names = " + ".join([str(base), *(str(c) for c in configfiles if not isinstance(c, dict))])
            raise ConfigError(f"{names} does not validate against {base.parent / 'schema.yaml'}: {e}") from e
    return config
