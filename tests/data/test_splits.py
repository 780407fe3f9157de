"""The HDF5 data stage: cifar10.h5, source hashes, splits and their statistics."""

import hashlib
import json

import h5py
import numpy as np
import pytest

from cifarflow import CIFAR10_CLASSES, __version__
from cifarflow.data.source_digest import source_sha256
from cifarflow.data.sources import RawData, read_source
from cifarflow.data.splits import (
    image_stats,
    load_split,
    make_split,
    read_raw,
    write_raw,
    write_split,
)
from cifarflow.errors import ConfigError, DataError

from archives import make_binary_archive, make_folder_archive, make_python_archive

FIELDS = ("train_images", "train_labels", "train_batch", "test_images", "test_labels")
BASIC = {"type": "batches", "train": [1], "val": [2]}
HOLDOUT = {"type": "holdout", "val_size": 50, "seed": 0}


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """50 training images per batch (5 per class), 30 test images."""
    path = tmp_path_factory.mktemp("src") / "cifar-10-python.tar.gz"
    make_python_archive(path, n_per_batch=50, n_test=30)
    raw = read_source(path)
    raw.provenance["source_sha256"] = "ab" * 32
    return raw


# --------------------------------------------------------------------------------------------
# cifar10.h5


SOURCES = {
    "python": lambda p: make_python_archive(p / "cifar-10-python.tar.gz"),
    "binary": lambda p: make_binary_archive(p / "cifar-10-binary.tar.gz"),
    "folders-archive": lambda p: make_folder_archive(p / "f.tar.gz"),
    "folders-directory": lambda p: make_folder_archive(p / "src", as_dir=True, top="cifar"),
}


@pytest.mark.parametrize("kind", list(SOURCES))
def test_hdf5_from_every_source_matches_pixel_for_pixel(tmp_path, kind):
    expected = SOURCES[kind](tmp_path / "in")
    source = next((tmp_path / "in").iterdir())
    out = tmp_path / "results" / "data" / "cifar10.h5"
    write_raw(read_source(source), out, source, source_sha256(source))
    got = read_raw(out)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)
    assert got.class_names == expected.class_names == CIFAR10_CLASSES
    assert got.source_format == expected.source_format
    assert got.provenance == {
        "source_path": str(source),
        "source_sha256": source_sha256(source),
        "cifarflow_version": __version__,
    }


def test_hdf5_layout_is_chunked_uint8_with_root_attributes(tmp_path, raw):
    write_raw(raw, tmp_path / "c.h5", "/data/x.tar.gz", "ab" * 32)
    with h5py.File(tmp_path / "c.h5", "r") as f:
        assert set(f) == {"train", "test"}
        assert set(f["train"]) == {"images", "labels", "batch"}
        images = f["train/images"]
        assert images.dtype == np.uint8 and images.shape == (250, 32, 32, 3)
        assert images.chunks == (250, 32, 32, 3) and images.compression is None
        assert list(f.attrs["class_names"]) == list(CIFAR10_CLASSES)
        assert f.attrs["source_format"] == "python"
        assert f.attrs["source_path"] == "/data/x.tar.gz"
        assert f.attrs["cifarflow_version"] == __version__


def test_write_raw_replaces_atomically_and_leaves_no_temporary_file(tmp_path, raw):
    out = tmp_path / "cifar10.h5"
    out.write_bytes(b"old")
    write_raw(raw, out, "x", "0" * 64)
    assert read_raw(out).train_images.shape == (250, 32, 32, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["cifar10.h5"]


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path, raw):
    out = tmp_path / "cifar10.h5"
    out.write_bytes(b"old")
    broken = RawData(**{**raw.__dict__, "class_names": ("a",)})
    broken.train_images = object()  # fails inside the writer
    with pytest.raises(Exception):  # noqa: B017 (any failure inside h5py; the point is what is left)
        write_raw(broken, out, "x", "0" * 64)
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["cifar10.h5"]


# --------------------------------------------------------------------------------------------
# Source hashes


