"""Download an archive reliably: stream to a temporary file, verify, rename atomically.

`download` never leaves a partial file at `dest`: the bytes go to a temporary file in the same
folder (`cifarflow.io.atomic_output`), renamed over `dest` only after its size and md5 check out.
Connection errors, time-outs, HTTP 408/429/5xx, truncated transfers and md5 mismatches are retried
`retries` times, after waits of backoff, 2*backoff, 4*backoff, ... seconds. An HTML page instead of
the archive and other HTTP errors fail at once. On a machine without internet access, point the
config key ``local_archive`` at a copy of the archive instead.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from cifarflow import __version__
from cifarflow.errors import DownloadError
from cifarflow.io import atomic_output

__all__ = ["KNOWN_ARCHIVES", "download"]

KNOWN_ARCHIVES = {
    "python": {
        "url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "filename": "cifar-10-python.tar.gz",
        "size": 170498071,
        "md5": "c58f30108f718f92721af3b95e74349a",
    },
    "binary": {
        "url": "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
        "filename": "cifar-10-binary.tar.gz",
        "size": 170052171,
        "md5": "c32a1d4ab5d03f1284b67883e8d87530",
    },
}

LOCAL_HINT = "fetch the archive on a machine with internet access and set the config key local_archive to its path"
_UNREACHABLE_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ENETUNREACH,
    errno.EHOSTUNREACH,
    errno.EADDRNOTAVAIL,
    errno.ENETDOWN,
    errno.EHOSTDOWN,
}
_CHUNK = 1 << 20


class _Transient(Exception):
    """A failure worth retrying; `unreachable` when the host could not be reached at all."""

    def __init__(self, message, unreachable=False):
        super().__init__(message)
        self.unreachable = unreachable


def _one_line(exc) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _is_unreachable(reason) -> bool:
    if isinstance(reason, (ConnectionRefusedError, socket.gaierror)):
        return True
    return isinstance(reason, OSError) and reason.errno in _UNREACHABLE_ERRNOS


def download(url, dest, md5, retries=4, backoff=1.0, timeout=60, log=print, size=None) -> Path:
    """Download `url` to `dest` and verify its md5 (and size); returns dest as a Path.

    md5: expected hex digest. size: expected byte count, if known (the Content-Length the server
    sends is checked either way). retries: extra attempts after the first. backoff: seconds
    before the first retry, doubling each time. timeout: seconds per socket operation.
    log: called with one-line progress messages. Raises DownloadError.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    attempts = retries + 1
    for attempt in range(1, attempts + 1):
        try:
            _fetch(url, dest, md5.lower(), size, timeout, log)
            return dest
        except _Transient as exc:
            if attempt == attempts:
                tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
                if exc.unreachable:
                    raise DownloadError(
                        f"could not download {url}: the network is unreachable ({exc}), {tries}; {LOCAL_HINT}"
                    ) from None
                raise DownloadError(
                    f"could not download {url} after {tries}: {exc}; retry later, or {LOCAL_HINT}"
                ) from None
            delay = backoff * 2 ** (attempt - 1)
            log(f"download attempt {attempt}/{attempts} failed: {exc}; retrying in {delay:g} s")
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _open(url, timeout):
    request = urllib.request.Request(url, headers={"User-Agent": f"cifarflow/{__version__}"})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code in (408, 429) or exc.code >= 500:
            raise _Transient(f"the server answered HTTP {exc.code} {exc.reason}") from None
        raise DownloadError(
            f"could not download {url}: the server answered HTTP {exc.code} {exc.reason}; check "
            f"the URL, or {LOCAL_HINT}"
        ) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        raise _Transient(_one_line(reason), unreachable=_is_unreachable(reason)) from None
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, bad status lines
        raise _Transient(_one_line(exc), unreachable=_is_unreachable(exc)) from None


def _html_error(url):
    return DownloadError(
        f"could not download {url}: the server returned an HTML page instead of the archive (an "
        f"error, login or captive-portal page); check the URL and the network, or {LOCAL_HINT}"
    )


def _fetch(url, dest, md5, size, timeout, log):
    """One attempt: stream into a temporary file beside dest, verify, rename."""
    with _open(url, timeout) as response:
        ctype = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype in ("text/html", "application/xhtml+xml"):
            raise _html_error(url)
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.strip().isdigit() else None
        if size is not None and expected is not None and expected != size:
            raise DownloadError(
                f"could not download {url}: the server announces {expected} bytes, the archive "
                f"has {size}; check the URL, or {LOCAL_HINT}"
            )
        total = expected if expected is not None else size
        log(f"downloading {url} ({total if total is not None else 'unknown'} bytes) to {dest}")
        with atomic_output(dest) as tmp:
            digest, received = hashlib.md5(), 0
            next_report = 0.1
            with open(tmp, "wb") as out:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except (OSError, http.client.HTTPException) as exc:
                        raise _Transient(
                            f"the transfer is truncated: it broke off after {received} bytes ({_one_line(exc)})"
                        ) from None
                    if not chunk:
                        break
                    if received == 0 and chunk[:1024].lstrip()[:1] == b"<":
                        raise _html_error(url)
                    digest.update(chunk)
                    out.write(chunk)
                    received += len(chunk)
                    if total and received / total >= next_report:
                        log(f"  {received / total:.0%} of {total} bytes")
                        next_report = received / total + 0.1
                out.flush()
                os.fsync(out.fileno())
            want = expected if expected is not None else size
            if want is not None and received != want:
                raise _Transient(f"the transfer is truncated: {received} of {want} bytes arrived")
            if digest.hexdigest() != md5:
                raise _Transient(f"md5 mismatch: the file has {digest.hexdigest()}, expected {md5}")
    log(f"downloaded {dest} ({received} bytes, md5 verified)")
