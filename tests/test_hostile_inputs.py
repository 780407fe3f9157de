"""Hostile and careless inputs of issue 14 (the classes the first fault suite did not cover).

Each class has named cases, and the neighbours a careful tester would try next. A case ends in
one `cifarflow: error:` line naming the cause and the file, member or config key, with nothing
left at the target path (no temporary either), or in a correct result. Cases go through the
commands the rules run (`python -m cifarflow ...`), the real Snakemake where the check is made
before any job, and the package functions where the check is a property of one function (the
writers, the figures). Resource cases run the command under `resource.setrlimit` in a child
process: RLIMIT_FSIZE for a full disk (SIGXFSZ ignored, so write() fails with EFBIG) and
RLIMIT_AS for the memory the rule grants (`mem_mb`).
"""

from __future__ import annotations

import json
import os
import pickle
import resource
import signal
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from cifarflow import CIFAR10_CLASSES, io
from cifarflow.config import ConfigError, load_config_files, plan_spec, validate_config
from cifarflow.errors import DataError

from archives import (
    BIN_FOLDER,
    PY_FOLDER,
    add_members,
    encode_image,
    make_binary_archive,
    make_folder_archive,
    make_images,
    make_python_archive,
    py2_pickle,
)
from workflow_utils import scheduled_jobs, small_config, snakemake, write_config

pytestmark = pytest.mark.faults
WORKFLOW = pytest.mark.workflow

ERROR = "cifarflow: error: "
IMPORT_MEM_MB = 3000  # the import rule's mem_mb (workflow/rules/data.smk)


# ---- helpers -----------------------------------------------------------------------------------


def _limits(fsize: int | None = None, mem_mb: int | None = None):
    """preexec_fn for a child process: a file-size limit (a full disk) and/or an address-space limit."""

    def apply():
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        if mem_mb is not None:
            resource.setrlimit(resource.RLIMIT_AS, (mem_mb * 2**20, mem_mb * 2**20))

    return apply


def cli(*args, cwd=None, fsize=None, mem_mb=None, timeout=120) -> subprocess.CompletedProcess:
    """`python -m cifarflow <args>` as the rules call it, optionally under resource limits."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "cifarflow", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        preexec_fn=_limits(fsize, mem_mb) if (fsize or mem_mb) else None,
    )


def python(code: str, *, cwd=None, fsize=None, umask=None, timeout=120) -> subprocess.CompletedProcess:
    """Run `code` in a child Python (the package importable), optionally under a file-size limit."""
    prefix = f"import os\nos.umask({umask:#o})\n" if umask is not None else ""
    return subprocess.run(
        [sys.executable, "-c", prefix + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        preexec_fn=_limits(fsize) if fsize else None,
    )


def assert_refused(proc, *names, absent=()) -> str:
    """Exit status 1 (never a signal: no segfault), stderr exactly one error line naming `names`,
    nothing (no temporary either) at `absent`."""
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-3000:])
    lines = [line for line in proc.stderr.splitlines() if line.startswith(ERROR)]
    assert len(lines) == 1 and proc.stderr.strip() == lines[0], proc.stderr[-3000:]
    for name in names:
        assert str(name) in lines[0], f"{name!r} is not named in: {lines[0]}"
    for path in absent:
        assert_no_output(Path(path))
    return lines[0]


def assert_no_output(path: Path) -> None:
    assert not path.exists(), f"{path} was left behind"
    if path.parent.is_dir():
        left = [p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}")]
        assert left == [], f"temporary files left in {path.parent}: {left}"


def import_cmd(source, out, classes=CIFAR10_CLASSES, **kw):
    """The import rule's call (two decoding processes)."""
    cls = "null" if classes is None else json.dumps(list(classes))
    return cli("--threads", "2", "import", "--source", source, "--classes", cls, "--out", out, **kw)


# ---- crashes instead of one-line errors: malformed pickled batches ------------------------------


SENTINEL = 987_654_321


def _nested_pickle(obj, depth: int) -> bytes:
    """`obj` pickled (protocol 2) with the int SENTINEL replaced by [[[...[0]...]]] nested `depth`
    deep, written opcode by opcode (pickling such a list in Python would exceed the recursion limit)."""
    nested = b"]" * depth + b"K\x00" + b"a" * depth  # EMPTY_LIST x depth, BININT1 0, APPEND x depth
    data = pickle.dumps(obj, protocol=2)
    marker = b"J" + SENTINEL.to_bytes(4, "little")
    assert data.count(marker) == 1
    return data.replace(marker, nested)


