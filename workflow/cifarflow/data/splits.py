"""The HDF5 data stage: the raw data set file, splits, their statistics, and source hashes.

Files (all written through `cifarflow.io.atomic_h5`: complete under their name or absent):

``cifar10.h5`` (`write_raw` / `read_raw`)::

    /train/images   (N, 32, 32, 3) uint8, chunks (1000, 32, 32, 3), uncompressed
    /train/labels   (N,) uint8
    /train/batch    (N,) uint8, 1..5
    /test/images    (M, 32, 32, 3) uint8
    /test/labels    (M,) uint8
    attrs: class_names, source_path, source_sha256, source_format, cifarflow_version,
           layout_version

split file (`write_split` / `load_split`)::

    /train/images, /train/labels, /train/index   index: (n,) int64 rows of the raw train set
    /val/images,   /val/labels,   /val/index
    /test/images,  /test/labels
    /stats/mean, /stats/std                      (32, 32, 3) float32, over the training split
    /stats/channel_mean, /stats/channel_std      (3,) float32
    attrs: name, spec (JSON), seed (-1 for a split without randomness), n_train, n_val, n_test,
           class_names, source_sha256, cifarflow_version, layout_version, plus caller's attrs

Statistics are population statistics (ddof=0) computed chunk by chunk with exact integer
accumulators (sums and sums of squares of uint8 values), so they equal a float64 reference up to
the final rounding, without ever holding a float copy of the images.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from cifarflow import __version__
from cifarflow.data import IMAGE_SHAPE, N_BATCHES
from cifarflow.data.subset import Data
from cifarflow.errors import ConfigError, DataError
from cifarflow.io import atomic_h5, write_digest_file

if TYPE_CHECKING:  # annotations only: read_raw and import_source import the source readers
    from cifarflow.data.sources import RawData

__all__ = [
    "Split",
    "write_raw",
    "read_raw",
    "make_split",
    "image_stats",
    "write_split",
    "load_split",
]

LAYOUT_VERSION = 1
CHUNK = 1000  # images per HDF5 chunk and per statistics step


@dataclass(eq=False)
class Split(Data):
    """Train/val/test arrays of one split, with the training split's statistics.

    *_images: (n, 32, 32, 3) uint8;  *_labels: (n,) uint8;  class_names (these are `Data`'s fields)
    train_index, val_index: (n,) int64 rows of the raw training set
    mean, std: (32, 32, 3) float32 per feature;  channel_mean, channel_std: (3,) float32
    spec: the split spec;  seed: the seed used, None when the split has no randomness
    """

    name: str
    spec: dict
    seed: int | None
    train_index: np.ndarray
    val_index: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    channel_mean: np.ndarray
    channel_std: np.ndarray
    source_sha256: str = ""
    attrs: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Writing


def _images(group, name, images):
    n = len(images)
    chunks = (min(n, CHUNK), *IMAGE_SHAPE) if n else None
    group.create_dataset(name, data=images, chunks=chunks)


def _set_attrs(f, attrs):
    for key, value in attrs.items():
        if isinstance(value, dict):
            value = json.dumps(value, sort_keys=True)
        elif isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
            value = np.array(value, dtype=h5py.string_dtype())
        elif value is None:
            value = ""
        f.attrs[key] = value


def write_raw(raw: RawData, path, source_path, source_sha256) -> None:
    """Write `raw` to the HDF5 file `path` (layout in the module docstring), atomically."""
    with atomic_h5(path) as f:
        for split in ("train", "test"):
            g = f.create_group(split)
            _images(g, "images", getattr(raw, f"{split}_images"))
            g.create_dataset("labels", data=getattr(raw, f"{split}_labels"))
        f["train"].create_dataset("batch", data=raw.train_batch)
        _set_attrs(
            f,
            {
                "class_names": raw.class_names,
                "source_path": str(source_path),
                "source_sha256": str(source_sha256),
                "source_format": raw.source_format,
                "cifarflow_version": __version__,
                "layout_version": LAYOUT_VERSION,
            },
        )


def write_split(split: Split, path, attrs=None) -> None:
    """Write `split` to the HDF5 file `path`, atomically; `attrs` are extra root attributes
    (they may override the defaults, e.g. the name). Dict values are stored as JSON."""
    with atomic_h5(path) as f:
        for part in ("train", "val", "test"):
            g = f.create_group(part)
            _images(g, "images", getattr(split, f"{part}_images"))
            g.create_dataset("labels", data=getattr(split, f"{part}_labels"))
            if part != "test":
                g.create_dataset("index", data=getattr(split, f"{part}_index").astype(np.int64))
        g = f.create_group("stats")
        for key in ("mean", "std", "channel_mean", "channel_std"):
            g.create_dataset(key, data=getattr(split, key).astype(np.float32))
        _set_attrs(
            f,
            {
                "name": split.name,
                "spec": split.spec,
                "seed": -1 if split.seed is None else int(split.seed),
                "n_train": len(split.train_labels),
                "n_val": len(split.val_labels),
                "n_test": len(split.test_labels),
                "class_names": split.class_names,
                "source_sha256": split.source_sha256,
                "cifarflow_version": __version__,
                "layout_version": LAYOUT_VERSION,
                **split.attrs,
                **(attrs or {}),
            },
        )


# --------------------------------------------------------------------------------------------
# Reading (validated)


RAW_LAYOUT = {  # dataset -> (dtype, shape after the first axis)
    "train/images": (np.uint8, IMAGE_SHAPE),
    "train/labels": (np.uint8, ()),
    "train/batch": (np.uint8, ()),
    "test/images": (np.uint8, IMAGE_SHAPE),
    "test/labels": (np.uint8, ()),
}
RAW_ATTRS = ("class_names", "source_path", "source_sha256", "source_format")

SPLIT_LAYOUT = {
    "train/images": (np.uint8, IMAGE_SHAPE),
    "train/labels": (np.uint8, ()),
    "train/index": (np.int64, ()),
    "val/images": (np.uint8, IMAGE_SHAPE),
    "val/labels": (np.uint8, ()),
    "val/index": (np.int64, ()),
    "test/images": (np.uint8, IMAGE_SHAPE),
    "test/labels": (np.uint8, ()),
    "stats/mean": (np.float32, None),
    "stats/std": (np.float32, None),
    "stats/channel_mean": (np.float32, None),
    "stats/channel_std": (np.float32, None),
}
SPLIT_ATTRS = ("name", "spec", "seed", "class_names", "source_sha256")
STATS_SHAPES = {
    "stats/mean": IMAGE_SHAPE,
    "stats/std": IMAGE_SHAPE,
    "stats/channel_mean": (3,),
    "stats/channel_std": (3,),
}


def _read_checked(path, layout, attr_names, what, part=None):
    """(arrays, attrs, lengths) of the HDF5 file `path` (lengths: each dataset's first dimension in
    the file); DataError naming the path and the problem. `part`, when given, is (dataset, rows):
    that dataset is read only at `rows(arrays, attrs)` (increasing row indices; a function of the
    other datasets and the attributes, which are read and checked first)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: the {what} file does not exist; run the step that makes it")
    if not h5py.is_hdf5(path):
        raise DataError(f"{path}: not an HDF5 file; delete it and run the step that makes it")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in layout if not isinstance(f.get(k), h5py.Dataset)]
            missing += [f"attribute {a}" for a in attr_names if a not in f.attrs]
            if missing:
                kind = _other_kind(f)
                todo = f"it looks like {kind}; check the path" if kind else "delete it and run the step that makes it"
                raise DataError(f"{path}: not a cifarflow {what} file, missing {', '.join(missing)}; {todo}")
            arrays, lengths = {}, {}
            for key, (dtype, tail) in layout.items():
                ds = f[key]
                if key in STATS_SHAPES:
                    ok, want = ds.shape == STATS_SHAPES[key], STATS_SHAPES[key]
                else:
                    ok, want = ds.shape[1:] == tail, ("n", *tail)
                if ds.dtype != dtype or not ok:
                    raise DataError(
                        f"{path}: dataset {key} is {ds.dtype} {ds.shape}, expected "
                        f"{np.dtype(dtype)} ({', '.join(map(str, want))}); delete it and run "
                        f"the step that makes it"
                    )
                lengths[key] = ds.shape[0] if ds.shape else 0
                if part is None or key != part[0]:
                    arrays[key] = ds[()]
            attrs = {a: _attr(f.attrs[a]) for a in f.attrs}
            if part is not None:
                arrays[part[0]] = _read_rows(f[part[0]], part[1](arrays, attrs))
    except DataError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise DataError(
            f"{path}: the {what} file is truncated or corrupt ({' '.join(str(exc).split())}); "
            f"delete it and run the step that makes it"
        ) from None
    return arrays, attrs, lengths


