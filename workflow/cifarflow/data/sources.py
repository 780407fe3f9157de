"""Read CIFAR-10 from any of the accepted sources into one in-memory layout (`RawData`).

Accepted sources (detected from the member names, not from the file name):

- ``python``: the official ``cifar-10-python.tar.gz`` (``cifar-10-batches-py/data_batch_1..5``,
  ``test_batch``, ``batches.meta``; Python-2 pickles). Read with a restricted unpickler that can
  only build dicts, lists, strings and numpy uint8 arrays; any other global is a `DataError`.
- ``binary``: the official ``cifar-10-binary.tar.gz`` (``cifar-10-batches-bin/data_batch_1..5.bin``,
  ``test_batch.bin``, ``batches.meta.txt``; records of 1 label byte + 3072 pixel bytes).
- ``folders``: a ``.tar``/``.tar.gz`` archive or a directory with ``train/<class>/<image>`` and
  ``test/<class>/<image>`` (``.jpg``, ``.jpeg``, ``.png``), optionally under one top-level folder.

The python and binary layouts may also be given as a directory (an extracted archive).

Archives are read member by member in memory; nothing is written to disk. Before any member is
read, every member is checked: an absolute name or a ``..`` component (path traversal), a link, a
device or any other non-regular member makes the whole archive a `DataError`.

Folder sources, decisions:

- Class order (label values): the official CIFAR-10 order (`cifarflow.CIFAR10_CLASSES`) when the
  class folders are exactly CIFAR-10's ten classes, otherwise the folder names sorted. ``train/``
  and ``test/`` must hold the same class folders, each with at least one image.
- Pseudo-batches: each class's training files are sorted by file name; the file with index ``i``
  among ``n`` files of its class goes to batch ``i * 5 // n + 1`` (i.e. ``floor(i / (n / 5)) + 1``),
  so every batch is stratified (1,000 images per class for the full data set).
- Order: training images are ordered by (batch, index within class, label), i.e. batch-major and,
  within a batch, interleaved over the classes; test images by (index within class, label).
- Images must be 32x32. RGB is read as is; greyscale (``L``, ``1``), palette (``P``), ``CMYK`` and
  ``YCbCr`` images are converted to RGB; images with an alpha channel are accepted only when fully
  opaque (the alpha is dropped), otherwise rejected, since any background would be a guess;
  16-bit and float modes are rejected.
"""

from __future__ import annotations

import _codecs
import io
import os
import pickle
import re
import stat
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cifarflow import CIFAR10_CLASSES
from cifarflow.data import IMAGE_SHAPE, N_BATCHES
from cifarflow.errors import DataError

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct

__all__ = ["RawData", "read_source", "directory_files", "SOURCE_FORMATS"]

SOURCE_FORMATS = ("python", "binary", "folders")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

PY_BATCHES = tuple(f"data_batch_{k}" for k in range(1, N_BATCHES + 1))
PY_TEST, PY_META = "test_batch", "batches.meta"
BIN_BATCHES = tuple(f"{name}.bin" for name in PY_BATCHES)
BIN_TEST, BIN_META = "test_batch.bin", "batches.meta.txt"
BIN_RECORD = 1 + 32 * 32 * 3

MAX_CLASSES = 256  # labels are stored as uint8
MAX_CLASS_NAME = 200  # characters of one class name
# Size bounds, checked before a member is read: what a member must hold, with room to spare.
BATCH_IMAGES = 10_000  # images in an official batch
MAX_PICKLED_BATCH = 40_000_000  # a pickled batch of 10,000 images is about 31 MB
MAX_BIN_BATCH = BATCH_IMAGES * BIN_RECORD  # 30,730,000 bytes
MAX_META = 1_000_000  # batches.meta / batches.meta.txt: a list of class names
MAX_IMAGE_FILE = 256 * 1024  # one 32x32 JPEG/PNG is a few KB; generous room for metadata
MAX_MEMBERS = 500_000  # files in a source (CIFAR-10 has 60,000 images)

