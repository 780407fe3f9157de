"""A hyperparameter search end to end through the real Snakemake, on the generated archive.

Two rounds of coarse-to-fine (3 trials each) and two final seeds: `snakemake -n` lists round 1,
one `snakemake` gives the choice, the figures, the tables and the final models' test numbers; the
choice is the trial with the best validation accuracy at the epoch the runs keep (the last) in the
trials' own history files; no round
record holds a test number and the rounds read nothing but history files; one more round trains
only the new round's trials, a larger `n` only the new trials of round 1. A hyperband search with
re-evaluation runs end to end, its report naming the chosen candidate. (The search functions
themselves are tested in tests/training/test_search.py and test_search_selection.py.)
"""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workflow_utils import scheduled_jobs, snakemake, write_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

SEARCH_DIR = "results/search/tiny/lam"


def search_config(archive, rounds=2):
    return {
        "local_archive": str(archive),
        "splits": {"full": {"type": "holdout", "val_size": 100, "seed": 0}},
        "defaults": {"epochs": 2, "batch_size": 50, "eval_train": 100},
        "experiments": {
            "tiny": {
                "title": "A tiny search",
                "search": {
                    "name": "lam",
                    "method": "coarse_to_fine",
                    "n": 3,
                    "rounds": rounds,
                    "top_k": 2,
                    "base": {"model": "softmax"},
                    # small learning rates: two epochs leave the trials' validation accuracies apart
                    "space": {"eta": {"log_uniform": [1.0e-7, 1.0e-4]}, "lambda": {"log_uniform": [1.0e-4, 1.0]}},
                    "final": {"seeds": [101, 102]},
                },
            }
        },
    }


def trained(proc) -> list[str]:
    text = proc.stdout + proc.stderr
    return sorted(set(re.findall(rf"output: {SEARCH_DIR}/trials/([^/]+)/weights\.h5", text)))


def round_inputs(proc) -> list[str]:
    """The input files of every search_round job in a Snakemake log."""
    text = proc.stdout + proc.stderr
    out = []
    for block in re.findall(r"checkpoint search_round:\n(.*?)\n\s*output:", text, flags=re.S):
        line = block.strip()
        assert line.startswith("input:")
        out += [f.strip() for f in line.removeprefix("input:").split(",")]
    return out


@pytest.fixture(scope="module")
def searched(tmp_path_factory, archive):
    wd = tmp_path_factory.mktemp("search")
    write_config(wd, search_config(archive))
    proc = snakemake(wd, "--cores", "2")
    return wd, proc


def test_dry_run_on_a_fresh_dir_lists_round_one_only(archive, tmp_path):
    write_config(tmp_path, search_config(archive))
    proc = snakemake(tmp_path, "-n")
    jobs = scheduled_jobs(proc)
    assert jobs["search_train"] == 3 and jobs["search_round"] == 1
    assert "search_final" not in jobs  # they wait for the last round's checkpoint
    assert trained(proc) == ["tiny-lam-r1-t0", "tiny-lam-r1-t1", "tiny-lam-r1-t2"]
    assert not (tmp_path / "results").exists()


def best_from_histories(wd) -> str:
    """The best trial, computed from the trials' history files alone: the validation accuracy of
    the last epoch, the one the runs keep (ties: earlier round, then index)."""
    rows = []
    for h in sorted((wd / SEARCH_DIR / "trials").glob("*/history.csv")):
        m = re.search(r"-r(\d+)-t(\d+)$", h.parent.name)
        rows.append((-pd.read_csv(h)["val_acc"].iloc[-1], int(m.group(1)), int(m.group(2)), h.parent.name))
    assert len(rows) == 6
    return min(rows)[3]


def test_the_choice_is_the_best_validation_trial_and_only_final_models_are_tested(searched):
    wd, proc = searched
    assert len(trained(proc)) == 6
    result = json.loads((wd / SEARCH_DIR / "chosen.json").read_text())
    assert result["chosen"]["name"] == best_from_histories(wd)
    chosen = result["chosen"]["settings"]
    tests = []
    for seed in (101, 102):
        m = json.loads((wd / SEARCH_DIR / f"final/seed{seed}/metrics.json").read_text())
        assert m["config"]["seed"] == seed
        assert {k: m["config"][k] for k in chosen} == chosen  # the chosen setting, retrained
        tests.append(m["test_acc"])
    assert result["final"]["test_acc"] == tests
    assert result["final"]["test_acc_mean"] == pytest.approx(sum(tests) / 2)


def test_rounds_read_validation_only(searched):
    wd, proc = searched
    inputs = round_inputs(proc)
    assert len(inputs) == 3 + 3 + 1  # round 1's histories; round 2's histories and round 1's record
    assert all(f.endswith("/history.csv") or re.search(r"/round1-[0-9a-f]{10}\.json$", f) for f in inputs)
    assert "test" not in pd.read_csv(next((wd / SEARCH_DIR / "trials").glob("*/history.csv"))).columns.str.cat()
    records = sorted((wd / SEARCH_DIR).glob("round*.json"))
    assert len(records) == 2
    for f in records:
        assert "test" not in f.read_text()  # no test number can have entered the choice


