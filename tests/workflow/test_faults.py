"""The fault suite: every way the pipeline can be fed bad data, a bad config or an interruption.

Each case ends in one of two ways only: one `cifarflow: error:` line naming the cause and the
file or config key, with no output left at the target path; or a correct recovery, with results
bit-identical to an undisturbed run. Nothing found in data is ever executed.

Cases go through what users run: `python -m cifarflow <command>` (as the rules call it) and the
real Snakemake. One generated archive serves the whole module; the Snakemake runs share one
reference run. Run the suite alone with `python -m pytest -m faults`.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from cifarflow import CIFAR10_CLASSES
from cifarflow.config import default_settings, plan_id

from archives import (
    FileServer,
    add_members,
    closed_port_url,
    encode_image,
    make_folder_archive,
    make_images,
    make_python_archive,
)
from workflow_utils import (
    REPO,
    SNAKEMAKE,
    checkpoint_epoch,
    params_digest,
    run_fingerprint,
    scheduled_jobs,
    small_config,
    snakemake,
    stable_history,
    stable_metrics,
    stop_at_checkpoint_env,
    stopped_training_job,
    write_config,
)

pytestmark = pytest.mark.faults
WORKFLOW = pytest.mark.workflow  # runs the real Snakemake (directly or through the reference run)

ERROR = "cifarflow: error: "
V0, V1_NAME = "experiments.faults.variants[0]", "experiments.faults.variants[1].name"
SLOW = {"name": "slow", "model": "mlp", "hidden": [256], "epochs": 20, "momentum": 0.9, "eta": 0.005}
VARIANTS = [
    {"name": "soft", "model": "softmax", "augmentation": "fliptrans"},
    {"name": "boom", "model": "softmax", "eta": 1.0e37},  # diverges in its first epoch
    SLOW,
    {"name": "lg", "model": "softmax", "grid": {"lambda": [0, 0.1]}},
]
NAMES = ["soft", "boom", "slow", "lg-lambda0", "lg-lambda0.1"]
RUNS = [f"results/runs/{name}/seed0/metrics.json" for name in NAMES]  # the train rule writes all four files
SPLIT = "results/data/split_full.h5"
NO_PROXY = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}


def fault_config(archive: Path, variants=VARIANTS, **extra) -> dict:
    """test_workflow's small config (splits, augmentations, 3-epoch defaults) with our variants."""
    cfg = small_config(archive, **extra)
    cfg["experiments"] = {"faults": {"variants": [dict(v) for v in variants]}}
    return cfg


def workdir(base: Path, archive: Path, variants=VARIANTS, **extra) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    write_config(base, fault_config(archive, variants, **extra))
    return base


# ---- checks ------------------------------------------------------------------------------------


