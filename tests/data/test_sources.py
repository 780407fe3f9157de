"""read_source: the official python and binary layouts, class folders, and hostile input."""

import io
import os
import pickle
import time

import numpy as np
import pytest
from PIL import Image

from cifarflow import CIFAR10_CLASSES
from cifarflow.data.sources import read_source
from cifarflow.errors import DataError

from archives import (
    add_members,
    encode_image,
    make_binary_archive,
    make_folder_archive,
    make_images,
    make_python_archive,
    py2_pickle,
    real_archive,
)

FIELDS = ("train_images", "train_labels", "train_batch", "test_images", "test_labels")


def assert_same(got, expected):
    for name in FIELDS:
        a, b = getattr(got, name), getattr(expected, name)
        assert a.dtype == b.dtype == np.uint8, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert got.class_names == expected.class_names
    assert got.source_format == expected.source_format


# --------------------------------------------------------------------------------------------
# Official layouts


@pytest.mark.parametrize("py2", [True, False], ids=["python2-pickles", "python3-pickles"])
def test_python_archive_is_read_pixel_for_pixel(tmp_path, py2):
    expected = make_python_archive(tmp_path / "cifar-10-python.tar.gz", py2=py2)
    assert_same(read_source(tmp_path / "cifar-10-python.tar.gz"), expected)


