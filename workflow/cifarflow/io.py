"""The package's one I/O layer: atomic writes, JSON and HDF5 array files, hashing, provenance.

Every writer in the package goes through `atomic_output` (or `atomic_h5`): the file is written
under the temporary name ``.<name>.tmp-<pid>`` beside its target and renamed over it only when
complete, so a killed job never leaves a partial output that looks finished. That is the one
temporary-name scheme; `remove_stale_temporaries` knows it and deletes what a killed writer left.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from .errors import DataError

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
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=json_default) + "\n")


def json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path) -> dict:
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read JSON ({exc})") from None


def open_h5(path, what: str) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable HDF5 {what} ({str(exc).splitlines()[0]})") from None


# ---- HDF5 array files (weights, predictions) ---------------------------------------------------


def write_weights(path, params: dict, attrs: dict, extra: dict | None = None) -> None:
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


def read_weights(path) -> tuple[dict, dict, dict]:
    """(params, attrs, extra datasets) of a weights file."""
    with open_h5(path, "weights file") as f:
        if "params" not in f:
            raise DataError(f"{path}: not a cifarflow weights file (no params group)")
        params = {k: f["params"][k][()] for k in f["params"]}
        extra = {k: f[k][()] for k in f if k != "params"}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return params, attrs, extra


# ---- hashing and provenance --------------------------------------------------------------------


def file_sha256(path) -> str:
    """sha256 hex digest of an archive; for a directory, a digest over its files.

    Directory digest: sha256 of, for every regular file in sorted relative POSIX path order,
    ``path (UTF-8) + b"\\0" + sha256(contents)``; the same tree always gives the same value.
    Anything but a regular file or a directory (a device such as /dev/zero, a FIFO) is a
    `DataError`, found with stat before anything is read.
    """
    from cifarflow.data.sources import check_source_path, directory_files  # what the readers use

    path = Path(path)
    check_source_path(path)
    if path.is_dir():
        h = hashlib.sha256(b"cifarflow-directory-v1\0")
        for rel in directory_files(path):
            h.update(rel.encode("utf-8") + b"\0" + _sha256_file(path / rel).digest())
        return h.hexdigest()
    return _sha256_file(path).hexdigest()


def digest_file_path(path) -> Path:
    """The sidecar `write_digest_file` writes beside `path`: `<name>.sha256.json`."""
    path = Path(path)
    return path.with_name(path.name + ".sha256.json")


def write_digest_file(path) -> str:
    """Hash the regular file `path` once and record the digest with the file's size and
    modification time in `digest_file_path(path)`, for `known_sha256`; return the digest."""
    path = Path(path)
    digest = file_sha256(path)
    st = path.stat()
    write_json(
        digest_file_path(path), {"file": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
    )
    return digest


def known_sha256(path) -> str:
    """`file_sha256(path)`, taken from the `write_digest_file` record when that names this file
    with its current size and modification time (the file is unchanged since it was hashed);
    otherwise (no record, an unreadable one, or a file changed, touched or copied since) hashed."""
    path = Path(path)
    try:
        record = json.loads(digest_file_path(path).read_text())
        st = path.stat()
        if (
            isinstance(record, dict)
            and record.get("file") == path.name
            and record.get("size") == st.st_size
            and record.get("mtime_ns") == st.st_mtime_ns
            and isinstance(record.get("sha256"), str)
            and len(record["sha256"]) == 64
        ):
            return record["sha256"]
    except (OSError, ValueError):
        pass
    return file_sha256(path)


def _stat_key(path: Path) -> str:
    """What `cached_file_sha256` remembers a digest under: the absolute path, plus size and
    modification time of the file, or of every file under a directory (a file changed in place
    changes its own mtime, not its folder's)."""
    from cifarflow.data.sources import check_source_path, directory_files

    check_source_path(path)
    if path.is_dir():
        h = hashlib.sha256()
        for rel in directory_files(path):
            st = (path / rel).stat()
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n".encode())
        return f"{path.resolve()}|dir|{h.hexdigest()}"
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def cached_file_sha256(path, cache_file) -> str:
    """`file_sha256` of an archive or a directory, remembered in the JSON file `cache_file` under
    the path and the size and modification time of its file(s), so a workflow can key its
    import step to the source's content (not its timestamp) without hashing it on every
    invocation. A DataError for a source that is neither a regular file nor a directory."""
    path = Path(path)
    key = _stat_key(path)
    cache_file = Path(cache_file)
    try:
        cache = json.loads(cache_file.read_text())
        if not isinstance(cache, dict):
            cache = {}
    except (OSError, ValueError):
        cache = {}
    if isinstance(cache.get(key), str):
        return cache[key]
    digest = file_sha256(path)
    cache = {k: v for k, v in cache.items() if not k.startswith(f"{path.resolve()}|")}
    cache[key] = digest
    try:
        write_text(cache_file, json.dumps(cache, indent=1, sort_keys=True) + "\n")
    except (OSError, DataError):  # a read-only work directory: hash again next time
        pass
    return digest


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h


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


def package_digest() -> str:
    """SHA-256 over the package's Python sources (all subpackages; developer tools live outside
    the package, in tools/): changes with any code change, committed or not."""
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


def _dist_version(module: str) -> str:
    """`module.__version__` without importing it for this (a training job never draws: importing
    matplotlib only to name its version cost each job about 0.2 s): the imported module's own
    attribute if it is loaded, else its installed distribution's version, else the import."""
    import importlib
    import importlib.metadata

    loaded = sys.modules.get(module)
    if loaded is not None:
        return loaded.__version__
    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return importlib.import_module(module).__version__


def versions() -> dict:
    from . import __version__

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
