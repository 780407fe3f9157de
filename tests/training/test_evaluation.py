"""The metrics of a finished run, against independent computations."""

import numpy as np
import pandas as pd
import pytest

from cifarflow.training.evaluation import (
    confusion_matrix,
    history_summary,
    metrics_on_test_set,
    per_class_accuracy,
)


def test_confusion_matrix_counts_every_true_predicted_pair():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    ref = pd.crosstab(
        pd.Categorical(y, categories=range(4)),
        pd.Categorical(p, categories=range(4)),
        dropna=False,
    ).to_numpy()
    np.testing.assert_array_equal(confusion_matrix(y, p, 4), ref)


def test_per_class_accuracy_is_each_class_recall_and_zero_without_images():
    y = np.array([0, 0, 0, 1, 1, 2])
    p = np.array([0, 1, 0, 1, 1, 0])
    acc = per_class_accuracy(confusion_matrix(y, p, 4), ["a", "b", "c", "d"])
    assert acc == {"a": 2 / 3, "b": 1.0, "c": 0.0, "d": 0.0}


def test_history_summary_skips_epoch_0_and_reads_the_selected_epoch():
    hist = pd.DataFrame(
        {
            "epoch": [0, 1, 2, 3],
            "val_acc": [0.9, 0.3, 0.5, 0.4],
            "val_loss": [0.1, 2.0, 1.0, 1.5],
        }
    )
    s = history_summary(hist, best_epoch=3)
    assert s == {
        "best_epoch": 3,
        "best_val_acc": 0.5,
        "best_val_loss": 1.0,
        "selected_val_acc": 0.4,
    }
    only = history_summary(hist.iloc[:1], best_epoch=0)
    assert only["best_val_acc"] == 0.9 and only["best_val_loss"] == 0.1


def test_test_metrics_predict_the_most_probable_class():
    probs = np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]])
    m = metrics_on_test_set(
        {"acc": 2 / 3, "loss": 0.5, "cost": 0.6},
        probs,
        np.array([0, 1, 1]),
        ("cat", "dog"),
    )
    assert m["confusion"] == [[1, 0], [1, 1]]
    assert m["per_class_acc"] == {"cat": 1.0, "dog": 0.5}
    assert m["test_acc"] == pytest.approx(2 / 3) and m["class_names"] == ["cat", "dog"]
