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
        for var in (
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
            "BLIS_NUM_THREADS",
            "VECLIB_MAXIMUM_THREADS",
            "NUMEXPR_NUM_THREADS",
        ):
            os.environ[var] = str(n)


def _keep_freed_memory() -> None:
    """Ask glibc to reuse freed memory instead of returning it to the system at once.

    Training allocates and frees the same large temporaries every step; returning them to the
    OS makes every step page-fault them in again, which costs 10-20% of a ConvNet step here.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    libc.mallopt(m_mmap_threshold, 32 << 20)  # glibc's upper limit for this setting
    libc.mallopt(m_trim_threshold, 1 << 30)
    libc.mallopt(m_top_pad, 64 << 20)


if __name__ == "__main__":
    _pin_threads(sys.argv[1:])
    _keep_freed_memory()
    from cifarflow.cli import main

    sys.exit(main(sys.argv[1:]))
