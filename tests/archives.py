"""Generators of small CIFAR-10 sources for tests, in the exact official layouts.

Each generator writes a source and returns the `RawData` that `read_source` must give for it, so
tests compare pixel for pixel. `learnable=True` draws every image as its class's colour and stripe
pattern plus noise, which a linear classifier separates well above chance in a few epochs;
`learnable=False` draws uniform noise.

Also: `FileServer`, a threaded HTTP server on 127.0.0.1 that serves bytes normally or in one of the
failure modes download code must survive, and `closed_port_url()`.
"""

from __future__ import annotations

import http.server
import io
import os
import pickle
import socket
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cifarflow import CIFAR10_CLASSES
from cifarflow.data.sources import RawData

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover
    from numpy.core.multiarray import _reconstruct

REAL_JPEG_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar-10-jpeg.tar.gz"


def real_archive():
    """Path of the shared real archive; skips the test when it is absent (fails under CI,
    where CIFARFLOW_CI is set, so a missing ../shared is noticed)."""
    if not REAL_JPEG_ARCHIVE.exists():
        message = f"{REAL_JPEG_ARCHIVE} is absent"
        if os.environ.get("CIFARFLOW_CI"):
            pytest.fail(message)
        pytest.skip(message)
    return REAL_JPEG_ARCHIVE


PY_FOLDER = "cifar-10-batches-py"
BIN_FOLDER = "cifar-10-batches-bin"
README_HTML = b"<meta HTTP-EQUIV='REFRESH' content='0; url=https://www.cs.toronto.edu/~kriz/cifar.html'>\n"


# --------------------------------------------------------------------------------------------
# Images


def make_images(labels, seed=0, learnable=True, n_classes=10, noise=30.0) -> np.ndarray:
    """(N, 32, 32, 3) uint8 images for `labels` (N,).

    learnable: class k has its own mean colour and stripe direction/frequency, plus Gaussian noise
    of standard deviation `noise` (at 30, a linear classifier trained on 100 images per class
    scores near 100%; raise it for a harder task).
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    n = len(labels)
    if not learnable:
        return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    palette = np.random.default_rng(12345).integers(40, 216, size=(max(n_classes, 1), 3))
    yy, xx = np.mgrid[0:32, 0:32]
    out = np.empty((n, 32, 32, 3), np.uint8)
    for k in range(n_classes):
        idx = np.flatnonzero(labels == k)
        if not len(idx):
            continue
        angle = np.pi * k / n_classes
        freq = 2 * np.pi * (1 + k % 3) / 16
        stripes = 35 * np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy))
        base = palette[k][None, None, :] + stripes[:, :, None]
        jitter = rng.normal(0, noise, size=(len(idx), 32, 32, 3))
        out[idx] = np.clip(np.rint(base[None] + jitter), 0, 255).astype(np.uint8)
    return out


def _balanced_labels(n, n_classes, rng):
    return rng.permutation(np.arange(n) % n_classes).astype(np.uint8)


def _to_rows(images):
    """(N, 32, 32, 3) HWC -> (N, 3072) channel-first rows (1024 R, 1024 G, 1024 B)."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), 3072))


def _official_split(n_per_batch, n_test, seed, learnable, class_names):
    rng = np.random.default_rng(seed)
    k = len(class_names)
    batches = [_balanced_labels(n_per_batch, k, rng) for _ in range(5)]
    test_labels = _balanced_labels(n_test, k, rng)
    train_labels = np.concatenate(batches)
    images = make_images(np.concatenate([train_labels, test_labels]), seed + 1, learnable, k)
    return RawData(
        train_images=images[: len(train_labels)],
        train_labels=train_labels,
        train_batch=np.repeat(np.arange(1, 6, dtype=np.uint8), n_per_batch),
        test_images=images[len(train_labels) :],
        test_labels=test_labels,
        class_names=tuple(class_names),
        source_format="python",
    )


def _add(tar, name, data: bytes, mtime=1243000000):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = mtime
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar, name):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


# --------------------------------------------------------------------------------------------
# Official python layout: Python-2 protocol-2 pickles (str/bytes as BINSTRING, numpy.core path)


