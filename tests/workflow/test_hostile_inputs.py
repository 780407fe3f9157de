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
from cifarflow.data import source_digest
from cifarflow.errors import DataError

from archives import (
    encode_image,
    make_binary_archive,
    make_folder_archive,
    make_images,
    make_python_archive,
    py2_pickle,
)
from workflow_utils import REPO, scheduled_jobs, small_config, snakemake, write_config

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
        pytest.param(
            "plots.save(plots.plot_confusion(np.eye(3), ['a', 'b', 'c'], 't'), OUT[:-4], dpi=600)",
            marks=pytest.mark.slow,  # imports matplotlib in its subprocess
        ),
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
    _, variants, _ = validate_config(load_config_files([REPO / "config" / "config.yaml"]))
    assert any(v["model"] == "convnet" for v in variants.values())


# ---- matplotlib mathtext in class names and titles ----------------------------------------------

MATH_NAMES = ["$x^2$", "price $5", "a$b$c$", r"$\frac{$", "$$", r"\$"]


def _drawn(fig) -> list[str]:
    """Every text of a figure as it is drawn (after matplotlib's mathtext preprocessing)."""
    from matplotlib.text import Text

    fig.canvas.draw()
    return [t._preprocess_math(t.get_text()) for t in fig.findobj(Text) if t.get_text()]


@pytest.mark.parametrize(
    "figure",
    ["confusion", "templates", "per_class", "templates_compare"],
)
def test_dollar_signs_in_class_names_and_titles_are_drawn_literally(tmp_path, figure):
    from cifarflow.report import plots

    names, title = MATH_NAMES, "a $title$ with $ signs"
    k = len(names)
    rng = np.random.default_rng(0)
    if figure == "confusion":
        fig = plots.plot_confusion(np.eye(k) * 10, names, title)
    elif figure == "templates":
        fig = plots.plot_templates(rng.standard_normal((k, 3072)), names, title)
    elif figure == "per_class":
        per_class = {"v": {n: 0.5 for n in names}}
        fig = plots.plot_per_class(per_class, names, title=title)
    else:
        fig = plots.plot_templates_compare({"v": rng.standard_normal((k, 3072))}, names, title=title)
    drawn = _drawn(fig)
    for text in [*names, title]:
        assert (text, False) in drawn, (text, drawn)  # shown as written, not as mathtext
    paths = plots.save(fig, tmp_path / "f")  # an unbalanced $ once failed the figure here
    assert all(p.stat().st_size > 0 for p in paths)


def test_comparison_title_with_dollars_is_drawn_literally():
    from cifarflow.report import plots

    assert plots.literal("$\\alpha$ 5$") == "\\$\\alpha\\$ 5\\$"


# ---- templates of a softmax and a logistic variant -----------------------------------------------


def test_templates_comparison_titles_a_logistic_template_by_its_class_pair():
    from matplotlib.text import Text

    from cifarflow.report import plots

    rng = np.random.default_rng(0)
    fig = plots.plot_templates_compare(
        {"soft": rng.standard_normal((10, 3072)), "logi": rng.standard_normal((1, 3072))},
        {"soft": list(CIFAR10_CLASSES), "logi": ["cat", "dog"]},
    )
    axes = fig.axes
    logistic_row = [ax for ax in axes if ax.get_ylabel() == "logi"][0]
    row = axes.index(logistic_row)
    assert logistic_row.get_title() == "dog (+) vs cat (\u2212)"
    assert all(not ax.get_visible() or not ax.axison or ax.get_title() == "" for ax in axes[row + 1 :])
    titles = [t.get_text() for t in fig.findobj(Text)]
    assert titles.count("airplane") == 1  # the softmax row's header only


def test_templates_comparison_with_the_logistic_first_titles_the_softmax_row_itself():
    from cifarflow.report import plots

    rng = np.random.default_rng(0)
    fig = plots.plot_templates_compare(
        {"logi": rng.standard_normal((1, 3072)), "soft": rng.standard_normal((10, 3072))},
        {"logi": ["cat", "dog"], "soft": list(CIFAR10_CLASSES)},
    )
    by_title = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert by_title[0] == "dog (+) vs cat (\u2212)"
    assert by_title[1:] == list(CIFAR10_CLASSES)


# ---- unbounded resources: archive members that decompress to gigabytes ---------------------------