def _batch(labels=None, data=None, n=4):
    return {
        b"batch_label": b"training batch",
        b"labels": [0, 1, 2, 3] if labels is None else labels,
        b"data": np.zeros((n, 3072), np.uint8) if data is None else data,
        b"filenames": [b"x.png"] * n,
    }


def _meta(label_names):
    return {b"num_cases_per_batch": 4, b"label_names": label_names, b"num_vis": 3072}


MALFORMED_PICKLES = {  # case: (member, object pickled into it, words the error names)
    "ragged-labels": ("data_batch_1", _batch(labels=[[0, 1], [2], 3, 4]), ("'labels'", "integers")),
    "deeply-nested-labels": ("data_batch_2", _nested_pickle(_batch(labels=SENTINEL), 100_000), ("'labels'", "list")),
    "nested-label-lists": ("data_batch_2", _batch(labels=[[0], [1], [2], [3]]), ("'labels'",)),
    "float-labels": ("data_batch_3", _batch(labels=[0.0, 1.5, 2.0, 3.0]), ("'labels'", "float")),
    "string-labels": ("data_batch_3", _batch(labels=[b"cat", b"dog", b"cat", b"dog"]), ("'labels'", "bytes")),
    "bool-labels": ("data_batch_4", _batch(labels=[True, False, True, False]), ("'labels'",)),
    "huge-int-labels": ("data_batch_4", _batch(labels=[0, 1, 2, 10**30]), ("labels",)),
    "negative-labels": ("data_batch_4", _batch(labels=[0, 1, 2, -1]), ("labels",)),
    "2d-label-array": ("data_batch_5", _batch(labels=np.zeros((2, 2), np.int64)), ("'labels'", "(2, 2)")),
    "float-label-array": ("data_batch_5", _batch(labels=np.zeros(4, np.float64)), ("'labels'", "float64")),
    "labels-not-a-list": ("test_batch", _batch(labels={b"a": 1}), ("'labels'", "dict")),
    "label-count-mismatch": ("test_batch", _batch(labels=[0, 1]), ("labels",)),
    "float-data": ("data_batch_1", _batch(data=np.zeros((4, 3072), np.float64)), ("'data'", "float64")),
    "data-wrong-shape": ("data_batch_1", _batch(data=np.zeros((4, 1024), np.uint8)), ("'data'", "(4, 1024)")),
    "data-a-list": ("data_batch_1", _batch(data=[[0] * 3072] * 4), ("'data'", "list")),
    "batch-a-list": ("data_batch_1", [1, 2, 3], ("list", "expected a dict")),
    "label-names-a-string": ("batches.meta", _meta(b"airplane"), ("'label_names'", "list of strings")),
    "label-names-ints": ("batches.meta", _meta([0, 1, 2]), ("'label_names'", "list of strings")),
    "label-names-nested": ("batches.meta", _meta([[b"cat"], [b"dog"]]), ("'label_names'", "list of strings")),
    "label-names-not-utf8": ("batches.meta", _meta([b"\xff\xfe", b"dog"]), ("'label_names'", "UTF-8")),
    "label-names-none": ("batches.meta", _meta(None), ("'label_names'", "NoneType")),
    "label-names-300": ("batches.meta", _meta([f"c{i}".encode() for i in range(300)]), ("1..256", "300")),
    "label-names-duplicates": ("batches.meta", _meta([b"cat", b"cat"]), ("distinct",)),
}


@pytest.mark.parametrize("case", list(MALFORMED_PICKLES))
def test_malformed_pickled_batch_is_one_line_naming_the_member(tmp_path, case):
    member, obj, words = MALFORMED_PICKLES[case]
    data = obj if isinstance(obj, bytes) else py2_pickle(obj)
    make_python_archive(tmp_path / "a.tar.gz", n_per_batch=4, n_test=4, replace={member: data})
    out = tmp_path / "results" / "cifar10.h5"
    assert_refused(import_cmd(tmp_path / "a.tar.gz", out), "a.tar.gz", member, *words, absent=[out])


# ---- more than 256 classes (labels are uint8) ---------------------------------------------------

MANY = [f"class{i:03d}" for i in range(300)]