_CONVERTIBLE_MODES = {"1", "L", "P", "CMYK", "YCbCr"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


@dataclass(eq=False)
class RawData:
    """CIFAR-10 as read from a source, before any split.

    train_images: (N, 32, 32, 3) uint8, HWC, RGB
    train_labels: (N,) uint8, values index `class_names`
    train_batch:  (N,) uint8 in 1..5 (official batch, or pseudo-batch for folder sources)
    test_images:  (M, 32, 32, 3) uint8
    test_labels:  (M,) uint8
    class_names:  tuple of K str, label order
    source_format: 'python' | 'binary' | 'folders'
    provenance:   optional facts about where the data came from (filled by `data.splits.read_raw`:
                  source_path, source_sha256, cifarflow_version)
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    train_batch: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple
    source_format: str
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        self.class_names = tuple(str(c) for c in self.class_names)
        n, m = len(self.train_images), len(self.test_images)
        checks = [
            ("train_images", self.train_images, (n, *IMAGE_SHAPE)),
            ("train_labels", self.train_labels, (n,)),
            ("train_batch", self.train_batch, (n,)),
            ("test_images", self.test_images, (m, *IMAGE_SHAPE)),
            ("test_labels", self.test_labels, (m,)),
        ]
        for name, arr, shape in checks:
            if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.shape != shape:
                got = f"{getattr(arr, 'dtype', type(arr).__name__)} {getattr(arr, 'shape', '')}"
                raise ValueError(f"RawData.{name} must be uint8 of shape {shape}, got {got}")
        if self.source_format not in SOURCE_FORMATS:
            raise ValueError(f"RawData.source_format must be one of {SOURCE_FORMATS}")


# --------------------------------------------------------------------------------------------
# Entry point


def read_source(path, classes=None, workers: int = 1) -> RawData:
    """Read a CIFAR-10 source (archive or directory) into `RawData`.

    path: an official python/binary archive, a class-folder archive, or a directory holding
        any of these layouts.
    classes: optional expected class names in label order (folder sources only); when given,
        the class folders must be exactly these, and this order is used.
    workers: processes that decode a class-folder source's images (1: in this process). The
        result, and the first error reported, are the same for any number.
    """
    path = Path(path)
    check_source_path(path)
    if classes is not None and len(classes) > MAX_CLASSES:
        raise DataError(
            f"{path}: {len(classes)} class names expected (source_classes); at most {MAX_CLASSES} are supported"
        )
    source = _DirSource(path) if path.is_dir() else _TarSource(path)
    try:
        fmt, prefix = _detect_format(source)
        if fmt == "python":
            return _read_python(source, prefix)
        if fmt == "binary":
            return _read_binary(source, prefix)
        return _read_folders(source, classes, workers)
    finally:
        source.close()


def check_source_path(path) -> None:
    """A data source must be a regular file or a directory; a device, FIFO or socket (e.g.
    /dev/zero) would be read forever. Checked (with stat, which reads nothing) before any read."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DataError(f"{path}: the data source does not exist; check the path in the config") from None
    except OSError as exc:
        raise DataError(f"{path}: the data source cannot be read ({_one_line(exc)})") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise DataError(
            f"{path}: the data source is not a regular file or a directory (a device, FIFO or socket); "
            f"give an archive or a folder (config key local_archive)"
        )


def member_limit(name: str) -> int:
    """The largest size a source member named `name` may have, from what it must hold."""
    base = name.rpartition("/")[2]
    if base in (PY_META, BIN_META):
        return MAX_META
    if base in (*PY_BATCHES, PY_TEST):
        return MAX_PICKLED_BATCH
    if base in (*BIN_BATCHES, BIN_TEST):
        return MAX_BIN_BATCH
    return MAX_IMAGE_FILE


def _check_size(label: str, name: str, size: int) -> None:
    limit = member_limit(name)
    if size > limit:
        raise DataError(
            f"{label}: member {name!r} is {size:,} bytes, more than the {limit:,} such a member can need; "
            f"the source is refused"
        )


# --------------------------------------------------------------------------------------------
# Sources: a list of regular-file entries (relative POSIX names) and a way to read them


def _one_line(exc) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _safe_name(raw: str, label: str) -> str:
    """Normalised relative POSIX name of an archive member; DataError on traversal."""
    parts = re.split(r"[\\/]+", raw)
    if raw.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", raw) or ".." in parts:
        raise DataError(
            f"{label}: member {raw!r} has an absolute path or a '..' component (path traversal); "
            f"the archive is refused, use an archive from a trusted source"
        )
    return "/".join(p for p in raw.split("/") if p not in ("", "."))


class _TarSource:
    """A tar archive (any compression tarfile knows), read in memory member by member."""

    def __init__(self, path: Path):
        self.label = str(path)
        try:
            self.tar = tarfile.open(path, "r:*")
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"{path}: not a readable tar archive or directory ({_one_line(exc)}); "
                f"give an official CIFAR-10 archive, a class-folder archive or a directory"
            ) from None
        try:
            members = self._members(path)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            self.tar.close()
            raise self._corrupt(exc) from None
        try:
            self._check_members(members)  # before any data is read
            self._check_complete()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            self.tar.close()
            raise self._corrupt(exc) from None
        except DataError:
            self.tar.close()
            raise
        for name, m in self.members.items():  # the size each member claims, before any is read
            try:
                _check_size(self.label, name, m.size)
            except DataError:
                self.tar.close()
                raise
        self.names = sorted(self.members)

    def _members(self, path):
        members = []
        while (m := self.tar.next()) is not None:
            members.append(m)
            if len(members) > MAX_MEMBERS:
                raise DataError(f"{path}: more than {MAX_MEMBERS:,} members; not a CIFAR-10 source")
        return members

    def _corrupt(self, exc):
        return DataError(
            f"{self.label}: the archive is truncated or corrupt ({_one_line(exc)}); download or copy it again"
        )

    def _check_members(self, members):
        self.members, self.dirs = {}, set()
        for m in members:
            name = _safe_name(m.name, self.label)
            if m.issym() or m.islnk():
                raise DataError(
                    f"{self.label}: member {m.name!r} is a link (to {m.linkname!r}); archives with links are refused"
                )
            if m.ischr() or m.isblk() or m.isfifo():
                raise DataError(
                    f"{self.label}: member {m.name!r} is a device or FIFO; archives with special files are refused"
                )
            if m.isdir():
                if name:
                    self.dirs.add(name)
                continue
            if not m.isreg():
                raise DataError(f"{self.label}: member {m.name!r} is not a regular file or folder")
            if not name or name in self.members:
                raise DataError(f"{self.label}: member {m.name!r} appears twice or has an empty name")
            self.members[name] = m

    def _check_complete(self):
        """Refuse a tar that ends inside a member; let gzip/bz2/xz verify their checksums.

        tarfile stops silently at a truncated or invalid header after the first member. A
        complete tar ends with a zero block, which tarfile has just read (the stream is then
        one block past `offset`), usually followed by another zero block or the end.
        """
        fileobj = self.tar.fileobj
        after = fileobj.read(tarfile.BLOCKSIZE)
        if fileobj.tell() != self.tar.offset + tarfile.BLOCKSIZE + len(after) or (
            after and after.count(0) != len(after)
        ):
            raise DataError(
                f"{self.label}: the archive is truncated or corrupt (it ends inside a member or "
                f"a header is damaged); download or copy it again"
            )
        while fileobj.read(1 << 20):  # to the end, so that compressed streams verify their CRC
            pass

    def iter_read(self, names):
        """Yield (name, bytes) for `names`, in archive order (sequential reading)."""
        for name in sorted(names, key=lambda n: self.members[n].offset_data):
            member = self.members[name]
            try:
                data = self.tar.extractfile(member).read(member.size + 1)
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                raise DataError(
                    f"{self.label}: member {name!r} cannot be read ({_one_line(exc)}); the archive is corrupt"
                ) from None
            if len(data) != member.size:
                raise DataError(
                    f"{self.label}: member {name!r} is truncated ({len(data)} of {member.size} "
                    f"bytes); the archive is corrupt"
                )
            yield name, data

    def read(self, name) -> bytes:
        return next(self.iter_read([name]))[1]

    def close(self):
        self.tar.close()


