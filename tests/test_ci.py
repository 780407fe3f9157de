"""CI runs what a newcomer runs: `.ci/run` takes the README's test command from the README itself,
in a fresh `python3 -m venv`."""

from __future__ import annotations

import importlib.util
import re

from workflow_utils import REPO


def _readme_command():
    spec = importlib.util.spec_from_file_location("readme_command", REPO / ".ci" / "readme_command.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.marked_command


def test_readme_test_command_is_the_install_and_pytest_a_newcomer_types():
    command = _readme_command()((REPO / "README.md").read_text(encoding="utf-8"), "test-command")
    assert command == "pip install -e '.[test]' && python -m pytest"


def test_ci_runs_the_readme_command_in_a_fresh_venv_before_installing_anything_else():
    ci = (REPO / ".ci" / "run").read_text()
    venv = ci.index("python3 -m venv")
    readme = ci.index("readme_command.py README.md test-command")
    assert venv < readme
    before = ci[:readme]
    assert not re.search(r"^\s*pip install", before, re.M), "CI installs something before the README's command"


def test_marked_command_refuses_a_missing_marker():
    import pytest

    with pytest.raises(SystemExit, match="no code block"):
        _readme_command()("# README\n```bash\nmake\n```\n", "test-command")