def _class_folders(root: Path, names) -> Path:
    """train/<class>/0.png and test/<class>/0.png for each name (one tiny image each)."""
    png = encode_image(make_images([0])[0])
    for split in ("train", "test"):
        for name in names:
            (root / split / name).mkdir(parents=True)
            (root / split / name / "0.png").write_bytes(png)
    return root


def test_binary_meta_with_300_class_names_is_refused(tmp_path):
    make_binary_archive(
        tmp_path / "b.tar.gz", n_per_batch=4, n_test=4, replace={"batches.meta.txt": "\n".join(MANY).encode()}
    )
    out = tmp_path / "cifar10.h5"
    assert_refused(import_cmd(tmp_path / "b.tar.gz", out), "batches.meta.txt", "1..256", "300", absent=[out])


def test_300_class_folders_are_refused_with_source_classes_null(tmp_path):
    _class_folders(tmp_path / "f", MANY)
    out = tmp_path / "cifar10.h5"
    assert_refused(import_cmd(tmp_path / "f", out, classes=None), "300 class folders", "256", absent=[out])


def test_300_expected_classes_are_refused_by_the_import(tmp_path):
    _class_folders(tmp_path / "f", MANY)
    out = tmp_path / "cifar10.h5"
    assert_refused(import_cmd(tmp_path / "f", out, classes=MANY), "300 class names", "source_classes", absent=[out])


def test_300_source_classes_are_refused_by_the_config_check(archive):
    with pytest.raises(ConfigError, match=r"config key source_classes: 300 classes; at most 256"):
        validate_config(small_config(archive, source_classes=MANY))


def test_256_classes_still_import(tmp_path):
    names = MANY[:256]
    _class_folders(tmp_path / "f", names)
    out = tmp_path / "cifar10.h5"
    proc = import_cmd(tmp_path / "f", out, classes=None)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(out) as f:
        assert f["train/labels"][()].max() == 255 and len(f.attrs["class_names"]) == 256


# ---- writers: a full disk, an unwritable folder --------------------------------------------------


@pytest.fixture(scope="module")
def raw_file(tmp_path_factory, archive) -> Path:
    """cifar10.h5 of the session's generated archive (1,000 training, 200 test images)."""
    out = tmp_path_factory.mktemp("raw") / "cifar10.h5"
    proc = import_cmd(archive, out)
    assert proc.returncode == 0, proc.stderr
    return out


def test_full_disk_while_writing_the_hdf5_import_is_one_line_and_no_temporary(tmp_path, archive):
    """The case that once ended in a segmentation fault inside HDF5."""
    out = tmp_path / "results" / "cifar10.h5"
    proc = import_cmd(archive, out, fsize=1_000_000)
    assert_refused(proc, out, "File too large", "free space", absent=[out])


def test_full_disk_while_writing_a_split_is_one_line_and_no_temporary(tmp_path, raw_file):
    out = tmp_path / "split_full.h5"
    spec = json.dumps({"type": "holdout", "val_size": 100, "seed": 0})
    proc = cli("split", "--raw", raw_file, "--name", "full", "--spec", spec, "--out", out, fsize=200_000)
    assert_refused(proc, out, "File too large", absent=[out])


@pytest.mark.parametrize(
    "writer",
    [
        "io.write_json(OUT, {'x': list(range(100000))})",
        "io.write_text(OUT, 'x' * 300000)",
        "io.write_weights(OUT, {'W': np.zeros((300, 300))}, {'a': 1})",
        "plots.save(plots.plot_confusion(np.eye(3), ['a', 'b', 'c'], 't'), OUT[:-4], dpi=600)",
    ],
    ids=["json", "text", "weights-hdf5", "figure"],
)
def test_full_disk_for_every_writer_is_a_data_error_naming_the_file(tmp_path, writer):
    out = tmp_path / "o" / ("out.png" if "plots" in writer else "out.dat")
    code = f"""
        import sys, numpy as np
        from cifarflow import io
        from cifarflow.errors import CifarflowError
        from cifarflow.report import plots
        OUT = {str(out)!r}
        try:
            {writer}
        except CifarflowError as exc:
            print("cifarflow: error:", exc, file=sys.stderr)
            sys.exit(1)
    """
    proc = python(code, fsize=100_000)
    assert_refused(proc, out, "cannot write", absent=[out])


def test_file_where_the_output_folder_should_be_is_one_line(tmp_path, archive):
    (tmp_path / "results").write_text("a file, not a folder")
    out = tmp_path / "results" / "data" / "cifar10.h5"
    proc = import_cmd(archive, out)
    assert_refused(proc, out, "cannot write")


