"""The digest of a data source (an archive, or a folder of files), and a cache of it keyed by the
files' paths, sizes and modification times, so that the workflow keys its import step to the
source's content (not its timestamp) without hashing it on every invocation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cifarflow.data.sources import check_source_path, directory_files
from cifarflow.errors import DataError
from cifarflow.io import file_hash, write_text


def source_sha256(path) -> str:
    """sha256 hex digest of an archive; for a directory, a digest over its files.

    Directory digest: sha256 of, for every regular file in sorted relative POSIX path order,
    ``path (UTF-8) + b"\\0" + sha256(contents)``; the same tree always gives the same value.
    Anything but a regular file or a directory (a device such as /dev/zero, a FIFO) is a
    `DataError`, found with stat before anything is read.
    """
    path = Path(path)
    check_source_path(path)
    if path.is_dir():
        h = hashlib.sha256(b"cifarflow-directory-v1\0")
        for rel in directory_files(path):
            h.update(rel.encode("utf-8") + b"\0" + file_hash(path / rel).digest())
        return h.hexdigest()
    return file_hash(path).hexdigest()


def _stat_key(path: Path) -> str:
    """What `cached_source_sha256` remembers a digest under: the absolute path, plus size and
    modification time of the file, or of every file under a directory (a file changed in place
    changes its own mtime, not its folder's)."""
    check_source_path(path)
    if path.is_dir():
        h = hashlib.sha256()
        for rel in directory_files(path):
            st = (path / rel).stat()
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n".encode())
        return f"{path.resolve()}|dir|{h.hexdigest()}"
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def cached_source_sha256(path, cache_file) -> str:
    """`source_sha256` of an archive or a directory, remembered in the JSON file `cache_file` under
    the path and the size and modification time of its file(s). A DataError for a source that is
    neither a regular file nor a directory."""
    path = Path(path)
    key = _stat_key(path)
    cache_file = Path(cache_file)
    try:
        cache = json.loads(cache_file.read_text(encoding="utf-8"))
        if not isinstance(cache, dict):
            cache = {}
    except (OSError, ValueError):
        cache = {}
    if isinstance(cache.get(key), str):
        return cache[key]
    digest = source_sha256(path)
    cache = {k: v for k, v in cache.items() if not k.startswith(f"{path.resolve()}|")}
    cache[key] = digest
    try:
        write_text(cache_file, json.dumps(cache, indent=1, sort_keys=True, allow_nan=False) + "\n")
    except (OSError, DataError):  # a read-only work directory: hash again next time
        pass
    return digest