def _read_rows(ds, rows) -> np.ndarray:
    """`ds[rows]` (`rows`: increasing row indices) from the file, the same bytes as reading the whole
    dataset and indexing it: consecutive rows as one slice; others chunk by chunk (HDF5 reads a
    slice chunk by chunk, a list of thousands of rows row by row), each chunk's span from its first
    to its last chosen row, so memory holds the chosen rows and one chunk, never the whole dataset."""
    rows = np.asarray(rows, dtype=np.int64)
    if not len(rows):
        return ds[0:0]
    start, stop = int(rows[0]), int(rows[-1]) + 1
    if stop - start == len(rows):  # a training limit on all classes: the first rows
        return ds[start:stop]
    out = np.empty((len(rows), *ds.shape[1:]), dtype=ds.dtype)
    step = ds.chunks[0] if ds.chunks else CHUNK
    edges = np.searchsorted(rows, np.arange(start - start % step, stop + step, step))
    for i, j in zip(edges[:-1], edges[1:]):
        if j > i:
            first = int(rows[i])
            out[i:j] = ds[first : int(rows[j - 1]) + 1][rows[i:j] - first]
    return out


# What another cifarflow HDF5 file holds (first match): a wrong path is then named as such,
# rather than met with advice to delete a good file.
_OTHER_KINDS = (
    ("opt_state", "a training checkpoint"),
    ("params", "a weights or predictions file"),
    ("order", "an epoch plan"),
    ("train/batch", "a raw data file (cifar10.h5)"),
    ("stats/mean", "a split file"),
)