def directory_files(root) -> list:
    """Sorted relative POSIX paths of the regular files under `root` (its folders in `dirs`).

    Symbolic links and special files are a DataError: what is hashed must be what is read.
    """
    return _walk_directory(Path(root))[0]


def _walk_directory(root: Path):
    files, dirs = [], set()
    for here, dirnames, filenames in os.walk(root, followlinks=False):
        rel_here = Path(here).relative_to(root)
        for name in sorted(dirnames) + sorted(filenames):
            full = Path(here) / name
            rel = (rel_here / name).as_posix()
            mode = os.lstat(full).st_mode
            if stat.S_ISLNK(mode):
                raise DataError(f"{root}: {rel} is a symbolic link; links are not followed, copy the data in")
            if stat.S_ISDIR(mode):
                dirs.add(rel)
            elif stat.S_ISREG(mode):
                files.append(rel)
                if len(files) > MAX_MEMBERS:
                    raise DataError(f"{root}: more than {MAX_MEMBERS:,} files; not a CIFAR-10 source")
            else:
                raise DataError(f"{root}: {rel} is not a regular file or folder")
    return sorted(files), dirs


class _DirSource:
    def __init__(self, path: Path):
        self.root = path
        self.label = str(path)
        self.names, self.dirs = _walk_directory(path)

    def iter_read(self, names):
        for name in names:
            try:
                with open(self.root / name, "rb") as fh:
                    size = os.fstat(fh.fileno()).st_size
                    _check_size(self.label, name, size)
                    data = fh.read(member_limit(name) + 1)
                _check_size(self.label, name, len(data))  # grew since the stat
                yield name, data
            except OSError as exc:
                raise DataError(f"{self.root / name}: cannot be read ({_one_line(exc)})") from None

    def read(self, name) -> bytes:
        return next(self.iter_read([name]))[1]

    def close(self):
        pass


