"""cifarflow.io: every writer of the package uses the one temporary-name scheme, which the
stale-temporary cleanup knows; one file_sha256."""

import hashlib
import json
import os

import numpy as np
import pandas as pd
import pytest

from cifarflow import io
from cifarflow.data.augment import make_epoch_plan
from cifarflow.data.plans import write_plan
from cifarflow.report import plots, tables
from cifarflow.training.state import TrainState, write_checkpoint


@pytest.fixture()
def renames(monkeypatch):
    """The (temporary, final) name pairs of every rename the writers do."""
    seen = []
    real = os.replace

    def spy(src, dst):
        seen.append((os.fspath(src), os.fspath(dst)))
        return real(src, dst)

    monkeypatch.setattr(io.os, "replace", spy)
    return seen


def test_every_writer_uses_the_scheme_the_cleanup_removes(tmp_path, renames):
    io.write_json(tmp_path / "m.json", {"a": np.float32(1.5)})
    io.write_text(tmp_path / "t.md", "x\n")
    io.write_weights(tmp_path / "w.h5", {"W1": np.ones((2, 3))}, {"k": {"a": 1}})
    write_plan(tmp_path / "p.h5", [make_epoch_plan(4, 1, 0)], {"fill": "zero"})
    write_checkpoint(
        tmp_path / "c.h5",
        TrainState(1, 2, {"W1": np.ones(2)}, {"W1": {}}, [], {}, None, 0.0),
        "fp",
    )
    tables.write_table(pd.DataFrame({"a": [1]}), tmp_path / "tab", formats=("csv", "md"))
    fig = plots.plot_confusion([[1, 0], [0, 1]], ["a", "b"], "t")
    plots.save(fig, tmp_path / "fig")
    io.cached_file_sha256(tmp_path / "t.md", tmp_path / "cache.json")
    finals = {os.path.basename(d) for _, d in renames}
    assert {
        "m.json",
        "t.md",
        "w.h5",
        "p.h5",
        "c.h5",
        "tab.csv",
        "tab.md",
        "fig.png",
        "fig.pdf",
        "cache.json",
    } <= finals
    for src, dst in renames:
        assert os.path.dirname(src) == os.path.dirname(dst)
        assert os.path.basename(src) == f".{os.path.basename(dst)}.tmp-{os.getpid()}", (
            src,
            dst,
        )
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_failed_write_leaves_nothing_and_stale_temporaries_are_removed(tmp_path):
    with pytest.raises(RuntimeError), io.atomic_output(tmp_path / "out.csv") as tmp:
        tmp.write_text("partial")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "out.csv").write_text("done")
    (tmp_path / ".out.csv.tmp-12345").write_text("left by a killed job")
    (tmp_path / ".weights.h5.tmp-777").write_text("left by a killed job")
    io.remove_stale_temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_file_sha256_of_a_file_is_its_sha256_and_missing_files_are_named(tmp_path):
    (tmp_path / "a").write_bytes(b"abc" * 1000)
    assert io.file_sha256(tmp_path / "a") == hashlib.sha256(b"abc" * 1000).hexdigest()
    with pytest.raises(io.DataError, match="does not exist"):
        io.file_sha256(tmp_path / "missing")


def test_json_round_trip_and_package_digest_covers_subpackages(tmp_path):
    io.write_json(tmp_path / "m.json", {"x": np.arange(3), "y": np.float64(0.5)})
    assert io.read_json(tmp_path / "m.json") == {"x": [0, 1, 2], "y": 0.5}
    assert json.loads((tmp_path / "m.json").read_text())["y"] == 0.5
    digest = io.package_digest()
    assert len(digest) == 64
    root = os.path.dirname(io.__file__)
    assert os.path.exists(os.path.join(root, "training", "solver.py"))
    assert not os.path.exists(os.path.join(root, "bench.py"))  # developer tools live in tools/


def test_versions_name_matplotlib_and_pandas_without_importing_them():
    """A training job's provenance names the matplotlib and pandas versions as the modules do, and
    reading them does not import matplotlib (a training job never draws)."""
    import subprocess
    import sys

    code = (
        "import sys, json; from cifarflow.io import versions; v = versions(); "
        "print(json.dumps([v['matplotlib'], v['pandas'], 'matplotlib' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    mpl, pd_version, imported = json.loads(out)
    import matplotlib
    import pandas

    assert (mpl, pd_version) == (matplotlib.__version__, pandas.__version__)
    assert imported is False


def test_known_sha256_takes_the_recorded_digest_only_while_the_file_is_unchanged(tmp_path):
    f = tmp_path / "split_x.h5"
    f.write_bytes(b"some split bytes" * 1000)
    real = hashlib.sha256(f.read_bytes()).hexdigest()
    assert io.write_digest_file(f) == real
    record_path = io.digest_file_path(f)
    assert record_path.name == "split_x.h5.sha256.json"
    record = json.loads(record_path.read_text())
    assert record["sha256"] == real and record["size"] == f.stat().st_size
    assert io.known_sha256(f) == real
    # the record is what is read while it matches the file's size and mtime
    # (a planted digest shows that no hashing happened)
    planted = "0" * 64
    record_path.write_text(json.dumps({**record, "sha256": planted}))
    assert io.known_sha256(f) == planted
    # the file touched, rewritten, or the record naming another file / unreadable: hashed again
    os.utime(f, ns=(record["mtime_ns"] + 10**9, record["mtime_ns"] + 10**9))
    assert io.known_sha256(f) == real
    f.write_bytes(b"other bytes")
    st = f.stat()
    record_path.write_text(json.dumps({**record, "sha256": planted, "mtime_ns": st.st_mtime_ns}))
    assert io.known_sha256(f) == hashlib.sha256(b"other bytes").hexdigest()  # the size differs
    record_path.write_text(json.dumps({**record, "file": "other.h5", "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    assert io.known_sha256(f) == hashlib.sha256(b"other bytes").hexdigest()
    record_path.write_text("{not json")
    assert io.known_sha256(f) == hashlib.sha256(b"other bytes").hexdigest()
    record_path.unlink()
    assert io.known_sha256(f) == hashlib.sha256(b"other bytes").hexdigest()
