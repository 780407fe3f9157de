"""The images a variant uses: its class subset (relabelled 0..k-1) and its training limit.

One container, `Data`, carries a variant's train/val/test arrays from the split file to the
solver (a split file's `Split` is a `Data` too, with the split's provenance and statistics);
`select_training` picks the training rows (the plan step and the training job agree on them, so a
plan's row count always matches the variant's training set).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cifarflow.errors import ConfigError


@dataclass(eq=False)
class Data:
    """Images (N, H, W, C) uint8 and labels (N,) of the three splits, plus class names.

    A variant's data (`load_variant_data`) has int64 labels 0..k-1 of its classes. The split
    file's arrays are a `cifarflow.data.splits.Split`: these fields (uint8 labels) with the split's
    provenance and statistics added. Compared by identity (arrays have no single truth value).
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple


def select_training(labels, class_names, classes, train_limit, where: str):
    """Indices of the training images a variant uses (class subset, then the first train_limit)."""
    idx = np.arange(len(labels))
    if classes:
        idx = idx[np.isin(labels, class_ids(class_names, classes, where))]
    if train_limit:
        idx = idx[: int(train_limit)]
    return idx


def class_ids(class_names, classes, where: str) -> list[int]:
    """Positions of `classes` in `class_names`; an unknown name is a ConfigError naming `where`."""
    names = list(class_names)
    for c in classes:
        if c not in names:
            raise ConfigError(f"{where}: unknown class '{c}' (the data has: {', '.join(names)})")
    return [names.index(c) for c in classes]


def load_variant_data(split, variant: dict) -> Data:
    """The train/val/test arrays of a variant (class subset relabelled 0..k-1, training limit)."""
    where = f"variant {variant['name']}: classes"
    classes = variant.get("classes")
    tr = select_training(
        split.train_labels,
        split.class_names,
        classes,
        variant.get("train_limit"),
        where,
    )
    if classes:
        ids = class_ids(split.class_names, classes, where)
        remap = np.full(len(split.class_names), -1, dtype=np.int64)
        remap[ids] = np.arange(len(ids))
        va = np.flatnonzero(np.isin(split.val_labels, ids))
        te = np.flatnonzero(np.isin(split.test_labels, ids))
        lab = lambda y: remap[y]  # noqa: E731
        names = tuple(classes)
    else:
        va, te = slice(None), slice(None)
        lab = lambda y: np.asarray(y, dtype=np.int64)  # noqa: E731
        names = tuple(split.class_names)
    train_images = (
        split.train_images
        if (isinstance(tr, np.ndarray) and len(tr) == len(split.train_labels))
        else split.train_images[tr]
    )
    data = Data(
        train_images=train_images,
        train_labels=lab(split.train_labels[tr]),
        val_images=split.val_images[va],
        val_labels=lab(split.val_labels[va]),
        test_images=split.test_images[te],
        test_labels=lab(split.test_labels[te]),
        class_names=names,
    )
    for part, images in (("validation", data.val_images), ("test", data.test_images), ("training", data.train_images)):
        if not len(images):  # caught before a model trains and then divides by zero
            raise ConfigError(
                f"config key classes (variant {variant['name']}): the {part} set holds no image of {', '.join(names)}"
            )
    return data
