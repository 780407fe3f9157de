"""Run the cifarflow package next to this script: `python run_cifarflow.py <command> ...`.

The rules call this file by its absolute path, so a job finds the package without PYTHONPATH
(which Snakemake removes for jobs in conda environments), from any working directory, when the
workflow is used as a module from another directory, and with the environment's own `python`.
The package directory goes first on sys.path, before an installed cifarflow. Nothing here imports
NumPy: `cifarflow.__main__` pins the BLAS threads (`--threads N`) before NumPy loads.
"""

import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
runpy.run_module("cifarflow", run_name="__main__", alter_sys=True)
