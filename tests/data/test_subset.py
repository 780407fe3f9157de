"""A variant's images: class subset relabelled 0..k-1, then the training limit."""

from types import SimpleNamespace

import numpy as np
import pytest

from cifarflow.data.subset import load_variant_data, select_training
from cifarflow.errors import ConfigError

NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog")


def fake_split(seed=0):
    rng = np.random.default_rng(seed)

    def part(n):
        labels = rng.integers(0, len(NAMES), n).astype(np.uint8)
        images = np.zeros((n, 2, 2, 3), np.uint8)
        images[:, 0, 0, 0] = np.arange(n)  # each image carries its row number
        return images, labels

    (ti, tl), (vi, vl), (si, sl) = part(60), part(30), part(40)
    return SimpleNamespace(
        class_names=NAMES,
        train_images=ti,
        train_labels=tl,
        val_images=vi,
        val_labels=vl,
        test_images=si,
        test_labels=sl,
    )


def test_class_subset_is_relabelled_in_the_order_given_and_limited_after_selection():
    split = fake_split()
    d = load_variant_data(split, {"name": "v", "classes": ["dog", "cat"], "train_limit": 7})
    rows = [i for i, y in enumerate(split.train_labels) if NAMES[y] in ("dog", "cat")][:7]
    np.testing.assert_array_equal(d.train_images[:, 0, 0, 0], rows)
    np.testing.assert_array_equal(
        d.train_labels,
        [0 if NAMES[split.train_labels[i]] == "dog" else 1 for i in rows],
    )
    for part in ("val", "test"):
        labels = getattr(split, f"{part}_labels")
        keep = [i for i, y in enumerate(labels) if NAMES[y] in ("dog", "cat")]
        np.testing.assert_array_equal(getattr(d, f"{part}_images")[:, 0, 0, 0], keep)
        assert set(getattr(d, f"{part}_labels")) <= {0, 1}
    assert d.class_names == ("dog", "cat") and d.train_labels.dtype == np.int64


def test_without_classes_or_limit_everything_is_kept_as_int64_labels():
    split = fake_split()
    d = load_variant_data(split, {"name": "v", "classes": None, "train_limit": None})
    assert d.train_images is split.train_images  # no copy of the whole training set
    np.testing.assert_array_equal(d.test_labels, split.test_labels)
    assert d.test_labels.dtype == np.int64 and d.class_names == NAMES


def test_the_plan_step_selects_the_same_training_rows():
    split = fake_split()
    idx = select_training(split.train_labels, NAMES, ["bird"], 5, "plan p")
    d = load_variant_data(split, {"name": "v", "classes": ["bird"], "train_limit": 5})
    np.testing.assert_array_equal(d.train_images[:, 0, 0, 0], idx)


def test_an_unknown_class_is_a_config_error_naming_the_variant():
    with pytest.raises(ConfigError, match=r"variant v: classes: unknown class 'unicorn'"):
        load_variant_data(
            fake_split(),
            {"name": "v", "classes": ["cat", "unicorn"], "train_limit": None},
        )
