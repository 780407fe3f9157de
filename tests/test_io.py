"""cifarflow.io: every writer of the package uses the one temporary-name scheme, which the
stale-temporary cleanup knows; file_sha256 of a regular file."""

import hashlib
import json
import os
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from cifarflow import io
from cifarflow.data import source_digest
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
    source_digest.cached_source_sha256(tmp_path / "t.md", tmp_path / "cache.json")
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


def test_writing_text_and_json_loads_neither_numpy_nor_h5py(tmp_path):
    """A job that only writes text (summary.md, an HTML table) does not pay for importing NumPy and
    h5py through the I/O layer; the package's versions read the same without importlib.metadata."""
    import subprocess
    import sys

    code = (
        "import sys, json; from cifarflow import io; "
        f"io.write_text({str(tmp_path / 'a.md')!r}, 'x'); io.write_json({str(tmp_path / 'a.json')!r}, {{'a': [1.5]}}); "
        "print(json.dumps([m in sys.modules for m in ('numpy', 'h5py', 'importlib.metadata')]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [False, False, False]
    import importlib.metadata

    for module in ("numpy", "h5py", "pandas", "matplotlib"):
        assert io._metadata_version(module) == importlib.metadata.version(module)


# ---- the split's digest record (issue 25) ------------------------------------------------------


@pytest.fixture()
def split_file(tmp_path, monkeypatch):
    """A 3 MB file in results/data of a work directory that is the current directory (DIGEST_KEY is
    relative to it, as Snakemake runs every job in the work directory)."""
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "results" / "data" / "split_x.h5"
    f.parent.mkdir(parents=True)
    f.write_bytes(np.random.default_rng(0).bytes(3 << 20))
    return f


def known(f):
    """(digest, log lines) of known_sha256."""
    lines = []
    return io.known_sha256(f, log=lines.append), lines


def test_digest_record_is_trusted_after_a_touch_and_signed_with_the_work_directory_key(split_file):
    f = split_file
    real = hashlib.sha256(f.read_bytes()).hexdigest()
    assert io.write_digest_file(f) == real
    record_path = io.digest_file_path(f)
    assert record_path.name == "split_x.h5.sha256.json"
    record = json.loads(record_path.read_text())
    assert record["sha256"] == real and record["size"] == f.stat().st_size and record["inode"] == f.stat().st_ino
    assert len(record["signature"]) == 64 and "mtime_ns" not in record
    key = io.DIGEST_KEY.resolve()
    assert key.stat().st_size == 32 and key.stat().st_mode & 0o777 == 0o600
    # Snakemake touches every output after its job: the record still holds, and nothing is hashed
    os.utime(f, ns=(f.stat().st_mtime_ns + 10**10,) * 2)
    os.utime(record_path, ns=(f.stat().st_mtime_ns + 10**10,) * 2)
    with mock_hashing() as hashed:
        digest, lines = known(f)
    assert digest == real and hashed == [] and "not hashed again" in lines[0], lines
    # a second split job keeps the key the first one made
    g = f.with_name("split_y.h5")
    g.write_bytes(b"y" * 1000)
    io.write_digest_file(g)
    assert io.DIGEST_KEY.resolve().read_bytes() == key.read_bytes()


class mock_hashing:
    """Records the files file_sha256 hashes (while the block runs)."""

    def __enter__(self):
        self.seen, self.real = [], io.file_sha256

        def spy(path):
            self.seen.append(os.fspath(path))
            return self.real(path)

        io.file_sha256 = spy
        return self.seen

    def __exit__(self, *exc):
        io.file_sha256 = self.real


def _resign_without_key(record: dict) -> dict:
    """What an attacker without the key can compute: a signature under some other key."""
    return {**record, "signature": io._record_signature(b"k" * 32, record)}


@pytest.mark.parametrize(
    "edit, why",
    [
        (lambda r: {**r, "sha256": "0" * 64}, "does not verify"),
        (lambda r: _resign_without_key({**r, "sha256": "0" * 64}), "does not verify"),
        (lambda r: {**r, "signature": None}, "does not verify"),
        (lambda r: {k: v for k, v in r.items() if k != "signature"}, "does not verify"),
        (lambda r: {**r, "sha256": "0" * 64, "mtime_ns": 1}, "does not verify"),
        (lambda r: "not a record", "not a digest record"),
    ],
)
def test_an_edited_digest_record_is_detected_and_the_file_hashed(split_file, edit, why):
    f = split_file
    real = io.write_digest_file(f)
    record_path = io.digest_file_path(f)
    record_path.write_text(json.dumps(edit(json.loads(record_path.read_text()))))
    with mock_hashing() as hashed:
        digest, lines = known(f)
    assert digest == real and hashed == [str(f)]
    assert len(lines) == 1 and why in lines[0] and "hashing" in lines[0], lines


def test_a_record_for_another_file_or_work_directory_is_not_trusted(split_file, tmp_path, monkeypatch):
    f = split_file
    io.write_digest_file(f)
    record_path = io.digest_file_path(f)
    record = record_path.read_text()
    # the file replaced by another of the same size (a new inode; the record kept)
    other = np.random.default_rng(1).bytes(f.stat().st_size)
    tmp = f.with_name("new")
    tmp.write_bytes(other)
    os.replace(tmp, f)
    digest, lines = known(f)
    assert digest == hashlib.sha256(other).hexdigest() and "not the file" in lines[0], lines
    # the file changed in place, in a sampled block (same inode, same size)
    io.write_digest_file(f)
    with open(f, "r+b") as fh:
        fh.seek(f.stat().st_size - 10)
        fh.write(b"x" * 10)
    digest, lines = known(f)
    assert digest == hashlib.sha256(f.read_bytes()).hexdigest() and "not the file" in lines[0], lines
    # copied with its record elsewhere (a new inode)
    io.write_digest_file(f)
    copy = tmp_path / "copy" / f.name
    copy.parent.mkdir()
    copy.write_bytes(f.read_bytes())
    io.digest_file_path(copy).write_text(io.digest_file_path(f).read_text())
    assert "not the file" in known(copy)[1][0]
    # another work directory (no key, or its own): nothing is trusted
    monkeypatch.chdir(tmp_path / "copy")
    assert "no key" in known(f)[1][0]
    (tmp_path / "copy" / io.DIGEST_KEY).parent.mkdir(parents=True)
    (tmp_path / "copy" / io.DIGEST_KEY).write_bytes(os.urandom(32))
    assert "does not verify" in known(f)[1][0]
    monkeypatch.chdir(tmp_path)
    record_path.unlink()
    assert "no readable record" in known(f)[1][0]
    assert record  # (the first record, for the reader of a failure)


def test_a_linked_or_foreign_digest_key_is_not_used(split_file, tmp_path):
    f = split_file
    real = io.write_digest_file(f)
    key = io.DIGEST_KEY.resolve()
    planted = tmp_path / "planted.key"
    planted.write_bytes(key.read_bytes())
    key.unlink()
    key.symlink_to(planted)
    digest, lines = known(f)
    assert digest == real and "no key" in lines[0], lines


# ---- run files checked before they are used (issue 25) ------------------------------------------


def make_run(root, variant="soft", seed=0, model="softmax", probs=None, labels=None, **metrics):
    """A run folder results/runs/<variant>/seed<seed> with the four files a train job writes."""
    run = root / "results" / "runs" / variant / f"seed{seed}"
    run.mkdir(parents=True)
    config = {"name": variant, "seed": seed, "model": model}
    record = {"config": config, "class_names": ["a", "b", "c"]}
    m = {"variant": variant, "model": model, "config": config, "test_acc": 0.5, "per_class_acc": {"a": 0.5}}
    (run / "metrics.json").write_text(json.dumps({**m, **metrics}))  # as any writer might: NaN allowed
    (run / "history.csv").write_text("epoch,lr,val_acc\n0,,0.1\n1,0.01,0.4\n")
    io.write_weights(run / "weights.h5", {"W1": np.ones((3, 12), np.float32), "b1": np.zeros(3)}, record)
    if probs is None:
        probs = np.full((4, 3), 1 / 3, np.float32)
    io.write_weights(
        run / "predictions.h5",
        {"probs": probs},
        record,
        {"labels": np.array([0, 1, 2, 0] if labels is None else labels)},
    )
    return run


def test_read_run_reads_a_good_run(tmp_path):
    run = io.read_run(make_run(tmp_path, "lg-lambda0.1", 3))
    assert (run.variant, run.seed) == ("lg-lambda0.1", 3)
    assert run.metrics["test_acc"] == 0.5
    assert list(run.history()["val_acc"]) == [0.1, 0.4]
    assert list(run.weights("W1")) == ["W1"] and set(run.weights()) == {"W1", "b1"}
    probs, labels = run.predictions()
    assert probs.shape == (4, 3) and list(labels) == [0, 1, 2, 0]
    assert io.run_place(tmp_path / "x" / "seed01") == ("seed01", None)  # as the workflow never names a folder
    assert io.run_place(tmp_path / "soft") == ("soft", None)


def _copy_from(tmp_path, name, variant="soft", seed=0):
    """A run folder whose `name` is the other run's (variant, seed) file."""
    run = make_run(tmp_path / "a")
    other = make_run(tmp_path / "b", variant, seed)
    (run / name).write_bytes((other / name).read_bytes())
    return run


@pytest.mark.parametrize(
    "name, variant, seed, read, message",
    [
        ("metrics.json", "soft", 1, lambda r: r.metrics, "config.seed is 1, but the file is in the folder of seed 0"),
        ("metrics.json", "other", 0, lambda r: r.metrics, "variant is 'other', but the file is in the folder of"),
        ("weights.h5", "soft", 1, lambda r: r.weights("W1"), "written by the run of variant 'soft' seed 1"),
        ("predictions.h5", "other", 0, lambda r: r.predictions(), "written by the run of variant 'other' seed 0"),
    ],
)
def test_another_runs_file_in_a_run_folder_is_refused_naming_it(tmp_path, name, variant, seed, read, message):
    run = io.read_run(_copy_from(tmp_path, name, variant, seed))
    with pytest.raises(io.DataError, match="seed0/" + name.replace(".", "[.]")) as info:
        read(run)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["metrics.json", "history.csv", "weights.h5", "predictions.h5"])
