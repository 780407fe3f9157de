"""The evaluation of a finished run: test accuracy and loss, confusion matrix, per-class accuracy,
and the epochs the history singles out (best validation accuracy and loss, the selected epoch).

Pure functions on arrays and the history table; the training job writes what they return.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def confusion_matrix(labels: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """(k, k) int64 counts: row = true class, column = predicted class."""
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, pred), 1)
    return confusion


def per_class_accuracy(confusion: np.ndarray, class_names) -> dict:
    """Recall of every class (its diagonal count over its row sum; 0 for a class without images)."""
    return {c: float(confusion[i, i] / max(confusion[i].sum(), 1)) for i, c in enumerate(class_names)}


def history_summary(hist: pd.DataFrame, best_epoch: int) -> dict:
    """best_val_acc / best_val_loss over the trained epochs (epoch 0 only when nothing else ran)
    and the validation accuracy of the selected epoch `best_epoch`."""
    best_row = hist.loc[hist["epoch"] == best_epoch].iloc[0]
    return {
        "best_epoch": int(best_epoch),
        "best_val_acc": float(hist["val_acc"].iloc[1:].max()) if len(hist) > 1 else float(hist["val_acc"].iloc[0]),
        "best_val_loss": float(hist["val_loss"].iloc[1:].min()) if len(hist) > 1 else float(hist["val_loss"].iloc[0]),
        "selected_val_acc": float(best_row["val_acc"]),
    }


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
