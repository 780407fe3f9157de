"""The manifest of the results (cifarflow/manifest.py), the content digest it lists
(compare_runs.content_sha256) and verify's choice and comparison of runs (cifarflow/verify.py),
on small generated files (issue 27)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from cifarflow.cli import main
from cifarflow.compare_runs import compare_file, content_sha256
from cifarflow.errors import CifarflowError, DataError
from cifarflow.manifest import build_manifest, environment, file_entry, sha256sum_text
from cifarflow.verify import verify_runs, verify_sample


def write_run(run: Path, seconds: float = 1.0, host: str = "a") -> Path:
    """A run's four files as training writes them; `seconds` and `host` are clock and provenance."""
    run.mkdir(parents=True)
    rng = np.random.default_rng(0)
    provenance = json.dumps({"host": host, "git_commit": "abc"})
    for name in ("weights.h5", "predictions.h5"):
        with h5py.File(run / name, "w") as f:
            f["params/W1"] = rng.normal(size=(4, 6)).astype(np.float32)
            f["labels"] = np.arange(5)
            f.attrs["config"] = json.dumps({"eta": 0.01})
            f.attrs["class_names"] = ["cat", "dog"]
            f.attrs["provenance"] = provenance
    metrics = {"test_acc": 0.41, "val_loss": float("nan"), "config": {"eta": 0.01}}
    metrics |= {"timing": {"train_seconds": seconds, "threads": 1}, "provenance": {"host": host, "numpy": "2"}}
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "history.csv").write_text(f"epoch,train_loss,seconds\n0,2.3,0.0\n1,2.2,{seconds}\n")
    return run


def _bump(path: Path, dataset: str = "params/W1") -> None:
    with h5py.File(path, "r+") as f:
        v = f[dataset][0, 0]
        f[dataset][0, 0] = np.nextafter(v, np.inf, dtype=v.dtype)


# ---- content_sha256: the digest of what compare-runs compares ------------------------------------


@pytest.mark.parametrize("name", ["weights.h5", "predictions.h5", "metrics.json", "history.csv"])
def test_content_digest_ignores_the_clock_and_provenance_but_not_a_result(tmp_path, name):
    a = write_run(tmp_path / "a", seconds=1.0, host="a") / name
    b = write_run(tmp_path / "b", seconds=2.5, host="b") / name
    kind = {"weights.h5": "weights", "predictions.h5": "predictions"}.get(name, name.split(".")[0])
    assert hashlib.sha256(a.read_bytes()).digest() != hashlib.sha256(b.read_bytes()).digest()
    assert content_sha256(kind, a) == content_sha256(kind, b) and compare_file(kind, a, b) == []
    if name.endswith(".h5"):
        _bump(b)
    elif name == "metrics.json":
        b.write_text(b.read_text().replace("0.41", "0.42"))
    else:
        b.write_text(b.read_text().replace("2.2", "2.21"))
    assert content_sha256(kind, a) != content_sha256(kind, b) and compare_file(kind, a, b) != []


def test_content_digest_sees_dtype_shape_and_string_attributes(tmp_path):
    a = write_run(tmp_path / "a") / "weights.h5"
    digest = content_sha256("weights", a)
    with h5py.File(a, "r+") as f:
        f.attrs["class_names"] = ["cat", "dogs"]
    assert content_sha256("weights", a) != digest
    with h5py.File(a, "r+") as f:
        f.attrs["class_names"] = ["cat", "dog"]
        w = f["params/W1"][()]
        del f["params/W1"]
        f["params/W1"] = w.astype(np.float64)  # the same values in another dtype
    assert content_sha256("weights", a) != digest


