"""Seeds until decided and generic questions, end to end through the real Snakemake on generated
data (issue 24): a question with `decide` looks at its runs after each batch of seeds (one
checkpoint per look), adds seeds only while undecided, never retrains a run, and its answer names
the verdict, the seeds and why it stopped; `compare` and `sweep` questions over any setting get
answers too."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from cifarflow.report import recipe

from workflow_utils import run_path, scheduled_jobs, small_config, snakemake, write_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

VERDICTS = {recipe.VERDICT_A, recipe.VERDICT_B, recipe.VERDICT_EQUIV, recipe.VERDICT_UNDECIDED}


def decide_config(archive: Path) -> dict:
    cfg = small_config(archive)
    # one short epoch from a wide initialisation: accuracies that change from seed to seed, so that
    # two seeds leave the momentum question undecided and the workflow adds seeds
    cfg["defaults"] = {
        "epochs": 1,
        "batch_size": 50,
        "eta": 0.0002,
        "init_sigma": 0.05,
        "model": "softmax",
        "seeds": [0, 1],
    }
    cfg["statistics"] = {"n_resamples": 199, "min_effect": 0.005}
    cfg["experiments"] = {
        "q": {
            "variants": [
                {"name": "plain", "momentum": 0.0},
                {"name": "heavy", "momentum": 0.9},
                {"name": "w", "model": "mlp", "grid": {"hidden": [[8], [16]]}},
            ],
            "questions": [
                # generic two-variant question with seeds added until decided (at most 4 per variant)
                {
                    "name": "momentum",
                    "kind": "compare",
                    "variants": ["heavy", "plain"],
                    "decide": {"max_seeds": 5, "batch": 1},
                },
                # a sweep over a setting that is not lambda, with labels
                {"name": "width", "kind": "sweep", "grid": "w", "setting": "hidden", "labels": ["8 units", "16 units"]},
            ],
        }
    }
    return cfg


@pytest.fixture(scope="module")
def decided_run(tmp_path_factory, archive) -> Path:
    wd = tmp_path_factory.mktemp("decide")
    write_config(wd, decide_config(archive))
    dry = snakemake(wd, "-n", "--cores", "2")
    (wd / "dry.txt").write_text(dry.stdout + dry.stderr)
    snakemake(wd, "--cores", "2")
    return wd


def _looks(wd: Path) -> list[dict]:
    files = sorted((wd / "results" / "decide" / "momentum").glob("look*.json"))
    return [json.loads(f.read_text()) for f in files]


def test_dry_run_lists_only_the_first_batch_of_seeds(decided_run):
    text = (decided_run / "dry.txt").read_text()
    jobs = scheduled_jobs(type("P", (), {"stdout": text, "stderr": ""})())
    # own seeds only: plain, heavy, w-hidden8, w-hidden16 x 2 seeds; no seed 2 or 3 yet
    assert jobs.get("train") == 8, jobs
    assert "seed2" not in text and "seed3" not in text


def test_looks_add_seeds_until_the_question_stops(decided_run):
    looks = _looks(decided_run)
    assert len(looks) >= 2, "the question stopped at its first look: the test data no longer exercise added seeds"
    assert looks[0]["verdicts"][0][2] == recipe.VERDICT_UNDECIDED
    assert [r["look"] for r in looks] == list(range(1, len(looks) + 1))
    assert all(not r["stop"] for r in looks[:-1]) and looks[-1]["stop"]
    assert looks[-1]["stop_reason"] in ("decided", "max_seeds reached", "futile")
    n_last = looks[-1]["n_seeds"]["heavy"]
    assert n_last == 2 + (len(looks) - 1)  # batch 1 per look after the own 2 seeds
    for seed in range(n_last):
        assert (run_path(decided_run, "heavy", seed) / "metrics.json").exists()
        assert (run_path(decided_run, "plain", seed) / "metrics.json").exists()
    assert not run_path(decided_run, "heavy", n_last).exists()  # no seed beyond the stopping look
    # the sweep question has no decide: its variants keep their own seeds
    assert not run_path(decided_run, "w-hidden8", 2).exists()


def test_question_table_and_answer_use_the_stopping_look(decided_run):
    looks = _looks(decided_run)
    table = pd.read_csv(decided_run / "results" / "tables" / "q" / "paired_momentum.csv")
    (row,) = table.to_dict("records")
    assert row["verdict"] in VERDICTS
    assert row["n_seeds_a"] == row["n_seeds_b"] == looks[-1]["n_seeds"]["heavy"]
    assert row["look"] == len(looks) and row["stop_reason"] == looks[-1]["stop_reason"]
    assert bool(row["paired"])  # same seeds, same plans, same init: paired by seed
    answers = (decided_run / "results" / "answers.md").read_text()
    line = next(line for line in answers.splitlines() if line.startswith("- **momentum**"))
    assert "P(A>B)" in line and "verdict:" in line and "seeds per variant" in line
    assert re.search(r"momentum = 0\.9|heavy", line)


def test_sweep_over_a_non_lambda_setting_gets_an_answer_with_its_labels(decided_run):
    answers = (decided_run / "results" / "answers.md").read_text()
    line = next(line for line in answers.splitlines() if line.startswith("- **width**"))
    assert "8 units" in line and "16 units" in line and "pairs" in line
    table = pd.read_csv(decided_run / "results" / "tables" / "q" / "paired_width.csv")
    assert set(table["verdict"]) <= VERDICTS


def test_a_finished_question_reruns_nothing_and_retrains_nothing(decided_run):
    weights = sorted((decided_run / "results" / "runs").rglob("weights.h5"))
    before = {p: p.stat().st_mtime_ns for p in weights}
    again = snakemake(decided_run, "-n", "--cores", "2")
    assert "Nothing to be done" in again.stdout + again.stderr
    assert {p: p.stat().st_mtime_ns for p in weights} == before
