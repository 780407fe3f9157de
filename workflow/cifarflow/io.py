"""The package's one I/O layer: atomic writes, JSON and HDF5 array files, hashing, provenance.

Every writer in the package goes through `atomic_output` (or `atomic_h5`): the file is written
under the temporary name ``.<name>.tmp-<pid>`` beside its target and renamed over it only when
complete, so a killed job never leaves a partial output that looks finished. That is the one
temporary-name scheme; `remove_stale_temporaries` knows it and deletes what a killed writer left.

Every reader checks a file before it reads a byte (`check_file`: a regular file, bounded in size)
and what it read before it returns it; a finished run's files are read through `read_run`, which
also checks each against its folder (variant and seed) and reads only the datasets asked for.

NumPy and h5py are imported by the functions that use them, not at the module's import: a job that
only writes text or JSON (summary.md, an HTML table, a manifest) does not load them.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import hmac
import json
import math
import os
import platform
import stat
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .errors import DataError
from .nn.registry import OUTPUT  # a table of names (it imports nothing): which models output a softmax

if TYPE_CHECKING:  # annotations only; the functions import them (module docstring)
    import h5py
    import numpy as np

TMP_MARK = ".tmp-"


def temporary_name(path: str | Path) -> Path:
    """The temporary file a writer of `path` uses: ``.<name>.tmp-<pid>`` in the same folder."""
    path = Path(path)
    return path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")


def current_umask() -> int:
    """The process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_error(path: Path, exc: OSError) -> DataError:
    reason = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
    return DataError(f"{path}: cannot write the file ({reason}); check the free space and the folder's permissions")


def _is_write_error(exc: OSError, path: Path, tmp: Path) -> bool:
    """An OSError of writing `path` (through `tmp`), not of reading some input inside the block."""
    names = {str(getattr(exc, "filename", None)), str(getattr(exc, "filename2", None))}
    return exc.filename is None or bool(names & {str(path), str(tmp), str(path.parent), os.fspath(tmp)})


@contextlib.contextmanager
def atomic_output(path: str | Path):
    """Yield a temporary path beside `path`; rename it to `path` only if the block succeeds.

    Before writing, temporaries that a killed writer of `path` left are deleted. The finished
    file gets the mode a plain ``open(path, "w")`` gives (0o666 minus the umask), whatever
    created the temporary. Failing to write (a full disk, a read-only or missing folder, a file
    where the folder should be) is a `DataError` naming `path`, and no temporary is left.
    """
    path = Path(path)
    tmp = temporary_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path.parent, path.name)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except OSError as exc:
        if _is_write_error(exc, path, tmp):
            raise _write_error(path, exc) from None
        raise
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_h5(path: str | Path):
    """Yield an `h5py.File` to fill; `path` gets its contents only if the block succeeds.

    The HDF5 file is built in memory (the ``core`` driver without a backing store) and its
    image written to the temporary file with plain Python I/O: a full disk or an unwritable
    folder then is an ordinary OSError (a `DataError` naming `path`), never a failure inside
    the HDF5 library, which can leave it in a state that crashes the interpreter.
    """
    import h5py  # deferred: h5py, which text-only jobs do not load

    with atomic_output(path) as tmp:
        f = h5py.File(f"{tmp}.mem", "w", driver="core", backing_store=False)
        try:
            yield f
            f.flush()
            image = f.id.get_file_image()
        finally:
            f.close()
        with open(tmp, "wb") as out:
            out.write(image)
        del image


def write_text(path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path, obj) -> None:
    """`obj` as strictly valid JSON: JSON has no NaN or infinity, so such a number is a DataError
    naming the file, never written silently (a writer that means "no number" writes None, e.g.
    through `finite_or_none`)."""
    try:
        text = json.dumps(obj, indent=2, sort_keys=True, default=json_default, allow_nan=False) + "\n"
    except ValueError as exc:
        raise DataError(f"{path}: not written, {exc} (JSON has no NaN or infinity)") from None
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def finite_or_none(obj):
    """`obj` with every NaN or infinite float (NumPy's too), in nested dicts, lists and tuples,
    replaced by None: what a JSON record writes for a number that does not exist."""
    if isinstance(obj, float) or _is_numpy(obj, "floating"):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


