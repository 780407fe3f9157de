"""The metrics of a finished run, against independent computations."""

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from cifarflow.training.evaluation import (
    confusion_matrix,
    history_csv,
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


def _rows(**columns):
    keys = list(columns)
    return [dict(zip(keys, values)) for values in zip(*columns.values())]


def test_history_summary_skips_epoch_0_and_reads_the_selected_epoch():
    hist = _rows(epoch=[0, 1, 2, 3], val_acc=[0.9, 0.3, 0.5, 0.4], val_loss=[0.1, 2.0, 1.0, 1.5])
    s = history_summary(hist, best_epoch=3)
    assert s == {
        "best_epoch": 3,
        "best_val_acc": 0.5,
        "best_val_loss": 1.0,
        "selected_val_acc": 0.4,
    }
    only = history_summary(hist[:1], best_epoch=0)
    assert only["best_val_acc"] == 0.9 and only["best_val_loss"] == 0.1


def test_history_summary_skips_nan_like_pandas():
    """After a divergence the history holds NaN: the best values are those of the finite epochs
    (pandas' Series.max/min, which the summary used before), NaN when no epoch is finite."""
    nan = float("nan")
    hist = _rows(epoch=[0, 1, 2, 3], val_acc=[0.1, 0.3, nan, nan], val_loss=[2.3, 1.9, nan, nan])
    s = history_summary(hist, best_epoch=1)
    frame = pd.DataFrame(hist)
    assert s["best_val_acc"] == frame["val_acc"].iloc[1:].max() == 0.3
    assert s["best_val_loss"] == frame["val_loss"].iloc[1:].min() == 1.9
    none = history_summary(_rows(epoch=[0, 1], val_acc=[0.1, nan], val_loss=[2.3, nan]), best_epoch=0)
    assert math.isnan(none["best_val_acc"]) and math.isnan(none["best_val_loss"])


def _history(rng, n, diverge_at=None):
    rows = []
    for e in range(n):
        bad = diverge_at is not None and e >= diverge_at
        rows.append(
            {
                "epoch": e,
                "lr": float("nan") if e == 0 else float(10 ** rng.uniform(-7, 1)),
                "train_loss": float("inf") if bad else float(rng.uniform(0, 3)),
                "train_cost": float("-inf") if bad else float(rng.uniform(0, 3)) * 10 ** int(rng.integers(-8, 18)),
                "train_acc": np.int64(rng.integers(0, 10000)) / 10000,  # numpy float64, as evaluate returns
                "val_loss": float("nan") if bad else float(np.float32(rng.uniform(0, 3))),
                "val_cost": 1e16 if e == 1 else 123456789.0,
                "val_acc": float(rng.integers(0, 1000)) / 1000,
                "weight_norm2": float(rng.uniform(0, 1e3)),
                "seconds": 0 if e == 0 else float(rng.uniform(0, 100)),  # an int among floats: "0.0"
            }
        )
    return rows


@pytest.mark.parametrize("seed, n, diverge_at", [(0, 1, None), (1, 12, None), (2, 9, 4), (3, 40, None)])
def test_history_csv_is_the_text_pandas_writes(seed, n, diverge_at):
    """history.csv is written without pandas (the training job skips its import); the text must be
    what pandas.DataFrame(rows).to_csv(index=False) wrote before, byte for byte, including NaN
    (empty), infinities, tiny and huge numbers and NumPy scalars, and after a resume's JSON
    round trip of the rows."""
    rows = _history(np.random.default_rng(seed), n, diverge_at)
    assert history_csv(rows) == pd.DataFrame(rows).to_csv(index=False)
    again = json.loads(json.dumps(rows, default=float))
    assert history_csv(again) == pd.DataFrame(again).to_csv(index=False) == history_csv(rows)


def test_the_training_job_does_not_import_pandas():
    code = "import sys, cifarflow.training.job, cifarflow.cli; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


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
