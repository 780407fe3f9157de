"""`python -m cifarflow check-config FILE...`: config files merged in order and validated as the
workflow validates them, with one-line errors naming the file or the key."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from cifarflow.config import load_config_files, validate_config
from cifarflow.errors import ConfigError

from workflow_utils import REPO

MAIN = REPO / "config" / "config.yaml"


def write(path, data):
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def test_later_files_override_nested_keys_and_keep_the_rest(tmp_path):
    a = write(tmp_path / "a.yaml", {"defaults": {"epochs": 5, "seed": 1}, "run": None})
    b = write(tmp_path / "b.yaml", {"defaults": {"epochs": 7}})
    assert load_config_files([a, b]) == {"defaults": {"epochs": 7, "seed": 1}, "run": None}


def test_the_shipped_configs_are_valid_and_overrides_reach_every_variant():
    config, variants, comparisons = validate_config(load_config_files([MAIN, REPO / "config" / "quick.yaml"]))
    assert variants and comparisons
    assert {v["epochs"] for v in variants.values()} == {3}
    assert {v["train_limit"] for v in variants.values()} == {5000}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("defaults: {epochs: [1\n", "not valid YAML"),
        ("- just\n- a list\n", "the top level must be a mapping"),
    ],
)
def test_unreadable_files_are_named(tmp_path, text, message):
    bad = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError, match=message) as exc:
        load_config_files([MAIN, bad])
    assert str(bad) in str(exc.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config_files([tmp_path / "absent.yaml"])


def test_command_reports_the_first_bad_key_in_one_line(tmp_path):
    bad = write(tmp_path / "bad.yaml", {"experiments": {"x": {"variants": [{"name": "v", "model": "softmx"}]}}})
    proc = subprocess.run(
        [sys.executable, "-m", "cifarflow", "check-config", str(MAIN), str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cifarflow: error: config key experiments.x.variants[0].model")
