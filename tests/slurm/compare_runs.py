"""Compare two workdirs of the real workflow variant by variant, bit for bit.

Used by .ci/slurm/selftest.sh to compare the run on SLURM with the local run of the same config:

    python3 tests/slurm/compare_runs.py DIR_A DIR_B [--expect N]

For every run (variant and seed) under DIR_A/results/runs and DIR_B/results/runs it compares the
run's weights.h5, predictions.h5, metrics.json (without its timing/provenance keys) and
history.csv (without its seconds column) through the package's `compare_trees`, the function
behind `python -m cifarflow compare-runs` (one implementation). Both dirs must hold the same,
non-empty set of variants (exactly N with --expect).

Prints one "[PASS]/[FAIL] ..." line per check and a count; exit status 1 on any difference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "workflow"))  # this checkout's package

from cifarflow.compare_runs import compare_trees  # noqa: E402
from cifarflow.errors import CifarflowError  # noqa: E402

RUN_FILES = ("weights.h5", "predictions.h5", "metrics.json", "history.csv")
results: list[bool] = []


def check(ok: bool, what: str) -> bool:
    results.append(bool(ok))
    print(f"  [{'PASS' if ok else 'FAIL'}] {what}", flush=True)
    return bool(ok)


def variants(workdir: Path) -> set[str]:
    runs = workdir / "results" / "runs"
    return {f"{p.parent.name}/{p.name}" for p in runs.glob("*/seed*") if p.is_dir()} if runs.is_dir() else set()


def compare_variant(a: Path, b: Path, name: str) -> None:
    """Compare one run, `name` = <variant>/seed<s>: its four files, each present in both."""
    missing = [f for f in RUN_FILES if not (a / name / f).is_file() or not (b / name / f).is_file()]
    if missing:
        check(False, f"{name}: cannot compare, missing in A or B: {', '.join(missing)}")
        return
    try:
        files = [r for r in compare_trees(a / name, b / name) if r.path in RUN_FILES]
    except CifarflowError as exc:
        check(False, f"{name}: cannot compare: {exc}")
        return
    differ = [f"{r.path}: {'; '.join(r.differences)}" for r in files if not r.identical]
    check(
        not differ,
        f"{name}: weights, metrics, history and predictions identical"
        if not differ
        else f"{name}: DIFFERENT " + " | ".join(differ),
    )


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir_a", type=Path)
    p.add_argument("dir_b", type=Path)
    p.add_argument("--expect", type=int, default=None, help="number of variants both dirs must hold")
    a = p.parse_args(argv)

    va, vb = variants(a.dir_a), variants(a.dir_b)
    check(
        bool(va) and va == vb,
        f"same variants in both runs: {len(va)} in A, {len(vb)} in B"
        + (f" (only in A: {sorted(va - vb)}, only in B: {sorted(vb - va)})" if va != vb else ""),
    )
    if a.expect is not None:
        check(len(va) == a.expect, f"{len(va)} variants, expected {a.expect}")
    for name in sorted(va & vb):
        compare_variant(a.dir_a / "results" / "runs", a.dir_b / "results" / "runs", name)
    passed = sum(results)
    print(f"  compare: {passed} of {len(results)} checks passed ({a.dir_a} vs {a.dir_b})")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