def test_search_results_a_person_reads(searched):
    wd, _ = searched
    trials = pd.read_csv(wd / SEARCH_DIR / "trials.csv")
    assert len(trials) == 6 and {"eta", "lambda", "val_acc", "round", "epochs_run"} <= set(trials.columns)
    pages = ("trials.html", "final.html", "importance.html")  # the tables as the report shows them
    for f in (
        "trials.md",
        "final.csv",
        "importance.md",
        "settings.png",
        "settings.pdf",
        "parallel.png",
        "parallel.pdf",
        *pages,
    ):
        assert (wd / SEARCH_DIR / f).stat().st_size > 0, f
    summary = (wd / "results" / "summary.md").read_text()
    result = json.loads((wd / SEARCH_DIR / "chosen.json").read_text())
    assert "Search tiny / lam" in summary and result["chosen"]["name"] in summary
    assert result["final"]["text"] in summary
    importance = pd.read_csv(wd / SEARCH_DIR / "importance.csv")
    assert set(importance["setting"]) == {"eta", "lambda"}  # every searched setting, from round 1's trials
    assert set(importance["trials"]) == {len(trials[trials["round"] == 1])}
    assert [r["setting"] for r in result["importance"]] == list(importance["setting"])
    for link in re.findall(r"\]\(([^)]+)\)", summary):
        assert (wd / "results" / link).exists(), link


def _copy_of(searched, tmp_path):
    import shutil

    wd, _ = searched
    return Path(shutil.copytree(wd, tmp_path / "copy", symlinks=True))


def test_an_edited_round_score_stops_the_workflow_naming_the_record(searched, tmp_path):
    """A round record is what later rounds and the choice read: a score edited in it (r1-t0 made
    the best) would steer the search silently. It must agree with the trial's own history."""
    wd = _copy_of(searched, tmp_path)
    (record,) = (wd / SEARCH_DIR).glob("round1-*.json")
    data = json.loads(record.read_text())
    data["trials"][-1]["val_acc"] = 0.999
    record.write_text(json.dumps(data))
    proc = snakemake(wd, "-n", check=False)
    err = [line for line in (proc.stdout + proc.stderr).splitlines() if "cifarflow: error:" in line]
    assert proc.returncode != 0 and len(err) == 1, proc.stderr[-2000:]
    assert record.name in err[0] and "history" in err[0] and data["trials"][-1]["name"] in err[0]


def test_a_deleted_trial_is_trained_again_and_its_round_scored_again(searched, tmp_path):
    import shutil

    wd = _copy_of(searched, tmp_path)
    before = json.loads((wd / SEARCH_DIR / "chosen.json").read_text())
    shutil.rmtree(wd / SEARCH_DIR / "trials" / "tiny-lam-r1-t1")
    proc = snakemake(wd, "--cores", "2")
    assert "tiny-lam-r1-t1" in trained(proc)
    assert (wd / SEARCH_DIR / "trials" / "tiny-lam-r1-t1" / "history.csv").exists()
    assert json.loads((wd / SEARCH_DIR / "chosen.json").read_text())["chosen"] == before["chosen"]
    assert scheduled_jobs(snakemake(wd, "-n")) == {}


def test_one_more_round_reuses_every_trained_trial(searched, archive):
    wd, _ = searched
    write_config(wd, search_config(archive, rounds=3), "three.yaml")
    proc = snakemake(wd, "--cores", "2", config="three.yaml")
    assert trained(proc) == ["tiny-lam-r3-t0", "tiny-lam-r3-t1", "tiny-lam-r3-t2"]
    assert [f for f in round_inputs(proc) if "/round" in f] == sorted(
        str(p.relative_to(wd)) for p in (wd / SEARCH_DIR).glob("round[12]-*.json")
    )  # only round 3's checkpoint ran
    result = json.loads((wd / SEARCH_DIR / "chosen.json").read_text())
    assert result["rounds"] == 3 and len(pd.read_csv(wd / SEARCH_DIR / "trials.csv")) == 9
    again = snakemake(wd, "-n", config="three.yaml")
    assert scheduled_jobs(again) == {}


def test_a_larger_n_trains_only_the_new_trials_of_round_one(searched, archive):
    wd, _ = searched
    cfg = search_config(archive, rounds=3)
    cfg["experiments"]["tiny"]["search"]["n"] = 4
    write_config(wd, cfg, "four.yaml")
    new = trained(snakemake(wd, "--cores", "2", config="four.yaml"))
    assert "tiny-lam-r1-t3" in new and not {"tiny-lam-r1-t0", "tiny-lam-r1-t1", "tiny-lam-r1-t2"} & set(new)
    # later rounds follow round 1's new top_k: their trials may be retrained (their inputs changed)
    assert len(pd.read_csv(wd / SEARCH_DIR / "trials.csv")) == 12


