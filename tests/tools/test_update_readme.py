"""tools/update_readme.py: the README's generated results block."""

import json
import subprocess
import sys

import pytest
import update_readme  # tools/update_readme.py (tests/conftest.py puts tools/ on sys.path)
from update_readme import RESULTS_END, RESULTS_START


def metrics(name, test_acc=0.40567, seed=0):
    return {
        "config": {"seed": seed},
        "set": "s",
        "variant": name,
        "model": "softmax",
        "loss": "cross_entropy",
        "test_acc": test_acc,
        "best_val_acc": 0.41234,
        "epochs_run": 40,
        "timing": {"train_seconds": 12.34},
        "data_sha256": "ab" * 32,
    }


def test_readme_results_block_is_regenerated_from_runs(tmp_path):
    runs = tmp_path / "runs"
    for name in ("best-softmax", "other"):
        (runs / name / "seed0").mkdir(parents=True)
        (runs / name / "seed0" / "metrics.json").write_text(json.dumps(metrics(name)))
    for seed, acc in ((1, 0.40),):  # a second seed of best-softmax: the mean with its t interval
        (runs / "best-softmax" / f"seed{seed}").mkdir(parents=True)
        (runs / "best-softmax" / f"seed{seed}" / "metrics.json").write_text(
            json.dumps(metrics("best-softmax", acc, seed))
        )
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{RESULTS_START}\nold\n{RESULTS_END}\nrest\n")
    assert update_readme.update_readme(readme, runs)
    text = readme.read_text()
    assert "old" not in text and "best-softmax" in text and "40.57 (n=1)" in text and text.endswith("rest\n")
    from scipy import stats

    half = stats.t.ppf(0.975, 1) * stats.tstd([40.567, 40.0]) / 2**0.5
    assert f"{(40.567 + 40.0) / 2:.2f} ± {half:.2f} (n=2)" in text
    assert not update_readme.update_readme(readme, runs)  # idempotent
    with pytest.raises(ValueError, match="no results block"):
        (tmp_path / "R2.md").write_text("nothing")
        update_readme.update_readme(tmp_path / "R2.md", runs)


def test_the_tool_runs_as_documented(tmp_path):
    runs = tmp_path / "runs"
    (runs / "best-softmax" / "seed0").mkdir(parents=True)
    (runs / "best-softmax" / "seed0" / "metrics.json").write_text(json.dumps(metrics("best-softmax", 0.5)))
    readme = tmp_path / "README.md"
    readme.write_text(f"{RESULTS_START}\n{RESULTS_END}\n")
    cmd = [
        sys.executable,
        update_readme.__file__,
        "--readme",
        str(readme),
        "--runs",
        str(runs),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "| best-softmax" in readme.read_text() and "50" in readme.read_text()
    readme.write_text("no block")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "no results block" in proc.stderr