def test_python_archive_rows_are_channel_first(tmp_path):
    """Row layout of the official files: 1024 red, then 1024 green, then 1024 blue values."""
    img = np.zeros((32, 32, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 10, 20, 30
    img[0, 1] = (1, 2, 3)  # row 0, column 1
    row = np.concatenate([img[..., c].ravel() for c in range(3)])
    data = np.repeat(row[None], 4, axis=0)
    batch = py2_pickle({b"batch_label": b"x", b"labels": [0, 1, 2, 3], b"data": data, b"filenames": [b"a"] * 4})
    make_python_archive(tmp_path / "a.tar.gz", n_per_batch=4, n_test=4, replace={"data_batch_1": batch})
    raw = read_source(tmp_path / "a.tar.gz")
    np.testing.assert_array_equal(raw.train_images[0], img)
    assert raw.train_labels[:4].tolist() == [0, 1, 2, 3]


def test_binary_archive_is_read_pixel_for_pixel(tmp_path):
    expected = make_binary_archive(tmp_path / "cifar-10-binary.tar.gz")
    assert_same(read_source(tmp_path / "cifar-10-binary.tar.gz"), expected)


@pytest.mark.parametrize("maker", [make_python_archive, make_binary_archive])
def test_extracted_official_layout_directory_is_read(tmp_path, maker):
    expected = maker(tmp_path / "extracted", as_dir=True)
    assert_same(read_source(tmp_path / "extracted"), expected)


def test_official_batches_keep_their_batch_numbers_and_order(tmp_path):
    expected = make_python_archive(tmp_path / "a.tar.gz", n_per_batch=7, n_test=3)
    raw = read_source(tmp_path / "a.tar.gz")
    assert raw.train_batch.tolist() == [b for b in range(1, 6) for _ in range(7)]
    assert len(raw.test_labels) == 3
    assert raw.class_names == CIFAR10_CLASSES == expected.class_names


@pytest.mark.parametrize(
    "maker,member",
    [
        (make_python_archive, "data_batch_3"),
        (make_python_archive, "test_batch"),
        (make_python_archive, "batches.meta"),
        (make_binary_archive, "data_batch_5.bin"),
    ],
)
def test_missing_batch_names_the_member(tmp_path, maker, member):
    maker(tmp_path / "a.tar.gz", omit=(member,))
    with pytest.raises(DataError, match=f"a.tar.gz: member 'cifar-10-batches-[a-z]+/{member}' is missing"):
        read_source(tmp_path / "a.tar.gz")


def test_binary_batch_with_partial_record_names_the_member(tmp_path):
    make_binary_archive(tmp_path / "a.tar.gz", replace={"data_batch_2.bin": b"\x01" * 3000})
    with pytest.raises(DataError, match=r"member 'cifar-10-batches-bin/data_batch_2.bin': size 3000"):
        read_source(tmp_path / "a.tar.gz")


def test_label_outside_class_range_is_rejected(tmp_path):
    data = np.zeros((2, 3072), np.uint8)
    batch = py2_pickle({b"labels": [0, 10], b"data": data})
    make_python_archive(tmp_path / "a.tar.gz", replace={"data_batch_1": batch})
    with pytest.raises(DataError, match="data_batch_1': expected 2 integer labels in 0..9"):
        read_source(tmp_path / "a.tar.gz")


def test_batch_with_wrong_array_shape_is_rejected(tmp_path):
    batch = py2_pickle({b"labels": [0], b"data": np.zeros((1, 100), np.uint8)})
    make_python_archive(tmp_path / "a.tar.gz", replace={"data_batch_4": batch})
    with pytest.raises(DataError, match=r"data_batch_4': 'data' must be a uint8 array"):
        read_source(tmp_path / "a.tar.gz")


# --------------------------------------------------------------------------------------------
# Pickles: only what CIFAR-10 batches need


class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("how", ["os.system", "builtins.open", "eval"])
def test_pickle_payload_is_refused_without_running(tmp_path, how):
    victim = tmp_path / "pwned"
    payload = {
        "os.system": _Reduce(os.system, (f"touch {victim}",)),
        "builtins.open": _Reduce(open, (str(victim), "w")),
        "eval": _Reduce(eval, (f"open({str(victim)!r}, 'w')",)),
    }[how]
    make_python_archive(
        tmp_path / "a.tar.gz",
        n_per_batch=2,
        n_test=2,
        replace={"data_batch_2": pickle.dumps({b"data": payload}, protocol=2)},
    )
    with pytest.raises(
        DataError,
        match=r"data_batch_2': the pickle asks for \S+, which a "
        r"CIFAR-10 batch never needs",
    ):
        read_source(tmp_path / "a.tar.gz")
    assert not victim.exists()


def test_not_a_pickle_names_the_member(tmp_path):
    make_python_archive(tmp_path / "a.tar.gz", replace={"batches.meta": b"garbage"})
    with pytest.raises(DataError, match="member 'cifar-10-batches-py/batches.meta': not a readable pickle"):
        read_source(tmp_path / "a.tar.gz")


# --------------------------------------------------------------------------------------------
# Class folders


def test_folder_archive_is_read_pixel_for_pixel(tmp_path):
    expected = make_folder_archive(tmp_path / "f.tar.gz")
    assert_same(read_source(tmp_path / "f.tar.gz"), expected)


def test_folder_directory_under_a_top_level_folder_is_read(tmp_path):
    expected = make_folder_archive(tmp_path / "src", as_dir=True, top="cifar10")
    assert_same(read_source(tmp_path / "src"), expected)


def test_folder_archive_of_jpegs_matches_their_decoded_pixels(tmp_path):
    expected = make_folder_archive(tmp_path / "f.tar.gz", fmt="jpg", top="data")
    assert_same(read_source(tmp_path / "f.tar.gz"), expected)


def test_uncompressed_tar_is_read(tmp_path):
    expected = make_folder_archive(tmp_path / "src", as_dir=True)
    import tarfile

    with tarfile.open(tmp_path / "f.tar", "w") as tar:
        tar.add(tmp_path / "src", arcname=".")  # members named ./train/...
    assert_same(read_source(tmp_path / "f.tar"), expected)


def test_cifar10_class_folders_take_the_official_label_order(tmp_path):
    make_folder_archive(tmp_path / "f.tar.gz", n_train_per_class=5, n_test_per_class=1)
    raw = read_source(tmp_path / "f.tar.gz")
    assert raw.class_names == CIFAR10_CLASSES
    assert raw.test_labels.tolist() == list(range(10))


def test_other_class_folders_take_sorted_order(tmp_path):
    expected = make_folder_archive(tmp_path / "f.tar.gz", class_names=("zebra", "apple", "mango"))
    raw = read_source(tmp_path / "f.tar.gz")
    assert raw.class_names == ("apple", "mango", "zebra")
    assert_same(raw, expected)


def test_expected_classes_set_the_order_and_must_match(tmp_path):
    make_folder_archive(tmp_path / "f.tar.gz", class_names=("b", "a"))
    raw = read_source(tmp_path / "f.tar.gz", classes=("b", "a"))
    assert raw.class_names == ("b", "a")
    with pytest.raises(DataError, match="class folder train/c is missing"):
        read_source(tmp_path / "f.tar.gz", classes=("a", "b", "c"))


def test_pseudo_batches_are_stratified_and_batch_major(tmp_path):
    make_folder_archive(tmp_path / "f.tar.gz", n_train_per_class=10, n_test_per_class=1)
    raw = read_source(tmp_path / "f.tar.gz")
    assert raw.train_batch.tolist() == sorted(raw.train_batch.tolist())
    for b in range(1, 6):
        counts = np.bincount(raw.train_labels[raw.train_batch == b], minlength=10)
        assert counts.tolist() == [2] * 10
    # within a batch: interleaved by (index within class, label)
    assert raw.train_labels[:20].tolist() == list(range(10)) * 2


def test_pseudo_batches_with_unequal_class_sizes_follow_the_rule(tmp_path):
    expected = make_folder_archive(
        tmp_path / "f.tar.gz", class_names=("x", "y"), n_train_per_class=[7, 12], n_test_per_class=[1, 2]
    )
    raw = read_source(tmp_path / "f.tar.gz")
    assert_same(raw, expected)
    # class x, 7 files: index i goes to batch i * 5 // 7 + 1
    assert raw.train_batch[raw.train_labels == 0].tolist() == [1, 1, 2, 3, 3, 4, 5]


def test_files_in_a_class_are_taken_in_name_order(tmp_path):
    img = make_images(np.zeros(2, int), seed=3)
    extra = {
        "train/a/b.png": encode_image(img[1]),
        "train/a/a.png": encode_image(img[0]),
        "test/a/z.png": encode_image(img[0]),
    }
    add_members(tmp_path / "f.tar.gz", extra)
    raw = read_source(tmp_path / "f.tar.gz")
    np.testing.assert_array_equal(raw.train_images, img)
    assert raw.class_names == ("a",)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA"])
def test_greyscale_palette_and_opaque_alpha_images_become_rgb(tmp_path, mode):
    img = make_images(np.zeros(1, int), seed=1)[0]
    data = encode_image(img, "png", mode=mode)
    want = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    make_folder_archive(
        tmp_path / "f.tar.gz", n_train_per_class=1, n_test_per_class=1, extra={"train/airplane/0000.png": data}
    )
    raw = read_source(tmp_path / "f.tar.gz")
    np.testing.assert_array_equal(raw.train_images[raw.train_labels == 0][0], want)


def test_transparent_image_is_rejected(tmp_path):
    im = Image.new("RGBA", (32, 32), (255, 0, 0, 128))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    make_folder_archive(
        tmp_path / "f.tar.gz", n_train_per_class=1, n_test_per_class=1, extra={"train/cat/0000.png": buf.getvalue()}
    )
    with pytest.raises(DataError, match=r"member 'train/cat/0000.png' has transparent pixels"):
        read_source(tmp_path / "f.tar.gz")


def test_16_bit_image_is_rejected(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.zeros((32, 32), np.uint16)).save(buf, "PNG")
    make_folder_archive(
        tmp_path / "f.tar.gz", n_train_per_class=1, n_test_per_class=1, extra={"test/dog/0000.png": buf.getvalue()}
    )
    with pytest.raises(DataError, match=r"member 'test/dog/0000.png' has image mode I"):
        read_source(tmp_path / "f.tar.gz")


def _folder_with(tmp_path, **kwargs):
    kwargs.setdefault("n_train_per_class", 2)
    kwargs.setdefault("n_test_per_class", 1)
    make_folder_archive(tmp_path / "f.tar.gz", **kwargs)
    return tmp_path / "f.tar.gz"


def test_corrupt_jpeg_names_the_member(tmp_path):
    good = encode_image(make_images([0])[0], "jpg")
    path = _folder_with(tmp_path, fmt="jpg", extra={"train/ship/0001.jpg": good[: len(good) // 2]})
    with pytest.raises(
        DataError,
        match=r"f.tar.gz: member 'train/ship/0001.jpg' is a corrupt "
        r"image",
    ):
        read_source(path)


def test_non_image_member_names_the_member(tmp_path):
    path = _folder_with(tmp_path, extra={"train/cat/notes.txt": b"hello"})
    with pytest.raises(DataError, match=r"member 'train/cat/notes.txt' is not an image"):
        read_source(path)


def test_non_image_bytes_with_image_suffix_names_the_member(tmp_path):
    path = _folder_with(tmp_path, extra={"test/cat/9999.png": b"not really a png"})
    with pytest.raises(DataError, match=r"member 'test/cat/9999.png' is not a JPEG or PNG image"):
        read_source(path)


def test_wrong_size_image_names_the_member(tmp_path):
    big = encode_image(np.zeros((40, 32, 3), np.uint8))
    path = _folder_with(tmp_path, extra={"train/frog/0000.png": big})
    with pytest.raises(
        DataError,
        match=r"member 'train/frog/0000.png' is 32x40 pixels, "
        r"expected 32x32",
    ):
        read_source(path)


def test_missing_class_folder_is_named(tmp_path):
    path = _folder_with(tmp_path, omit=("test/horse/0000.png",))
    with pytest.raises(DataError, match=r"class folder test/horse is missing"):
        read_source(path)


def test_extra_class_folder_is_named(tmp_path):
    png = encode_image(make_images([0])[0])
    path = _folder_with(tmp_path, extra={"test/unicorn/0000.png": png})
    with pytest.raises(DataError, match=r"class folder test/unicorn has no counterpart"):
        read_source(path)


def test_empty_class_folder_in_a_directory_is_named(tmp_path):
    make_folder_archive(tmp_path / "src", n_train_per_class=1, n_test_per_class=1, as_dir=True)
    (tmp_path / "src" / "train" / "lion").mkdir()
    with pytest.raises(DataError, match=r"class folder train/lion has no images"):
        read_source(tmp_path / "src")


def test_member_outside_train_and_test_is_named(tmp_path):
    path = _folder_with(tmp_path, extra={"README.txt": b"hi"})
    with pytest.raises(DataError, match=r"unexpected member 'README.txt'"):
        read_source(path)


def test_symlink_in_a_directory_source_is_refused(tmp_path):
    make_folder_archive(tmp_path / "src", n_train_per_class=1, n_test_per_class=1, as_dir=True)
    (tmp_path / "src" / "train" / "cat" / "0009.png").symlink_to("/etc/passwd")
    with pytest.raises(DataError, match=r"train/cat/0009.png is a symbolic link"):
        read_source(tmp_path / "src")


# --------------------------------------------------------------------------------------------
# Hostile and damaged archives


@pytest.mark.parametrize("name", ["../evil.txt", "train/../../evil.txt", "ABS"])
def test_path_traversal_member_is_refused_and_nothing_is_written(tmp_path, monkeypatch, name):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    target = tmp_path / "evil.txt"
    name = str(target) if name == "ABS" else name
    png = encode_image(make_images([0])[0])
    add_members(work / "x.tar.gz", {"train/cat/0000.png": png, "test/cat/0000.png": png, name: b"gotcha"})
    with pytest.raises(DataError, match=r"has an absolute path or a '\.\.' component"):
        read_source(work / "x.tar.gz")
    assert not target.exists() and not (tmp_path / "a" / "evil.txt").exists()
    assert sorted(p.name for p in work.iterdir()) == ["x.tar.gz"]


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "chr", "fifo"])
def test_link_and_device_members_are_refused(tmp_path, kind):
    png = encode_image(make_images([0])[0])
    add_members(
        tmp_path / "x.tar.gz",
        {"train/cat/0000.png": png, "test/cat/0000.png": png, "train/cat/0001.png": (kind, "/etc/passwd")},
    )
    with pytest.raises(DataError, match=r"member 'train/cat/0001.png' is a (link|device)"):
        read_source(tmp_path / "x.tar.gz")


def test_truncated_gzip_is_named(tmp_path):
    make_python_archive(tmp_path / "a.tar.gz")
    data = (tmp_path / "a.tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DataError, match=r"cut.tar.gz: the archive is truncated or corrupt"):
        read_source(tmp_path / "cut.tar.gz")


def test_truncated_plain_tar_is_named(tmp_path):
    import tarfile

    make_folder_archive(tmp_path / "src", n_train_per_class=3, n_test_per_class=1, as_dir=True)
    with tarfile.open(tmp_path / "f.tar", "w") as tar:
        tar.add(tmp_path / "src", arcname="data")
    data = (tmp_path / "f.tar").read_bytes()
    (tmp_path / "cut.tar").write_bytes(data[: len(data) // 2 + 100])
    with pytest.raises(DataError, match=r"cut.tar: the archive is truncated"):
        read_source(tmp_path / "cut.tar")


def test_file_that_is_not_an_archive_is_named(tmp_path):
    (tmp_path / "x.tar.gz").write_bytes(b"just text\n" * 100)
    with pytest.raises(DataError, match=r"x.tar.gz: not a readable tar archive"):
        read_source(tmp_path / "x.tar.gz")


def test_missing_source_is_named(tmp_path):
    with pytest.raises(DataError, match=r"nope.tar.gz: the data source does not exist"):
        read_source(tmp_path / "nope.tar.gz")


def test_error_messages_are_one_line(tmp_path):
    path = _folder_with(tmp_path, extra={"train/ship/0001.jpg": b"\xff\xd8\xff\n\nbroken\n"})
    with pytest.raises(DataError) as info:
        read_source(path)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------
# Parallel decoding


def test_parallel_decoding_gives_the_serial_import_bit_for_bit(tmp_path, monkeypatch):
    from cifarflow.data import sources

    monkeypatch.setattr(sources, "DECODE_CHUNK", 7)  # many chunks, one partial at the end
    expected = make_folder_archive(tmp_path / "f.tar.gz", n_train_per_class=6, n_test_per_class=3, fmt="jpg")
    serial = read_source(tmp_path / "f.tar.gz")
    assert_same(serial, expected)
    for workers in (2, 3):
        parallel = read_source(tmp_path / "f.tar.gz", workers=workers)
        for key in ("train_images", "train_labels", "train_batch", "test_images", "test_labels"):
            assert getattr(parallel, key).tobytes() == getattr(serial, key).tobytes()
        assert parallel.class_names == serial.class_names


def test_parallel_decoding_reports_the_error_the_serial_import_reports(tmp_path, monkeypatch):
    from cifarflow.data import sources

    monkeypatch.setattr(sources, "DECODE_CHUNK", 5)
    good = encode_image(make_images([0])[0], "jpg")
    bad = {"train/ship/0001.jpg": good[: len(good) // 2], "test/cat/9999.jpg": b"not really a jpeg"}
    path = _folder_with(tmp_path, fmt="jpg", n_train_per_class=4, extra=bad)
    with pytest.raises(DataError) as serial:
        read_source(path)
    with pytest.raises(DataError) as parallel:
        read_source(path, workers=2)
    assert str(parallel.value) == str(serial.value)
    assert "test/cat/9999.jpg" in str(serial.value)  # the first bad member in archive order


# --------------------------------------------------------------------------------------------
# Real data


@pytest.mark.realdata
def test_real_jpeg_archive_decodes_fully_and_fast():
    path = real_archive()
    start = time.perf_counter()
    raw = read_source(path)
    seconds = time.perf_counter() - start
    print(f"\ndecoded {path.name} in {seconds:.2f} s")
    assert raw.train_images.shape == (50000, 32, 32, 3)
    assert raw.test_images.shape == (10000, 32, 32, 3)
    assert raw.class_names == CIFAR10_CLASSES
    assert np.bincount(raw.train_labels).tolist() == [5000] * 10
    assert np.bincount(raw.test_labels).tolist() == [1000] * 10
    for b in range(1, 6):
        assert np.bincount(raw.train_labels[raw.train_batch == b]).tolist() == [1000] * 10
    assert 100 < raw.train_images.mean() < 150  # real photos, not blank decodes
    assert seconds < 30  # the target is well under 10 s on an idle 2-core machine


@pytest.mark.realdata
def test_real_jpeg_archive_decodes_the_same_in_two_processes():
    path = real_archive()
    serial, parallel = read_source(path), read_source(path, workers=2)
    assert parallel.train_images.tobytes() == serial.train_images.tobytes()
    assert parallel.test_images.tobytes() == serial.test_images.tobytes()
    assert parallel.train_labels.tobytes() == serial.train_labels.tobytes()