def _is_numpy(obj, kind: str) -> bool:
    """Whether `obj` is an instance of `numpy.<kind>` (e.g. "generic", "ndarray"); without importing
    NumPy: when it is not loaded, no object is one."""
    np = sys.modules.get("numpy")
    return np is not None and isinstance(obj, getattr(np, kind))


def json_default(o):
    if _is_numpy(o, "generic"):
        return o.item()
    if _is_numpy(o, "ndarray"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


MAX_JSON_BYTES = 16 << 20
"""The largest JSON file the package reads (a run's metrics.json is a few kB; a round record, tens)."""

MAX_HISTORY_BYTES = 64 << 20
"""The largest history.csv read (one short line per epoch: about 200 bytes; 64 MiB is 300,000 epochs)."""


def check_file(path, what: str, max_bytes: int | None = None, links: bool = True) -> os.stat_result:
    """The `os.stat` of `path` when it is a regular file of at most `max_bytes` bytes, checked before
    a byte is read (/dev/zero, a FIFO or a huge file would be read forever or into memory); with
    `links` false, a symbolic link is refused as well. A `DataError` naming the file otherwise."""
    path = Path(path)
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            if not links:
                raise DataError(
                    f"{path}: the {what} is a symbolic link (to {os.readlink(path)!r}), not a file its job wrote;"
                    " remove the link and run the job that makes it"
                )
            st = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"{path}: the {what} does not exist; run the job that makes it") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the {what} ({exc.strerror or type(exc).__name__})") from None
    if not stat.S_ISREG(st.st_mode):
        raise DataError(
            f"{path}: the {what} is not a regular file (a folder, device, FIFO or socket); run the job that makes it"
        )
    if max_bytes is not None and st.st_size > max_bytes:
        raise DataError(
            f"{path}: the {what} has {st.st_size} bytes, more than such a file can have ({max_bytes});"
            " delete it and run the job that makes it"
        )
    return st


def read_json(path, max_bytes: int = MAX_JSON_BYTES, links: bool = True, what: str = "JSON file"):
    """The JSON value in `path`, a regular file of at most `max_bytes` bytes (`check_file`)."""
    check_file(path, what, max_bytes, links)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read JSON ({' '.join(str(exc).split())})") from None