def cli(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    """`python -m cifarflow <args>`, the way the rules call it."""
    cmd = [sys.executable, "-m", "cifarflow", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def one_error_line(text: str, *names: str) -> str:
    """The single `cifarflow: error:` line of `text`, which must name each of `names`."""
    lines = [line for line in text.splitlines() if line.startswith(ERROR)]
    assert len(lines) == 1, f"expected exactly one error line:\n{text}"
    assert "Traceback" not in text, text
    for name in names:
        assert str(name) in lines[0], f"{name!r} is not named in: {lines[0]}"
    return lines[0]


def assert_refused(proc, *names, absent=()) -> str:
    """Non-zero exit, stderr is exactly one error line naming `names`, no file at `absent`."""
    assert proc.returncode != 0, proc.stdout
    line = one_error_line(proc.stderr, *names)
    assert proc.stderr.strip() == line, proc.stderr
    for path in absent:
        assert_no_output(Path(path))
    return line


def assert_no_output(path: Path) -> None:
    """Neither the file nor a temporary or partial file beside it."""
    assert not path.exists(), f"{path} was left behind"
    if path.parent.is_dir():
        hidden = [p.name for p in path.parent.iterdir() if p.name.startswith(".")]
        assert hidden == [], f"temporary files left in {path.parent}: {hidden}"


def assert_job_failed(proc, log: Path, *names, outputs=()) -> str:
    """A Snakemake run whose job failed: the job's log has the one error line, outputs are gone."""
    assert proc.returncode != 0, proc.stdout[-2000:]
    line = one_error_line(log.read_text(), *names)
    for path in outputs:
        assert_no_output(Path(path))
    return line


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_metrics(wd: Path, name: str) -> dict:
    return json.loads((wd / "results" / "runs" / name / "seed0" / "metrics.json").read_text())


# ---- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ref(tmp_path_factory, archive) -> Path:
    """The undisturbed reference: every variant trained with --cores 2."""
    wd = workdir(tmp_path_factory.mktemp("ref"), archive)
    snakemake(wd, "--cores", "2", *RUNS)
    return wd


# ---- data: the download ------------------------------------------------------------------------


def download(url: str, md5: str, out: Path):
    return cli(
        "download",
        "--url",
        url,
        "--md5",
        md5,
        "--out",
        out,
        "--retries",
        "0",
        "--backoff",
        "0",
        "--timeout",
        "5",
        env=NO_PROXY,
    )


@pytest.mark.parametrize(
    "mode, cause",
    [
        ("wrong_body", "md5 mismatch"),
        ("truncated", "the transfer is truncated"),
        ("html", "HTML page instead of the archive"),
    ],
    ids=["md5-mismatch", "truncated-download", "html-error-page"],
)
def test_bad_download_fails_with_one_line_and_leaves_no_file(archive, tmp_path, mode, cause):
    data = archive.read_bytes()
    out = tmp_path / "resources" / "cifar-10-python.tar.gz"
    with FileServer(data, mode) as server:
        proc = download(server.url, hashlib.md5(data).hexdigest(), out)
    assert_refused(proc, cause, server.url, absent=[out])


@pytest.mark.parametrize("where", ["connection-refused", "dns-failure"])
def test_unreachable_network_names_the_local_archive_key(tmp_path, where):
    url = closed_port_url() if where == "connection-refused" else "http://cifar10.invalid/cifar-10-python.tar.gz"
    out = tmp_path / "resources" / "cifar-10-python.tar.gz"
    proc = download(url, "c58f30108f718f92721af3b95e74349a", out)
    assert_refused(proc, "the network is unreachable", url, "config key local_archive", absent=[out])


# ---- data: archives ----------------------------------------------------------------------------


def import_source(source: Path, out: Path, cwd=None):
    """The import rule's call (its `threads: 2`: two decoding processes), with the schema's default `source_classes`."""
    return cli(
        "--threads",
        "2",
        "import",
        "--source",
        source,
        "--classes",
        json.dumps(list(CIFAR10_CLASSES)),
        "--out",
        out,
        cwd=cwd,
    )


def test_archive_missing_a_batch_is_named(tmp_path):
    make_python_archive(tmp_path / "a.tar.gz", n_per_batch=2, n_test=2, omit=("data_batch_3",))
    out = tmp_path / "results" / "data" / "cifar10.h5"
    assert_refused(import_source(tmp_path / "a.tar.gz", out), "a.tar.gz", "data_batch_3", "missing", absent=[out])


def test_path_traversal_member_is_refused_and_nothing_is_written(tmp_path):
    work = tmp_path / "work" / "dir"
    work.mkdir(parents=True)
    png = encode_image(make_images([0])[0])
    add_members(work / "x.tar.gz", {"train/cat/0000.png": png, "test/cat/0000.png": png, "../../evil.txt": b"gotcha"})
    out = work / "cifar10.h5"
    proc = import_source(work / "x.tar.gz", out, cwd=work)
    assert_refused(proc, "x.tar.gz", "../../evil.txt", "path traversal", absent=[out])
    assert [p.name for p in tmp_path.rglob("evil.txt")] == []


class _Payload:
    """Pickles as a call of os.system: loading it with plain pickle runs the shell command."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_pickle_payload_is_refused_and_never_executed(tmp_path):
    marker, control = tmp_path / "pwned", tmp_path / "control"
    pickle.loads(pickle.dumps(_Payload(f"touch {control}"), protocol=2))
    assert control.exists(), "the payload must be live for this test to mean anything"
    batch = pickle.dumps({b"data": _Payload(f"touch {marker}"), b"labels": [0]}, protocol=2)
    make_python_archive(tmp_path / "a.tar.gz", n_per_batch=2, n_test=2, replace={"data_batch_2": batch})
    out = tmp_path / "cifar10.h5"
    assert_refused(import_source(tmp_path / "a.tar.gz", out), "data_batch_2", "system", "refusing", absent=[out])
    assert not marker.exists()


JPEG = encode_image(make_images([0])[0], "jpg")
FOLDER_FAULTS = {  # case: (members added, members left out, what the error names, the cause)
    "corrupt-jpeg": ({"train/ship/0001.jpg": JPEG[:300]}, (), "train/ship/0001.jpg", "corrupt image"),
    "non-image-file": ({"train/cat/notes.txt": b"hello"}, (), "train/cat/notes.txt", "is not an image"),
    "wrong-size-image": (
        {"test/frog/0000.jpg": encode_image(np.zeros((40, 32, 3), np.uint8), "jpg")},
        (),
        "test/frog/0000.jpg",
        "32x40 pixels",
    ),
    "missing-class-folder": ({}, ("train/truck/0000.jpg", "train/truck/0001.jpg"), "train/truck", "is missing"),
    "extra-class-folder": ({"train/unicorn/0000.jpg": JPEG}, (), "train/unicorn", "unexpected class folder"),
}


@pytest.mark.parametrize("case", list(FOLDER_FAULTS))
def test_bad_class_folder_archive_is_named(tmp_path, case):
    extra, omit, member, cause = FOLDER_FAULTS[case]
    source = tmp_path / "cifar-10-jpeg.tar.gz"
    make_folder_archive(source, n_train_per_class=2, n_test_per_class=1, fmt="jpg", extra=extra, omit=omit)
    out = tmp_path / "results" / "data" / "cifar10.h5"
    assert_refused(import_source(source, out), source, member, cause, absent=[out])


# ---- data: HDF5 inputs -------------------------------------------------------------------------


def _truncated(src: Path, dest: Path) -> Path:
    data = src.read_bytes()
    dest.write_bytes(data[: len(data) // 2])
    return dest


def _foreign_plan(path: Path) -> Path:
    """An HDF5 file with a plan's datasets but not written by cifarflow (no spec)."""
    with h5py.File(path, "w") as f:
        f["order"] = np.tile(np.arange(900, dtype=np.int32), (3, 1))
        f["flip"] = np.zeros((3, 900), bool)
        f["shift"] = np.zeros((3, 900, 2), np.int8)
    return path


@WORKFLOW
@pytest.mark.parametrize(
    "case", ["truncated-split", "plan-as-split", "split-as-plan", "truncated-plan", "foreign-plan"]
)
def test_wrong_hdf5_given_to_train_is_named(ref, tmp_path, case):
    split, plan = ref / SPLIT, ref / "results" / "plans" / "full_none_seed0_ep3.h5"
    split_arg, plan_arg, *cause = {
        "truncated-split": lambda: (
            _truncated(split, tmp_path / "split.h5"),
            plan,
            "split file is truncated or corrupt",
        ),
        "plan-as-split": lambda: (plan, plan, "not a cifarflow split file", "it looks like an epoch plan"),
        "split-as-plan": lambda: (split, split, "not an epoch plan"),
        "truncated-plan": lambda: (split, _truncated(plan, tmp_path / "plan.h5"), "not a readable HDF5 epoch plan"),
        "foreign-plan": lambda: (split, _foreign_plan(tmp_path / "plan.h5"), "not an epoch plan", "spec"),
    }[case]()
    variant = run_metrics(ref, "lg-lambda0")["config"]
    outdir = tmp_path / "results" / "runs" / "lg-lambda0" / "seed0"
    proc = cli(
        "--threads",
        "1",
        "train",
        "--split",
        split_arg,
        "--plan",
        plan_arg,
        "--variant",
        json.dumps(variant),
        "--outdir",
        outdir,
    )
    assert_refused(proc, split_arg if case.endswith("split") else plan_arg, *cause)
    assert not outdir.exists() or list(outdir.iterdir()) == []


@WORKFLOW
def test_corrupt_checkpoint_is_ignored_and_training_starts_over(ref, tmp_path):
    outdir = tmp_path / "results" / "runs" / "lg-lambda0" / "seed0"
    outdir.mkdir(parents=True)
    (outdir / "checkpoint.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(500))  # an HDF5 signature, then nothing
    proc = train_like_the_rule(ref, "lg-lambda0", outdir)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "resumed" not in out, err
    assert run_fingerprint(tmp_path, "lg-lambda0") == run_fingerprint(ref, "lg-lambda0")
    assert not (outdir / "checkpoint.h5").exists()


@WORKFLOW
def test_garbage_raw_hdf5_before_the_split_rule_is_named(archive, tmp_path):
    wd = workdir(tmp_path, archive, variants=VARIANTS[:1])
    snakemake(wd, "--cores", "1", "results/data/cifar10.h5")
    (wd / "results" / "data" / "cifar10.h5").write_bytes(b"<html>garbage</html>\n" * 200)
    proc = snakemake(wd, "--cores", "1", SPLIT, check=False)
    log = wd / "logs" / "data" / "split_full.log"
    assert_job_failed(proc, log, "results/data/cifar10.h5", "not an HDF5 file", outputs=[wd / SPLIT])


# ---- config: refused by `snakemake -n` before any job ------------------------------------------


def _patch(**settings):
    return lambda variants: [{**variants[0], **settings}]


CONFIG_FAULTS = {
    "unknown-key": (_patch(learning_rate=0.1), V0, "'learning_rate' was unexpected"),
    "unknown-model": (_patch(model="svm"), f"{V0}.model", "'svm'"),
    "unknown-loss": (_patch(loss="hinge"), f"{V0}.loss", "'hinge'"),
    "unknown-augmentation": (_patch(augmentation="rotate"), f"{V0}.augmentation", "unknown augmentation 'rotate'"),
    "unknown-split": (_patch(split="tiny"), f"{V0}.split", "unknown split 'tiny'"),
    "negative-learning-rate": (_patch(eta=-0.1), f"{V0}.eta", "-0.1"),
    "zero-learning-rate": (_patch(eta=0), f"{V0}.eta", "0 is less than or equal to the minimum of 0"),
    "zero-epochs": (_patch(epochs=0), f"{V0}.epochs", "0 is less than the minimum of 1"),
    "negative-lambda": (_patch(**{"lambda": -1}), f"{V0}.lambda", "-1 is less than the minimum of 0"),
    "duplicate-variant-name": (lambda v: [v[0], {"name": "soft", "eta": 0.1}], V1_NAME, "second variant named 'soft'"),
    "grid-name-clash": (
        lambda v: [{"name": "lg-lambda0"}, {"name": "lg", "grid": {"lambda": [0, 0.1]}}],
        V1_NAME,
        "a grid that expands to 'lg-lambda0'",
    ),
}


@WORKFLOW
@pytest.mark.parametrize("case", list(CONFIG_FAULTS))
def test_bad_config_fails_the_dry_run_naming_the_key(archive, tmp_path, case):
    patch, key, cause = CONFIG_FAULTS[case]
    wd = workdir(tmp_path, archive, variants=patch(VARIANTS[:1]))
    proc = snakemake(wd, "-n", check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    lines = [line for line in text.splitlines() if "config key" in line]
    assert len(lines) == 1 and "Traceback (most recent call last)" not in text, text
    assert f"config key {key}" in lines[0] and cause in lines[0], lines[0]
    assert scheduled_jobs(proc) == {} and not (wd / "results").exists() and not (wd / "logs").exists()


@WORKFLOW
def test_batch_size_larger_than_the_split_fails_the_training_job_naming_the_variant(ref, archive):
    """Only known at training time (the split's size): the job fails, the other results stay."""
    write_config(ref, fault_config(archive, [{"name": "big", "batch_size": 5000}]), "bigbatch.yaml")
    proc = snakemake(ref, "--cores", "1", "results/runs/big/seed0/metrics.json", config="bigbatch.yaml", check=False)
    outputs = [
        ref / "results" / "runs" / "big" / "seed0" / f
        for f in ("weights.h5", "history.csv", "metrics.json", "predictions.h5")
    ]
    log = ref / "logs" / "train" / "big" / "seed0.log"
    assert_job_failed(proc, log, "variant big", "batch_size 5000", "900 training images", outputs=outputs)


# ---- runs: divergence, kills, interruptions, concurrent readers --------------------------------


@WORKFLOW
def test_diverging_variant_is_recorded_and_the_report_still_builds(ref):
    m = run_metrics(ref, "boom")
    assert m["diverged"] is True and m["diverged_epoch"] == 1
    with h5py.File(ref / "results" / "runs" / "boom" / "seed0" / "weights.h5", "r") as f:
        assert all(np.isfinite(f["params"][k][()]).all() for k in f["params"])  # the last finite epoch's
    snakemake(ref, "--cores", "2")
    snakemake(ref, "--report", "results/report.html")
    assert "boom" in (ref / "results" / "tables" / "summary.csv").read_text()
    assert "boom" in (ref / "results" / "report.html").read_text(errors="replace")


def start_snakemake(wd: Path, *args: str, stop: tuple[str, int]) -> subprocess.Popen:
    """Snakemake in the background whose training job of variant stop[0] stops itself (SIGSTOP)
    with the checkpoint of stop[1] epochs on disk (`workflow_utils.stop_at_checkpoint_env`)."""
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(wd), "--configfile", str(wd / "config.yaml"), *args]
    return subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=stop_at_checkpoint_env(*stop),
        # as from a terminal: a suite started in the background (`nohup ... &`) ignores SIGINT, and
        # Snakemake and its jobs would inherit that and never see the Ctrl-C these tests send
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(proc: subprocess.Popen, variant: str, kill) -> int:
    """Once `variant`'s job has stopped itself at its checkpoint, call kill(proc, job); the run's
    exit status. No timing: the job is stopped when it is interrupted, on any machine."""
    try:
        kill(proc, stopped_training_job(proc, variant))
        return proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def sigkill_job(proc: subprocess.Popen, job: int) -> None:
    os.kill(job, signal.SIGKILL)


def ctrl_c(proc: subprocess.Popen, job: int) -> None:
    """Ctrl-C: SIGINT to the whole foreground group (Snakemake and its jobs). The job is stopped
    before its next checkpoint, so it is certainly still training; the SIGINT stays pending in it
    and arrives when it is continued."""
    try:
        os.killpg(proc.pid, signal.SIGINT)
    finally:
        os.kill(job, signal.SIGCONT)


@pytest.fixture(scope="module")
def job_killed(tmp_path_factory, archive):
    """`slow`'s training job SIGKILLed after its third epoch, then `snakemake --rerun-incomplete`."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("finding the job's process needs /proc")
    wd = workdir(tmp_path_factory.mktemp("job_killed"), archive, variants=[SLOW])
    target = "results/runs/slow/seed0/metrics.json"
    status = interrupt(start_snakemake(wd, "--cores", "1", target, stop=("slow", 3)), "slow", sigkill_job)
    left = sorted(p.name for p in (wd / "results" / "runs" / "slow" / "seed0").iterdir() if not p.name.startswith("."))
    epoch = checkpoint_epoch(wd / "results" / "runs" / "slow" / "seed0" / "checkpoint.h5")
    snakemake(wd, "--cores", "1", "--rerun-incomplete", target)
    return wd, status, left, epoch


@WORKFLOW
def test_training_job_killed_with_sigkill_resumes_from_its_checkpoint(job_killed):
    wd, status, left, epoch = job_killed
    assert status != 0
    assert left == ["checkpoint.h5"]  # no output of the killed job, only its checkpoint
    assert epoch == 3  # the job was killed exactly where it stopped itself
    assert "resumed from the checkpoint of epoch 3" in (wd / "logs" / "train" / "slow" / "seed0.log").read_text()
    assert "resumed from the checkpoint of epoch" in (wd / "logs" / "train" / "slow" / "seed0.log").read_text()
    assert run_metrics(wd, "slow")["timing"]["resumed_from_epoch"] >= 3
    assert not (wd / "results" / "runs" / "slow" / "seed0" / "checkpoint.h5").exists()


@WORKFLOW
def test_resumed_training_is_bit_identical_to_an_uninterrupted_one(job_killed, ref):
    assert run_fingerprint(job_killed[0], "slow") == run_fingerprint(ref, "slow")


@WORKFLOW
def test_workflow_interrupted_with_sigint_finishes_with_the_same_results(tmp_path, archive, ref):
    wd = workdir(tmp_path, archive)
    # Ctrl-C: the terminal sends SIGINT to Snakemake and its jobs (the whole foreground group).
    status = interrupt(start_snakemake(wd, "--cores", "2", *RUNS, stop=("slow", 3)), "slow", ctrl_c)
    assert status != 0
    assert not (wd / "results" / "runs" / "slow" / "seed0" / "weights.h5").exists()
    snakemake(wd, "--cores", "2", "--rerun-incomplete", *RUNS)
    assert "resumed from the checkpoint of epoch" in (wd / "logs" / "train" / "slow" / "seed0.log").read_text()
    for name in NAMES:
        assert run_fingerprint(wd, name) == run_fingerprint(ref, name), name


def train_like_the_rule(ref: Path, name: str, outdir: Path, plan: Path | None = None, env=None) -> subprocess.Popen:
    """`python -m cifarflow train` of the reference run's variant `name`, as the train rule calls it."""
    m = run_metrics(ref, name)
    plan = plan or ref / "results" / "plans" / f"{plan_id(m['plan'])}.h5"
    cmd = [
        sys.executable,
        "-m",
        "cifarflow",
        "--threads",
        "1",
        "train",
        "--split",
        str(ref / SPLIT),
        "--plan",
        str(plan),
        "--variant",
        json.dumps(m["config"]),
        "--outdir",
        str(outdir),
    ]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@WORKFLOW
def test_four_training_jobs_read_the_same_hdf5_at_once(ref, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HDF5_USE_FILE_LOCKING"}  # HDF5's default locking
    names = ["soft", "boom", "lg-lambda0", "lg-lambda0.1"]
    with h5py.File(ref / SPLIT, "r"):  # a fifth reader holds the file open all along
        procs = {n: train_like_the_rule(ref, n, tmp_path / "results" / "runs" / n / "seed0", env=env) for n in names}
        outs = {n: p.communicate(timeout=300) for n, p in procs.items()}
    for name in names:
        assert procs[name].returncode == 0 and outs[name][1] == "", outs[name][1]
        assert run_fingerprint(tmp_path, name) == run_fingerprint(ref, name), name


# ---- reproducibility ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_core(tmp_path_factory, archive) -> Path:
    """The reference config run a second time, with --cores 1."""
    wd = workdir(tmp_path_factory.mktemp("one_core"), archive)
    snakemake(wd, "--cores", "1", *RUNS)
    return wd


@WORKFLOW
def test_same_config_twice_gives_byte_identical_data_and_plans(one_core, ref):
    files = sorted(p.relative_to(ref) for p in (ref / "results").glob("[dp]*/*.h5"))
    assert len(files) >= 4  # cifar10.h5, a split, three plans
    for rel in files:
        assert sha256(one_core / rel) == sha256(ref / rel), rel


@WORKFLOW
def test_one_core_and_two_cores_give_bit_identical_weights_and_metrics(one_core, ref):
    for name in NAMES:
        assert run_fingerprint(one_core, name) == run_fingerprint(ref, name), name


@WORKFLOW
def test_materialised_plan_gives_the_weights_of_the_replayed_plan(ref, tmp_path):
    spec = dict(run_metrics(ref, "soft")["plan"], materialize=True)
    plan = tmp_path / "materialised.h5"
    assert cli("plan", "--split", ref / SPLIT, "--spec", json.dumps(spec), "--out", plan).returncode == 0
    with h5py.File(plan, "r") as f:
        assert f["images"].shape[:2] == (3, 900)
    proc = train_like_the_rule(ref, "soft", tmp_path / "results" / "runs" / "soft" / "seed0", plan=plan)
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 0, err
    run, base = tmp_path / "results" / "runs" / "soft" / "seed0", ref / "results" / "runs" / "soft" / "seed0"
    assert params_digest(run / "weights.h5") == params_digest(base / "weights.h5")
    assert stable_history(run / "history.csv") == stable_history(base / "history.csv")
    got, want = stable_metrics(run / "metrics.json"), stable_metrics(base / "metrics.json")
    assert got.pop("plan")["materialize"] is True and want.pop("plan")["materialize"] is False
    assert got == want


def expected_provenance() -> dict:
    git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    return {
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "git_commit": git.stdout.strip() if git.returncode == 0 else None,
    }


def assert_provenance(record: dict, ref: Path, name: str) -> None:
    """`record` holds the resolved variant, the hash of the HDF5 input, versions and the code version."""
    config = record["config"]
    # every setting, resolved, except those that only place or group jobs (never passed to training)
    assert set(default_settings()) - {"group", "seeds", "replicates"} <= set(config), "not the resolved variant"
    assert (config["name"], config["epochs"], config["batch_size"], config["augmentation"]) == (
        name,
        3,
        50,
        "fliptrans",
    )
    assert record["data_sha256"] == sha256(ref / SPLIT)
    prov = record["provenance"]
    assert {k: prov.get(k) for k in expected_provenance()} == expected_provenance()
    assert prov["python"] and prov["cifarflow"] and "git_dirty" in prov


@WORKFLOW
def test_metrics_record_config_input_hash_versions_and_code(ref):
    assert_provenance(run_metrics(ref, "soft"), ref, "soft")


@WORKFLOW
def test_weights_record_config_input_hash_versions_and_code(ref):
    with h5py.File(ref / "results" / "runs" / "soft" / "seed0" / "weights.h5", "r") as f:
        attrs = dict(f.attrs)
    missing = [k for k in ("config", "data_sha256", "provenance") if k not in attrs]
    assert not missing, f"weights.h5 lacks the attributes {missing}"
    record = {
        "config": json.loads(attrs["config"]),
        "data_sha256": attrs["data_sha256"],
        "provenance": json.loads(attrs["provenance"]),
    }
    assert_provenance(record, ref, "soft")


# ---- results checked before they are used (issue 25) --------------------------------------------
#
# Every reader of finished runs (tables, variant figures, comparisons, paired tables, answers) takes
# a run file only when it is the file its job wrote in that folder (variant and seed recorded in it,
# never a link), bounded in size, with finite numbers, reading only the datasets it needs.

CHECKED_VARIANTS = [
    {"name": "soft", "model": "softmax", "seeds": [0, 1]},
    {"name": "sig", "model": "sigmoid", "eta": 0.05, "seeds": [0, 1]},
]
CHECKED_RUNS = [f"results/runs/{n}/seed{s}" for n in ("soft", "sig") for s in (0, 1)]
CHECKED_MEM_MB = 3000  # an address-space limit for the jobs (Snakemake's own included) of a test


@pytest.fixture(scope="module")
def checked(tmp_path_factory, archive) -> Path:
    """Two variants with two seeds each and every reader of their files: the tables, each variant's
    figures, curves / true-class-probability / templates comparisons, a question's paired table and
    the answers. Tests change a copy (`checked_copy`)."""
    wd = tmp_path_factory.mktemp("checked")
    cfg = fault_config(archive, CHECKED_VARIANTS, statistics={"n_resamples": 199})
    cfg["experiments"]["faults"] |= {
        "comparisons": [
            {"name": "cv", "type": "curves", "variants": ["soft", "sig"]},
            {"name": "tp", "type": "true_class_prob", "variants": ["soft", "sig"]},
            {"name": "tm", "type": "templates", "variants": ["soft", "sig"]},
        ],
        "questions": [{"name": "q-sm", "kind": "softmax_vs_sigmoid", "variants": ["soft", "sig"]}],
    }
    write_config(wd, cfg)
    snakemake(wd, "--cores", "2")
    return wd


def checked_copy(checked: Path, tmp_path: Path) -> Path:
    """A copy of the `checked` work directory, modification times kept (Snakemake finds it up to date)."""
    wd = tmp_path / "wd"
    shutil.copytree(checked, wd, symlinks=True)
    assert scheduled_jobs(snakemake(wd, "-n")) == {}
    return wd


def _address_space(mem_mb: int):
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (mem_mb * 2**20, mem_mb * 2**20))


def snakemake_limited(wd: Path, *args: str, mem_mb: int = CHECKED_MEM_MB) -> subprocess.CompletedProcess:
    """Snakemake (and so every job it starts) under an address-space limit of `mem_mb`."""
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(wd), "--configfile", str(wd / "config.yaml"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, preexec_fn=_address_space(mem_mb))


def failed_job_logs(wd: Path) -> dict[str, str]:
    """Report job log -> its text, for the logs with an error line."""
    logs = {p.name: p.read_text() for p in (wd / "logs" / "report").glob("*.log")}
    return {name: text for name, text in logs.items() if ERROR in text or "Traceback" in text}


@WORKFLOW
def test_seed0_metrics_copied_into_seed1_stops_every_reader_naming_the_file(checked, tmp_path):
    """Seed 0's metrics.json copied over seed 1's gave "seeds 0,0 n 2 std 0" in the summary."""
    wd = checked_copy(checked, tmp_path)
    seed1 = wd / "results" / "runs" / "soft" / "seed1" / "metrics.json"
    shutil.copy(wd / "results" / "runs" / "soft" / "seed0" / "metrics.json", seed1)
    proc = snakemake(wd, "--cores", "2", "--keep-going", check=False)
    assert proc.returncode != 0
    failed = failed_job_logs(wd)
    # the tables, the set's figures (soft's and the comparisons') and its paired tables read it (the
    # answers never ran); a set's figure or paired job stops at its first command that reads it
    readers = {"tables_faults.log", "tables_all.log", "figures_faults.log", "paired_faults.log"}
    assert readers <= set(failed), failed
    for text in failed.values():
        one_error_line(text, "results/runs/soft/seed1/metrics.json", "config.seed is 0", "folder of seed 1")
    assert_no_output(wd / "results" / "tables" / "faults" / "summary.csv")


@WORKFLOW
def test_metrics_linked_to_another_runs_file_is_refused_by_every_reader(checked, tmp_path):
    """A metrics.json replaced by a link to another run's file was used: the summary gained that
    run's variant at its accuracy. (The workflow refuses any link under results/ before a job; the
    jobs' own commands refuse it too, whoever calls them.)"""
    wd = checked_copy(checked, tmp_path)
    link = wd / "results" / "runs" / "soft" / "seed1" / "metrics.json"
    link.unlink()
    link.symlink_to(wd / "results" / "runs" / "sig" / "seed1" / "metrics.json")
    metrics = [f"{r}/metrics.json" for r in CHECKED_RUNS]
    out = wd / "tables"
    stats = json.dumps({"confidence": 0.95})
    assert_refused(
        cli("tables", "--metrics", *metrics, "--outdir", out, "--statistics", stats, cwd=wd),
        "results/runs/soft/seed1/metrics.json",
        "symbolic link",
        absent=[out / "summary.csv"],
    )
    spec = json.dumps({"name": "q", "pairs": [["soft", "sig"]], "paired": [True]})
    figure, table = wd / "paired" / "fig", wd / "paired" / "table"
    assert_refused(
        cli(
            "paired",
            "--spec",
            spec,
            "--runs",
            *CHECKED_RUNS,
            "--statistics",
            stats,
            "--table",
            table,
            "--figure",
            figure,
            cwd=wd,
        ),
        "results/runs/soft/seed1/metrics.json",
        "symbolic link",
        absent=[Path(f"{table}.csv")],
    )
    proc = snakemake(wd, "-n", check=False)
    assert (
        proc.returncode != 0
        and "results/runs/soft/seed1/metrics.json" in proc.stderr
        and "symbolic link" in proc.stderr
    )


@WORKFLOW
def test_nan_probabilities_stop_the_paired_tests_and_answers_naming_the_file(checked, tmp_path):
    """NaN probabilities in predictions.h5 gave the answer "55.00% (95% CI -516.78% to 626.78%)"."""
    wd = checked_copy(checked, tmp_path)
    with h5py.File(wd / "results" / "runs" / "soft" / "seed1" / "predictions.h5", "r+") as f:
        probs = f["params"]["probs"][()]
        probs[: len(probs) // 2] = np.nan
        f["params"]["probs"][...] = probs
    proc = snakemake(wd, "--cores", "2", "--keep-going", check=False)
    assert proc.returncode != 0
    failed = failed_job_logs(wd)
    # the paired tables and the true-class-probability comparison (in the set's figure job) read it
    assert {"paired_faults.log", "figures_faults.log"} <= set(failed), failed
    for text in failed.values():
        one_error_line(text, "results/runs/soft/seed1/predictions.h5", "probabilities are not finite")
    assert_no_output(wd / "results" / "tables" / "faults" / "paired_q-sm.csv")


@WORKFLOW
def test_a_small_weights_file_with_a_huge_compressed_dataset_is_read_within_the_jobs_memory(checked, tmp_path):
    """A 160 kB weights.h5 with an extra compressed dataset asked for 9.31 GiB (every dataset was read):
    the figures read W1 only; a W1 that would fill memory is refused naming the file and dataset."""
    wd = checked_copy(checked, tmp_path)
    weights = wd / "results" / "runs" / "soft" / "seed0" / "weights.h5"
    with h5py.File(weights, "a") as f:  # 10 GB of float32 that cost a few kB: chunked, compressed, never written
        f.create_dataset("bomb", shape=(2_500_000_000,), dtype="f4", chunks=(1 << 20,), compression="gzip")
    assert weights.stat().st_size < 200_000
    figures = ["results/figures/faults/soft/templates.png", "results/figures/faults/comparisons/tm.png"]
    proc = snakemake_limited(wd, "--cores", "2", *figures)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with h5py.File(weights, "a") as f:
        del f["params"]["W1"]
        f["params"].create_dataset("W1", shape=(50_000, 50_000), dtype="f4", chunks=(1000, 1000), compression="gzip")
    proc = snakemake_limited(wd, "--cores", "2", "--keep-going", *figures)
    assert proc.returncode != 0
    failed = failed_job_logs(wd)
    assert set(failed) == {"figures_faults.log"}, failed  # soft's templates and the comparison tm
    for text in failed.values():
        one_error_line(text, "results/runs/soft/seed0/weights.h5", "dataset params/W1 would take 10000000000 bytes")


@WORKFLOW
def test_a_huge_history_is_refused_before_it_is_read(checked, tmp_path):
    """history.csv -> /dev/zero took a figure job to 2.2 GB. A link is refused (by the workflow before
    any job, and by the figure commands themselves); a huge regular file is refused by its size."""
    wd = checked_copy(checked, tmp_path)
    history = wd / "results" / "runs" / "soft" / "seed0" / "history.csv"
    history.unlink()
    history.symlink_to("/dev/zero")
    runs = [wd / r for r in CHECKED_RUNS[:2]]
    out = tmp_path / "out"
    out.mkdir()
    plot = [
        "plot-variant",
        "--metrics",
        *(r / "metrics.json" for r in runs),
        "--history",
        *(r / "history.csv" for r in runs),
        "--weights",
        *(r / "weights.h5" for r in runs),
        "--curves",
        out / "curves",
        "--confusion",
        out / "confusion",
        "--templates",
        out / "templates",
    ]
    spec = json.dumps({"name": "cv", "type": "curves", "variants": ["soft"], "metrics": ["val_acc"]})
    compare = ["compare", "--spec", spec, "--runs", *runs, "--out", out / "cv"]
    for args in (plot, compare):
        proc = subprocess.run(
            [sys.executable, "-m", "cifarflow", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=_address_space(1500),
        )
        assert_refused(proc, history, "symbolic link", absent=[out / "curves.png", out / "cv.png"])
    history.unlink()
    with open(history, "wb") as fh:  # 3 GiB of zeros that cost nothing on disk
        fh.truncate(3 << 30)
    proc = snakemake_limited(wd, "--cores", "2", "--keep-going")
    assert proc.returncode != 0
    failed = failed_job_logs(wd)
    # the figures that read it, and the manifest that hashes it
    assert set(failed) == {"figures_faults.log", "manifest.log"}, failed
    for text in failed.values():
        one_error_line(text, "results/runs/soft/seed0/history.csv", "3221225472 bytes")


# ---- the split's digest record (issue 25) --------------------------------------------------------


def _train_log(wd: Path, name: str, seed: int) -> str:
    return (wd / "logs" / "train" / name / f"seed{seed}.log").read_text()


@WORKFLOW
def test_after_a_real_run_no_training_job_hashes_the_split_again(checked):
    """Snakemake touches every output after its job, so a record bound to the split's modification
    time never matched: every training job hashed the 184 MB split again."""
    for run in CHECKED_RUNS:
        name, seed = run.split("/")[2], int(run[-1])
        log = _train_log(checked, name, seed)
        assert f"{SPLIT}: sha256 taken from its verified record" in log and "hashing" not in log, log
        assert run_metrics(checked, name)["data_sha256"] == sha256(checked / SPLIT)


@WORKFLOW
def test_an_edited_split_digest_record_is_detected_and_never_recorded(checked, tmp_path):
    """A record given the split's current modification time and another digest was trusted:
    data_sha256 became whatever it said."""
    wd = checked_copy(checked, tmp_path)
    record_path = wd / f"{SPLIT}.sha256.json"
    real = sha256(wd / SPLIT)
    target = "results/runs/soft/seed0/metrics.json"
    # a copied work directory: the record names the original file (another inode), so the job hashes
    snakemake(wd, "--cores", "1", target, "--forcerun", "train")
    assert "split_full.h5 is not the file split_full.h5.sha256.json was made for" in _train_log(wd, "soft", 0)
    # the split job's record made again here verifies
    code = f"from cifarflow.io import write_digest_file; write_digest_file({SPLIT!r})"
    subprocess.run([sys.executable, "-c", code], cwd=wd, check=True)
    snakemake(wd, "--cores", "1", target, "--forcerun", "train")
    assert "taken from its verified record" in _train_log(wd, "soft", 0)
    # edited as in the finding: another digest and the split's current modification time
    record = json.loads(record_path.read_text())
    record |= {"sha256": "0" * 64, "mtime_ns": (wd / SPLIT).stat().st_mtime_ns}
    record_path.write_text(json.dumps(record))
    snakemake(wd, "--cores", "1", target, "--forcerun", "train")
    log = _train_log(wd, "soft", 0)
    assert "split_full.h5.sha256.json does not verify: it was edited" in log and "hashing the file" in log, log
    assert run_metrics(wd, "soft")["data_sha256"] == real
