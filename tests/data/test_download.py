"""download(): streamed, verified and atomic, against a local HTTP server."""

import hashlib
import socket
import urllib.error

import pytest

from cifarflow.data import download as download_module
from cifarflow.data.download import KNOWN_ARCHIVES, download
from cifarflow.errors import DownloadError

from archives import FileServer, closed_port_url

DATA = bytes(range(256)) * 4096 + b"tail"  # about 1 MB: several read chunks
MD5 = hashlib.md5(DATA).hexdigest()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Requests to 127.0.0.1 must not go through a proxy set in the environment."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def fetch(tmp_path):
    """download() with tiny backoff and timeout; returns (dest, log lines)."""
    lines = []

    def run(url, md5=MD5, **kwargs):
        kwargs = {"retries": 2, "backoff": 0.01, "timeout": 5, "log": lines.append, **kwargs}
        return download(url, tmp_path / "cifar-10-python.tar.gz", md5, **kwargs)

    run.lines = lines
    run.dest = tmp_path / "cifar-10-python.tar.gz"
    return run


def only_dest_or_nothing(folder, dest):
    """No temporary (.part) file is left beside dest."""
    return [p.name for p in folder.iterdir() if p != dest] == []


def test_download_writes_the_verified_file(fetch, tmp_path):
    with FileServer(DATA) as server:
        assert fetch(server.url, size=len(DATA)) == fetch.dest
    assert fetch.dest.read_bytes() == DATA
    assert only_dest_or_nothing(tmp_path, fetch.dest)
    assert any("md5 verified" in line for line in fetch.lines)


def test_download_without_content_length_is_verified_by_md5(fetch):
    with FileServer(DATA, "no_length") as server:
        fetch(server.url)
    assert fetch.dest.read_bytes() == DATA


def test_md5_mismatch_fails_after_retries_and_leaves_no_file(fetch, tmp_path):
    with FileServer(DATA, "wrong_body") as server:
        with pytest.raises(DownloadError, match=r"after 3 attempts: md5 mismatch"):
            fetch(server.url)
        assert server.requests == 3
    assert list(tmp_path.iterdir()) == []


def test_truncated_transfer_fails_and_leaves_no_file(fetch, tmp_path):
    with FileServer(DATA, "truncated") as server:
        with pytest.raises(DownloadError, match=r"truncated|broke off"):
            fetch(server.url, retries=1)
        assert server.requests == 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mode", ["html", "html_body"])
def test_html_page_is_an_error_without_retry(fetch, tmp_path, mode):
    with FileServer(DATA, mode) as server:
        with pytest.raises(DownloadError, match=r"the server returned an HTML page"):
            fetch(server.url)
        assert server.requests == 1
    assert list(tmp_path.iterdir()) == []


def test_http_404_is_an_error_without_retry(fetch):
    with FileServer(DATA, "error404") as server:
        with pytest.raises(DownloadError, match=r"HTTP 404.*local_archive"):
            fetch(server.url)
        assert server.requests == 1


@pytest.mark.parametrize("failure", ["truncated", "wrong_body", "error503"])
def test_retry_then_succeed(fetch, failure):
    with FileServer(DATA, [failure, failure, "ok"]) as server:
        fetch(server.url)
        assert server.requests == 3
    assert fetch.dest.read_bytes() == DATA
    assert sum("retrying in" in line for line in fetch.lines) == 2


def test_backoff_doubles(fetch, monkeypatch):
    waits = []
    monkeypatch.setattr(download_module.time, "sleep", waits.append)
    with FileServer(DATA, ["error503"] * 3 + ["ok"]) as server:
        fetch(server.url, retries=3, backoff=0.5)
    assert waits == [0.5, 1.0, 2.0]


def test_failed_download_keeps_an_existing_file(fetch):
    fetch.dest.write_bytes(b"previous")
    with FileServer(DATA, "truncated") as server:
        with pytest.raises(DownloadError):
            fetch(server.url, retries=0)
    assert fetch.dest.read_bytes() == b"previous"


def test_connection_refused_says_network_unreachable_and_names_local_archive(fetch, tmp_path):
    with pytest.raises(DownloadError, match=r"the network is unreachable.*local_archive"):
        fetch(closed_port_url(), retries=1)
    assert list(tmp_path.iterdir()) == []


def test_dns_failure_says_network_unreachable(fetch, monkeypatch):
    def no_dns(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(download_module.urllib.request, "urlopen", no_dns)
    with pytest.raises(
        DownloadError,
        match=r"network is unreachable \(.*name resolution\).*"
        r"local_archive",
    ):
        fetch("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", retries=0)


def test_timeout_is_retried(fetch):
    with FileServer(DATA, ["stall", "ok"], stall=0.5) as server:
        fetch(server.url, timeout=0.1)
    assert fetch.dest.read_bytes() == DATA


def test_announced_size_different_from_the_known_size_is_refused(fetch):
    with FileServer(DATA) as server:
        with pytest.raises(DownloadError, match=r"announces \d+ bytes, the archive has 5"):
            fetch(server.url, size=5)


def test_error_message_is_one_line(fetch):
    with pytest.raises(DownloadError) as info:
        fetch(closed_port_url(), retries=0)
    assert "\n" not in str(info.value)


def test_known_archives_are_the_official_ones():
    python = KNOWN_ARCHIVES["python"]
    assert python["url"] == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert (python["size"], python["md5"]) == (170498071, "c58f30108f718f92721af3b95e74349a")
    assert KNOWN_ARCHIVES["binary"]["md5"] == "c32a1d4ab5d03f1284b67883e8d87530"