class _Py2Pickler(pickle._Pickler):
    """Writes pickles as Python 2's cPickle did for CIFAR-10: strings as Py2 `str` (BINSTRING),
    arrays via numpy.core.multiarray._reconstruct."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        data = obj.encode("ascii") if isinstance(obj, str) else bytes(obj)
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + len(data).to_bytes(4, "little") + data)
        self.memoize(obj)

    def save_str_or_unicode(self, obj):
        if obj.isascii():
            self.save_py2_str(obj)
        else:
            pickle._Pickler.save_str(self, obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_str_or_unicode

    def save_global(self, obj, name=None):
        if obj is _reconstruct:
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
        else:
            super().save_global(obj, name)


def py2_pickle(obj) -> bytes:
    """Pickle `obj` the way the official CIFAR-10 python files were written (protocol 2)."""
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def make_python_archive(
    path,
    n_per_batch=20,
    n_test=20,
    seed=0,
    learnable=True,
    class_names=CIFAR10_CLASSES,
    py2=True,
    omit=(),
    as_dir=False,
    replace=None,
) -> RawData:
    """Write a cifar-10-python.tar.gz-layout archive (or directory with `as_dir`).

    py2: pickles as Python 2 wrote them (True) or as Python 3's pickle protocol 2 (False).
    omit: member base names to leave out (e.g. 'data_batch_3').
    replace: {base name: bytes} to write instead of the generated member.
    """
    raw = _official_split(n_per_batch, n_test, seed, learnable, class_names)
    dump = py2_pickle if py2 else (lambda o: pickle.dumps(o, protocol=2))
    members = {}
    for k in range(5):
        sl = slice(k * n_per_batch, (k + 1) * n_per_batch)
        members[f"data_batch_{k + 1}"] = dump(
            {
                b"batch_label": f"training batch {k + 1} of 5".encode(),
                b"labels": [int(v) for v in raw.train_labels[sl]],
                b"data": _to_rows(raw.train_images[sl]),
                b"filenames": [f"img_{k}_{i:05d}.png".encode() for i in range(n_per_batch)],
            }
        )
    members["test_batch"] = dump(
        {
            b"batch_label": b"testing batch 1 of 1",
            b"labels": [int(v) for v in raw.test_labels],
            b"data": _to_rows(raw.test_images),
            b"filenames": [f"test_{i:05d}.png".encode() for i in range(n_test)],
        }
    )
    members["batches.meta"] = dump(
        {
            b"num_cases_per_batch": n_per_batch,
            b"label_names": [c.encode() for c in class_names],
            b"num_vis": 3072,
        }
    )
    members["readme.html"] = README_HTML
    _write_layout(path, PY_FOLDER, members, omit, replace or {}, as_dir)
    return raw


def make_binary_archive(
    path,
    n_per_batch=20,
    n_test=20,
    seed=0,
    learnable=True,
    class_names=CIFAR10_CLASSES,
    omit=(),
    as_dir=False,
    replace=None,
) -> RawData:
    """Write a cifar-10-binary.tar.gz-layout archive: records of 1 label byte + 3072 pixels."""
    raw = _official_split(n_per_batch, n_test, seed, learnable, class_names)
    raw.source_format = "binary"

    def records(images, labels):
        return np.concatenate([labels[:, None], _to_rows(images)], axis=1).tobytes()

    members = {}
    for k in range(5):
        sl = slice(k * n_per_batch, (k + 1) * n_per_batch)
        members[f"data_batch_{k + 1}.bin"] = records(raw.train_images[sl], raw.train_labels[sl])
    members["test_batch.bin"] = records(raw.test_images, raw.test_labels)
    members["batches.meta.txt"] = ("\n".join(class_names) + "\n\n").encode()
    members["readme.html"] = README_HTML
    _write_layout(path, BIN_FOLDER, members, omit, replace or {}, as_dir)
    return raw


def _write_layout(path, folder, members, omit, replace, as_dir):
    path = Path(path)
    items = [(name, replace.get(name, data)) for name, data in members.items() if name not in omit]
    if as_dir:
        (path / folder).mkdir(parents=True, exist_ok=True)
        for name, data in items:
            (path / folder / name).write_bytes(data)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        _add_dir(tar, folder)
        for name, data in items:
            _add(tar, f"{folder}/{name}", data)


# --------------------------------------------------------------------------------------------
# Class folders


def encode_image(image: np.ndarray, fmt="png", mode=None) -> bytes:
    """(32, 32, 3) uint8 -> PNG/JPEG bytes (optionally converted to `mode`, e.g. 'L')."""
    im = Image.fromarray(image)
    if mode:
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, format="PNG" if fmt == "png" else "JPEG", quality=90)
    return buf.getvalue()


def make_folder_archive(
    path,
    n_train_per_class=10,
    n_test_per_class=5,
    fmt="png",
    as_dir=False,
    seed=0,
    learnable=True,
    class_names=CIFAR10_CLASSES,
    top=None,
    extra=None,
    omit=(),
) -> RawData:
    """Write train/<class>/NNNN.<fmt> and test/<class>/NNNN.<fmt> as a .tar.gz or a directory.

    n_train_per_class / n_test_per_class: an int, or a sequence with one count per class.
    top: optional top-level folder name. extra: {relative name: bytes} added as is (may replace
    a generated image). omit: relative names to leave out.
    Tar members are written in a shuffled order, so readers cannot rely on it.
    Returns the expected RawData (JPEG: the pixels as decoded back, so comparisons stay exact),
    built with the documented pseudo-batch and ordering rule.
    """
    rng = np.random.default_rng(seed)
    k = len(class_names)
    counts = {"train": _per_class(n_train_per_class, k), "test": _per_class(n_test_per_class, k)}
    files = {}  # relative name -> bytes
    pixels = {}  # (split, class index, i) -> (32, 32, 3)
    for split in ("train", "test"):
        labels = np.repeat(np.arange(k), counts[split])
        images = make_images(labels, int(rng.integers(2**31)), learnable, k)
        pos = 0
        for c, name in enumerate(class_names):
            for i in range(counts[split][c]):
                data = encode_image(images[pos], fmt)
                rel = f"{split}/{name}/{i:04d}.{fmt}"
                files[rel] = data
                pixels[(split, c, i)] = images[pos] if fmt == "png" else np.asarray(Image.open(io.BytesIO(data)))
                pos += 1

    for rel in omit:
        files.pop(rel, None)
    files.update(extra or {})
    prefix = f"{top}/" if top else ""
    path = Path(path)
    if as_dir:
        for rel, data in files.items():
            (path / prefix / rel).parent.mkdir(parents=True, exist_ok=True)
            (path / prefix / rel).write_bytes(data)
    else:
        order = rng.permutation(len(files))
        names = list(files)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path, "w:gz") as tar:
            if top:
                _add_dir(tar, top)
            for j in order:
                _add(tar, prefix + names[j], files[names[j]])

    # Expected result, straight from the documented rule.
    order_cls = (
        list(range(k)) if set(class_names) == set(CIFAR10_CLASSES) else sorted(range(k), key=lambda c: class_names[c])
    )
    label_of = {c: order_cls.index(c) for c in range(k)}  # generator index -> label
    train = sorted(
        (i * 5 // counts["train"][c] + 1, i, label_of[c], c) for c in range(k) for i in range(counts["train"][c])
    )
    test = sorted((i, label_of[c], c) for c in range(k) for i in range(counts["test"][c]))
    names_in_order = (
        tuple(CIFAR10_CLASSES) if set(class_names) == set(CIFAR10_CLASSES) else tuple(class_names[c] for c in order_cls)
    )
    return RawData(
        train_images=np.stack([pixels[("train", c, i)] for _, i, _, c in train]),
        train_labels=np.array([lab for _, _, lab, _ in train], np.uint8),
        train_batch=np.array([b for b, _, _, _ in train], np.uint8),
        test_images=np.stack([pixels[("test", c, i)] for i, _, c in test]),
        test_labels=np.array([lab for _, lab, _ in test], np.uint8),
        class_names=names_in_order,
        source_format="folders",
    )


def _per_class(n, k):
    return [int(n)] * k if np.isscalar(n) else [int(v) for v in n]


def add_members(path, members, compression="gz"):
    """Write a tar at `path` from {name: bytes | (kind, target)}, kind in
    'symlink', 'hardlink', 'chr', 'fifo', 'dir'; for hostile-archive tests."""
    kinds = {
        "symlink": tarfile.SYMTYPE,
        "hardlink": tarfile.LNKTYPE,
        "chr": tarfile.CHRTYPE,
        "fifo": tarfile.FIFOTYPE,
        "dir": tarfile.DIRTYPE,
    }
    with tarfile.open(path, f"w:{compression}" if compression else "w") as tar:
        for name, data in members.items():
            if isinstance(data, tuple):
                info = tarfile.TarInfo(name)
                info.type = kinds[data[0]]
                info.linkname = data[1] if len(data) > 1 else ""
                tar.addfile(info)
            else:
                _add(tar, name, data)


# --------------------------------------------------------------------------------------------
# HTTP server


HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Service unavailable</title></head>"
    b"<body><h1>Please log in</h1></body></html>\n"
)


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address):
        """Clients that hang up early (time-outs, refused sizes) are expected here."""


class FileServer:
    """Serve `data` at http://127.0.0.1:<port>/<name> from a background thread.

    modes: one mode per request, the last one repeating. Modes:
      'ok'         the bytes, with Content-Length and application/octet-stream
      'wrong_body' the same length, one byte changed (md5 mismatch)
      'truncated'  Content-Length of the full size, half the bytes, then the connection closes
      'html'       a 200 HTML page with Content-Type text/html
      'html_body'  an HTML page served as application/octet-stream (body starts with '<')
      'no_length'  the bytes without Content-Length
      'error503'   HTTP 503 with an HTML body;  'error404' HTTP 404
      'stall'      waits `stall` seconds before answering (to trigger client timeouts)
    Use as a context manager; `url` is the address, `requests` counts requests served.
    """

    def __init__(self, data: bytes, modes=("ok",), name="cifar-10-python.tar.gz", stall=1.0):
        self.data = bytes(data)
        self.modes = [modes] if isinstance(modes, str) else list(modes)
        self.name = name
        self.stall = stall
        self.requests = 0
        self._lock = threading.Lock()
        self._server = None

    @classmethod
    def failing(cls, data, times, how="error503", **kwargs):
        """A server whose first `times` requests fail in mode `how`, then serve `data`."""
        return cls(data, [how] * times + ["ok"], **kwargs)

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{self.name}"

    def _next_mode(self):
        with self._lock:
            mode = self.modes[min(self.requests, len(self.modes) - 1)]
            self.requests += 1
            return mode

    def __enter__(self):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                mode = owner._next_mode()
                body = owner.data
                if mode == "stall":
                    time.sleep(owner.stall)
                    mode = "ok"
                if mode in ("error503", "error404"):
                    self.send_response(int(mode[-3:]))
                    self._send(HTML_PAGE, "text/html")
                elif mode == "html":
                    self.send_response(200)
                    self._send(HTML_PAGE, "text/html; charset=utf-8")
                elif mode == "html_body":
                    self.send_response(200)
                    self._send(HTML_PAGE, "application/octet-stream")
                elif mode == "wrong_body":
                    changed = bytearray(body)
                    changed[len(changed) // 2] ^= 0xFF
                    self.send_response(200)
                    self._send(bytes(changed), "application/octet-stream")
                elif mode == "truncated":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                elif mode == "no_length":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.end_headers()
                    self.wfile.write(body)
                    self.close_connection = True
                elif mode == "ok":
                    self.send_response(200)
                    self._send(body, "application/octet-stream")
                else:
                    raise ValueError(f"unknown FileServer mode {mode!r}")

            def _send(self, body, ctype):
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def closed_port_url(name="cifar-10-python.tar.gz") -> str:
    """A URL on 127.0.0.1 at a port nothing listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"