def read_history(path, links: bool = True):
    """A history.csv (one row per epoch) as a DataFrame: a regular file of at most
    MAX_HISTORY_BYTES bytes with an `epoch` column, numbers in every column, finite epochs and
    accuracies (`*_acc`) in [0, 1] (a diverged epoch is never written)."""
    import pandas as pd

    check_file(path, "history file", MAX_HISTORY_BYTES, links)
    try:
        df = pd.read_csv(path, encoding="utf-8")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: not a history file ({' '.join(str(exc).split())})") from None
    bad = [str(c) for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if "epoch" not in df.columns:
        why = "no epoch column"
    elif df.empty:
        why = "no rows"
    elif bad:
        why = f"column {bad[0]} is not numbers"
    else:
        checked = ["epoch"] + [c for c in df.columns if str(c).endswith("_acc")]
        out = [c for c in checked if not df[c].between(0, 1e9 if c == "epoch" else 1).all()]  # NaN never is
        why = f"column {out[0]} has values that are not finite or out of range" if out else None
    if why:
        raise DataError(f"{path}: not a history file ({why}); delete it and run the job that makes it")
    return df


def open_h5(path, what: str) -> h5py.File:
    import h5py  # deferred: h5py, which text-only jobs do not load

    try:
        return h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable HDF5 {what} ({str(exc).splitlines()[0]})") from None


# ---- HDF5 array files (weights, predictions) ---------------------------------------------------


def write_weights(path, params: dict, attrs: dict, extra: dict | None = None) -> None:
    import numpy as np  # deferred: NumPy, which text-only jobs do not load

    with atomic_h5(path) as f:
        g = f.create_group("params")
        for name, value in params.items():
            g.create_dataset(name, data=value)
        for name, value in (extra or {}).items():
            f.create_dataset(name, data=value)
        for k, v in attrs.items():
            f.attrs[k] = (
                v
                if isinstance(v, (str, int, float, np.ndarray))
                else json.dumps(v, sort_keys=True, default=json_default)
            )


def _read_dataset(path, f: h5py.File, name: str, file_size: int) -> np.ndarray:
    """Dataset `name` of the open file `f`, read only if it is a plain numeric array whose bytes fit
    in the file: cifarflow writes its arrays uncompressed, so a dataset holding more than the file's
    size (compressed, or never written and filled on reading) would only fill memory."""
    import h5py  # deferred: h5py, which text-only jobs do not load

    ds = f.get(name)
    if not isinstance(ds, h5py.Dataset):
        raise DataError(f"{path}: no dataset {name}; delete it and run the job that makes it")
    if ds.dtype.kind not in "biuf" or ds.shape is None:
        raise DataError(f"{path}: dataset {name} is {ds.dtype}, not numbers; delete it and run the job that makes it")
    nbytes = math.prod(ds.shape) * ds.dtype.itemsize
    if nbytes > file_size:
        raise DataError(
            f"{path}: dataset {name} would take {nbytes} bytes in memory from a file of {file_size} bytes"
            " (compressed or unwritten data, not a file cifarflow wrote); delete it and run the job that makes it"
        )
    return ds[()]


def read_weights(path, params=None, extra=(), links: bool = True) -> tuple[dict, dict, dict]:
    """(params, attrs, extra datasets) of a weights (or predictions) file: the parameters named in
    `params` (None: all of them) and the top-level datasets named in `extra`, nothing else. Each is
    read only when it is a numeric array no larger than the file (`_read_dataset`); a missing one is
    a `DataError` naming the file."""
    import h5py  # deferred: h5py, which text-only jobs do not load

    size = check_file(path, "weights file", None, links).st_size
    with open_h5(path, "weights file") as f:
        if not isinstance(f.get("params"), h5py.Group):
            raise DataError(f"{path}: not a cifarflow weights file (no params group)")
        names = list(f["params"]) if params is None else list(params)
        out = {k: _read_dataset(path, f, f"params/{k}", size) for k in names}
        more = {k: _read_dataset(path, f, k, size) for k in extra}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return out, attrs, more


PROBABILITY_SLACK = 1e-5
"""How far a stored (float32) probability may lie outside [0, 1], and a row sum away from 1 (x 100)."""


def read_predictions(path, rows_sum_to_one: bool = True, links: bool = True) -> tuple[np.ndarray, np.ndarray, dict]:
    """(probabilities (images x classes), labels (images), attrs) of a predictions.h5, checked: the
    probabilities finite and in [0, 1] (rows summing to 1 when `rows_sum_to_one`: a softmax, or
    [1 - p, p] of a single sigmoid), the labels integers naming a column, one per row."""
    import numpy as np  # deferred: NumPy, which text-only jobs do not load

    p, attrs, extra = read_weights(path, ("probs",), ("labels",), links)
    probs, labels = p["probs"], extra["labels"]
    problem = None
    if probs.ndim != 2 or labels.ndim != 1 or len(labels) != len(probs) or probs.shape[1] < 1:
        problem = f"probabilities of shape {probs.shape} for labels of shape {labels.shape}"
    elif not np.isfinite(probs).all():
        problem = f"{int(np.count_nonzero(~np.isfinite(probs)))} probabilities are not finite"
    elif probs.size and (probs.min() < -PROBABILITY_SLACK or probs.max() > 1 + PROBABILITY_SLACK):
        problem = f"probabilities outside [0, 1] (from {probs.min():g} to {probs.max():g})"
    elif (
        rows_sum_to_one
        and len(probs)
        and np.abs(probs.sum(axis=1, dtype=np.float64) - 1).max() > 100 * PROBABILITY_SLACK
    ):
        problem = "rows of probabilities that do not sum to 1"
    elif labels.dtype.kind not in "iu" or (
        len(labels) and (labels.min() < 0 or labels.max() >= max(2, probs.shape[1]))
    ):
        problem = f"labels that name no column of its {probs.shape[1]} (dtype {labels.dtype})"
    if problem:
        raise DataError(f"{path}: not a run's predictions ({problem}); delete it and run the job that makes it")
    return probs, labels, attrs


# ---- a run's files, checked against the folder they are in ------------------------------------


def run_place(folder) -> tuple[str, int | None]:
    """(variant, seed) that a run folder's path names: ``.../<variant>/seed<s>`` gives (variant, s);
    any other folder (an older layout without seed folders) gives (its name, None)."""
    folder = Path(folder)
    digits = folder.name[4:]
    if folder.name.startswith("seed") and digits.isdigit() and folder.name == f"seed{int(digits)}":
        return folder.parent.name, int(digits)
    return folder.name, None


def group_runs(run_dirs) -> dict[str, list[Path]]:
    """Variant name -> its run folders (results/runs/<variant>/seed<s>), in the order given."""
    out: dict[str, list[Path]] = {}
    for r in map(Path, run_dirs):
        out.setdefault(run_place(r)[0], []).append(r)
    return out


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _is_fraction(x) -> bool:
    return _is_number(x) and 0 <= x <= 1


def read_run_metrics(path) -> dict:
    """A run's metrics.json, used only when it is the file its job wrote in this folder: not a
    symbolic link, at most MAX_JSON_BYTES, its `variant` (and `config.name`) the folder's variant and
    its `config.seed` the folder's seed (`run_place`), its test accuracies fractions in [0, 1].
    Anything else is a `DataError` naming the file."""
    path = Path(path)
    variant, seed = run_place(path.parent)
    m = read_json(path, links=False, what="metrics file")
    cfg = m.get("config") if isinstance(m, dict) else None
    if not isinstance(cfg, dict):
        raise DataError(f"{path}: not a run's metrics (no config record); delete it and run the job that makes it")
    redo = "; a run's files are valid only in the folder of the run that wrote them: delete it, run its job again"
    for key, value in (("variant", m.get("variant")), ("config.name", cfg.get("name", variant))):
        if value != variant:
            raise DataError(f"{path}: {key} is {value!r}, but the file is in the folder of variant {variant!r}{redo}")
    if seed is not None and (
        not isinstance(cfg.get("seed"), int) or isinstance(cfg.get("seed"), bool) or cfg["seed"] != seed
    ):
        raise DataError(
            f"{path}: config.seed is {cfg.get('seed')!r}, but the file is in the folder of seed {seed}{redo}"
        )
    per_class = m.get("per_class_acc") or {}
    if not _is_fraction(m.get("test_acc")) or not isinstance(per_class, dict):
        raise DataError(f"{path}: test_acc is {m.get('test_acc')!r}, not a fraction in [0, 1]{redo}")
    for name, acc in per_class.items():
        if acc is not None and not _is_fraction(acc):
            raise DataError(f"{path}: per_class_acc.{name} is {acc!r}, not a fraction in [0, 1]{redo}")
    return m


class Run:
    """One run folder (``results/runs/<variant>/seed<s>/``), whose files are checked before use: each
    is a regular file (never a link) of bounded size, agrees with the folder's variant and seed, and
    holds finite numbers where they must be (`read_run_metrics`, `read_history`, `read_weights`,
    `read_predictions`); only the datasets asked for are read. Every reader of finished runs (tables,
    figures, paired tests, answers) goes through it."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.variant, self.seed = run_place(self.folder)
        self._metrics = None

    def __repr__(self) -> str:
        return f"Run({str(self.folder)!r})"

    @property
    def metrics(self) -> dict:
        if self._metrics is None:
            self._metrics = read_run_metrics(self.folder / "metrics.json")
        return self._metrics

    def history(self):
        return read_history(self.folder / "history.csv", links=False)

    def weights(self, *names: str) -> dict:
        """The parameter arrays `names` (all of them when none is named) of the run's weights.h5."""
        path = self.folder / "weights.h5"
        params, attrs, _ = read_weights(path, names or None, (), links=False)
        self._check_record(path, attrs)
        return params

    def predictions(self) -> tuple[np.ndarray, np.ndarray]:
        """(test probabilities, test labels) of the run's predictions.h5."""
        path = self.folder / "predictions.h5"
        check_file(path, "predictions file", None, links=False)
        with open_h5(path, "predictions file") as f:
            model = self._check_record(path, dict(f.attrs)).get("model")
        # a softmax, or [1 - p, p] of logistic's single sigmoid; a `sigmoid` model's rows need not sum to 1
        probs, labels, _ = read_predictions(path, OUTPUT.get(model) == "softmax" or model == "logistic", links=False)
        return probs, labels

    def _check_record(self, path: Path, attrs: dict) -> dict:
        """The `config` an HDF5 run file records, checked against the folder's variant and seed."""
        try:
            raw = attrs["config"]
            cfg = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
            name, seed = cfg["name"], cfg.get("seed")
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}: records no run config; delete it and run the job that makes it") from None
        if name != self.variant or (self.seed is not None and seed != self.seed):
            raise DataError(
                f"{path}: written by the run of variant {name!r} seed {seed!r}, but it is in the folder of variant"
                f" {self.variant!r}"
                + (f" seed {self.seed}" if self.seed is not None else "")
                + "; delete it and run the job that makes it"
            )
        return cfg


