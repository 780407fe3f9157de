"""tools/config_reference.py: config/README.md's reference is generated from the schema and never stale."""

from __future__ import annotations

import importlib.util

import yaml

from workflow_utils import REPO


def _tool():
    spec = importlib.util.spec_from_file_location("config_reference", REPO / "tools" / "config_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_config_readme_reference_is_up_to_date_with_the_schema():
    assert _tool().main(["--check"]) == 0, "run python tools/config_reference.py"


def test_every_setting_and_top_level_key_is_in_the_reference_with_its_default():
    tool = _tool()
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text(encoding="utf-8"))
    paths = {p: d for p, _, d, _ in tool.rows(schema)}
    for key in schema["properties"]:
        assert key in paths
    for setting in schema["$defs"]["setting_properties"]["properties"]:
        assert f"defaults.{setting}" in paths, setting
    assert paths["statistics.min_effect"] == "`0.005`" and paths["defaults.epochs"] == "`40`"


def test_a_changed_description_makes_the_reference_stale(tmp_path):
    tool = _tool()
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text(encoding="utf-8"))
    readme = tmp_path / "README.md"
    readme.write_text(tool.updated("# guide\n", tool.reference(schema)), encoding="utf-8")
    schema["properties"]["quick"]["description"] = "something else"
    assert tool.updated(readme.read_text(encoding="utf-8"), tool.reference(schema)) != readme.read_text(
        encoding="utf-8"
    )
