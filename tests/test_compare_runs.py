"""`python -m cifarflow compare-runs A B`: two result trees compared file by file (issue 27)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from cifarflow.cli import main
from cifarflow.compare_runs import compare_trees

REPO = Path(__file__).resolve().parents[1]


def write_run(run: Path, seed: int, seconds: float) -> None:
    """One run's files as training writes them (weights, predictions, metrics, history)."""
    run.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    provenance = json.dumps({"host": f"host{seconds}", "git_commit": "abc"})
    with h5py.File(run / "weights.h5", "w") as f:
        f["params/W1"] = rng.normal(size=(10, 48)).astype(np.float32)
        f["params/b1"] = np.zeros(10, np.float32)
        f["norm_mean"] = rng.normal(size=48).astype(np.float32)
        f.attrs["config"] = json.dumps({"eta": 0.01, "seed": seed})
        f.attrs["best_epoch"] = "3"
        f.attrs["provenance"] = provenance
    with h5py.File(run / "predictions.h5", "w") as f:
        f["params/probs"] = rng.dirichlet(np.ones(10), size=20).astype(np.float32)
        f["labels"] = rng.integers(0, 10, 20)
        f.attrs["provenance"] = provenance
    metrics = {"test_acc": 0.41, "test_loss": float("nan"), "confusion": [[1, 2], [3, 4]], "config": {"eta": 0.01}}
    metrics["timing"] = {"train_seconds": seconds}
    metrics["provenance"] = {"host": f"host{seconds}"}
    (run / "metrics.json").write_text(json.dumps(metrics))
    rows = ["epoch,lr,train_loss,val_acc,seconds", "0,,2.3,0.1,0.0"]
    rows += [f"{e},0.01,{loss},0.{e},{seconds * e}" for e, loss in ((1, "2.2"), (2, "2.1"), (3, "2.0"))]
    (run / "history.csv").write_text("\n".join(rows) + "\n")


def write_tree(root: Path, seconds: float = 1.0) -> Path:
    """A results/ folder: two variants' runs and tables (timing columns differ with `seconds`)."""
    for i, name in enumerate(("soft", "mlp")):
        write_run(root / "runs" / name / "seed0", i, seconds)
    tables = root / "tables"
    tables.mkdir()
    (tables / "per_seed.csv").write_text(
        f"variant,seed,test acc (%),train s,peak MB\nsoft,0,41.0,{seconds},80.0\nmlp,0,43.5,{2 * seconds},{90 + seconds}\n"
    )
    (tables / "benchmarks.csv").write_text(f"rule,job,seconds\ntrain,soft,{seconds}\n")
    (tables / "per_seed.md").write_text(f"| train s |\n| {seconds} |\n")  # a rendering: not compared
    return root


def compare(a: Path, b: Path, capsys) -> tuple[int, str, str]:
    status = main(["compare-runs", str(a), str(b)])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_identical_trees_exit_0_whatever_their_timing_and_provenance(tmp_path, capsys):
    a = write_tree(tmp_path / "a" / "results", seconds=1.0)
    b = write_tree(tmp_path / "b" / "results", seconds=7.5)  # other clock, memory, host
    status, out, _ = compare(a, b, capsys)
    assert status == 0, out
    assert out.strip().splitlines() == [
        f"compare-runs: identical, 9 files (2 weights, 2 predictions, 2 metrics, 2 history, 1 table) in {a} and {b}"
    ]
    # the same for two workdirs and for two runs/ folders
    assert compare(tmp_path / "a", tmp_path / "b", capsys)[0] == 0
    assert compare(a / "runs", b / "runs", capsys)[0] == 0