# --------------------------------------------------------------------------------------------
# Format detection


def _detect_format(source):
    """('python' | 'binary' | 'folders', folder prefix of the batch files)."""
    split = [n.rpartition("/") for n in source.names]  # (folder, "/", basename)
    for fmt, marker, expected in (
        ("python", PY_META, (*PY_BATCHES, PY_TEST)),
        ("binary", BIN_META, (*BIN_BATCHES, BIN_TEST)),
    ):
        wanted = {marker, *expected}
        prefixes = sorted({folder for folder, _, base in split if base in wanted})
        if not prefixes:
            continue
        if len(prefixes) > 1:
            raise DataError(
                f"{source.label}: {fmt}-format batch files found in several folders "
                f"({', '.join(p or '.' for p in prefixes)}); keep one copy"
            )
        return fmt, (prefixes[0] + "/" if prefixes[0] else "")
    return "folders", ""


def _require(source, names, what):
    present = set(source.names)
    missing = [n for n in names if n not in present]
    if missing:
        raise DataError(
            f"{source.label}: member {missing[0]!r} is missing ({len(missing)} missing in all); "
            f"the {what} has {', '.join(n.rpartition('/')[2] for n in names)}"
        )


# --------------------------------------------------------------------------------------------
# Official python format


_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _codecs.encode,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds only what CIFAR-10 batches need: containers, strings, numbers, numpy arrays."""

    def __init__(self, file, label):
        super().__init__(file, encoding="bytes")
        self.label = label

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(
                f"{self.label}: the pickle asks for {module}.{name}, which a CIFAR-10 batch never "
                f"needs; refusing to load it (the file is not an official batch)"
            ) from None

    def persistent_load(self, pid):
        raise DataError(f"{self.label}: the pickle uses persistent ids; refusing to load it")


def _unpickle(data: bytes, label: str) -> dict:
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), label).load()
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a corrupt member
        raise DataError(f"{label}: not a readable pickle ({_one_line(exc)})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{label}: the pickle holds a {type(obj).__name__}, expected a dict")
    return {(k.decode("latin-1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _as_str(x) -> str:
    return x.decode("utf-8") if isinstance(x, (bytes, bytearray)) else str(x)


def _class_names(names, label) -> tuple:
    names = tuple(n for n in names if n)
    if not names or len(names) > MAX_CLASSES or len(set(names)) != len(names):
        shown = list(names[:12]) + (["..."] if len(names) > 12 else [])
        raise DataError(
            f"{label}: expected 1..{MAX_CLASSES} distinct class names, got {len(names)} ({', '.join(map(repr, shown))})"
        )
    long = next((n for n in names if len(n) > MAX_CLASS_NAME or not n.isprintable()), None)
    if long is not None:
        raise DataError(
            f"{label}: class name {long[:40]!r}... is longer than {MAX_CLASS_NAME} characters or not printable"
        )
    return names


def _label_names(value, label) -> tuple:
    """The meta pickle's `label_names`: a list of strings (bytes in the official Python-2 file)."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(n, (str, bytes)) for n in value):
        raise DataError(f"{label}: 'label_names' must be a list of strings, got {_describe(value)}")
    try:
        return tuple(_as_str(n) for n in value)
    except UnicodeDecodeError:
        raise DataError(f"{label}: 'label_names' holds a name that is not UTF-8") from None


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    if isinstance(value, (list, tuple)):
        kinds = sorted({type(v).__name__ for v in value})
        return f"a {type(value).__name__} of {len(value)} ({', '.join(kinds[:4]) or 'empty'})"
    return f"a {type(value).__name__}"


