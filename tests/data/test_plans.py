"""Epoch-plan files: the plans of a variant's training images, stored and read back, and refused
when the file is not a plan of one image set."""

from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from cifarflow.data.augment import make_epoch_plan, materialise
from cifarflow.data.plans import PlanFile, build_plans, plan_file, write_plan
from cifarflow.data.sources import RawData
from cifarflow.data.splits import make_split, write_split
from cifarflow.errors import ConfigError, DataError

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def spec(**kw) -> dict:
    """A plan spec as `names.plan_spec` writes it."""
    s = {
        "split": "full",
        "classes": None,
        "train_limit": None,
        "augmentation": "none",
        "shuffle": True,
        "epochs": 3,
        "seed": 5,
        "flip": 0.0,
        "translate": 0,
        "materialize": False,
    }
    s.update(kw)
    return s


def split_of(n=40, seed=0) -> SimpleNamespace:
    """What `build_plans` reads of a split: training images, labels (every class) and class names."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(CLASSES)
    images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    return SimpleNamespace(train_images=images, train_labels=labels, class_names=CLASSES)


def same_plan(a, b) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("order", "flip", "shift")) and a.fill == b.fill


def test_build_plans_gives_the_epoch_plans_of_the_specs_seed_for_epochs_one_to_e():
    s = spec(flip=0.5, translate=2, shuffle=False)
    plans, mats = build_plans(split_of(), s, "here")
    assert mats is None
    assert len(plans) == 3
    for e, p in enumerate(plans, start=1):
        assert same_plan(p, make_epoch_plan(40, e, 5, False, 0.5, 2))


def test_build_plans_covers_only_the_classes_and_the_training_limit_the_spec_selects():
    split = split_of(n=60)
    plans, _ = build_plans(split, spec(classes=["cat", "dog"]), "here")
    assert len(plans[0].order) == 12  # 6 cats and 6 dogs of 60 images
    plans, _ = build_plans(split, spec(classes=["cat", "dog"], train_limit=5), "here")
    assert len(plans[0].order) == 5


def test_build_plans_names_where_an_unknown_class_was_asked_for():
    with pytest.raises(ConfigError, match="plan p: classes: unknown class 'llama'"):
        build_plans(split_of(), spec(classes=["cat", "llama"]), "plan p: classes")


def test_a_materialised_plan_holds_the_augmented_images_of_its_selected_training_images():
    split = split_of(n=30)
    s = spec(classes=["bird", "frog"], flip=0.5, translate=2, materialize=True)
    plans, mats = build_plans(split, s, "here")
    selected = split.train_images[np.isin(split.train_labels, [2, 6])]
    assert len(mats) == 3
    for p, m in zip(plans, mats):
        np.testing.assert_array_equal(m, materialise(selected, p))


def test_a_written_plan_reads_back_with_its_spec_epochs_and_image_count(tmp_path):
    s = spec(flip=0.5, translate=2)
    plans, _ = build_plans(split_of(), s, "here")
    write_plan(tmp_path / "p.h5", plans, s)
    stored = PlanFile(tmp_path / "p.h5")
    assert (stored.epochs, stored.n, stored.spec, stored.has_images) == (3, 40, s, False)
    for e, p in enumerate(plans, start=1):
        assert same_plan(stored.plan(e), p)
    with h5py.File(tmp_path / "p.h5") as f:
        assert (f["order"].dtype, f["flip"].dtype, f["shift"].dtype) == (np.int32, np.bool_, np.int8)


def test_a_materialised_plan_reads_back_the_images_of_each_epoch(tmp_path):
    split = split_of(n=20)
    s = spec(flip=0.5, translate=2, materialize=True)
    plans, mats = build_plans(split, s, "here")
    expected = [m.copy() for m in mats]  # write_plan frees each epoch's images once stored
    write_plan(tmp_path / "p.h5", plans, s, mats)
    stored = PlanFile(tmp_path / "p.h5")
    assert stored.has_images
    for e in (1, 2, 3):
        np.testing.assert_array_equal(stored.images(e), expected[e - 1])


def test_plan_file_builds_the_plan_of_a_split_file(tmp_path):
    rng = np.random.default_rng(1)
    labels = (np.arange(100) % 10).astype(np.uint8)
    images = rng.integers(0, 256, size=(100, 32, 32, 3), dtype=np.uint8)
    raw = RawData(
        images, labels, np.repeat(np.arange(1, 6, dtype=np.uint8), 20), images[:20], labels[:20], CLASSES, "python"
    )
    write_split(make_split(raw, {"type": "batches", "train": [1, 2, 3], "val": [4]}), tmp_path / "split.h5")
    lines = []
    plan_file(tmp_path / "split.h5", spec(train_limit=50, flip=0.5), tmp_path / "p.h5", log=lines.append)
    stored = PlanFile(tmp_path / "p.h5")
    assert (stored.epochs, stored.n) == (3, 50)
    assert same_plan(stored.plan(2), make_epoch_plan(50, 2, 5, True, 0.5, 0))
    assert len(lines) == 1 and "3 epochs of 50 images" in lines[0]


def write_arrays(path, order, flip, shift, attrs=True):
    with h5py.File(path, "w") as f:
        f["order"], f["flip"], f["shift"] = order, flip, shift
        if attrs:
            f.attrs["spec"] = "{}"


def test_a_file_without_the_plan_datasets_is_not_a_plan(tmp_path):
    path = tmp_path / "p.h5"
    with h5py.File(path, "w") as f:
        f["order"] = np.zeros((1, 4), np.int32)
    with pytest.raises(DataError, match=r"not an epoch plan \(missing flip, shift, attribute spec\).*plan_epochs"):
        PlanFile(path)


@pytest.mark.parametrize(
    "case",
    ["flip of another shape", "shift without its last axis", "order beyond the images", "negative order"],
)
def test_arrays_that_are_not_the_plan_of_one_image_set_are_refused(tmp_path, case):
    order, flip, shift = (
        np.tile(np.arange(4, dtype=np.int32), (2, 1)),
        np.zeros((2, 4), bool),
        np.zeros((2, 4, 2), np.int8),
    )
    if case == "flip of another shape":
        flip = np.zeros((2, 5), bool)
    elif case == "shift without its last axis":
        shift = np.zeros((2, 4), np.int8)
    elif case == "order beyond the images":
        order[1, 3] = 4
    else:
        order[0, 0] = -1
    write_arrays(tmp_path / "p.h5", order, flip, shift)
    with pytest.raises(DataError, match="not the plan of one image set"):
        PlanFile(tmp_path / "p.h5")


def test_a_truncated_plan_file_is_one_error_naming_it(tmp_path):
    s = spec()
    write_plan(tmp_path / "p.h5", build_plans(split_of(), s, "here")[0], s)
    data = (tmp_path / "p.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.h5"):
        PlanFile(tmp_path / "cut.h5")