def test_source_sha256_of_an_archive_is_its_sha256(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x" * 3_000_000)
    assert source_sha256(tmp_path / "a.bin") == hashlib.sha256(b"x" * 3_000_000).hexdigest()


def test_directory_hash_is_deterministic_and_content_sensitive(tmp_path):
    make_folder_archive(tmp_path / "a", as_dir=True, n_train_per_class=2, n_test_per_class=1)
    make_folder_archive(tmp_path / "b", as_dir=True, n_train_per_class=2, n_test_per_class=1)
    assert source_sha256(tmp_path / "a") == source_sha256(tmp_path / "b")
    (tmp_path / "b" / "test" / "cat" / "0000.png").rename(tmp_path / "b" / "test" / "cat" / "x.png")
    assert source_sha256(tmp_path / "a") != source_sha256(tmp_path / "b")
    png = tmp_path / "a" / "train" / "dog" / "0001.png"
    before = source_sha256(tmp_path / "a")
    png.write_bytes(png.read_bytes() + b"\0")
    assert source_sha256(tmp_path / "a") != before


# --------------------------------------------------------------------------------------------
# Splits


def test_basic_split_is_batch_1_train_batch_2_val_and_the_test_set(raw):
    split = make_split(raw, BASIC)
    assert (len(split.train_labels), len(split.val_labels), len(split.test_labels)) == (50, 50, 30)
    assert (raw.train_batch[split.train_index] == 1).all()
    assert (raw.train_batch[split.val_index] == 2).all()
    np.testing.assert_array_equal(split.train_images, raw.train_images[:50])
    np.testing.assert_array_equal(split.val_images, raw.train_images[50:100])
    np.testing.assert_array_equal(split.test_images, raw.test_images)
    assert split.seed is None and split.name == "batches"


def test_batches_split_may_use_several_batches(raw):
    split = make_split(raw, {"type": "batches", "train": [1, 3, 4, 5], "val": [2]})
    assert len(split.train_labels) == 200 and len(split.val_labels) == 50


def test_holdout_is_stratified_with_equal_counts_per_class(raw):
    split = make_split(raw, HOLDOUT)
    assert np.bincount(split.val_labels, minlength=10).tolist() == [5] * 10
    assert len(split.train_labels) == 200
    assert np.intersect1d(split.train_index, split.val_index).size == 0
    assert np.union1d(split.train_index, split.val_index).tolist() == list(range(250))
    np.testing.assert_array_equal(split.val_labels, raw.train_labels[split.val_index])


def test_holdout_is_determined_by_its_seed(raw):
    a, b = make_split(raw, HOLDOUT), make_split(raw, HOLDOUT)
    c = make_split(raw, {**HOLDOUT, "seed": 1})
    np.testing.assert_array_equal(a.val_index, b.val_index)
    assert not np.array_equal(a.val_index, c.val_index)
    assert a.seed == 0 and c.seed == 1


def test_split_statistics_equal_a_float64_reference(raw):
    split = make_split(raw, HOLDOUT)
    x = raw.train_images[split.train_index].astype(np.float64)
    for got, want in [
        (split.mean, x.mean(axis=0)),
        (split.std, x.std(axis=0)),
        (split.channel_mean, x.mean(axis=(0, 1, 2))),
        (split.channel_std, x.std(axis=(0, 1, 2))),
    ]:
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)


def test_image_stats_of_constant_images_have_zero_std():
    mean, std, cmean, cstd = image_stats(np.full((7, 32, 32, 3), 200, np.uint8), chunk=3)
    assert (mean == 200).all() and (std == 0).all() and (cmean == 200).all() and (cstd == 0).all()


@pytest.mark.parametrize("chunk", [66051, 66052])
def test_image_stats_sums_exactly_at_the_largest_chunk_it_sums_in_32_bits(chunk):
    """66,051 images of 255 are the most whose sum of squares fits in uint32; one more image per
    chunk and the sums are taken in int64. Either way the moments are those of exact sums."""
    images = np.full((66052, 1, 1, 3), 255, np.uint8)
    images[::3] = 254
    mean, std, _, _ = image_stats(images, chunk=chunk)
    values = images[:, 0, 0, 0].astype(np.float64)
    assert mean[0, 0, 0] == np.float32(values.mean()) and std[0, 0, 0] == np.float32(values.std())