def test_a_run_file_that_is_a_symbolic_link_is_refused(tmp_path, name):
    run = make_run(tmp_path / "a")
    other = make_run(tmp_path / "b")  # the same variant and seed: only the link gives it away
    (run / name).unlink()
    (run / name).symlink_to(other / name)
    read = {"metrics.json": lambda r: r.metrics, "history.csv": lambda r: r.history()}
    read |= {"weights.h5": lambda r: r.weights(), "predictions.h5": lambda r: r.predictions()}
    with pytest.raises(io.DataError, match=f"{name}: the .* is a symbolic link"):
        read[name](io.read_run(run))


@pytest.mark.parametrize(
    "metrics, message",
    [
        ({"test_acc": float("nan")}, "test_acc is nan"),
        ({"test_acc": 1.5}, "test_acc is 1.5"),
        ({"test_acc": True}, "test_acc is True"),
        ({"test_acc": None}, "test_acc is None"),
        ({"per_class_acc": {"a": -0.1}}, "per_class_acc.a is -0.1"),
        ({"config": {"name": "soft", "seed": "0"}}, "config.seed is '0'"),
        ({"config": {"name": "soft", "seed": 0.0}}, "config.seed is 0.0"),
        ({"config": {"name": "hard", "seed": 0}}, "config.name is 'hard'"),
        ({"config": None}, "no config record"),
    ],
)
def test_metrics_with_impossible_numbers_or_places_are_refused(tmp_path, metrics, message):
    run = make_run(tmp_path, **metrics)
    with pytest.raises(io.DataError, match="metrics.json") as info:
        io.read_run_metrics(run / "metrics.json")
    assert message in str(info.value)


