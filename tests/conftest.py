"""Shared test setup: make tests/ importable (``from archives import ...``) and test this checkout.

The package under workflow/ goes first on sys.path and on the PYTHONPATH of every subprocess the
tests start (``python -m cifarflow ...``), even if another checkout is the installed one.
"""

import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
PACKAGE_DIR = TESTS.parent / "workflow"

sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(PACKAGE_DIR))
os.environ["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_DIR)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