def _labels_array(labels, n, where) -> np.ndarray:
    """The batch's `labels` as a 1-D int64 array; DataError for anything else (ragged or nested
    lists, floats, strings, arrays of another shape or dtype)."""
    if isinstance(labels, np.ndarray):
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DataError(f"{where}: 'labels' must be {n} integers, got {_describe(labels)}")
        if labels.dtype.kind == "u" and labels.dtype.itemsize == 8 and len(labels) and labels.max() > 2**62:
            raise DataError(f"{where}: expected {n} integer labels in range")
        return labels.astype(np.int64)
    if not isinstance(labels, (list, tuple)) or not all(type(x) is int for x in labels):
        raise DataError(f"{where}: 'labels' must be a list of {n} integers, got {_describe(labels)}")
    if labels and (min(labels) < 0 or max(labels) > 2**62):
        raise DataError(f"{where}: expected {n} integer labels, got values out of range")
    return np.array(labels, dtype=np.int64)


def _py_batch(source, name, n_classes, label):
    where = f"{label}: member {name!r}"
    d = _unpickle(source.read(name), where)
    for key in ("data", "labels"):
        if key not in d:
            raise DataError(f"{where}: the batch dict has no key {key!r}")
    data, labels = d["data"], d["labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{where}: 'data' must be a uint8 array of shape (n, 3072), got {_describe(data)}")
    return _check_labels(data, _labels_array(labels, len(data), where), n_classes, where)


def _check_labels(data, labels, n_classes, where):
    if (
        labels.ndim != 1
        or len(labels) != len(data)
        or (len(labels) and (labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= n_classes))
    ):
        raise DataError(f"{where}: expected {len(data)} integer labels in 0..{n_classes - 1}")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # channel-first rows -> HWC
    return np.ascontiguousarray(images), labels.astype(np.uint8)


def _read_python(source, prefix) -> RawData:
    label = source.label
    batches = [prefix + b for b in PY_BATCHES]
    _require(source, [*batches, prefix + PY_TEST, prefix + PY_META], "official python archive")
    meta = _unpickle(source.read(prefix + PY_META), f"{label}: member {prefix + PY_META!r}")
    if "label_names" not in meta:
        raise DataError(f"{label}: member {prefix + PY_META!r} has no key 'label_names'")
    where = f"{label}: member {prefix + PY_META!r}"
    classes = _class_names(_label_names(meta["label_names"], where), where)
    parts = [_py_batch(source, b, len(classes), label) for b in batches]
    test = _py_batch(source, prefix + PY_TEST, len(classes), label)
    return _assemble(parts, test, classes, "python")


def _assemble(parts, test, classes, fmt) -> RawData:
    return RawData(
        train_images=np.concatenate([p[0] for p in parts]),
        train_labels=np.concatenate([p[1] for p in parts]),
        train_batch=np.concatenate([np.full(len(p[1]), k, np.uint8) for k, p in enumerate(parts, start=1)]),
        test_images=test[0],
        test_labels=test[1],
        class_names=classes,
        source_format=fmt,
    )


# --------------------------------------------------------------------------------------------
# Official binary format


def _bin_batch(data: bytes, name, n_classes, label):
    where = f"{label}: member {name!r}"
    if not data or len(data) % BIN_RECORD:
        raise DataError(f"{where}: size {len(data)} bytes is not a whole number of {BIN_RECORD}-byte records")
    rec = np.frombuffer(data, np.uint8).reshape(-1, BIN_RECORD)
    return _check_labels(rec[:, 1:], rec[:, 0], n_classes, where)


def _read_binary(source, prefix) -> RawData:
    label = source.label
    batches = [prefix + b for b in BIN_BATCHES]
    _require(source, [*batches, prefix + BIN_TEST, prefix + BIN_META], "official binary archive")
    got = dict(source.iter_read([*batches, prefix + BIN_TEST, prefix + BIN_META]))
    try:
        text = got[prefix + BIN_META].decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{label}: member {prefix + BIN_META!r} is not UTF-8 text") from None
    classes = _class_names(tuple(line.strip() for line in text.splitlines()), f"{label}: member {prefix + BIN_META!r}")
    parts = [_bin_batch(got[b], b, len(classes), label) for b in batches]
    test = _bin_batch(got[prefix + BIN_TEST], prefix + BIN_TEST, len(classes), label)
    return _assemble(parts, test, classes, "binary")


