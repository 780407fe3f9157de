"""Shared test setup: make tests/ importable (``from archives import ...``) and test this checkout.

Tests mirror the package: tests/data, tests/nn, tests/training, tests/report for the stage
packages, tests/tools for the developer tools (tools/ is importable: ``import bench``), the
end-to-end tests that run the real Snakemake in tests/workflow, and the tests of the package's
top-level modules at the root. Shared helpers live in archives.py, workflow_utils.py and
figure_utils.py only.

Every test marked ``workflow`` (runs the real Snakemake), ``realdata`` (reads the shared CIFAR-10
archive) or ``faults`` (the fault suite: minutes of subprocesses, most of them running the CLI) is
also marked ``slow`` here, so ``pytest -m "not slow"`` is the fast inner loop (docs/development.md).

The package under workflow/ goes first on sys.path and on the PYTHONPATH of every subprocess the
tests start (``python -m cifarflow ...``), even if another checkout is the installed one.
"""

import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
PACKAGE_DIR = TESTS.parent / "workflow"
TOOLS_DIR = TESTS.parent / "tools"

sys.path.insert(0, str(TOOLS_DIR))
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(PACKAGE_DIR))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(PACKAGE_DIR)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def archive(tmp_path_factory) -> Path:
    """One generated archive in the official python layout (1,000 training, 200 test images)."""
    from archives import make_python_archive

    path = tmp_path_factory.mktemp("archive") / "cifar-10-python.tar.gz"
    make_python_archive(path, n_per_batch=200, n_test=200, seed=3)
    return path


SLOW_KINDS = ("workflow", "realdata", "faults")


def pytest_collection_modifyitems(items):
    """Mark every test that runs Snakemake, reads the real data or belongs to the fault suite slow."""
    for item in items:
        if any(item.get_closest_marker(kind) for kind in SLOW_KINDS):
            item.add_marker(pytest.mark.slow)