def test_one_altered_weight_exits_1_naming_the_file_and_the_dataset(tmp_path, capsys):
    a = write_tree(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    with h5py.File(b / "runs" / "mlp" / "seed0" / "weights.h5", "r+") as f:
        w = f["params/W1"][()]
        w[3, 7] = np.nextafter(w[3, 7], np.float32(np.inf))  # one value, one ulp
        f["params/W1"][...] = w
    status, out, _ = compare(a, b, capsys)
    assert status == 1
    lines = out.strip().splitlines()
    assert lines[0].startswith("runs/mlp/seed0/weights.h5: dataset params/W1: 1 of 480 values differ (largest |A - B|")
    assert lines[-1] == (
        "compare-runs: 1 of 9 files differ (1 weights of 2 weights, 2 predictions, 2 metrics, 2 history, 1 table)"
        f" between {a} and {b}"
    )
    assert len(lines) == 2  # nothing else is reported


def test_every_kind_of_difference_is_named_by_file_and_place(tmp_path, capsys):
    a = write_tree(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    run = b / "runs" / "soft" / "seed0"
    with h5py.File(run / "predictions.h5", "r+") as f:
        f.attrs["config"] = "changed"
    m = json.loads((run / "metrics.json").read_text())
    m["config"]["eta"] = 0.02
    (run / "metrics.json").write_text(json.dumps(m))
    (run / "history.csv").write_text((run / "history.csv").read_text().replace("2,0.01,2.1", "2,0.01,2.2"))
    (b / "tables" / "per_seed.csv").write_text((b / "tables" / "per_seed.csv").read_text().replace("43.5", "44.0"))
    (b / "runs" / "mlp" / "seed0" / "predictions.h5").unlink()
    status, out, _ = compare(a, b, capsys)
    assert status == 1
    assert out.strip().splitlines()[:-1] == [
        "runs/mlp/seed0/predictions.h5: only in A",
        "runs/soft/seed0/history.csv: row 3 (epoch 2), column train_loss: 2.1 != 2.2",
        "runs/soft/seed0/metrics.json: config.eta: 0.01 != 0.02",
        "runs/soft/seed0/predictions.h5: attribute config only in B",
        "tables/per_seed.csv: row 2 (variant mlp), column test acc (%): 43.5 != 44.0",
    ]


def test_an_unreadable_file_is_a_difference_not_a_crash(tmp_path, capsys):
    a = write_tree(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    (b / "runs" / "soft" / "seed0" / "weights.h5").write_bytes(b"not hdf5")
    [r] = [r for r in compare_trees(a, b) if not r.identical]
    assert r.path == "runs/soft/seed0/weights.h5" and r.differences[0].startswith("cannot compare: OSError")


def test_a_missing_folder_or_no_results_is_a_one_line_error(tmp_path, capsys):
    a = write_tree(tmp_path / "a")
    status, out, err = compare(a, tmp_path / "missing", capsys)
    assert status == 1 and err == f"cifarflow: error: B ({tmp_path / 'missing'}) is not a folder\n"
    (tmp_path / "e1").mkdir()
    (tmp_path / "e2").mkdir()
    status, out, err = compare(tmp_path / "e1", tmp_path / "e2", capsys)
    assert status == 1 and err.startswith("cifarflow: error: no result files") and len(err.splitlines()) == 1


@pytest.mark.parametrize("alter", [False, True])
def test_the_slurm_selftests_checker_uses_the_same_comparison(tmp_path, alter):
    """tests/slurm/compare_runs.py keeps its PASS/FAIL lines and count (selftest.sh parses them)."""
    for d in ("a", "b"):
        write_tree(tmp_path / d / "results", seconds=1.0 if d == "a" else 2.0)
    if alter:
        with h5py.File(tmp_path / "b" / "results" / "runs" / "soft" / "seed0" / "weights.h5", "r+") as f:
            f["params/b1"][0] = 1.0
    proc = subprocess.run(
        [sys.executable, str(REPO / "tests" / "slurm" / "compare_runs.py"), str(tmp_path / "a"), str(tmp_path / "b")]
        + ["--expect", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = proc.stdout.splitlines()
    assert "  [PASS] mlp/seed0: weights, metrics, history and predictions identical" in lines
    soft = next(line for line in lines if "soft/seed0" in line)
    if alter:
        assert proc.returncode == 1
        assert (
            soft
            == "  [FAIL] soft/seed0: DIFFERENT weights.h5: dataset params/b1: 1 of 10 values differ (largest |A - B| 1)"
        )
        assert lines[-1].startswith("  compare: 3 of 4 checks passed")
    else:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert lines[-1].startswith("  compare: 4 of 4 checks passed")