def _other_kind(f) -> str | None:
    return next((kind for key, kind in _OTHER_KINDS if key in f), None)


def _attr(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        return tuple(v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check_lengths(path, lengths, groups):
    """Every dataset of each group has the same length (`lengths`: dataset -> its length in the file)."""
    for group, keys in groups.items():
        found = {k: lengths[f"{group}/{k}"] for k in keys}
        if len(set(found.values())) > 1:
            raise DataError(f"{path}: datasets in {group}/ have different lengths {found}")


def _check_label_range(path, arrays, keys, n_classes):
    for key in keys:
        if len(arrays[key]) and arrays[key].max() >= n_classes:
            raise DataError(f"{path}: {key} has labels >= the {n_classes} class names")


def _check_stats(path, arrays) -> None:
    """Training statistics of uint8 images: means finite in 0..255, standard deviations finite
    and positive, at most 127.5 (a NaN or zero would make every normalised input NaN or huge,
    and the run would be reported as a divergence instead of a bad file)."""
    for key in ("stats/mean", "stats/channel_mean"):
        values = arrays[key]
        if not (np.isfinite(values).all() and values.min() >= 0 and values.max() <= 255):
            raise DataError(
                f"{path}: dataset {key} holds values that are not finite or outside 0..255; "
                f"delete it and run the split step again"
            )
    for key in ("stats/std", "stats/channel_std"):
        values = arrays[key]
        if not (np.isfinite(values).all() and values.min() > 0 and values.max() <= 127.5):
            bad = (
                "not finite"
                if not np.isfinite(values).all()
                else "zero or negative"
                if values.min() <= 0
                else "too large"
            )
            raise DataError(
                f"{path}: dataset {key} holds standard deviations that are {bad} (finite, positive values "
                f"expected); delete it and run the split step again"
            )


def read_raw(path) -> RawData:
    """Read a file written by `write_raw`; provenance holds source_path, source_sha256 and
    cifarflow_version."""
    from cifarflow.data.sources import RawData  # deferred: the source readers (tarfile, pickle)

    arrays, attrs, lengths = _read_checked(path, RAW_LAYOUT, RAW_ATTRS, "raw data (cifar10.h5)")
    _check_lengths(path, lengths, {"train": ("images", "labels", "batch"), "test": ("images", "labels")})
    classes = tuple(attrs["class_names"])
    _check_label_range(path, arrays, ("train/labels", "test/labels"), len(classes))
    batch = arrays["train/batch"]
    if len(batch) and (batch.min() < 1 or batch.max() > N_BATCHES):
        raise DataError(f"{path}: train/batch has values outside 1..{N_BATCHES}")
    try:
        return RawData(
            train_images=arrays["train/images"],
            train_labels=arrays["train/labels"],
            train_batch=batch,
            test_images=arrays["test/images"],
            test_labels=arrays["test/labels"],
            class_names=classes,
            source_format=attrs["source_format"],
            provenance={k: attrs.get(k) for k in ("source_path", "source_sha256", "cifarflow_version")},
        )
    except ValueError as exc:
        raise DataError(f"{path}: {exc}") from None


def load_split(path, train_rows=None) -> Split:
    """Read a file written by `write_split` (all arrays), validating its layout.

    `train_rows`, when given, is a function of the training labels and the class names that gives
    the training rows to keep (increasing indices, e.g. a variant's, `data.subset.select_training`):
    the Split then holds only those rows of the training images, labels and index, and of the
    training images only those rows are read from the file (the same bytes as indexing them after
    reading all). The statistics stay those of the whole training split."""
    part = None
    if train_rows is not None:
        chosen = {}

        def rows(arrays, attrs):
            labels = arrays["train/labels"]
            r = chosen["rows"] = np.asarray(train_rows(labels, tuple(attrs["class_names"])), dtype=np.int64)
            if len(r) and (r[0] < 0 or r[-1] >= len(labels) or np.any(np.diff(r) <= 0)):
                raise IndexError(
                    f"train_rows gave rows that are not increasing rows of the {len(labels)} training images"
                )
            return r

        part = ("train/images", rows)
    arrays, attrs, lengths = _read_checked(path, SPLIT_LAYOUT, SPLIT_ATTRS, "split", part)
    _check_lengths(
        path,
        lengths,
        {"train": ("images", "labels", "index"), "val": ("images", "labels", "index"), "test": ("images", "labels")},
    )
    classes = tuple(attrs["class_names"])
    _check_label_range(path, arrays, ("train/labels", "val/labels", "test/labels"), len(classes))
    if train_rows is not None:
        for key in ("train/labels", "train/index"):
            arrays[key] = arrays[key][chosen["rows"]]
    _check_stats(path, arrays)
    try:
        spec = json.loads(attrs["spec"])
    except (TypeError, ValueError):
        raise DataError(f"{path}: attribute spec is not JSON") from None
    known = {
        "name",
        "spec",
        "seed",
        "n_train",
        "n_val",
        "n_test",
        "class_names",
        "source_sha256",
        "cifarflow_version",
        "layout_version",
    }
    seed = int(attrs["seed"])
    return Split(
        name=str(attrs["name"]),
        spec=spec,
        seed=None if seed < 0 else seed,
        class_names=classes,
        train_images=arrays["train/images"],
        train_labels=arrays["train/labels"],
        val_images=arrays["val/images"],
        val_labels=arrays["val/labels"],
        test_images=arrays["test/images"],
        test_labels=arrays["test/labels"],
        train_index=arrays["train/index"],
        val_index=arrays["val/index"],
        mean=arrays["stats/mean"],
        std=arrays["stats/std"],
        channel_mean=arrays["stats/channel_mean"],
        channel_std=arrays["stats/channel_std"],
        source_sha256=str(attrs["source_sha256"]),
        attrs={k: v for k, v in attrs.items() if k not in known},
    )


# --------------------------------------------------------------------------------------------
# Splits


def image_stats(images: np.ndarray, chunk: int = CHUNK):
    """Per-feature and per-channel mean and std (ddof=0) of uint8 images.

    images: (N, 32, 32, 3) uint8 (any (N, ..., C) works)
    returns mean (32, 32, 3), std (32, 32, 3), channel_mean (3,), channel_std (3,), float32.
    Accumulates exact int64 sums of values and squares chunk by chunk, combines them with
    exact integer arithmetic, and rounds once at the end. A chunk of at most 66,051 uint8 images
    is summed in uint32 (its sums of squares are below 2**32: exact, and 2-3x faster than int64).
    """
    n = len(images)
    if n == 0:
        raise ValueError("image_stats needs at least one image")
    s1 = np.zeros(images.shape[1:], np.int64)
    s2 = np.zeros(images.shape[1:], np.int64)
    wide = np.uint32 if images.dtype == np.uint8 and chunk * 255 * 255 < 2**32 else np.int64
    for start in range(0, n, chunk):
        block = images[start : start + chunk].astype(wide)
        s1 += block.sum(axis=0, dtype=wide)
        block *= block
        s2 += block.sum(axis=0, dtype=wide)

    def moments(t1, t2, count):
        # var = (count * S2 - S1**2) / count**2, with Python integers (exact, no overflow)
        t1, t2 = t1.astype(object), t2.astype(object)
        mean = (t1 / count).astype(np.float64)
        var = ((count * t2 - t1 * t1) / (count * count)).astype(np.float64)
        return mean, np.sqrt(var)

    mean, std = moments(s1, s2, n)
    axes = tuple(range(s1.ndim - 1))
    cmean, cstd = moments(s1.sum(axis=axes), s2.sum(axis=axes), n * int(np.prod(s1.shape[:-1])))
    return (mean.astype(np.float32), std.astype(np.float32), cmean.astype(np.float32), cstd.astype(np.float32))


SPEC_KEYS = {
    "batches": {"type", "name", "train", "val"},
    "holdout": {"type", "name", "val_size", "seed"},
}


def _spec_error(spec, what):
    return ConfigError(f"split spec {json.dumps(spec, sort_keys=True)}: {what}")


def _batch_list(spec, key):
    value = spec.get(key, [])
    value = [value] if isinstance(value, int) else value
    if (
        not isinstance(value, (list, tuple))
        or not all(isinstance(b, int) and not isinstance(b, bool) and 1 <= b <= N_BATCHES for b in value)
        or len(set(value)) != len(value)
    ):
        raise _spec_error(spec, f"'{key}' must be a list of distinct batch numbers in 1..5")
    return list(value)


def _select_batches(raw, spec):
    train, val = _batch_list(spec, "train"), _batch_list(spec, "val")
    if not train:
        raise _spec_error(spec, "'train' must name at least one batch")
    if set(train) & set(val):
        raise _spec_error(
            spec, f"'train' and 'val' share batch {sorted(set(train) & set(val))[0]}; give disjoint batch lists"
        )
    train_index = np.flatnonzero(np.isin(raw.train_batch, train))
    val_index = np.flatnonzero(np.isin(raw.train_batch, val))
    if not len(train_index):
        raise _spec_error(spec, "the training batches are empty in this data set")
    return train_index, val_index, None


def _select_holdout(raw, spec):
    val_size, seed = spec.get("val_size"), spec.get("seed", 0)
    k = len(raw.class_names)
    for key, value in (("val_size", val_size), ("seed", seed)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _spec_error(spec, f"'{key}' must be a non-negative integer")
    if val_size % k:
        raise _spec_error(
            spec,
            f"'val_size' must be a multiple of the {k} classes, so that "
            f"every class has the same number of validation images",
        )
    per_class = val_size // k
    counts = np.bincount(raw.train_labels, minlength=k)
    if per_class and counts.min() <= per_class:
        c = int(np.argmin(counts))
        raise _spec_error(
            spec, f"class {raw.class_names[c]} has {counts[c]} training images, too few to hold out {per_class}"
        )
    rng = np.random.default_rng(seed)
    val = [rng.choice(np.flatnonzero(raw.train_labels == c), per_class, replace=False) for c in range(k)]
    val_index = np.sort(np.concatenate(val)).astype(np.int64)
    keep = np.ones(len(raw.train_labels), bool)
    keep[val_index] = False
    return np.flatnonzero(keep), val_index, seed


def make_split(raw: RawData, spec: dict, name: str | None = None) -> Split:
    """Split the raw training set into train/val, keep the test set, compute train statistics.

    spec: {'type': 'batches', 'train': [1], 'val': [2]}: whole (pseudo-)batches, in raw order
          (the DD2424 basic split: data_batch_1 train, data_batch_2 val, test_batch test);
          {'type': 'holdout', 'val_size': 1000, 'seed': 0}: all training images except a
          stratified validation set of val_size (val_size / K per class, drawn with
          numpy.random.default_rng(seed)); both index arrays in raw order.
    name: stored as the split's name (default: spec['name'] or spec['type']).
    """
    if not isinstance(spec, dict) or spec.get("type") not in SPEC_KEYS:
        raise ConfigError(f"split spec {spec!r}: 'type' must be 'batches' or 'holdout'")
    unknown = sorted(set(spec) - SPEC_KEYS[spec["type"]])
    if unknown:
        raise _spec_error(
            spec,
            f"unknown key {unknown[0]!r} for type {spec['type']!r} "
            f"(allowed: {', '.join(sorted(SPEC_KEYS[spec['type']]))})",
        )
    select = _select_batches if spec["type"] == "batches" else _select_holdout
    train_index, val_index, seed = select(raw, spec)
    train_index = train_index.astype(np.int64)
    val_index = val_index.astype(np.int64)
    train_images = raw.train_images[train_index]
    mean, std, cmean, cstd = image_stats(train_images)
    return Split(
        name=str(name or spec.get("name") or spec["type"]),
        spec=dict(spec),
        seed=seed,
        class_names=tuple(raw.class_names),
        train_images=train_images,
        train_labels=raw.train_labels[train_index],
        val_images=raw.train_images[val_index],
        val_labels=raw.train_labels[val_index],
        test_images=raw.test_images,
        test_labels=raw.test_labels,
        train_index=train_index,
        val_index=val_index,
        mean=mean,
        std=std,
        channel_mean=cmean,
        channel_std=cstd,
        source_sha256=str(raw.provenance.get("source_sha256") or ""),
    )


# --------------------------------------------------------------------------------------------
# The import and split steps (file in, file out)


def import_source(source, out, classes=None, workers: int = 1, log=print) -> None:
    """Read a CIFAR-10 source (archive or folder), decoding images in `workers` processes, and write
    the raw HDF5 file `out`."""
    t0 = time.perf_counter()
    from cifarflow.data.source_digest import source_sha256  # deferred: the source readers (tarfile, pickle)
    from cifarflow.data.sources import read_source  # deferred: the source readers (tarfile, pickle, Pillow)

    raw = read_source(source, classes=classes, workers=workers)
    how = f"{raw.source_format}, decoded in {workers} process{'es' if workers > 1 else ''}"
    if raw.source_format != "folders":  # only a class-folder source's JPEG/PNG files are decoded in parallel
        how = raw.source_format
    log(
        f"read {len(raw.train_labels)} training and {len(raw.test_labels)} test images ({how}) in {time.perf_counter() - t0:.1f}s"
    )
    digest = source_sha256(source)
    write_raw(raw, out, source_path=str(source), source_sha256=digest)
    log(f"wrote {out} in {time.perf_counter() - t0:.1f}s (source sha256 {digest})")


def split_file(raw_path, spec: dict, name: str, out, log=print) -> None:
    """Write the split `name` (spec from the config's `splits`) of the raw file to `out`."""
    split = make_split(read_raw(raw_path), spec, name=name)
    for part, labels in (
        ("validation", split.val_labels),
        ("test", split.test_labels),
        ("training", split.train_labels),
    ):
        if not len(labels):  # caught before a model trains for hours and then divides by zero
            raise ConfigError(f"config key splits.{name}: the {part} set of this split is empty ({raw_path})")
    write_split(split, out)
    write_digest_file(out)  # so that each training job need not hash the split again
    log(
        f"split {name}: {len(split.train_labels)} train, {len(split.val_labels)} val, {len(split.test_labels)} test -> {out}"
    )