def test_table_digest_leaves_out_the_time_and_memory_columns(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("variant,test acc (%),train s,peak MB\nsoft,41.0,3.2,80\n")
    b.write_text("variant,test acc (%),train s,peak MB\nsoft,41.0,9.9,95\n")
    assert content_sha256("table", a) == content_sha256("table", b)
    b.write_text("variant,test acc (%),train s,peak MB\nsoft,41.1,3.2,80\n")
    assert content_sha256("table", a) != content_sha256("table", b)


# ---- the manifest -------------------------------------------------------------------------------


def test_file_entry_hashes_the_file_as_hashlib_does(tmp_path):
    run = write_run(tmp_path / "runs" / "soft" / "seed0")
    for name in ("weights.h5", "predictions.h5", "metrics.json", "history.csv"):
        e = file_entry(run / name)
        assert e["sha256"] == hashlib.sha256((run / name).read_bytes()).hexdigest()
        assert e["bytes"] == (run / name).stat().st_size and e["path"] == (run / name).as_posix()


def test_a_file_that_is_no_result_or_unreadable_is_named(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="notes.txt"):
        file_entry(tmp_path / "notes.txt")
    (tmp_path / "weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="weights.h5: cannot read it"):
        file_entry(tmp_path / "weights.h5")


def test_manifest_groups_the_runs_by_the_environment_they_recorded(tmp_path):
    files = []
    for i, host in enumerate(("a", "a", "b")):
        files += sorted((write_run(tmp_path / f"r{i}", host=host)).iterdir())
    m = build_manifest(files, env={"stub": True})
    assert [e["path"] for e in m["files"]] == sorted(p.as_posix() for p in files)
    assert [(g["runs"], g["provenance"]["host"], g["threads"]) for g in m["runs_environments"]] == [
        (2, "a", 1),
        (1, "b", 1),
    ]
    lines = sha256sum_text(m).splitlines()
    assert lines[0] == f"{m['files'][0]['sha256']}  {m['files'][0]['path']}" and len(lines) == len(files)


def test_environment_names_the_blas_numpy_loaded_and_its_kernel():
    env = environment()
    assert env["packages"]["numpy"] == np.__version__ and env["packages"]["hdf5"] == h5py.version.hdf5_version
    blas = env["blas"]
    assert blas["libraries"], "NumPy's BLAS library is found among the loaded libraries"
    if "openblas" in json.dumps(blas["build"]).lower():
        # NumPy's OpenBLAS, and any other loaded beside it (a SciPy wheel brings its own)
        assert blas["runtime"] and {r["library"] for r in blas["runtime"]} <= set(blas["libraries"])
        assert all(r["core"] and r["threads"] >= 1 for r in blas["runtime"])
    json.dumps(env, allow_nan=False)  # writable as strict JSON


def test_manifest_command_writes_json_sha256sum_and_a_page(tmp_path, capsys):
    run = write_run(tmp_path / "runs" / "soft" / "seed0")
    out = tmp_path / "out"
    files = [str(run / n) for n in ("weights.h5", "metrics.json")]
    argv = ["manifest", "--files", *files, "--json", str(out / "m.json"), "--sha256", str(out / "m.sha256")]
    assert main([*argv, "--html", str(out / "m.html")]) == 0
    m = json.loads((out / "m.json").read_text())
    assert len(m["files"]) == 2 and "2 files hashed" in capsys.readouterr().out
    assert (out / "m.sha256").read_text().count("\n") == 2
    assert "<table" in (out / "m.html").read_text()


# ---- verify: the sample and the comparison ------------------------------------------------------


RUNS = [(v, s) for v in ("soft", "mlp", "sig", "conv") for s in (0, 1, 2)]


def test_the_sample_is_fixed_by_the_seed_and_the_names_only():
    sample = verify_sample(RUNS, 3, seed=0)
    assert len(sample) == 3 and set(sample) <= set(RUNS)
    assert verify_sample(list(reversed(RUNS)), 3, seed=0) == sample
    rank = sorted(RUNS, key=lambda r: hashlib.sha256(f"0/{r[0]}/{r[1]}".encode()).hexdigest())
    assert sample == rank[:3]  # the documented rule
    assert verify_sample(RUNS, 3, seed=1) != sample
    assert verify_sample(RUNS, 0) == [] and len(verify_sample(RUNS, 100)) == len(RUNS)
    # a new variant's runs enter only where they rank before a chosen one: the rest stay chosen
    more = verify_sample(RUNS + [("new", 0), ("new", 1)], 3, seed=0)
    assert [r for r in more if r[0] != "new"] == sample[: 3 - sum(r[0] == "new" for r in more)]


def test_verify_passes_and_writes_its_record_when_the_runs_are_identical(tmp_path):
    runs = [write_run(tmp_path / "runs" / v / "seed0") for v in ("soft", "mlp")]
    again = [write_run(tmp_path / "again" / v / "seed0", seconds=7.0, host="elsewhere") for v in ("soft", "mlp")]
    out = tmp_path / "verify"
    record = verify_runs(runs, again, out / "v.json", out / "v.md", out / "v.html", log=lambda m: None)
    assert record["passed"] and json.loads((out / "v.json").read_text()) == json.loads(json.dumps(record))
    assert all(set(r["files"].values()) == {"identical"} for r in record["runs"])
    assert "identical" in (out / "v.html").read_text()


def test_verify_fails_naming_the_file_and_the_dataset(tmp_path):
    run = write_run(tmp_path / "runs" / "soft" / "seed0")
    again = tmp_path / "again"
    shutil.copytree(run, again)
    _bump(again / "predictions.h5")
    out = tmp_path / "verify"
    with pytest.raises(CifarflowError) as exc:
        verify_runs([run], [again], out / "v.json", out / "v.md", out / "v.html", log=lambda m: None)
    message = str(exc.value)
    assert f"{run.as_posix()}/predictions.h5: dataset params/W1: 1 of 24 values differ" in message
    assert "1 of 1 re-trained runs differ" in message and not (out / "v.json").exists()


def test_verify_refuses_a_missing_re_trained_file(tmp_path):
    run = write_run(tmp_path / "runs" / "soft" / "seed0")
    again = tmp_path / "again"
    shutil.copytree(run, again)
    (again / "history.csv").unlink()
    with pytest.raises(CifarflowError, match="history.csv: only in A"):
        verify_runs([run], [again], *(tmp_path / f"v.{e}" for e in ("json", "md", "html")), log=lambda m: None)
