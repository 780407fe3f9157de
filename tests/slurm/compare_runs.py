"""Compare two workdirs of the real workflow variant by variant, bit for bit.

Used by .ci/slurm/selftest.sh to compare the run on SLURM with the local run of the same config:

    python3 tests/slurm/compare_runs.py DIR_A DIR_B [--expect N]

For every run (variant and seed) under DIR_A/results/runs and DIR_B/results/runs it compares
`run_fingerprint` from tests/workflow_utils.py (SHA-256 of the weight arrays, metrics.json
without its timing/provenance keys, history.csv without its seconds column) and the test-set
probabilities in predictions.h5. Both dirs must hold the same, non-empty set of variants
(exactly N with --expect).

Prints one "[PASS]/[FAIL] ..." line per check and a count; exit status 1 on any difference.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/

import h5py  # noqa: E402

from workflow_utils import run_fingerprint  # noqa: E402

results: list[bool] = []


def check(ok: bool, what: str) -> bool:
    results.append(bool(ok))
    print(f"  [{'PASS' if ok else 'FAIL'}] {what}", flush=True)
    return bool(ok)


def variants(workdir: Path) -> set[str]:
    runs = workdir / "results" / "runs"
    return {f"{p.parent.name}/{p.name}" for p in runs.glob("*/seed*") if p.is_dir()} if runs.is_dir() else set()


def predictions_digest(path: Path) -> str:
    h = hashlib.sha256()
    with h5py.File(path, "r") as f:
        for name in sorted(f):
            if isinstance(f[name], h5py.Dataset):
                a = f[name][()]
                h.update(f"{name}{a.dtype}{a.shape}".encode())
                h.update(a.tobytes())
    return h.hexdigest()


def first_difference(a: dict, b: dict, prefix: str = "") -> str:
    for k in sorted(set(a) | set(b)):
        if k not in a or k not in b:
            return f"{prefix}{k} only in {'B' if k not in a else 'A'}"
        if isinstance(a[k], dict) and isinstance(b[k], dict):
            d = first_difference(a[k], b[k], f"{prefix}{k}.")
            if d:
                return d
        elif a[k] != b[k]:
            return f"{prefix}{k}: {str(a[k])[:60]} != {str(b[k])[:60]}"
    return ""


def compare_variant(a: Path, b: Path, name: str) -> None:
    """Compare one run, `name` = <variant>/seed<s>."""
    variant, seed = name.rsplit("/seed", 1)
    try:
        fa, fb = run_fingerprint(a, variant, int(seed)), run_fingerprint(b, variant, int(seed))
    except Exception as exc:  # a missing or unreadable file is a failure, not a crash
        check(False, f"{name}: cannot read its results: {type(exc).__name__}: {exc}")
        return
    if fa == fb:
        pa = predictions_digest(a / "results" / "runs" / name / "predictions.h5")
        pb = predictions_digest(b / "results" / "runs" / name / "predictions.h5")
        check(
            pa == pb,
            f"{name}: weights {fa[0][:12]}, metrics (test_acc {fa[1].get('test_acc')}), "
            f"history ({len(fa[2].splitlines()) - 1} epochs) and predictions "
            f"{'identical' if pa == pb else 'DIFFER (predictions.h5)'}",
        )
        return
    what = []
    if fa[0] != fb[0]:
        what.append(f"weights {fa[0][:12]} != {fb[0][:12]}")
    if fa[1] != fb[1]:
        what.append(f"metrics ({first_difference(fa[1], fb[1])})")
    if fa[2] != fb[2]:
        la, lb = fa[2].splitlines(), fb[2].splitlines()
        row = next((i for i, (x, y) in enumerate(zip(la, lb)) if x != y), min(len(la), len(lb)))
        what.append(f"history (first differing row {row})")
    check(False, f"{name}: DIFFERENT " + "; ".join(what))


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
        compare_variant(a.dir_a, a.dir_b, name)
    passed = sum(results)
    print(f"  compare: {passed} of {len(results)} checks passed ({a.dir_a} vs {a.dir_b})")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
