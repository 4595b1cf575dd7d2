"""Every configuration key is documented in config/schema.yaml (config/config.yaml's header promises it)."""
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"
README = REPO / "config" / "README.md"


def documented_nodes(node: dict, path: str):
    """(path, schema) of every key below ``node``, and of every object schema under items/additionalProperties.

    Paths read like config keys: ``train.batch_size_overrides[]`` for an entry of a list,
    ``devices.<name>`` for the value schema of a free-form mapping.
    """
    for key, sub in node.get("properties", {}).items():
        sub_path = f"{path}.{key}" if path else key
        yield sub_path, sub
        yield from documented_nodes(sub, sub_path)
    for key, suffix in (("items", "[]"), ("additionalProperties", ".<name>")):
        sub = node.get(key)
        if isinstance(sub, dict) and (sub.get("type") == "object" or "properties" in sub):
            yield path + suffix, sub
            yield from documented_nodes(sub, path + suffix)


def test_walk_reaches_nested_object_schemas():
    paths = {p for p, _ in documented_nodes(yaml.safe_load(SCHEMA.read_text()), "")}
    assert {"data.crop.size", "train.batch_size_overrides[]", "train.batch_size_overrides[].precision",
            "devices.<name>", "devices.<name>.runtime_min", "slurm.default_mem_mb"} <= paths


def test_every_key_has_a_one_line_description():
    schema = yaml.safe_load(SCHEMA.read_text())
    nodes = list(documented_nodes(schema, ""))
    assert len(nodes) > 50
    missing = [p for p, sub in nodes if not (isinstance(sub.get("description"), str) and sub["description"].strip())]
    assert not missing, f"config/schema.yaml: no description for {missing}"
    multiline = [p for p, sub in nodes if "\n" in sub["description"].strip()]
    assert not multiline, f"config/schema.yaml: description spans several lines for {multiline}"


def test_every_section_is_explained_in_config_readme():
    sections = yaml.safe_load(SCHEMA.read_text())["properties"]
    text = README.read_text()
    missing = [name for name in sections if f"- **`{name}`**" not in text]
    assert not missing, f"config/README.md: no '- **`name`**' entry under Sections for {missing}"
