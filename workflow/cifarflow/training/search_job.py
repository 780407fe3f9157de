"""The file side of a search round (the `search-round` command, the workflow's checkpoint).

Reads each trial's history.csv - only its `epoch` and `val_acc` columns, so no test number can
enter a choice - and writes the round's record (`search.scored_round_record`) atomically.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..errors import DataError
from ..io import write_json
from . import search as S


def read_validation(history_path) -> dict:
    """`validation_summary` of one history.csv, reading nothing but its epoch and val_acc columns."""
    try:
        with open(history_path, newline="") as fh:
            reader = csv.DictReader(fh)
            if not {"epoch", "val_acc"} <= set(reader.fieldnames or ()):
                raise DataError(f"{history_path}: no epoch and val_acc columns")
            rows = [{"epoch": int(r["epoch"]), "val_acc": float(r["val_acc"])} for r in reader]
    except OSError as exc:
        raise DataError(f"{history_path}: cannot read ({exc.strerror})") from None
    except ValueError as exc:
        raise DataError(f"{history_path}: not a history ({exc})") from None
    if not rows:
        raise DataError(f"{history_path}: empty history")
    return S.validation_summary(rows)


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
    """Score round `round_`'s `trials` (as `Trial.to_json`) from their histories, in the same order
    (each in a folder named after its trial), and write the record to `out`."""
    trials = [S.trial_from_json(t) for t in trials]
    if len(trials) != len(histories):
        raise DataError(f"round {round_}: {len(trials)} trials but {len(histories)} histories")
    summaries = {}
    for t, path in zip(trials, histories):
        if Path(path).parent.name != t.name:
            raise DataError(f"{path}: not the history of trial {t.name}")
        summaries[t.name] = read_validation(path)
        log(f"{t.name}: best val_acc {summaries[t.name]['val_acc']:.4f} at epoch {summaries[t.name]['epoch']}")
    record = S.scored_round_record(set_name, search_name, method, round_, trials, summaries)
    write_json(out, record)
    return record
