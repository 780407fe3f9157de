"""`python -m cifarflow <command> ...`: the entry point the workflow's rules call.

BLAS/OpenMP thread limits must be in the environment before NumPy loads, so `--threads N` is
read here, before anything imports NumPy.
"""

import os
import sys


def _pin_threads(argv: list[str]) -> None:
    n = None
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            n = argv[i + 1]
        elif arg.startswith("--threads="):
            n = arg.split("=", 1)[1]
    if n is not None:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
            os.environ[var] = str(n)


if __name__ == "__main__":
    _pin_threads(sys.argv[1:])
    from cifarflow.cli import main

    sys.exit(main(sys.argv[1:]))
