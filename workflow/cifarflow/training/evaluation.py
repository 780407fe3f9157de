"""The evaluation of a finished run: test accuracy and loss, confusion matrix, per-class accuracy,
and the epochs the history singles out (best validation accuracy and loss, the selected epoch).

Pure functions on arrays and the history rows; the training job writes what they return.
(No pandas: a training job does not need its 0.2-0.3 s import.)
"""

from __future__ import annotations

import math

import numpy as np


def confusion_matrix(labels: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """(k, k) int64 counts: row = true class, column = predicted class."""
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, pred), 1)
    return confusion


def per_class_accuracy(confusion: np.ndarray, class_names) -> dict:
    """Recall of every class (its diagonal count over its row sum; 0 for a class without images)."""
    return {c: float(confusion[i, i] / max(confusion[i].sum(), 1)) for i, c in enumerate(class_names)}


def _finite_extreme(values, pick):
    """max/min of the non-NaN values (NaN when there are none), as pandas' Series.max/min."""
    kept = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return pick(kept) if kept else math.nan


def history_summary(rows: list[dict], best_epoch: int) -> dict:
    """best_val_acc / best_val_loss over the trained epochs (epoch 0 only when nothing else ran;
    NaN values, e.g. after a divergence, are skipped) and the validation accuracy of the selected
    epoch `best_epoch`. `rows`: the history, one dict per evaluated epoch, epoch 0 first."""
    best_row = next(r for r in rows if r["epoch"] == best_epoch)
    trained = rows[1:] if len(rows) > 1 else rows[:1]
    return {
        "best_epoch": int(best_epoch),
        "best_val_acc": _finite_extreme([r["val_acc"] for r in trained], max),
        "best_val_loss": _finite_extreme([r["val_loss"] for r in trained], min),
        "selected_val_acc": float(best_row["val_acc"]),
    }


def _csv_value(v, floats: bool) -> str:
    if v is None or (isinstance(v, float | np.floating) and math.isnan(v)):
        return ""  # pandas' na_rep
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer) and not floats:
        return str(int(v))
    return repr(float(v))  # the shortest repr that reads back to the same double, as pandas writes


def history_csv(rows: list[dict]) -> str:
    """history.csv's text: a header of the first row's keys, then one line per row (numbers in
    their shortest round-trip form, NaN empty; a column holding any float or NaN writes its whole
    numbers as floats, "3.0", as pandas does); the text `pandas.DataFrame(rows).to_csv(index=False)`
    writes for these rows (tested)."""
    if not rows:
        return "\n"
    keys = list(rows[0])
    floats = {
        k: any(r.get(k) is None or isinstance(r.get(k), float | np.floating) for r in rows)
        and not all(isinstance(r.get(k), bool | np.bool_) for r in rows)
        for k in keys
    }
    lines = [",".join(keys)]
    lines += [",".join(_csv_value(r.get(k), floats[k]) for k in keys) for r in rows]
    return "\n".join(lines) + "\n"


def metrics_on_test_set(test: dict, probs: np.ndarray, labels: np.ndarray, class_names) -> dict:
    """Test accuracy, loss, cost (from `solver.evaluate`), per-class accuracy and confusion matrix
    of the class probabilities `probs` (N, K) against `labels`."""
    confusion = confusion_matrix(labels, probs.argmax(axis=1), len(class_names))
    return {
        "test_acc": test["acc"],
        "test_loss": test["loss"],
        "test_cost": test["cost"],
        "per_class_acc": per_class_accuracy(confusion, class_names),
        "confusion": confusion.tolist(),
        "class_names": list(class_names),
    }
