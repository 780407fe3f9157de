"""search_job: a round's record from its trials' histories (validation columns only)."""

import json

import pytest

from cifarflow.errors import DataError
from cifarflow.training import search as S
from cifarflow.training.search_job import read_validation, write_round

SEARCH = S.check_search({"name": "x", "method": "random", "n": 2, "space": {"eta": {"uniform": [0.1, 0.2]}}})


def history(path, val, extra=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    head = "epoch,train_acc,val_acc" + (",test_acc" if extra else "")
    rows = [f"{e},0.9,{v}" + (f",{extra}" if extra else "") for e, v in enumerate(val)]
    path.write_text("\n".join([head, *rows]) + "\n")
    return str(path)


def test_the_record_ranks_trials_by_best_validation_accuracy_and_holds_no_test_number(tmp_path):
    trials = S.trials_for_round("s", SEARCH, 1, {})
    files = [
        history(tmp_path / trials[0].name / "history.csv", [0.1, 0.3, 0.2], extra="0.99"),
        history(tmp_path / trials[1].name / "history.csv", [0.1, 0.4, 0.4], extra="0.01"),
    ]
    out = tmp_path / "round1.json"
    rec = write_round("s", "x", "random", 1, [t.to_json() for t in trials], files, out, log=lambda m: None)
    assert json.loads(out.read_text()) == rec
    assert [(t["name"], t["val_acc"], t["epoch"]) for t in rec["trials"]] == [
        (trials[1].name, 0.4, 1),  # ties go to the earlier epoch
        (trials[0].name, 0.3, 1),
    ]
    assert "test" not in out.read_text() and rec["digest"] == S.round_digest(trials)


def test_a_history_of_another_trial_or_without_val_acc_is_refused(tmp_path):
    trials = S.trials_for_round("s", SEARCH, 1, {})
    wrong = [
        history(tmp_path / "other" / "history.csv", [0.1]),
        history(tmp_path / trials[1].name / "history.csv", [0.1]),
    ]
    with pytest.raises(DataError, match="not the history of trial"):
        write_round("s", "x", "random", 1, [t.to_json() for t in trials], wrong, tmp_path / "r.json")
    bad = tmp_path / "bad" / "history.csv"
    bad.parent.mkdir()
    bad.write_text("epoch,train_acc\n0,0.1\n")
    with pytest.raises(DataError, match="no epoch and val_acc"):
        read_validation(bad)
    assert not (tmp_path / "r.json").exists()