def _zeros_member_archive(path: Path, folder: str, member: str, size: int, base: dict) -> Path:
    """`base` members plus `member` of `size` zero bytes (a few KB compressed), written streaming."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, data in base.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, __import__("io").BytesIO(data))
        info = tarfile.TarInfo(f"{folder}/{member}")
        info.size = size
        with open("/dev/zero", "rb") as zero:
            tar.addfile(info, _Limited(zero, size))
    return path


class _Limited:
    def __init__(self, fh, size):
        self.fh, self.left = fh, size

    def read(self, n=-1):
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return self.fh.read(n)


def _python_members(n=4):
    meta = py2_pickle(_meta([c.encode() for c in CIFAR10_CLASSES]))
    members = {"batches.meta": meta}
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"):
        members[name] = py2_pickle(_batch())
    return members


BIG_MEMBERS = {  # case: (layout, member, size in bytes, what the limit is)
    "pickled-batch-200MB": ("python", "data_batch_3", 200_000_000, "40,000,000"),
    "pickled-meta-50MB": ("python", "batches.meta", 50_000_000, "1,000,000"),
    "binary-batch-one-record-too-many": ("binary", "data_batch_2.bin", 30_733_073, "30,730,000"),
    "binary-test-200MB": ("binary", "test_batch.bin", 200_000_000, "30,730,000"),
    "image-100MB": ("folders", "train/cat/0001.png", 100_000_000, "262,144"),
}


@pytest.mark.parametrize("case", list(BIG_MEMBERS))
def test_oversized_member_is_refused_before_it_is_read_within_the_rules_memory(tmp_path, case):
    layout, member, size, limit = BIG_MEMBERS[case]
    path = tmp_path / "big.tar.gz"
    if layout == "python":
        base = {k: v for k, v in _python_members().items() if k != member}
        _zeros_member_archive(path, "cifar-10-batches-py", member, size, base)
    elif layout == "binary":
        rec = bytes(3073) * 4
        base = {f"data_batch_{k}.bin": rec for k in range(1, 6)} | {"test_batch.bin": rec}
        base["batches.meta.txt"] = "\n".join(CIFAR10_CLASSES).encode()
        base.pop(member)
        _zeros_member_archive(path, "cifar-10-batches-bin", member, size, base)
    else:
        png = encode_image(make_images([0])[0])
        base = {f"{s}/{c}/0000.png": png for s in ("train", "test") for c in CIFAR10_CLASSES}
        _zeros_member_archive(path, ".", member, size, base)
    out = tmp_path / "cifar10.h5"
    # Under the import rule's mem_mb less the member: reading it whole would not fit.
    proc = import_cmd(path, out, mem_mb=IMPORT_MEM_MB)
    assert_refused(proc, "big.tar.gz", member.rpartition("/")[2], f"{size:,} bytes", limit, absent=[out])


def test_oversized_image_in_a_directory_source_is_refused(tmp_path):
    make_folder_archive(tmp_path / "d", n_train_per_class=2, n_test_per_class=1, as_dir=True)
    big = tmp_path / "d" / "train" / "cat" / "0000.png"
    big.write_bytes(big.read_bytes() + bytes(300_000))  # a valid PNG followed by padding
    out = tmp_path / "cifar10.h5"
    assert_refused(import_cmd(tmp_path / "d", out), "train/cat/0000.png", "262,144", absent=[out])


@pytest.mark.slow  # writes and reads a tar of 500,001 members
def test_a_source_with_a_million_empty_members_is_refused(tmp_path):
    path = tmp_path / "many.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("train/cat/x.png")
        for i in range(500_001):
            info.name = f"train/cat/{i}.png"
            tar.addfile(info)
    out = tmp_path / "cifar10.h5"
    assert_refused(import_cmd(path, out, mem_mb=IMPORT_MEM_MB, timeout=300), "more than 500,000 members", absent=[out])


# ---- local_archive: a device, FIFO or socket -------------------------------------------------------


def _special(tmp_path, kind) -> Path:
    if kind == "dev-zero":
        return Path("/dev/zero")
    if kind == "dev-urandom":
        return Path("/dev/urandom")
    path = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(path)
    else:
        import socket

        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    return path


SPECIAL = ["dev-zero", "dev-urandom", "fifo", "socket"]


@pytest.mark.parametrize("kind", SPECIAL)
def test_import_from_a_device_fifo_or_socket_is_refused_at_once(tmp_path, kind):
    source = _special(tmp_path, kind)
    out = tmp_path / "cifar10.h5"
    proc = import_cmd(source, out, timeout=60)  # reading one would not end
    assert_refused(proc, str(source), "not a regular file or a directory", "local_archive", absent=[out])


@pytest.mark.parametrize("kind", SPECIAL)
def test_source_digest_of_a_device_fifo_or_socket_is_refused(tmp_path, kind):
    source = _special(tmp_path, kind)
    with pytest.raises(DataError, match="not a regular file or a directory"):
        source_digest.cached_source_sha256(source, tmp_path / "cache.json")
    with pytest.raises(DataError, match="not a regular file or a directory"):
        source_digest.source_sha256(source)


@WORKFLOW
@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_local_archive_device_or_fifo_stops_the_dry_run(tmp_path, archive, kind):
    source = _special(tmp_path, kind)
    write_config(tmp_path, small_config(archive, local_archive=str(source)))
    proc = snakemake(tmp_path, "-n", check=False, timeout=120)
    assert_dry_run_refused(proc, str(source), "not a regular file")


# ---- a YAML alias bomb; config size ----------------------------------------------------------------


def _list_bomb(levels=9) -> str:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _mapping_bomb(levels=9) -> str:
    lines = ["a0: &a0 {" + ", ".join(f"k{j}: x" for j in range(10)) + "}"]
    lines += [f"a{i}: &a{i} {{" + ", ".join(f"k{j}: *a{i - 1}" for j in range(10)) + "}" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


CONFIG_FILES = {  # case: (file contents, words of the error)
    "list-alias-bomb": (_list_bomb(), ("a8", "200,000 values", "aliases")),
    "mapping-alias-bomb": (_mapping_bomb(), ("a8", "200,000 values")),
    "bomb-under-experiments": ("experiments:\n  " + _list_bomb().replace("\n", "\n  "), ("experiments",)),
    "deep-nesting": ("x: " + "[" * 100 + "]" * 100 + "\n", ("nested",)),
    "very-deep-nesting": ("x: " + "[" * 50000 + "]" * 50000 + "\n", ("x.yaml", "nested")),
    "two-megabytes": ("# " + "x" * 2_000_000 + "\n", ("larger than 1,000,000 bytes",)),
}


@pytest.mark.parametrize("case", list(CONFIG_FILES))
def test_hostile_config_file_is_refused_by_check_config_quickly(tmp_path, case):
    text, words = CONFIG_FILES[case]
    (tmp_path / "x.yaml").write_text(text)
    proc = cli("check-config", tmp_path / "x.yaml", timeout=60, mem_mb=1000)
    assert_refused(proc, *words)


@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_check_config_of_a_device_or_fifo_is_refused(tmp_path, kind):
    path = _special(tmp_path, kind)
    assert_refused(cli("check-config", path, timeout=60), str(path), "not a regular file")


@WORKFLOW
def test_list_alias_bomb_stops_the_dry_run_quickly(tmp_path, archive):
    """Snakemake loads the file (the YAML loader shares aliased values: cheap), then our check
    counts the expansion and stops. (A bomb of nested *mappings* given with --configfile is
    expanded by Snakemake's own update_config before any workflow code runs: not ours.)"""
    write_config(tmp_path, small_config(archive))
    (tmp_path / "bomb.yaml").write_text(_list_bomb())
    env = {**os.environ}
    proc = subprocess.run(
        [*_snakemake_cmd(tmp_path), "--configfile", str(tmp_path / "config.yaml"), str(tmp_path / "bomb.yaml"), "-n"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        preexec_fn=_limits(mem_mb=2000),
    )
    assert_dry_run_refused(proc, "a8", "200,000 values")


def _snakemake_cmd(workdir):
    from workflow_utils import REPO, SNAKEMAKE

    return [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir)]


# ---- silently stale or wrong results -----------------------------------------------------------------


def test_directory_digest_follows_content_changed_in_place(tmp_path):
    make_folder_archive(tmp_path / "d", n_train_per_class=2, n_test_per_class=1, as_dir=True)
    cache = tmp_path / "cache.json"
    before = source_digest.cached_source_sha256(tmp_path / "d", cache)
    assert before == source_digest.source_sha256(tmp_path / "d")
    img = tmp_path / "d" / "test" / "dog" / "0000.png"
    st_dir = os.stat(img.parent)
    img.write_bytes(encode_image(make_images([5], seed=9)[0]))  # same name, other pixels
    os.utime(img.parent, ns=(st_dir.st_atime_ns, st_dir.st_mtime_ns))  # the folder looks untouched
    after = source_digest.cached_source_sha256(tmp_path / "d", cache)
    assert after != before and after == source_digest.source_sha256(tmp_path / "d")
    assert source_digest.cached_source_sha256(tmp_path / "d", cache) == after  # from the cache now


@WORKFLOW
def test_directory_source_changed_in_place_is_imported_again(tmp_path):
    src = tmp_path / "src"
    make_folder_archive(src, n_train_per_class=20, n_test_per_class=5, as_dir=True)
    write_config(tmp_path, small_config(src))
    snakemake(tmp_path, "--cores", "1", "results/data/cifar10.h5")
    assert scheduled_jobs(snakemake(tmp_path, "-n", "results/data/cifar10.h5")) == {}
    img = src / "train" / "ship" / "0003.png"
    st_dir = os.stat(img.parent)
    img.write_bytes(encode_image(make_images([8], seed=11)[0]))
    os.utime(img.parent, ns=(st_dir.st_atime_ns, st_dir.st_mtime_ns))
    assert scheduled_jobs(snakemake(tmp_path, "-n", "results/data/cifar10.h5")).get("import_data") == 1


@pytest.fixture(scope="module")
def split_and_plan(tmp_path_factory, archive, raw_file):
    """A split, the variant `soft` of a small config and its plan, made by the rules' commands."""
    base = tmp_path_factory.mktemp("plan")
    config, variants, _ = validate_config(small_config(archive))
    v = variants["soft"]
    split = base / "split.h5"
    spec = json.dumps(config["splits"][v["split"]])
    assert cli("split", "--raw", raw_file, "--name", v["split"], "--spec", spec, "--out", split).returncode == 0
    plan = base / "plan.h5"
    proc = cli("plan", "--split", split, "--spec", json.dumps(plan_spec(v, config)), "--out", plan)
    assert proc.returncode == 0, proc.stderr
    return config, v, split, plan


def _train(split, plan, variant, outdir):
    return cli("train", "--split", split, "--plan", plan, "--variant", json.dumps(variant), "--outdir", outdir)


@pytest.mark.parametrize(
    "change",
    [{"seed": 7}, {"augmentation": "none"}, {"shuffle": False}, {"epochs": 5}, {"split": "basic"}],
    ids=["seed", "augmentation", "shuffle", "more-epochs", "split"],
)
def test_plan_made_for_another_spec_with_the_same_image_count_is_refused(tmp_path, split_and_plan, change):
    config, v, split, plan = split_and_plan
    key = next(iter(change))
    if key == "augmentation":  # another declared augmentation than the variant's own
        change = {key: next(a for a in config["augmentations"] if a != v[key])}
    variant = {**v, **change}
    out = tmp_path / "run"
    assert_refused(_train(split, plan, variant, out), str(plan), f"{key}=", "variant soft")
    assert not (out / "weights.h5").exists() and not (out / "checkpoint.h5").exists()


def test_plan_of_the_variants_own_spec_still_trains(tmp_path, split_and_plan):
    config, v, split, plan = split_and_plan
    proc = _train(split, plan, {**v, "epochs": 1}, tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    assert "soft" in (tmp_path / "run" / "metrics.json").read_text()
    assert (tmp_path / "run" / "weights.h5").is_file()


BAD_STATS = {
    "std-nan": ("stats/std", np.nan, "not finite"),
    "std-zero": ("stats/std", 0.0, "zero or negative"),
    "std-negative": ("stats/std", -1.0, "zero or negative"),
    "std-inf": ("stats/std", np.inf, "not finite"),
    "channel-std-zero": ("stats/channel_std", 0.0, "zero or negative"),
    "std-too-large": ("stats/std", 1000.0, "too large"),
    "mean-nan": ("stats/mean", np.nan, "not finite"),
    "channel-mean-negative": ("stats/channel_mean", -5.0, "outside 0..255"),
}


@pytest.mark.parametrize("case", list(BAD_STATS))
def test_split_with_bad_statistics_is_refused_naming_the_file(tmp_path, split_and_plan, case):
    config, v, split, plan = split_and_plan
    key, value, words = BAD_STATS[case]
    bad = tmp_path / "split.h5"
    bad.write_bytes(split.read_bytes())
    with h5py.File(bad, "r+") as f:
        data = f[key][()]
        data.reshape(-1)[0] = value
        f[key][...] = data
    out = tmp_path / "run"
    assert_refused(_train(bad, plan, v, out), str(bad), key, words)
    assert not (out / "weights.h5").exists()
    proc = cli("plan", "--split", bad, "--spec", json.dumps(plan_spec(v, config)), "--out", tmp_path / "p.h5")
    assert_refused(proc, str(bad), key, absent=[tmp_path / "p.h5"])


# ---- leftovers: temporaries of killed writers, file modes ------------------------------------------


def test_temporary_of_a_killed_import_is_removed_by_the_next_import(tmp_path, archive):
    out = tmp_path / "results" / "data" / "cifar10.h5"
    code = f"""
        import os, signal
        from cifarflow.io import atomic_output
        with atomic_output({str(out)!r}) as tmp:
            tmp.write_bytes(b"partial" * 1000)
            os.kill(os.getpid(), signal.SIGKILL)
    """
    assert python(code).returncode == -signal.SIGKILL
    left = [p.name for p in out.parent.iterdir()]
    assert len(left) == 1 and left[0].startswith(".cifar10.h5.tmp-"), left  # the one scheme
    other = out.parent / ".split_full.h5.tmp-1"  # another target's temporary: not this writer's
    other.write_bytes(b"x")
    assert import_cmd(archive, out).returncode == 0
    assert sorted(p.name for p in out.parent.iterdir()) == [".split_full.h5.tmp-1", "cifar10.h5"]


def test_an_interrupted_hdf5_writer_leaves_no_temporary(tmp_path):
    out = tmp_path / "w.h5"
    code = f"""
        import numpy as np
        from cifarflow.io import atomic_h5
        with atomic_h5({str(out)!r}) as f:
            f.create_dataset("x", data=np.zeros(1000))
            raise KeyboardInterrupt
    """
    proc = python(code)
    assert proc.returncode != 0 and "KeyboardInterrupt" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # every writer in a subprocess, for four umasks
@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002, 0o077])
def test_every_output_honours_the_umask(tmp_path, umask, archive):
    code = """
        import numpy as np
        from cifarflow import io
        from cifarflow.report import plots
        io.write_text("t.txt", "x")
        io.write_json("j.json", {})
        io.write_weights("w.h5", {"W": np.zeros(3)}, {})
        plots.save(plots.plot_confusion(np.eye(2), ["a", "b"], "t"), "fig")
    """
    assert python(code, cwd=tmp_path, umask=umask).returncode == 0
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import os, runpy, sys; os.umask({umask:#o}); sys.argv = ['cifarflow', *sys.argv[1:]]; runpy.run_module('cifarflow', run_name='__main__')",
            "import",
            "--source",
            str(archive),
            "--classes",
            json.dumps(list(CIFAR10_CLASSES)),
            "--out",
            "cifar10.h5",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "plain").write_text("x")  # what a plain open() gives under this umask
    os.chmod(tmp_path / "plain", 0o666 & ~umask)
    want = 0o666 & ~umask
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert set(modes) == {"t.txt", "j.json", "w.h5", "fig.png", "fig.pdf", "cifar10.h5", "plain"}
    assert all(mode == want for mode in modes.values()), {k: oct(m) for k, m in modes.items()}


# ---- issue 25: every search size and value bounded before any job; reserved keys -----------------


def _search_config(archive, **search) -> dict:
    """small_config with one set holding a one-round search (two trials, one final seed)."""
    cfg = small_config(archive)
    block = {
        "name": "s",
        "method": "random",
        "n": 2,
        "base": {"model": "softmax"},
        "space": {"eta": {"log_uniform": [1.0e-3, 1.0e-1]}},
        "final": {"seeds": [101]},
    }
    cfg["experiments"] = {"srch": {"search": {**block, **search}}}
    return cfg


C2F = {"method": "coarse_to_fine", "rounds": 2, "top_k": 1}
UNBOUNDED_SEARCHES = {  # case: (search block changes, the key named, words of the error)
    "a-billion-trials": ({"n": 1_000_000_000}, "search.n", "maximum of 1000"),
    "ten-million-grid-points": ({"method": "grid", "points": 10_000_000}, "search.points", "maximum of 1000"),
    "ten-million-points-of-a-range": (
        {"method": "grid", "space": {"eta": {"log_uniform": [1.0e-3, 1.0e-1], "points": 10_000_000}}},
        "search.space.eta.points",
        "maximum of 1000",
    ),
    "a-grid-of-a-million-trials": (
        {"method": "grid", "points": 1000, "space": {"eta": {"uniform": [0.01, 0.1]}, "lambda": {"uniform": [0, 1]}}},
        "search.space",
        "1,000,000 trials",
    ),
    "100000-rounds": ({**C2F, "rounds": 100_000}, "search.rounds", "maximum of 20"),
    "margin-1e300": ({**C2F, "margin": 1.0e300}, "search.margin", "maximum of 1"),
    "a-billion-digits": ({"digits": 1_000_000_000}, "search.digits", "maximum of 17"),
    "momentum-range-beyond-1": (
        {**C2F, "space": {"momentum": {"uniform": [0.0, 1.5]}}},
        "search.space.momentum.uniform",
        "1.5 is not a valid momentum",
    ),
    "a-choice-round-1-may-not-draw": (
        {"n": 1, "space": {"momentum": {"choice": [0.5, 0.9, 0.95, 0.99, 1.5]}}},
        "search.space.momentum.choice[4]",
        "1.5 is not a valid momentum",
    ),
    "a-halving-rung-beyond-the-epochs": (
        {"method": "successive_halving", "n": 200, "reduction": 11, "min_epochs": 10, "max_epochs": 5000},
        "search.max_epochs (rung 3)",
        "1210 is not a valid epochs",
    ),
    "a-final-seed-beyond-32-bits": ({"final": {"seeds": [2**32]}}, "search.final.seeds", "4294967296"),
    "seeds-searched": ({"space": {"seeds": {"choice": [[1], [2]]}}}, "search.space.seeds", "cannot be searched"),
    "replicates-searched": ({"space": {"replicates": {"int": [1, 3]}}}, "search.space.replicates", "cannot be"),
    "threads-searched": ({"space": {"threads": {"choice": [1, 2]}}}, "search.space.threads", "cannot be searched"),
    "group-searched": ({"space": {"group": {"choice": ["a", "b"]}}}, "search.space.group", "cannot be searched"),
    "seeds-in-base": ({"base": {"model": "softmax", "seeds": [1, 2]}}, "search.base.seeds", "trains each trial"),
    "replicates-in-base": ({"base": {"model": "softmax", "replicates": 3}}, "search.base.replicates", "trains each"),
}


CHECK_CONFIG_ONLY = {
    "ten-million-points-of-a-range",
    "a-billion-digits",
    "a-choice-round-1-may-not-draw",
    "replicates-searched",
    "threads-searched",
    "group-searched",
    "replicates-in-base",
}


@WORKFLOW
@pytest.mark.parametrize("case", list(UNBOUNDED_SEARCHES))
def test_a_search_beyond_its_bounds_is_refused_by_check_config_and_the_dry_run(tmp_path, archive, case):
    """Each was accepted, ran past 90 s at 1.4 GB, or failed after round 1 with a traceback."""
    change, key, words = UNBOUNDED_SEARCHES[case]
    write_config(tmp_path, _search_config(archive, **change))
    key = f"config key experiments.srch.{key}"
    assert_refused(cli("check-config", tmp_path / "config.yaml", timeout=60, mem_mb=1500), key, words)
    if case in CHECK_CONFIG_ONLY:  # the dry run makes the same check (validate_config's resolve_searches)
        return
    assert_dry_run_refused(snakemake(tmp_path, "-n", check=False, timeout=120), key, words)
    assert not (tmp_path / "results").exists()


def test_check_config_announces_the_epochs_the_final_runs_train(tmp_path, archive):
    """A halving whose last rung (1 trial) has 4 epochs retrains the choice for 4 epochs, not max_epochs."""
    write_config(tmp_path, _search_config(archive, method="successive_halving", n=4, reduction=2, max_epochs=5000))
    proc = cli("check-config", tmp_path / "config.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "7 trials in 3 round(s), 12 trial epochs, then 1 final runs of 4 epochs" in proc.stdout, proc.stdout


# ---- issue 25: config files: a key given twice, no experiment set ----------------------------------


@WORKFLOW
def test_a_key_given_twice_is_refused_by_check_config_and_the_dry_run(tmp_path, archive):
    write_config(tmp_path, small_config(archive))
    path = tmp_path / "config.yaml"
    text = path.read_text(encoding="utf-8")
    first = text.splitlines().index("defaults:") + 1
    path.write_text(text + "defaults: {epochs: 1}\n", encoding="utf-8")  # YAML would keep this one silently
    again = len(text.splitlines()) + 1
    words = (str(path), "config key defaults is given twice", f"lines {first} and {again}")
    assert_refused(cli("check-config", path), *words)
    assert_dry_run_refused(snakemake(tmp_path, "-n", check=False), *words)
    assert not (tmp_path / "results").exists()


@WORKFLOW
def test_a_key_given_twice_in_an_added_config_file_stops_the_dry_run(tmp_path, archive):
    write_config(tmp_path, small_config(archive))
    (tmp_path / "more.yaml").write_text("defaults:\n  eta: 0.1\n  eta: 0.2\n", encoding="utf-8")
    proc = subprocess.run(
        [*_snakemake_cmd(tmp_path), "--configfile", str(tmp_path / "config.yaml"), str(tmp_path / "more.yaml"), "-n"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_dry_run_refused(proc, str(tmp_path / "more.yaml"), "config key defaults.eta is given twice (lines 2 and 3)")


@pytest.mark.parametrize("text", ["", "run: null\n", "# a comment only\n", "defaults: {epochs: 2}\n"])
def test_a_config_without_experiment_sets_is_one_line_in_check_config(tmp_path, text):
    (tmp_path / "x.yaml").write_text(text, encoding="utf-8")
    assert_refused(cli("check-config", tmp_path / "x.yaml"), "config key experiments: missing")


# ---- issue 25: JSON outputs strictly valid; intervals labelled with their real level ----------------


@pytest.mark.parametrize("value", [float("nan"), float("inf"), np.float32("nan"), [1.0, {"x": -np.inf}]])
def test_json_writers_refuse_nan_and_infinity_naming_the_file(tmp_path, value):
    out = tmp_path / "x.json"
    with pytest.raises(DataError) as err:
        io.write_json(out, {"a": value})
    assert str(err.value).startswith(f"{out}: not written") and "NaN or infinity" in str(err.value)
    assert_no_output(out)
    io.write_json(out, io.finite_or_none({"a": value, "b": np.float64(0.5)}))  # what a writer means: null
    text = out.read_text(encoding="utf-8")
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in {text}"))["b"] == 0.5
    assert "NaN" not in text and "Infinity" not in text


def _fake_metrics(name: str, seed: int, acc: float) -> dict:
    return {
        "variant": name,
        "config": {"seed": seed, "lambda": 0.1 if name == "b" else 0.0},
        "class_names": ["cat", "dog"],
        "per_class_acc": {"cat": acc, "dog": acc / 2},
        "confusion": [[5, 5], [5, 5]],
        "test_acc": acc,
        "selected_val_acc": acc,
        "best_val_acc": acc,
        "weight_norm2": 1.0 + acc,
    }


@pytest.mark.parametrize("kind", ["per_class", "vs_lambda"])
@pytest.mark.parametrize("confidence", [0.5, 0.99])
def test_comparison_figures_print_the_level_their_intervals_have(kind, confidence):
    from cifarflow.report.compare import COMPARISONS

    metrics = {n: [_fake_metrics(n, s, 0.4 + 0.01 * s + (0.1 if n == "b" else 0)) for s in range(3)] for n in "ab"}
    fig = COMPARISONS[kind]({"confidence": confidence}, ["a", "b"], {}, metrics)
    texts = [fig._suptitle.get_text() if fig._suptitle else ""] + [ax.get_title() for ax in fig.axes]
    level = f"{100 * confidence:g}% t interval"
    assert any(level in t for t in texts), texts
    assert not any("95%" in t for t in texts), texts


@pytest.mark.parametrize("caption", ["summary_table", "comparison", "seeds", "workflow"])
def test_report_captions_print_the_configured_level(caption):
    """The report's captions are Jinja templates Snakemake renders with the config."""
    import jinja2

    from workflow_utils import REPO

    text = (REPO / "workflow" / "report" / f"{caption}.rst").read_text(encoding="utf-8")
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)  # as snakemake.report renders captions
    for config, level in (({"statistics": {"confidence": 0.5}}, "50%"), ({}, "95%"), ({"statistics": None}, "95%")):
        snake = type("Snakemake", (), {"config": config, "wildcards": {"comparison": "c", "set": "s"}})
        out = env.from_string(text).render(snakemake=snake)
        assert f"{level} Student t" in out or f"{level} t" in out, out
        assert ("95%" in out) == (level == "95%"), out


# ---- issue 25: every text file read and written as UTF-8, whatever the locale -----------------------

# Text I/O without an explicit encoding that is known to be fine (none at present).
ENCODING_LEFT: set = set()


def test_every_text_file_is_opened_with_an_explicit_encoding():
    """A locale's codec (LC_ALL=C without Python's locale coercion: ASCII) never reads "±" or a
    class name: every builtin open() in text mode and every Path.read_text/write_text passes one
    (`cifarflow.io.write_text`, a function of two arguments, writes UTF-8 itself)."""
    import ast

    def text_io_without_encoding(node) -> bool:
        if not isinstance(node, ast.Call) or any(k.arg == "encoding" for k in node.keywords):
            return False
        fn = node.func
        if isinstance(fn, ast.Name) and fn.id == "open":
            mode = (
                node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
            )
            return not (isinstance(mode, ast.Constant) and "b" in str(mode.value))
        return isinstance(fn, ast.Attribute) and fn.attr in ("read_text", "write_text")

    root = Path(io.__file__).parent
    found = [
        (f.relative_to(root).as_posix(), ast.unparse(node))
        for f in sorted(root.rglob("*.py"))
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8")))
        if text_io_without_encoding(node)
    ]
    assert [x for x in found if x not in ENCODING_LEFT] == []


C_LOCALE = {**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}


def test_the_c_locale_without_coercion_reads_ascii_only():
    """The environment the tests below use: Python's locale codec is ASCII there."""
    proc = subprocess.run(
        [sys.executable, "-c", "import locale, sys; print(locale.getpreferredencoding(False), sys.flags.utf8_mode)"],
        capture_output=True,
        text=True,
        env=C_LOCALE,
    )
    assert proc.stdout.split() == ["ANSI_X3.4-1968", "0"], proc.stdout


def test_summary_and_tables_commands_run_in_the_c_locale(tmp_path):
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "summary.md").write_text("| variant | acc |\n|---|---|\n| a | 42.31 ± 0.12 (n=3) |\n", encoding="utf-8")
    (tables / "answers.md").write_text("- **q**: ja – 50% CI ±\n", encoding="utf-8")
    search = tmp_path / "search"
    search.mkdir()
    (search / "summary.md").write_text("# Searches\n\n## Search s / x\n\nval ± 0.1 — ünïcode\n", encoding="utf-8")
    out = tmp_path / "summary.md"
    cmd = [sys.executable, "-m", "cifarflow", "summary-md", "--summary", str(tables / "summary.md")]
    cmd += ["--search", str(search / "summary.md"), "--answers", str(tables / "answers.md"), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=C_LOCALE, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text(encoding="utf-8")
    assert "42.31 ± 0.12" in text and "ünïcode" in text and "ja – 50%" in text


# ---- issue 25: after round 1, through the real Snakemake ---------------------------------------------


@pytest.fixture(scope="module")
def searched(tmp_path_factory, archive) -> Path:
    """A finished workflow: one variant and a one-round search with ONE final seed, at
    statistics.confidence 0.5 (tests copy it before they damage anything)."""
    wd = tmp_path_factory.mktemp("searched")
    cfg = _search_config(archive)
    cfg["defaults"] = {"epochs": 1, "batch_size": 50, "eval_train": 100}
    cfg["statistics"] = {"confidence": 0.5}
    cfg["experiments"]["srch"]["variants"] = [{"name": "v", "model": "softmax"}]
    write_config(wd, cfg)
    snakemake(wd, "--cores", "2")
    return wd


def _copy(wd: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(wd, tmp_path / "wd", symlinks=True))


@WORKFLOW
def test_a_one_seed_search_writes_strict_json_with_null_intervals(searched):
    path = searched / "results" / "search" / "srch" / "s" / "chosen.json"
    text = path.read_text(encoding="utf-8")
    chosen = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in {path}"))
    final = chosen["final"]
    assert final["n"] == 1 and final["test_acc_mean"] == final["test_acc"][0]
    assert final["test_acc_half"] is None and final["test_acc_lo"] is None and final["test_acc_hi"] is None
    for record in (searched / "results" / "search" / "srch" / "s").glob("round*.json"):
        json.loads(record.read_text(encoding="utf-8"), parse_constant=lambda c, f=record: pytest.fail(f"{c} in {f}"))


DAMAGED_RECORDS = {  # case: (what is done to the record, words of the error)
    "truncated": (lambda text: text[: len(text) // 2], "not JSON"),
    "emptied": (lambda text: "", "not JSON"),
    "score-removed": (lambda text: text.replace('"val_acc"', '"val_accuracy"', 1), "has no val_acc"),
    "trial-renamed": (lambda text: text.replace("srch-s-r1-t1", "srch-s-r1-t7"), "no score for trial"),
    "a-list": (lambda text: "[]", "no list of trials"),
}


@WORKFLOW
@pytest.mark.parametrize("case", list(DAMAGED_RECORDS))
def test_a_damaged_round_record_stops_the_workflow_in_one_line_naming_it(searched, tmp_path, case):
    """The record is read while Snakemake builds the DAG: before, an InputFunctionException with a
    JSONDecodeError or KeyError traceback that never named the file."""
    damage, words = DAMAGED_RECORDS[case]
    wd = _copy(searched, tmp_path)
    (record,) = (wd / "results" / "search" / "srch" / "s").glob("round1-*.json")
    record.write_text(damage(record.read_text(encoding="utf-8")), encoding="utf-8")
    rel = str(record.relative_to(wd))
    assert_dry_run_refused(snakemake(wd, "-n", check=False), rel, words, "delete it")
    if case == "truncated":  # a real run stops as the dry run does; the remedy the message gives works
        assert_dry_run_refused(snakemake(wd, "--cores", "1", check=False), rel, words)
        record.unlink()
        jobs = scheduled_jobs(snakemake(wd, "-n"))
        assert jobs.get("search_round") == 1 and "search_train" not in jobs  # scored again, nothing retrained


GARBAGE_BENCHMARKS = {  # case: (the file's bytes, words of the error)
    "random-bytes": (bytes(range(256)) * 4, "not a Snakemake benchmark TSV"),
    "text-without-seconds": (b"hello world\n", "no 's' column"),
    "seconds-not-numbers": (b"s\th:m:s\tmax_rss\nabc\tx\t1\n", "no 's' column"),
    "empty": (b"", "not a Snakemake benchmark TSV"),
    "two-megabytes": (b"s\n" + b"1\n" * 1_000_000, "bytes"),
}


@pytest.mark.parametrize("case", [*GARBAGE_BENCHMARKS, "a-folder"])
def test_a_garbage_benchmark_file_is_one_line_naming_it(tmp_path, case):
    bench = tmp_path / "benchmarks" / "train" / "v" / "seed0.tsv"
    bench.parent.mkdir(parents=True)
    good = bench.with_name("seed1.tsv")
    good.write_text("s\th:m:s\tmax_rss\tcpu_time\tmean_load\n1.5\t0:00:01\t90.2\t1.4\t93.3\n", encoding="utf-8")
    if case == "a-folder":
        bench.mkdir()
        words = "not a regular file"
    else:
        content, words = GARBAGE_BENCHMARKS[case]
        bench.write_bytes(content)
    out = tmp_path / "results" / "tables" / "benchmarks"
    proc = cli("benchmarks", "--files", good, bench, "--out", out)
    assert_refused(proc, bench, words, absent=[out.with_suffix(".csv"), out.with_suffix(".md")])
    assert cli("benchmarks", "--files", good, "--out", out).returncode == 0


@WORKFLOW
@pytest.mark.parametrize("case", ["random-bytes", "text-without-seconds"])
def test_a_garbage_benchmark_file_fails_its_table_job_in_one_line_naming_it(searched, tmp_path, case):
    content, words = GARBAGE_BENCHMARKS[case]
    wd = _copy(searched, tmp_path)
    bench = wd / "benchmarks" / "train" / "v" / "seed0.tsv"
    bench.write_bytes(content)
    proc = snakemake(wd, "--cores", "1", "results/tables/benchmarks.csv", check=False)
    log = wd / "logs" / "report" / "benchmarks.log"
    assert proc.returncode != 0 and "benchmark_table" in proc.stdout + proc.stderr
    line = assert_one_error_line(log.read_text(encoding="utf-8"), "benchmarks/train/v/seed0.tsv", words)
    assert "Traceback" not in log.read_text(encoding="utf-8"), line
    assert "train" not in scheduled_jobs(snakemake(wd, "-n", "results/runs/v/seed0/metrics.json"))


def assert_one_error_line(text: str, *names) -> str:
    lines = [line for line in text.splitlines() if line.startswith(ERROR)]
    assert len(lines) == 1, text[-3000:]
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


@WORKFLOW
def test_the_summary_and_tables_jobs_run_in_the_c_locale(searched, tmp_path):
    """Before, summary_md read the tables' Markdown ("±") with the locale's codec: a
    UnicodeDecodeError traceback under LC_ALL=C without Python's locale coercion."""
    wd = _copy(searched, tmp_path)
    cmd = [*_snakemake_cmd(wd), "--configfile", str(wd / "config.yaml"), "--cores", "1"]
    cmd += ["--forcerun", "all_tables", "summary_md", "--", "results/summary.md"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=C_LOCALE, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    text = (wd / "results" / "summary.md").read_text(encoding="utf-8")
    assert "±" in text and "50% Student t" in text


@WORKFLOW
def test_the_report_prints_the_configured_level(searched, tmp_path):
    wd = _copy(searched, tmp_path)
    snakemake(wd, "--report", "results/report.html")
    text = (wd / "results" / "report.html").read_text(encoding="utf-8", errors="replace")
    assert "that 50% t interval" in text and "that 95% t interval" not in text  # the summary table's caption