def test_successive_halving_promotes_the_best_and_chooses_in_the_last_rung(archive, tmp_path):
    cfg = search_config(archive)
    cfg["experiments"]["tiny"]["search"] = {
        "name": "lam",
        "method": "successive_halving",
        "n": 4,
        "reduction": 2,
        "min_epochs": 1,
        "max_epochs": 2,  # rungs: 4 trials for 1 epoch, the best 2 for 2 epochs
        "base": {"model": "softmax"},
        "space": {"eta": {"log_uniform": [1.0e-7, 1.0e-4]}},
        "final": {"seeds": [101]},
    }
    write_config(tmp_path, cfg)
    snakemake(tmp_path, "--cores", "2")
    trials = pd.read_csv(tmp_path / SEARCH_DIR / "trials.csv")
    first = trials[trials["round"] == 1]
    second = trials[trials["round"] == 2]
    assert list(first["epochs_run"]) == [1] * 4 and list(second["epochs_run"]) == [2] * 2
    # the promoted arms are round 1's best two, by the histories of round 1 (the kept, last epoch)
    val = {
        h.parent.name: pd.read_csv(h)["val_acc"].iloc[-1]
        for h in (tmp_path / SEARCH_DIR / "trials").glob("*-r1-*/history.csv")
    }
    best_two = sorted(val, key=lambda n: (-val[n], int(n.rsplit("-t", 1)[1])))[:2]
    assert sorted(n.rsplit("-t", 1)[1] for n in second["trial"]) == sorted(n.rsplit("-t", 1)[1] for n in best_two)
    result = json.loads((tmp_path / SEARCH_DIR / "chosen.json").read_text())
    last = {
        h.parent.name: pd.read_csv(h)["val_acc"].iloc[-1]
        for h in (tmp_path / SEARCH_DIR / "trials").glob("*-r2-*/history.csv")
    }
    best = min(last, key=lambda n: (-last[n], int(n.rsplit("-t", 1)[1])))  # ties: the lower arm index
    assert result["chosen"]["round"] == 2 and result["chosen"]["name"] == best
    final = json.loads((tmp_path / SEARCH_DIR / "final/seed101/metrics.json").read_text())
    assert final["config"]["epochs"] == 2 and final["config"]["eta"] == result["chosen"]["settings"]["eta"]


def test_hyperband_with_reevaluation_runs_end_to_end_and_its_report_names_the_choice(archive, tmp_path):
    cfg = search_config(archive)
    cfg["experiments"]["tiny"]["search"] = {
        "name": "lam",
        "method": "hyperband",
        "reduction": 2,
        "min_epochs": 1,
        "max_epochs": 2,  # brackets: 2 trials at 2 epochs; 2 at 1 epoch, the best 1 at 2
        "base": {"model": "softmax"},
        "space": {"eta": {"log_uniform": [1.0e-7, 1.0e-4]}},
        "reevaluate": {"top": 2, "seeds": 2},  # the 3 full-budget trials' best 2, seeds 1 and 2
        "budget_cpu_minutes": 30,
        "final": {"seeds": [101]},
    }
    write_config(tmp_path, cfg)
    proc = snakemake(tmp_path, "--cores", "2")
    assert len(trained(proc)) == 2 + 2 + 1 + 2 * 2
    records = [json.loads(f.read_text()) for f in sorted((tmp_path / SEARCH_DIR).glob("round*.json"))]
    assert [r["round"] for r in records] == [1, 2, 3]
    reeval = records[-1]["reevaluation"]
    assert len(reeval) == 2 and sum(c["chosen"] for c in reeval) == 1

    # the choice: the best mean over each candidate's seeds, from the histories' last epochs
    def last(name):
        return pd.read_csv(tmp_path / SEARCH_DIR / "trials" / name / "history.csv")["val_acc"].iloc[-1]

    means = {c["name"]: np.mean([last(c["name"]), *(last(f"{c['name']}-s{s}") for s in (1, 2))]) for c in reeval}
    result = json.loads((tmp_path / SEARCH_DIR / "chosen.json").read_text())
    assert result["chosen"]["name"] == max(means, key=means.get)
    assert result["chosen"]["val_acc_mean"] == pytest.approx(max(means.values()))
    final = json.loads((tmp_path / SEARCH_DIR / "final/seed101/metrics.json").read_text())
    assert final["config"]["epochs"] == 2 and final["config"]["eta"] == result["chosen"]["settings"]["eta"]
    summary = (tmp_path / SEARCH_DIR / "summary.md").read_text()
    assert f"chosen: **{result['chosen']['name']}**" in summary and "Re-evaluated candidates" in summary
    assert "CPU-minutes: spent" in summary and "budget 30" in summary
    assert result["budget"]["spent_minutes"] > 0 and result["budget"]["unknown"] == 0
    assert scheduled_jobs(snakemake(tmp_path, "-n")) == {}
