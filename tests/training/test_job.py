"""The training job: run files from a split file, a plan file and a variant; checks of its inputs;
resuming from a checkpoint."""

import copy
import json

import h5py
import numpy as np
import pandas as pd
import pytest

from cifarflow.config import plan_spec, training_settings, validate_config
from cifarflow.data.plans import plan_file
from cifarflow.data.sources import RawData
from cifarflow.data.splits import load_split, make_split, write_split
from cifarflow.errors import ConfigError, DataError
from cifarflow.training.job import (
    check_plan_spec,
    load_training_data,
    open_plan,
    resumable_state,
    run_fingerprint,
    run_variant,
)
from cifarflow.training.solver import Normalizer
from cifarflow.training.state import TrainState, write_checkpoint

from archives import make_images

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
RUN_FILES = ("weights.h5", "predictions.h5", "history.csv", "metrics.json")
CONFIG = {
    "local_archive": "unused.tar.gz",
    "splits": {"full": {"type": "holdout", "val_size": 100, "seed": 0}},
    "augmentations": {"none": {}, "ft": {"flip": 0.5, "translate": 2}},
    "defaults": {"epochs": 3, "batch_size": 50, "eta": 0.01},
    "experiments": {
        "s": {
            "title": "tiny",
            "variants": [
                {"name": "soft", "model": "softmax", "augmentation": "ft"},
                {"name": "pair", "model": "logistic", "classes": ["cat", "dog"], "batch_size": 20},
                {"name": "boom", "model": "softmax", "eta": 1.0e37},
            ],
        }
    },
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A split file of 400 generated training and 100 test images, the config's variants (seed 0)
    and a function that writes a variant's plan file."""
    work = tmp_path_factory.mktemp("job")
    labels = (np.arange(400) % 10).astype(np.uint8)
    test_labels = (np.arange(100) % 10).astype(np.uint8)
    raw = RawData(
        make_images(labels, seed=1),
        labels,
        np.repeat(np.arange(1, 6, dtype=np.uint8), 80),
        make_images(test_labels, seed=2),
        test_labels,
        CLASSES,
        "python",
    )
    split = work / "split_full.h5"
    write_split(make_split(raw, CONFIG["splits"]["full"], "full"), split)
    config, variants, _ = validate_config(copy.deepcopy(CONFIG))
    runs = {name: training_settings(v, 0) for name, v in variants.items()}

    def plan_for(name, **changes):
        spec = dict(plan_spec(variants[name], config), **changes)
        path = work / f"plan_{name}_{json.dumps(changes, sort_keys=True)}.h5"
        if not path.exists():
            plan_file(split, spec, path, log=lambda m: None)
        return path

    return split, runs, plan_for


def quiet(message):
    pass


def params_of(path):
    with h5py.File(path) as f:
        return {k: f["params"][k][()] for k in f["params"]}


def history_of(path):
    return pd.read_csv(path).drop(columns=["seconds"])


def test_a_run_writes_its_four_run_files_and_no_checkpoint(inputs, tmp_path):
    split, runs, plan_for = inputs
    metrics = run_variant(split, plan_for("soft"), runs["soft"], tmp_path, threads=2, log=quiet)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(RUN_FILES)
    assert json.loads((tmp_path / "metrics.json").read_text())["test_acc"] == metrics["test_acc"]
    assert (metrics["variant"], metrics["n_train"], metrics["epochs_run"]) == ("soft", 300, 3)
    assert metrics["timing"]["threads"] == 2 and metrics["plan"]["augmentation"] == "ft"
    with h5py.File(tmp_path / "predictions.h5") as f:
        probs = f["params/probs"][()]
        assert probs.shape == (100, 10) and f["labels"].shape == (100,)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    assert list(history_of(tmp_path / "history.csv")["epoch"]) == [0, 1, 2, 3]


class Killed(Exception):
    pass


def test_a_job_killed_after_an_epoch_resumes_from_its_checkpoint_bit_for_bit(inputs, tmp_path):
    split, runs, plan_for = inputs
    plan = plan_for("soft")
    run_variant(split, plan, runs["soft"], tmp_path / "whole", log=quiet)

    def killed_at_epoch_2(message):
        if message.startswith("epoch   2"):
            raise Killed  # epoch 2 is trained, its checkpoint not yet written

    with pytest.raises(Killed):
        run_variant(split, plan, runs["soft"], tmp_path / "killed", log=killed_at_epoch_2)
    assert (tmp_path / "killed" / "checkpoint.h5").exists()
    lines = []
    run_variant(split, plan, runs["soft"], tmp_path / "killed", log=lines.append)
    assert "resumed from the checkpoint of epoch 1" in lines
    assert not (tmp_path / "killed" / "checkpoint.h5").exists()
    whole, resumed = params_of(tmp_path / "whole" / "weights.h5"), params_of(tmp_path / "killed" / "weights.h5")
    assert whole.keys() == resumed.keys() and all(np.array_equal(whole[k], resumed[k]) for k in whole)
    pd.testing.assert_frame_equal(
        history_of(tmp_path / "whole" / "history.csv"), history_of(tmp_path / "killed" / "history.csv")
    )


def checkpoint_at(path, epoch, fingerprint):
    w = {"W": np.zeros((2, 2), np.float32)}
    write_checkpoint(path, TrainState(epoch, 10, w, {"W": {}}, [{"epoch": 0}], {"epoch": 0}, None, 1.0), fingerprint)


def test_only_a_checkpoint_of_the_same_run_with_epochs_left_is_resumed(tmp_path):
    path = tmp_path / "checkpoint.h5"
    assert resumable_state(path, "f" * 64, 3) is None  # none on disk
    checkpoint_at(path, 2, "a" * 64)
    assert resumable_state(path, "a" * 64, 3).epoch == 2
    assert resumable_state(path, "b" * 64, 3) is None  # another run's inputs
    assert resumable_state(path, "a" * 64, 2) is None  # nothing left to train


def test_the_fingerprint_follows_the_variant_the_plan_and_the_data():
    variant, spec, sha = {"name": "v", "lambda": 0.1}, {"seed": 0}, "ab" * 32
    same = run_fingerprint(dict(variant), dict(spec), sha)
    assert run_fingerprint(variant, spec, sha) == same
    assert run_fingerprint({**variant, "lambda": 0.2}, spec, sha) != same
    assert run_fingerprint(variant, {"seed": 1}, sha) != same
    assert run_fingerprint(variant, spec, "cd" * 32) != same


def test_a_plan_with_more_epochs_serves_but_one_of_another_seed_or_fewer_epochs_does_not(inputs):
    _, runs, _ = inputs
    v = runs["soft"]
    spec = {k: v[k] for k in ("split", "classes", "train_limit", "augmentation", "shuffle", "epochs", "seed")}
    check_plan_spec("p.h5", {**spec, "epochs": 10}, v)
    with pytest.raises(DataError, match=r"p.h5: the plan was made for seed=7, variant soft has seed=0"):
        check_plan_spec("p.h5", {**spec, "seed": 7}, v)
    with pytest.raises(DataError, match="epochs=2"):
        check_plan_spec("p.h5", {**spec, "epochs": 2}, v)


def test_a_plan_of_another_image_count_is_refused_naming_the_plan_and_the_variant(inputs):
    _, runs, plan_for = inputs
    plan = plan_for("soft", train_limit=100)
    variant = {**runs["soft"], "train_limit": 100}
    assert open_plan(plan, variant, 100).n == 100
    with pytest.raises(DataError, match=r"plan has 3 epochs of 100 images, variant soft needs 3 of 300"):
        open_plan(plan, variant, 300)


def test_a_batch_larger_than_the_training_images_is_refused_naming_the_variant(inputs):
    split, runs, _ = inputs
    with pytest.raises(ConfigError, match="variant pair: batch_size 100 is larger than its 60 training images"):
        load_training_data(split, {**runs["pair"], "batch_size": 100})


@pytest.mark.parametrize("mode", ["feature", "channel", "scale"])
def test_the_whole_split_is_normalised_with_the_statistics_stored_in_the_split_file(inputs, mode):
    split, runs, _ = inputs
    data, norm = load_training_data(split, {**runs["soft"], "normalize": mode})
    assert len(data.train_labels) == 300
    ref = Normalizer.from_images(load_split(split).train_images, mode)
    np.testing.assert_allclose(norm.mean, ref.mean, rtol=1e-6)
    np.testing.assert_allclose(norm.inv_std, ref.inv_std, rtol=1e-6)


def test_a_class_subset_is_normalised_with_its_own_images(inputs):
    split, runs, _ = inputs
    data, norm = load_training_data(split, runs["pair"])
    assert data.class_names == ("cat", "dog") and set(data.train_labels) == {0, 1}
    ref = Normalizer.from_images(data.train_images, runs["pair"]["normalize"])
    assert np.array_equal(norm.mean, ref.mean) and np.array_equal(norm.inv_std, ref.inv_std)


def test_a_diverging_run_is_recorded_with_strict_json(inputs, tmp_path):
    split, runs, plan_for = inputs
    metrics = run_variant(split, plan_for("boom"), runs["boom"], tmp_path, log=quiet)
    assert metrics["diverged"] and metrics["diverged_epoch"] == 1 and metrics["epochs_run"] == 0

    def refuse(constant):
        raise ValueError(f"{constant} in metrics.json")

    json.loads((tmp_path / "metrics.json").read_text(), parse_constant=refuse)
