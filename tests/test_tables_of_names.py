"""The precision and framework tables are the one definition the schema, the workflow and the figures use."""
import re
from pathlib import Path

import yaml

from mpbench.figures import style
from mpbench.frameworks import FRAMEWORKS
from mpbench.precisions import NAMES, PRECISIONS, get

REPO = Path(__file__).resolve().parents[1]


def schema():
    return yaml.safe_load((REPO / "config" / "schema.yaml").read_text())


def test_schema_precision_enums_are_the_table():
    props = schema()["properties"]
    assert props["train"]["properties"]["precisions"]["items"]["enum"] == list(NAMES)
    assert props["figures"]["properties"]["baseline"]["enum"] == list(NAMES)


def test_schema_framework_enum_is_the_table():
    train = schema()["properties"]["train"]["properties"]
    assert train["frameworks"]["items"]["enum"] == list(FRAMEWORKS)
    assert train["batch_size_overrides"]["items"]["properties"]["framework"]["enum"] == list(FRAMEWORKS)


def test_workflow_wildcards_come_from_the_tables():
    common = (REPO / "rules" / "common.smk").read_text()
    assert re.search(r'precision="\|"\.join\(PRECISIONS\)', common)
    assert re.search(r'framework="\|"\.join\(FRAMEWORKS\)', common)


def test_figure_styles_cover_every_precision_and_framework():
    assert set(style.PRECISION_HATCH) == set(style.PRECISION_LINE) == set(NAMES)
    assert len(set(style.PRECISION_HATCH.values())) == len(NAMES)        # every precision tells apart
    assert set(style.FRAMEWORK_MARKER) == set(style.FRAMEWORK_LABEL) == set(FRAMEWORKS)
    assert style.precision_label("mixed_fp16") == "mixed fp16"


def test_precision_records_are_consistent():
    for p in PRECISIONS.values():
        assert p.inference in PRECISIONS and PRECISIONS[p.inference].apex_level is None
        assert (p.keras_policy is None) == (p.apex_level is not None)     # Apex: PyTorch only
        assert (p.autocast_dtype is not None) == (p.compute_dtype != p.param_dtype)
        assert p.loss_scaling in ("none", "dynamic", "static")
    assert PRECISIONS["fp32"].tf32 is False and PRECISIONS["tf32"].tf32 is True
    assert PRECISIONS["mixed_fp16"].autocast_dtype == "float16" and PRECISIONS["fp16"].autocast_dtype is None


def test_unknown_precision_names_the_known_ones():
    import pytest
    with pytest.raises(ValueError, match="unknown precision 'fp8'.*mixed_bf16"):
        get("fp8")