def read_run(folder) -> Run:
    """The run in `folder`, its files checked as they are read (`Run`)."""
    return Run(folder)


# ---- hashing and provenance --------------------------------------------------------------------


def file_hash(path):
    """The sha256 hash object of the contents of the file `path`, read in blocks of 1 MiB."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h


def file_sha256(path) -> str:
    """sha256 hex digest of the regular file `path`; anything else (missing, a folder, a device
    such as /dev/zero, a FIFO) is a `DataError`, found with stat before anything is read. (A data
    source's digest, an archive's or a folder's, is `cifarflow.data.source_digest`.)"""
    check_file(path, "file")
    return file_hash(path).hexdigest()


def digest_file_path(path) -> Path:
    """The sidecar `write_digest_file` writes beside `path`: `<name>.sha256.json`."""
    path = Path(path)
    return path.with_name(path.name + ".sha256.json")


DIGEST_KEY = Path(".snakemake") / "cifarflow" / "digest.key"
"""The work directory's secret key (32 random bytes, mode 0600; relative to the working directory,
where Snakemake runs every job) that signs the digest records: a record is trusted only with a
valid signature, so editing one never changes the digest a run records."""

SAMPLE_BLOCKS, SAMPLE_BLOCK_BYTES = 16, 1 << 16
_RECORD_FIELDS = ("file", "size", "inode", "sample", "sha256")


def _digest_key(create: bool = False) -> bytes | None:
    """The key at DIGEST_KEY; made by the first writer (`create`) when there is none. None when
    there is no key (or it cannot be made: a read-only work directory), so nothing is trusted."""
    for _ in range(2):
        try:
            check_file(DIGEST_KEY, "digest key", 4096, links=False)
            key = DIGEST_KEY.read_bytes()
            return key if len(key) >= 32 else None
        except (DataError, OSError):
            if not create or DIGEST_KEY.exists() or DIGEST_KEY.is_symlink():
                return None
        tmp = temporary_name(DIGEST_KEY)
        try:
            DIGEST_KEY.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(os.urandom(32))
            os.link(tmp, DIGEST_KEY)  # whole or not at all; a concurrent writer's key, if first, is kept
        except FileExistsError:
            pass
        except OSError:
            return None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
    return None


def _sample_digest(path: Path, size: int) -> str:
    """sha256 of SAMPLE_BLOCKS blocks at fixed offsets spread over the file (1 MiB read, whatever its
    size): with the inode and size, what identifies the file that was hashed."""
    h = hashlib.sha256(b"cifarflow-sample-v1\0")
    with open(path, "rb") as f:
        for i in range(SAMPLE_BLOCKS):
            f.seek(max(0, size - SAMPLE_BLOCK_BYTES) * i // (SAMPLE_BLOCKS - 1))
            h.update(f.read(SAMPLE_BLOCK_BYTES))
    return h.hexdigest()


def _record_signature(key: bytes, record: dict) -> str:
    text = json.dumps([record.get(k) for k in _RECORD_FIELDS], separators=(",", ":"))
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def write_digest_file(path) -> str:
    """Hash the regular file `path` once and record the digest in `digest_file_path(path)` for
    `known_sha256`, bound to the file (name, size, inode and a sample of its blocks, not its
    modification time, which Snakemake sets again after the job) and signed with the work
    directory's key (`DIGEST_KEY`, made here if there is none); return the digest."""
    path = Path(path)
    digest = file_sha256(path)
    st = path.stat()
    record = {
        "file": path.name,
        "size": st.st_size,
        "inode": st.st_ino,
        "sample": _sample_digest(path, st.st_size),
        "sha256": digest,
    }
    key = _digest_key(create=True)
    write_json(digest_file_path(path), dict(record, signature=_record_signature(key, record) if key else None))
    return digest


def _untrusted(path: Path, record_path: Path):
    """(None, digest) when the record of `path` is trusted, else (why not, None)."""
    try:
        record = read_json(record_path, 1 << 16, links=False)
    except DataError:
        return (f"no readable record {record_path.name}", None)
    if not isinstance(record, dict) or not isinstance(record.get("sha256"), str) or len(record["sha256"]) != 64:
        return (f"{record_path} is not a digest record", None)
    key = _digest_key()
    if key is None:
        return (f"no key {DIGEST_KEY} to verify {record_path} with", None)
    signature = record.get("signature")
    if not isinstance(signature, str) or not hmac.compare_digest(signature, _record_signature(key, record)):
        return (f"{record_path} does not verify: it was edited, or signed in another work directory", None)
    try:
        st = check_file(path, "file")
        same = (record["file"], record["size"], record["inode"]) == (path.name, st.st_size, st.st_ino)
        same = same and record["sample"] == _sample_digest(path, st.st_size)
    except (DataError, OSError):
        same = False
    if not same:
        return (f"{path.name} is not the file {record_path.name} was made for (replaced, copied or changed)", None)
    return (None, record["sha256"])


def known_sha256(path, log=None) -> str:
    """`file_sha256(path)`, taken from the `write_digest_file` record when it verifies (signed with
    the work directory's key) and names this very file (name, size, inode, sampled blocks);
    otherwise (no record or key, an edited record, a file replaced, copied or changed since) hashed
    again. `log` (a callable) hears which, in one line."""
    path = Path(path)
    record_path = digest_file_path(path)
    why, digest = _untrusted(path, record_path)
    if digest is not None:
        if log:
            log(f"{path}: sha256 taken from its verified record {record_path.name} (not hashed again)")
        return digest
    if log:
        log(f"{path}: hashing the file ({why})")
    return file_sha256(path)


def code_version() -> dict:
    """The git commit of the checkout the package runs from (and whether it has local changes)."""
    repo = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if commit.returncode == 0:
            return {
                "git_commit": commit.stdout.strip(),
                "git_dirty": bool(dirty.stdout.strip()),
                "package_sha256": package_digest(),
            }
    except (OSError, subprocess.SubprocessError):
        pass
    return {"git_commit": None, "git_dirty": None, "package_sha256": package_digest()}


@functools.lru_cache(maxsize=1)
def package_digest() -> str:
    """SHA-256 over the package's Python sources (all subpackages; developer tools live outside
    the package, in tools/): changes with any code change, committed or not. Computed once per
    process (a training job needs it twice: its fingerprint and its provenance)."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def remove_stale_temporaries(folder, name: str | None = None) -> None:
    """Delete temporary files a killed writer left behind (never a finished output): all of
    `folder`'s, or only those of the file `name`."""
    pattern = f".{glob.escape(name)}{TMP_MARK}*" if name else f".*{TMP_MARK}*"
    for tmp in Path(folder).glob(pattern):
        if tmp.is_file() and not tmp.is_symlink():
            tmp.unlink(missing_ok=True)


def _metadata_version(module: str) -> str | None:
    """The `Version:` of the one `<module>-*.dist-info/METADATA` beside the package `module` (found
    without importing it), what `importlib.metadata.version(module)` reads, without importing
    importlib.metadata (tens of ms) or scanning every distribution on sys.path; None when there is
    not exactly one such folder, or it has no version."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations or not spec.origin:
        return None
    found = glob.glob(os.path.join(glob.escape(str(Path(spec.origin).parent.parent)), f"{module}-*.dist-info"))
    if len(found) != 1:
        return None
    try:
        with open(os.path.join(found[0], "METADATA"), encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("Version:"):
                    return line[len("Version:") :].strip()
                if not line.strip():  # the end of the headers
                    break
    except OSError:
        pass
    return None


def _dist_version(module: str) -> str:
    """`module.__version__` without importing it for this (a training job never draws: importing
    matplotlib only to name its version cost each job about 0.2 s): the imported module's own
    attribute if it is loaded, else its installed distribution's version (`_metadata_version`, or
    importlib.metadata), else the import."""
    import importlib

    loaded = sys.modules.get(module)
    if loaded is not None:
        return loaded.__version__
    version = _metadata_version(module)
    if version is not None:
        return version
    import importlib.metadata

    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return importlib.import_module(module).__version__


def versions() -> dict:
    import h5py  # deferred: h5py and NumPy, which text-only jobs do not load
    import numpy as np

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version,
        "pandas": _dist_version("pandas"),
        "matplotlib": _dist_version("matplotlib"),
        "cifarflow": __version__,
        "platform": f"{platform.system()} {platform.machine()}",
        "argv0": Path(sys.argv[0]).name,
    }
