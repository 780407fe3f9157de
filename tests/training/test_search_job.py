"""search_job: a round's record from its trials' histories (validation columns only)."""

import json

import pytest

from cifarflow.errors import DataError
from cifarflow.training import search as S
from cifarflow.training.search_job import read_round_scores, read_validation, write_round

SEARCH = S.check_search({"name": "x", "method": "random", "n": 2, "space": {"eta": {"uniform": [0.1, 0.2]}}})


def history(path, val, extra=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    head = "epoch,train_acc,val_acc" + (",test_acc" if extra else "")
    rows = [f"{e},0.9,{v}" + (f",{extra}" if extra else "") for e, v in enumerate(val)]
    path.write_text("\n".join([head, *rows]) + "\n")
    return str(path)


def test_the_record_ranks_trials_by_the_kept_epochs_validation_accuracy_and_holds_no_test_number(tmp_path):
    trials = S.trials_for_round("s", SEARCH, 1, {})
    files = [
        history(tmp_path / trials[0].name / "history.csv", [0.1, 0.3, 0.2], extra="0.99"),
        history(tmp_path / trials[1].name / "history.csv", [0.1, 0.4, 0.4], extra="0.01"),
    ]
    out = tmp_path / "round1.json"
    rec = write_round("s", "x", "random", 1, [t.to_json() for t in trials], files, out, log=lambda m: None)
    assert json.loads(out.read_text()) == rec
    # the runs keep their last epoch: that epoch's accuracy ranks them, not the best one
    assert [(t["name"], t["val_acc"], t["epoch"], t["keep"]) for t in rec["trials"]] == [
        (trials[1].name, 0.4, 2, "last"),
        (trials[0].name, 0.2, 2, "last"),
    ]
    assert "test" not in out.read_text() and rec["digest"] == S.round_digest(trials)
    # runs that keep the best val_acc epoch (select_best) are ranked at that epoch; ties: the earlier
    best = [{**t.to_json(), "keep": "val_acc"} for t in trials]
    rec = write_round("s", "x", "random", 1, best, files, out, log=lambda m: None)
    assert [(t["name"], t["val_acc"], t["epoch"]) for t in rec["trials"]] == [
        (trials[1].name, 0.4, 1),
        (trials[0].name, 0.3, 1),
    ]
    assert rec["digest"] == S.round_digest(trials, {t.name: "val_acc" for t in trials}) != S.round_digest(trials)


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
    with pytest.raises(DataError, match="no epoch and val_acc columns"):
        read_validation(bad)
    assert not (tmp_path / "r.json").exists()


# ---- a damaged round record is one error line naming it (issue 25) -------------------------------


def _record(trials, **changes):
    rec = S.scored_round_record(
        "s",
        "x",
        "random",
        1,
        trials,
        {t.name: {"val_acc": 0.1 * i, "epoch": 1, "epochs_run": 1} for i, t in enumerate(trials)},
    )
    return json.loads(json.dumps(rec)) | changes


DAMAGED = {  # case: (the file's bytes, or a change to a good record; words of the error)
    "truncated": (b'{"trials": [', ("not JSON",)),
    "empty": (b"", ("not JSON",)),
    "not-utf8": (b"\xff\xfe{}", ("not JSON",)),
    "a-list": (b"[1, 2]", ("no list of trials",)),
    "trials-not-a-list": ({"trials": {"a": 1}}, ("no list of trials",)),
    "trial-without-name": ({"trials": [{"val_acc": 0.5}]}, ("trials[0] has no name",)),
    "trial-without-score": (lambda rec: rec["trials"][0].pop("val_acc"), ("has no val_acc",)),
    "score-as-text": (lambda rec: rec["trials"][0].update(val_acc="0.9"), ("not a number or null",)),
    "score-as-bool": (lambda rec: rec["trials"][1].update(val_acc=True), ("not a number or null",)),
    "a-trial-missing": (lambda rec: rec["trials"].pop(), ("no score for trial", "2 trials")),
    "a-foreign-trial": (lambda rec: rec["trials"][0].update(name="s-x-r9-t9"), ("no score for trial",)),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_round_record_is_one_line_naming_the_file(tmp_path, case):
    trials = S.trials_for_round("s", SEARCH, 1, {})
    content, words = DAMAGED[case]
    path = tmp_path / "round1-0123456789.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif callable(content):
        rec = _record(trials)
        content(rec)
        path.write_text(json.dumps(rec), encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_round_scores(path, trials)
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg and "delete it" in msg, msg
    for word in words:
        assert word in msg, msg


def test_a_round_record_of_the_rounds_trials_gives_their_scores(tmp_path):
    trials = S.trials_for_round("s", SEARCH, 1, {})
    path = tmp_path / "round1.json"
    path.write_text(json.dumps(_record(trials)), encoding="utf-8")
    assert read_round_scores(path, trials) == {trials[0].name: 0.0, trials[1].name: 0.1}
    rec = _record(trials)
    rec["trials"][0]["val_acc"] = None  # a trial without a finite score (a record's null) ranks last
    path.write_text(json.dumps(rec), encoding="utf-8")
    assert read_round_scores(path, trials)[rec["trials"][0]["name"]] is None
    path.write_text(json.dumps(rec).replace("null", "-Infinity"), encoding="utf-8")  # written before issue 25
    assert read_round_scores(path, trials)[rec["trials"][0]["name"]] is None


@pytest.mark.parametrize("kind", ["folder", "huge"])
def test_a_round_record_that_is_no_file_or_too_large_is_refused_before_reading(tmp_path, kind):
    from cifarflow.training import search_job

    path = tmp_path / "round1.json"
    if kind == "folder":
        path.mkdir()
    else:
        with open(path, "wb") as fh:
            fh.truncate(search_job.MAX_RECORD_BYTES + 1)  # sparse: no disk space
    with pytest.raises(DataError, match="not a regular file" if kind == "folder" else "too large"):
        read_round_scores(path, S.trials_for_round("s", SEARCH, 1, {}))