@pytest.mark.parametrize(
    "model, probs, labels, message",
    [
        ("softmax", [[np.nan, 0.5, 0.5]] * 4, None, "4 probabilities are not finite"),
        ("softmax", [[np.inf, 0, 0]] * 4, None, "not finite"),
        ("softmax", [[1.5, -0.5, 0]] * 4, None, "outside [0, 1]"),
        ("softmax", [[0.5, 0.4, 0.0]] * 4, None, "do not sum to 1"),
        ("logistic", [[0.5, 0.4, 0.0]] * 4, None, "do not sum to 1"),
        ("softmax", [[0.2, 0.3, 0.5]] * 3, None, "shape (3, 3) for labels of shape (4,)"),
        ("softmax", [[0.2, 0.3, 0.5]] * 4, [0, 1, 3, 0], "labels that name no column"),
        ("softmax", [[0.2, 0.3, 0.5]] * 4, [0.0, 1.0, 2.0, 0.0], "labels that name no column"),
    ],
)
def test_predictions_with_impossible_probabilities_are_refused(tmp_path, model, probs, labels, message):
    run = make_run(tmp_path, model=model, probs=np.array(probs, np.float32), labels=labels)
    with pytest.raises(io.DataError, match="predictions.h5: not a run's predictions") as info:
        io.read_run(run).predictions()
    assert message in str(info.value)