@pytest.mark.parametrize(
    "spec,message",
    [
        ({"type": "batches", "train": [1], "val": [1]}, "share batch 1"),
        ({"type": "batches", "train": [6]}, "batch numbers in 1..5"),
        ({"type": "batches", "train": []}, "at least one batch"),
        ({"type": "holdout", "val_size": 55}, "multiple of the 10 classes"),
        ({"type": "holdout", "val_size": 250}, "too few to hold out 25"),
        ({"type": "holdout", "val_size": 10, "sed": 1}, "unknown key 'sed'"),
        ({"type": "random"}, "'type' must be 'batches' or 'holdout'"),
    ],
)
def test_bad_split_spec_is_a_config_error(raw, spec, message):
    with pytest.raises(ConfigError, match=message):
        make_split(raw, spec)


def test_split_file_round_trips_arrays_and_attributes(tmp_path, raw):
    split = make_split(raw, HOLDOUT, name="holdout1k")
    write_split(split, tmp_path / "split.h5", {"config": {"lr": 0.1}})
    got = load_split(tmp_path / "split.h5")
    for key in (
        "train_images",
        "train_labels",
        "val_images",
        "val_labels",
        "test_images",
        "test_labels",
        "train_index",
        "val_index",
        "mean",
        "std",
        "channel_mean",
        "channel_std",
    ):
        np.testing.assert_array_equal(getattr(got, key), getattr(split, key), err_msg=key)
    assert (got.name, got.spec, got.seed) == ("holdout1k", HOLDOUT, 0)
    assert got.class_names == CIFAR10_CLASSES and got.source_sha256 == "ab" * 32
    assert json.loads(got.attrs["config"]) == {"lr": 0.1}
    with h5py.File(tmp_path / "split.h5", "r") as f:
        assert (f.attrs["n_train"], f.attrs["n_val"], f.attrs["n_test"]) == (200, 50, 30)
        assert json.loads(f.attrs["spec"]) == HOLDOUT


@pytest.mark.parametrize(
    "classes, limit",
    [(None, None), (None, 37), (None, 1), (["cat", "dog"], None), (["dog", "cat"], 9), (["truck"], 1), (["bird"], 0)],
)
def test_reading_a_variants_training_rows_gives_the_arrays_of_selecting_them_from_the_whole_split(
    tmp_path, raw, classes, limit
):
    """What a training job reads (`load_split(train_rows=...)`: only the variant's training rows of
    the images) is, array for array and byte for byte, what it got by reading the whole split."""
    from cifarflow.data.subset import load_variant_data, select_training

    write_split(make_split(raw, HOLDOUT, name="h"), tmp_path / "split.h5")
    whole = load_split(tmp_path / "split.h5")
    rows = select_training(whole.train_labels, whole.class_names, classes, limit, "here")
    part = load_split(
        tmp_path / "split.h5", train_rows=lambda labels, names: select_training(labels, names, classes, limit, "here")
    )
    for key in ("train_images", "train_labels", "train_index"):
        want = getattr(whole, key)[rows]
        got = getattr(part, key)
        assert got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes(), key
    for key in ("val_images", "val_labels", "test_images", "test_labels", "mean", "std", "channel_std"):
        assert getattr(part, key).tobytes() == getattr(whole, key).tobytes(), key
    if len(rows):
        variant = {"name": "v", "classes": classes, "train_limit": limit}
        a, b = load_variant_data(whole, variant), load_variant_data(part, variant)
        for key in ("train_images", "train_labels", "val_images", "val_labels", "test_images", "test_labels"):
            x, y = getattr(a, key), getattr(b, key)
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), key
        assert a.class_names == b.class_names