def test_output_folder_on_a_read_only_file_system_is_one_line(tmp_path, archive):
    target = Path("/proc/cifarflow-test/cifar10.h5")  # /proc refuses new files to anyone, root too
    proc = import_cmd(archive, target)
    assert_refused(proc, target, "cannot write")


def test_output_is_a_folder_is_one_line(tmp_path, raw_file):
    out = tmp_path / "split.h5"
    (out / "inside").mkdir(parents=True)
    spec = json.dumps({"type": "batches", "train": [1], "val": [2]})
    proc = cli("split", "--raw", raw_file, "--name", "basic", "--spec", spec, "--out", out)
    assert_refused(proc, out, "cannot write")
    assert (out / "inside").is_dir()
    assert [p.name for p in tmp_path.iterdir()] == ["split.h5"]


# ---- MemoryError from huge values that pass the bounds: ConvNet layers --------------------------


def _conv_config(archive, **variant):
    return small_config(
        archive,
        experiments={"c": {"variants": [{"name": "big", "model": "convnet", **variant}]}},
    )


WIDE_CONV = [{"conv": {"filters": 1000, "size": 3, "pad": 1}}, {"pool": {"size": 4}}, {"fc": {}}]
HUGE_CONVNETS = {  # case: (variant settings, key named, words)
    "conv-filters": ({"layers": [{"conv": {"filters": 100000, "size": 3, "pad": 1}}, {"fc": {}}]}, "layers", "weights"),
    "fc-units": ({"layers": [{"fc": {"units": 10_000_000}}, {"fc": {}}]}, "layers", "weights"),
    "conv-size": ({"layers": [{"conv": {"filters": 8192, "size": 32}}, {"fc": {}}]}, "layers", "weights"),
    "many-layers": (
        {"layers": [{"conv": {"filters": 2048, "size": 3, "pad": 1}}] * 8 + [{"fc": {}}]},
        "layers",
        "weights",
    ),
    "activations-beyond-mem_mb": ({"layers": WIDE_CONV}, "layers", "mem_mb 1500"),
    "activations-beyond-a-small-mem_mb": (
        {"layers": WIDE_CONV[:1] + [{"pool": {"size": 8}}, {"fc": {}}], "mem_mb": 500},
        "layers",
        "mem_mb 500",
    ),
    "patchify-filters-within-schema": ({"filters": 1024, "size": 1}, "preset", "weights"),
    "bad-layer-option": ({"layers": [{"conv": {"filters": -3, "size": 3}}, {"fc": {}}]}, "layers", "filters"),
}


@pytest.mark.parametrize("case", list(HUGE_CONVNETS))
def test_huge_convnet_is_refused_before_any_job(archive, case):
    settings, key, words = HUGE_CONVNETS[case]
    with pytest.raises(ConfigError) as err:
        validate_config(_conv_config(archive, **settings))
    msg = str(err.value)
    assert msg.startswith(f"config key experiments.c.variants[0].{key} (variant big)"), msg
    assert words in msg, msg


def assert_dry_run_refused(proc, *names) -> str:
    """A real `snakemake -n` stopped before any job, with one error line naming `names`."""
    assert proc.returncode != 0, proc.stdout[-2000:]
    text = proc.stdout + proc.stderr
    lines = [line for line in text.splitlines() if line.startswith(ERROR)]
    assert len(lines) == 1 and "Traceback" not in text, text[-3000:]
    for name in names:
        assert name in lines[0], lines[0]
    assert "Job stats" not in text
    return lines[0]


@WORKFLOW
def test_huge_convnet_is_refused_by_check_config_and_the_dry_run(tmp_path, archive):
    write_config(tmp_path, _conv_config(archive, layers=WIDE_CONV))
    key = "experiments.c.variants[0].layers"
    assert_refused(cli("check-config", tmp_path / "config.yaml"), key, "mem_mb")
    assert_dry_run_refused(snakemake(tmp_path, "-n", check=False), key, "mem_mb")
    assert not (tmp_path / "results").exists()


def test_the_shipped_convnets_pass_the_bound():
    repo = Path(__file__).resolve().parents[1]
    _, variants, _ = validate_config(load_config_files([repo / "config" / "config.yaml"]))
    assert any(v["model"] == "convnet" for v in variants.values())