def test_sigmoid_rows_need_not_sum_to_one(tmp_path):
    run = make_run(tmp_path, model="sigmoid", probs=np.array([[0.9, 0.8, 0.1]] * 4, np.float32))
    assert io.read_run(run).predictions()[0].shape == (4, 3)


def _bomb(path, name, shape=(2_500_000_000,)):
    """A dataset of 9.3 GiB that costs a few kB on disk: chunked and compressed, never written."""
    with h5py.File(path, "a") as f:
        f.create_dataset(name, shape=shape, dtype="f4", chunks=(1 << 20,), compression="gzip")


def test_weights_read_only_the_datasets_asked_for_and_refuse_a_bomb(tmp_path):
    run = make_run(tmp_path)
    _bomb(run / "weights.h5", "extra_bomb")
    assert (run / "weights.h5").stat().st_size < 200_000
    params, _, extra = io.read_weights(run / "weights.h5", ["W1"])
    assert list(params) == ["W1"] and extra == {}
    with pytest.raises(io.DataError, match="dataset extra_bomb would take 10000000000 bytes in memory from a file"):
        io.read_weights(run / "weights.h5", ["W1"], ["extra_bomb"])
    _bomb(run / "weights.h5", "params/big")
    with pytest.raises(io.DataError, match="weights.h5: dataset params/big would take"):
        io.read_run(run).weights()
    assert io.read_run(run).weights("W1")["W1"].shape == (3, 12)
    with h5py.File(run / "weights.h5", "a") as f:
        f.create_dataset("params/text", data=["a", "b"])
    with pytest.raises(io.DataError, match="dataset params/text is object, not numbers"):
        io.read_weights(run / "weights.h5", ["text"])
    with pytest.raises(io.DataError, match="weights.h5: no dataset params/W9"):
        io.read_weights(run / "weights.h5", ["W9"])


def _special(tmp_path, kind):
    if kind == "dev-zero":
        return Path("/dev/zero")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return fifo


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "sparse"])
@pytest.mark.parametrize("reader", ["json", "history", "weights"])
def test_devices_fifos_and_huge_files_are_refused_before_reading(tmp_path, kind, reader):
    if kind == "sparse":
        target = tmp_path / "huge"
        with open(target, "wb") as fh:
            fh.truncate(3 << 30)  # 3 GiB that cost nothing on disk
    else:
        target = _special(tmp_path, kind)
    link = tmp_path / "file"
    link.symlink_to(target)
    read = {"json": io.read_json, "history": io.read_history, "weights": io.read_weights}[reader]
    message = "more than such a file can have" if kind == "sparse" else "not a regular file"
    if kind == "sparse" and reader == "weights":  # no size limit on a weights file: its datasets are bounded
        message = "not a readable HDF5"
    with pytest.raises(io.DataError, match=message):
        read(link)
    with pytest.raises(io.DataError, match="is a symbolic link"):
        read(link, links=False)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "not a history file"),
        ("epoch,val_acc\n", "no rows"),
        ("val_acc\n0.5\n", "no epoch column"),
        ("epoch,val_acc\n0,high\n", "column val_acc is not numbers"),
        ("epoch,val_acc\n0,1.5\n", "column val_acc has values that are not finite or out of range"),
        ("epoch,val_acc\n0,\n", "column val_acc has values that are not finite"),
        ("epoch,val_acc\ninf,0.5\n", "column epoch has values that are not finite"),
    ],
)
def test_a_history_that_is_not_one_is_named(tmp_path, text, message):
    (tmp_path / "history.csv").write_text(text)
    with pytest.raises(io.DataError, match=f"history.csv: .*{message}"):
        io.read_history(tmp_path / "history.csv")
