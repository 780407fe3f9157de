"""Running the real Snakemake on generated data, for the workflow-level tests."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED_ARCHIVE = REPO.parent / "shared" / "data" / "cifar-10-jpeg.tar.gz"
SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))

# Keys of metrics.json that legitimately differ between identical runs (clock, memory, host, code)
VOLATILE_METRICS = ("timing", "provenance")


def write_config(workdir: Path, config: dict, name: str = "config.yaml") -> Path:
    path = Path(workdir) / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(
    workdir: Path, *args: str, config: str = "config.yaml", timeout: float = 900, check: bool = True, env=None
):
    """Run Snakemake on this repository's Snakefile in `workdir`; returns the CompletedProcess."""
    cmd = [
        SNAKEMAKE,
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        "--configfile",
        str(Path(workdir) / config),
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        )
    return proc


def scheduled_jobs(proc) -> dict[str, int]:
    """Rule -> job count from a dry run's 'Job stats' table (empty when nothing is to be done)."""
    text = proc.stdout + proc.stderr
    if "Job stats:" not in text:
        return {}
    table = text.split("Job stats:", 1)[1]
    counts = {}
    for line in table.splitlines()[3:]:
        m = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    counts.pop("total", None)
    return counts


def params_digest(path: Path) -> str:
    """SHA-256 over the parameter arrays of a weights file (names, dtypes, shapes and bytes)."""
    h = hashlib.sha256()
    with h5py.File(path, "r") as f:
        for name in sorted(f["params"]):
            a = f["params"][name][()]
            h.update(f"{name}{a.dtype}{a.shape}".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def stable_metrics(path: Path) -> dict:
    m = json.loads(Path(path).read_text())
    for k in VOLATILE_METRICS:
        m.pop(k, None)
    return m


def stable_history(path: Path) -> str:
    lines = Path(path).read_text().splitlines()
    header = lines[0].split(",")
    keep = [i for i, c in enumerate(header) if c != "seconds"]
    return "\n".join(",".join(row.split(",")[i] for i in keep) for row in lines)


def run_path(workdir: Path, variant: str, seed: int = 0) -> Path:
    """The folder of one replicate's run files: results/runs/<variant>/seed<seed>."""
    return Path(workdir) / "results" / "runs" / variant / f"seed{seed}"


def run_fingerprint(workdir: Path, variant: str, seed: int = 0) -> tuple:
    run = run_path(workdir, variant, seed)
    return (
        params_digest(run / "weights.h5"),
        stable_metrics(run / "metrics.json"),
        stable_history(run / "history.csv"),
    )


def require_or_skip(condition: bool, reason: str):
    """Skip a test when a tool or data is missing, except in CI (CIFARFLOW_CI=1), where it fails."""
    import pytest

    if condition:
        return
    if os.environ.get("CIFARFLOW_CI"):
        pytest.fail(f"CI must have this: {reason}")
    pytest.skip(reason)


# ---- a small generated-data configuration (test_workflow, test_faults) ----------------------

VARIANTS = [
    {"name": "soft", "model": "softmax"},
    {"name": "sig", "model": "sigmoid", "augmentation": "fliptrans", "eta": 0.05},
    {"name": "lg", "model": "softmax", "grid": {"lambda": [0, 0.1]}},
    {"name": "mlp", "model": "mlp", "hidden": [16], "split": "basic", "momentum": 0.9},
    {
        "name": "logi",
        "model": "logistic",
        "classes": ["cat", "dog"],
        "shuffle": False,
        "early_stopping": {"patience": 2},
    },
    {"name": "boom", "model": "softmax", "eta": 1.0e37},
]


def small_config(archive: Path, **extra) -> dict:
    cfg = {
        "local_archive": str(archive),
        "splits": {
            "basic": {"type": "batches", "train": [1], "val": [2]},
            "full": {"type": "holdout", "val_size": 100, "seed": 0},
        },
        "augmentations": {"none": {}, "fliptrans": {"flip": 0.5, "translate": 2}},
        "defaults": {"epochs": 3, "batch_size": 50, "eta": 0.01},
        "experiments": {
            "small": {
                "title": "Small generated data",
                "variants": copy.deepcopy(VARIANTS),
                "comparisons": [
                    {"name": "pc", "type": "per_class", "variants": ["soft", "sig"]},
                    {"name": "lam", "type": "vs_lambda", "grid": "lg"},
                    {"name": "tp", "type": "true_class_prob", "variants": ["soft", "sig"]},
                    {"name": "tm", "type": "templates", "variants": ["soft", "sig"]},
                    {
                        "name": "cv",
                        "type": "curves",
                        "variants": ["soft", "boom"],
                        "metrics": ["train_loss", "val_acc"],
                    },
                ],
            }
        },
    }
    cfg.update(extra)
    return cfg


def checkpoint_epoch(path: Path) -> int:
    try:
        with h5py.File(path, "r") as f:
            return json.loads(f.attrs["meta"])["epoch"]
    except (OSError, KeyError):
        return 0


STOP_HOOK = Path(__file__).resolve().parent / "stop_at_checkpoint"


def stop_at_checkpoint_env(variant: str, epochs: int, env=None) -> dict:
    """Environment for a Snakemake run whose `variant` training job stops itself (SIGSTOP) with the
    checkpoint of `epochs` epochs on disk (tests/stop_at_checkpoint/sitecustomize.py)."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join([str(STOP_HOOK), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))])
    env["CIFARFLOW_TEST_STOP_AT_CHECKPOINT"] = f"{variant}:{epochs}"
    return env


def process_tree(root: int) -> list[int]:
    """PIDs of every process below `root` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def stopped_training_job(proc, variant: str, timeout: float = 300) -> int:
    """PID of `variant`'s training job under the run `proc` once it has stopped itself (started
    with `stop_at_checkpoint_env`). Waits for a state, not for a time: a stopped job stays stopped,
    so what the caller does next happens at the same point of the run on any machine."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        for pid in process_tree(proc.pid):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if b"train" in argv and any(f"runs/{variant}".encode() in a for a in argv) and state == "T":
                return pid
        assert proc.poll() is None, f"the run ended (status {proc.returncode}) before {variant}'s job stopped"
        assert time.monotonic() < deadline, f"{variant}'s training job did not stop within {timeout} s"
        time.sleep(0.05)


# ---- headless Chromium (the HTML report and its table pages) ------------------------------------

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=20000",
]


def chromium_or_skip() -> str:
    """The headless Chromium binary (a skip without it, a failure in CI)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    require_or_skip(chromium is not None, "headless Chromium (Debian package chromium)")
    return chromium


def chromium_dom(page: Path, profile: Path, timeout: float = 180) -> str:
    """The DOM of a local HTML page after its scripts ran (`--dump-dom`), in a fresh profile folder."""
    flags = CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]
    proc = subprocess.run(
        [chromium_or_skip(), *flags, "--dump-dom", Path(page).resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.stdout


def tiny_config(archive: Path) -> dict:
    """Two small variants and one unpaired comparison on generated data: the config the module and
    deploy tests run end to end."""
    return {
        "local_archive": str(archive),
        "splits": {"basic": {"type": "batches", "train": [1], "val": [2]}},
        "augmentations": {"none": {}},
        "defaults": {"epochs": 2, "batch_size": 50, "eta": 0.01, "split": "basic"},
        "experiments": {
            "tiny": {
                "title": "Tiny generated data",
                "variants": [
                    {"name": "soft", "model": "softmax"},
                    {"name": "logi", "model": "logistic", "classes": ["cat", "dog"], "batch_size": 20},
                ],
                "comparisons": [{"name": "pc", "type": "curves", "variants": ["soft", "logi"], "paired": False}],
            }
        },
    }
