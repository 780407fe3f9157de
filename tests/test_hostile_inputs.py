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
        io.cached_file_sha256(source, tmp_path / "cache.json")
    with pytest.raises(DataError, match="not a regular file or a directory"):
        io.file_sha256(source)


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
    before = io.cached_file_sha256(tmp_path / "d", cache)
    assert before == io.file_sha256(tmp_path / "d")
    img = tmp_path / "d" / "test" / "dog" / "0000.png"
    st_dir = os.stat(img.parent)
    img.write_bytes(encode_image(make_images([5], seed=9)[0]))  # same name, other pixels
    os.utime(img.parent, ns=(st_dir.st_atime_ns, st_dir.st_mtime_ns))  # the folder looks untouched
    after = io.cached_file_sha256(tmp_path / "d", cache)
    assert after != before and after == io.file_sha256(tmp_path / "d")
    assert io.cached_file_sha256(tmp_path / "d", cache) == after  # from the cache now


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
