"""The file side of a search round (the `search-round` command, the workflow's checkpoint).

Reads each trial's history.csv - only its `epoch` and `val_acc` columns (and `val_loss` for a
trial that keeps the best val_loss epoch), so no test number can enter a choice - and of its
metrics.json only `timing` (the CPU the search spent), and writes the round's record
(`search.scored_round_record`) atomically.
"""

from __future__ import annotations

import csv
import json
import math
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..errors import DataError
from ..io import write_json
from . import search as S

MAX_RECORD_BYTES = 20_000_000  # a round record of MAX_TRIALS trials is well under 1 MB


def read_round_scores(path, trials: Sequence[S.Trial]) -> dict[str, float | None]:
    """Trial name -> validation score from the round record at `path`, which must score exactly
    `trials` (the round's trials as the config gives them). The workflow reads it while building
    the DAG (search_common.smk): a damaged record is a one-line DataError naming the file, never
    a traceback; deleting it makes Snakemake score the round again from the trials' histories."""
    fix = "delete it and Snakemake scores the round again from its trials' histories"
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise DataError(f"{path}: not a regular file; {fix}")
        if st.st_size > MAX_RECORD_BYTES:
            raise DataError(f"{path}: {st.st_size:,} bytes, too large for a round record; {fix}")
        with open(path, "rb") as fh:
            record = json.loads(fh.read(MAX_RECORD_BYTES + 1).decode("utf-8"))
    except OSError as exc:
        raise DataError(f"{path}: cannot read the round record ({exc.strerror})") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: damaged round record, not JSON ({reason}); {fix}") from None

    def damaged(what: str) -> DataError:
        return DataError(f"{path}: damaged round record ({what}); {fix}")

    entries = record.get("trials") if isinstance(record, dict) else None
    if not isinstance(entries, list):
        raise damaged("no list of trials")
    scores: dict[str, float | None] = {}
    for i, t in enumerate(entries):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise damaged(f"trials[{i}] has no name")
        if "val_acc" not in t:
            raise damaged(f"trial {t['name'][:80]!r} has no val_acc")
        v = t["val_acc"]
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise damaged(f"trial {t['name'][:80]!r} has val_acc {str(v)[:40]!r}, not a number or null")
        scores[t["name"]] = v if v is not None and math.isfinite(v) else None  # NaN or -Infinity: ranks last
    expected = [t.name for t in trials]
    if len(entries) != len(expected) or set(scores) != set(expected):
        missing = sorted(set(expected) - set(scores))
        what = f"no score for trial {missing[0]!r}" if missing else "trials this round does not have"
        raise damaged(f"{what}; the round has {len(expected)} trials")
    return scores


def check_round_against_histories(
    path, scores: Mapping, histories: Mapping[str, str], keeps: Mapping[str, str] | None = None
) -> None:
    """The round record at `path` must give each trial the score its history.csv gives (the
    record is what later rounds and the choice read, so an edited score would change them
    silently). `histories`: trial name -> its history.csv; a missing history is skipped (its trial
    is trained again and the round then scored again); `keeps`: trial name -> its keep rule
    (`search.keep_rule`, "last" when absent). A mismatch is a one-line DataError."""
    for name, history in histories.items():
        if name not in scores or not os.path.isfile(history):
            continue
        want = read_validation(history, (keeps or {}).get(name, "last"))["val_acc"]
        got = scores[name]
        same = (got is None and want is None) or (
            got is not None and want is not None and (got == want or abs(float(got) - float(want)) <= 1e-12)
        )
        if not same:
            raise DataError(
                f"{path}: trial {name} is scored {got} but its history {history} gives {want}; delete the record"
                " and Snakemake scores the round again from the trials' histories"
            )


def read_validation(history_path, keep: str = "last") -> dict:
    """`validation_summary` of one history.csv under the trial's keep rule, reading nothing but its
    epoch and val_acc columns (and val_loss when the run keeps the best val_loss epoch)."""
    cols = ("epoch", "val_acc", "val_loss") if keep == "val_loss" else ("epoch", "val_acc")
    try:
        with open(history_path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not set(cols) <= set(reader.fieldnames or ()):
                raise DataError(f"{history_path}: no {' and '.join(cols)} columns")
            rows = [{c: int(r[c]) if c == "epoch" else float(r[c]) for c in cols} for r in reader]
    except OSError as exc:
        raise DataError(f"{history_path}: cannot read ({exc.strerror})") from None
    except ValueError as exc:  # UnicodeDecodeError too
        raise DataError(f"{history_path}: not a history ({str(exc)[:200]})") from None
    if not rows:
        raise DataError(f"{history_path}: empty history")
    return S.validation_summary(rows, keep)


def read_cpu_seconds(metrics_path) -> float | None:
    """A run's CPU time in core-seconds from its metrics.json `timing` (the whole training call's
    wall seconds x its threads; nothing else of the file is kept), or None when unreadable."""
    try:
        with open(metrics_path, encoding="utf-8") as fh:
            timing = json.load(fh).get("timing") or {}
        seconds, threads = timing.get("total_seconds"), timing.get("threads") or 1
        return None if seconds is None else round(float(seconds) * int(threads), 3)
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def write_round(
    set_name: str,
    search_name: str,
    method: str,
    round_: int,
    trials: Sequence[Mapping],
    histories: Sequence[str],
    out,
    log: Callable[[str], None] = print,
) -> dict:
    """Score round `round_`'s `trials` (as `Trial.to_json`, plus `keep`: the trial's keep rule) from
    their histories, in the same order (each in a folder named after its trial), and write the
    record to `out`. Trials of the re-evaluation round also carry `candidate`, `candidate_val_acc`
    (the candidate's own score) and `confidence`; their record then compares the candidates
    (`search.compare_candidates`)."""
    parsed = [S.trial_from_json(t) for t in trials]
    if len(parsed) != len(histories):
        raise DataError(f"round {round_}: {len(parsed)} trials but {len(histories)} histories")
    keeps = {t["name"]: t.get("keep", "last") for t in trials}
    summaries, cpu = {}, {}
    for t, path in zip(parsed, histories):
        if Path(path).parent.name != t.name:
            raise DataError(f"{path}: not the history of trial {t.name}")
        summaries[t.name] = read_validation(path, keeps[t.name])
        cpu[t.name] = read_cpu_seconds(Path(path).parent / "metrics.json")
        s = summaries[t.name]
        log(f"{t.name}: val_acc {s['val_acc']:.4f} at the kept epoch {s['epoch']} ({s['keep']})")
    reevaluation = None
    if trials and all("candidate" in t for t in trials):
        groups: dict[str, tuple[dict, list]] = {}
        for t, p in zip(trials, parsed):
            settings = {k: v for k, v in p.settings.items() if k != "seed"}
            groups.setdefault(t["candidate"], (settings, [t["candidate_val_acc"]]))[1].append(
                summaries[p.name]["val_acc"]
            )
        reevaluation = S.compare_candidates(
            [(name, st, vals) for name, (st, vals) in groups.items()], float(trials[0]["confidence"])
        )
        for c in reevaluation:
            log(f"{c['name']}: mean val_acc {c['mean']}{' (chosen)' if c['chosen'] else ''}")
    record = S.scored_round_record(set_name, search_name, method, round_, parsed, summaries, keeps, cpu, reevaluation)
    write_json(out, record)
    return record