# --------------------------------------------------------------------------------------------
# Class folders


def _read_folders(source, classes=None, workers: int = 1) -> RawData:
    label = source.label
    names = source.names
    if not names:
        raise DataError(f"{label}: no files found; expected train/<class>/<image> and test/...")
    # Optional single top-level folder (e.g. cifar10/train/cat/0001.png).
    top = {n.split("/", 1)[0] for n in names}
    prefix = ""
    if len(top) == 1 and not top & {"train", "test"} and all(n.count("/") >= 3 for n in names):
        prefix = top.pop() + "/"

    files = {"train": {}, "test": {}}  # split -> class -> [names]
    for name in names:
        parts = name[len(prefix) :].split("/")
        if len(parts) != 3 or parts[0] not in files:
            raise DataError(
                f"{label}: unexpected member {name!r}; a class-folder source holds only "
                f"{prefix}train/<class>/<image> and {prefix}test/<class>/<image>"
            )
        split, cls, fname = parts
        if not fname.lower().endswith(IMAGE_SUFFIXES):
            raise DataError(f"{label}: member {name!r} is not an image (expected {', '.join(IMAGE_SUFFIXES)})")
        files[split].setdefault(cls, []).append(name)
    # Class folders without any file (empty directories) count as present but empty.
    for d in source.dirs:
        parts = d[len(prefix) :].split("/") if d.startswith(prefix) else []
        if len(parts) == 2 and parts[0] in files and parts[1] not in files[parts[0]]:
            raise DataError(f"{label}: class folder {_printable(d)} has no images")

    for split in files:
        if not files[split]:
            raise DataError(f"{label}: folder {_printable(prefix)}{split}/ is missing or empty")
    class_names = _folder_classes(files, classes, label, prefix)
    index = {c: k for k, c in enumerate(class_names)}

    # Final positions: train by (batch, index within class, label), test by (index, label).
    train_keys, test_keys = [], []
    for cls, members in files["train"].items():
        members.sort()
        n = len(members)
        for i, name in enumerate(members):
            train_keys.append((i * N_BATCHES // n + 1, i, index[cls], name))
    for cls, members in files["test"].items():
        members.sort()
        for i, name in enumerate(members):
            test_keys.append((i, index[cls], name))
    train_keys.sort()
    test_keys.sort()

    train_images = np.empty((len(train_keys), *IMAGE_SHAPE), np.uint8)
    test_images = np.empty((len(test_keys), *IMAGE_SHAPE), np.uint8)
    target = {}
    for pos, key in enumerate(train_keys):
        target[key[-1]] = (train_images, pos)
    for pos, key in enumerate(test_keys):
        target[key[-1]] = (test_images, pos)
    if workers > 1:
        _decode_parallel(source, target, label, workers)
    else:
        for name, data in source.iter_read(list(target)):
            out, pos = target[name]
            _decode_into(data, out, pos, label, name)

    return RawData(
        train_images=train_images,
        train_labels=np.array([k[2] for k in train_keys], np.uint8),
        train_batch=np.array([k[0] for k in train_keys], np.uint8),
        test_images=test_images,
        test_labels=np.array([k[1] for k in test_keys], np.uint8),
        class_names=class_names,
        source_format="folders",
    )


def _folder_classes(files, classes, label, prefix) -> tuple:
    train, test = set(files["train"]), set(files["test"])
    if classes is not None:
        classes = tuple(classes)
        for split, found in (("train", train), ("test", test)):
            missing = [c for c in classes if c not in found]
            extra = sorted(found - set(classes))
            if missing:
                raise DataError(
                    f"{label}: class folder {_printable(f'{prefix}{split}/{missing[0]}')} is missing "
                    f"(expected classes: {', '.join(classes)})"
                )
            if extra:
                raise DataError(
                    f"{label}: unexpected class folder {_printable(f'{prefix}{split}/{extra[0]}')} "
                    f"(expected classes: {', '.join(classes)})"
                )
        return classes
    if test - train:
        raise DataError(
            f"{label}: class folder {_printable(f'{prefix}test/{sorted(test - train)[0]}')} has no "
            f"counterpart in {_printable(prefix)}train/; train and test need the same classes"
        )
    if train - test:
        raise DataError(
            f"{label}: class folder {_printable(f'{prefix}test/{sorted(train - test)[0]}')} is "
            f"missing ({_printable(prefix)}train/ has it); train and test need the same classes"
        )
    if len(train) > 256:
        raise DataError(f"{label}: {len(train)} class folders; at most 256 are supported")
    if train == set(CIFAR10_CLASSES):
        return tuple(CIFAR10_CLASSES)
    return _class_names(tuple(sorted(train)), f"{label}: class folders")  # printable names, as in a meta file


def _printable(name: str) -> str:
    """A folder or member name as written, or quoted with escapes when it holds a newline or
    another unprintable character (an error message stays one line)."""
    return name if name.isprintable() else repr(name)


DECODE_CHUNK = 2000


def _decode_chunk(items, label):
    """Worker: decode [(name, bytes), ...] into (n, 32, 32, 3) uint8; stops at the first bad image.

    Returns (images, None) or (images decoded so far, the error's message).
    """
    out = np.empty((len(items), *IMAGE_SHAPE), np.uint8)
    for i, (name, data) in enumerate(items):
        try:
            _decode_into(data, out, i, label, name)
        except DataError as exc:
            return out[:i], str(exc)
    return out, None


def _decode_parallel(source, target, label, workers):
    """Decode every member of `target` in `workers` processes, chunk by chunk as they are read.

    Chunks are placed and checked in reading order, so the images and the first error (a bad
    image before an unreadable member, as in the serial loop) are those of the serial import.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    pending = []  # (names of the chunk, future), in reading order

    def place(upto):
        while len(pending) > upto:
            names, future = pending.pop(0)
            images, error = future.result()
            for name, image in zip(names, images):
                out, pos = target[name]
                out[pos] = image
            if error is not None:
                raise DataError(error)

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
        try:
            chunk = []
            for item in source.iter_read(list(target)):
                chunk.append(item)
                if len(chunk) == DECODE_CHUNK:
                    pending.append(([n for n, _ in chunk], pool.submit(_decode_chunk, chunk, label)))
                    chunk = []
                    place(2 * workers)  # bounds the memory held by chunks in flight
            if chunk:
                pending.append(([n for n, _ in chunk], pool.submit(_decode_chunk, chunk, label)))
        except DataError:  # a member cannot be read: an earlier bad image is the first error, as serially
            place(0)
            error = _decode_chunk(chunk, label)[1]
            if error is not None:
                raise DataError(error) from None
            raise
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
        try:
            place(0)
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def _decode_into(data: bytes, out: np.ndarray, pos: int, label: str, name: str) -> None:
    """Decode one JPEG/PNG into out[pos] (32, 32, 3) uint8."""
    from PIL import Image, UnidentifiedImageError  # deferred: Pillow, which only the import job decodes with

    where = f"{label}: member {name!r}"
    try:
        im = Image.open(io.BytesIO(data), formats=("JPEG", "PNG"))
    except UnidentifiedImageError:
        raise DataError(f"{where} is not a JPEG or PNG image") from None
    except Exception as exc:  # noqa: BLE001 - PIL raises many types on corrupt headers
        raise DataError(f"{where} is a corrupt image ({_one_line(exc)})") from None
    if im.size != (32, 32):
        raise DataError(f"{where} is {im.size[0]}x{im.size[1]} pixels, expected 32x32; resize the images first")
    try:
        im.load()
        if im.mode != "RGB":
            im = _to_rgb(im, where)
        out[pos] = np.asarray(im)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{where} is a corrupt image ({_one_line(exc)})") from None


def _to_rgb(im, where):
    mode = im.mode
    if mode == "P" and "transparency" in im.info:
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in _ALPHA_MODES:
        alpha = np.asarray(im.getchannel("A"))
        if alpha.min() < 255:
            raise DataError(f"{where} has transparent pixels (mode {im.mode}); flatten it onto a background first")
        return im.convert("RGB")
    if mode in _CONVERTIBLE_MODES:
        return im.convert("RGB")
    raise DataError(f"{where} has image mode {mode}; expected 8-bit RGB, greyscale or palette")