def test_rows_read_chunk_by_chunk_are_the_rows_of_the_whole_dataset(tmp_path):
    from cifarflow.data.splits import _read_rows

    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, (100, 4, 3), dtype=np.uint8)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_dataset("chunked", data=data, chunks=(7, 4, 3))
        f.create_dataset("plain", data=data)
    with h5py.File(tmp_path / "a.h5", "r") as f:
        for trial in range(60):
            rows = np.flatnonzero(rng.random(100) < rng.choice([0.02, 0.3, 0.9]))
            if trial % 10 == 0:
                rows = np.arange(trial, trial + 13)
            for name in ("chunked", "plain"):
                got = _read_rows(f[name], rows)
                assert got.shape == data[rows].shape and got.tobytes() == data[rows].tobytes()


def test_split_without_validation_set_round_trips(tmp_path, raw):
    split = make_split(raw, {"type": "holdout", "val_size": 0})
    write_split(split, tmp_path / "s.h5")
    got = load_split(tmp_path / "s.h5")
    assert got.val_images.shape == (0, 32, 32, 3) and len(got.train_labels) == 250


# --------------------------------------------------------------------------------------------
# Damaged files


@pytest.fixture
def split_file(tmp_path, raw):
    write_split(make_split(raw, BASIC), tmp_path / "split.h5")
    return tmp_path / "split.h5"


def test_truncated_split_file_is_a_data_error(tmp_path, split_file):
    data = split_file.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut.h5: the split file is truncated or corrupt"):
        load_split(cut)


def test_non_hdf5_file_is_a_data_error(tmp_path):
    (tmp_path / "x.h5").write_text("hello")
    with pytest.raises(DataError, match=r"x.h5: not an HDF5 file"):
        load_split(tmp_path / "x.h5")
    with pytest.raises(DataError, match=r"x.h5: not an HDF5 file"):
        read_raw(tmp_path / "x.h5")


def test_foreign_hdf5_names_what_is_missing(tmp_path, raw):
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["train/images"] = np.zeros((1, 32, 32, 3), np.uint8)
    with pytest.raises(
        DataError,
        match=r"f.h5: not a cifarflow split file, missing "
        r"train/labels, train/index, val/images",
    ):
        load_split(tmp_path / "f.h5")
    with pytest.raises(
        DataError,
        match=r"missing train/labels, train/batch, .*attribute "
        r"class_names",
    ):
        read_raw(tmp_path / "f.h5")


def test_raw_file_given_as_split_names_what_is_missing(tmp_path, raw):
    write_raw(raw, tmp_path / "cifar10.h5", "x", "0" * 64)
    with pytest.raises(
        DataError,
        match=r"cifar10.h5: not a cifarflow split file, missing "
        r"train/index",
    ):
        load_split(tmp_path / "cifar10.h5")


def test_wrong_dataset_shape_is_named(tmp_path, split_file):
    with h5py.File(split_file, "a") as f:
        del f["stats/mean"]
        f["stats/mean"] = np.zeros((3,), np.float32)
    with pytest.raises(
        DataError,
        match=r"dataset stats/mean is float32 \(3,\), expected "
        r"float32 \(32, 32, 3\)",
    ):
        load_split(split_file)


def test_missing_split_file_is_named(tmp_path):
    with pytest.raises(DataError, match=r"nope.h5: the split file does not exist"):
        load_split(tmp_path / "nope.h5")


def test_cached_source_sha256_remembers_a_digest_until_the_file_changes(tmp_path):
    from cifarflow.data.source_digest import cached_source_sha256

    src, cache = tmp_path / "a.tar.gz", tmp_path / "cache" / "digests.json"
    src.write_bytes(b"first")
    first = cached_source_sha256(src, cache)
    assert first == source_sha256(src)
    (entry,) = json.loads(cache.read_text()).items()
    assert entry[1] == first and str(src.resolve()) in entry[0]
    cache.write_text(json.dumps({entry[0]: "remembered"}))  # a hit does not hash the file again
    assert cached_source_sha256(src, cache) == "remembered"
    src.write_bytes(b"second, longer")  # new size and mtime: hashed again, the old entry dropped
    second = cached_source_sha256(src, cache)
    assert second == source_sha256(src) != first
    assert list(json.loads(cache.read_text()).values()) == [second]
    cache.write_text("not json")  # a damaged cache is ignored and rewritten
    assert cached_source_sha256(src, cache) == second
