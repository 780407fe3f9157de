"""Reproducibility evidence end to end through the real Snakemake on generated data (issue 27): the
manifest lists every result file with its sha256, `verify` trains a sample of the runs again and
passes on an unchanged run, fails naming the file and the dataset after one weight is altered, and
the report has a Reproducibility section with both; two runs of the same config in two folders
hold the same results (compare-runs) and the same content digests in their manifests."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from workflow_utils import scheduled_jobs, small_config, snakemake, write_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

RUN_FILES = ("weights.h5", "predictions.h5", "metrics.json", "history.csv")


def verify_config(archive: Path, runs: int = 2) -> dict:
    cfg = small_config(archive, verify={"runs": runs, "seed": 0})
    small = cfg["experiments"]["small"]
    small["variants"] = [v for v in small["variants"] if v["name"] in ("soft", "mlp")]
    small["comparisons"] = [{"name": "pc", "type": "per_class", "variants": ["soft", "mlp"]}]
    return cfg


@pytest.fixture(scope="module")
def verified(tmp_path_factory, archive) -> Path:
    wd = tmp_path_factory.mktemp("verify")
    write_config(wd, verify_config(archive))
    snakemake(wd, "--cores", "2")
    return wd


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_verify_passes_on_an_unchanged_run_and_removes_its_scratch(verified):
    record = json.loads((verified / "results" / "verify" / "verify.json").read_text())
    assert record["passed"] is True
    assert sorted(r["run"] for r in record["runs"]) == ["results/runs/mlp/seed0", "results/runs/soft/seed0"]
    for r in record["runs"]:
        assert r["files"] == dict.fromkeys(sorted(RUN_FILES), "identical") and r["differences"] == []
    assert not (verified / "results" / "verify" / "runs").exists()  # the re-trained files were scratch
    assert "passed" in (verified / "results" / "verify" / "verify.md").read_text()
    assert scheduled_jobs(snakemake(verified, "-n")) == {}  # nothing trained again on the next run


def test_the_manifest_lists_every_result_file_with_its_sha256(verified):
    manifest = json.loads((verified / "results" / "manifest.json").read_text())
    listed = {e["path"]: e for e in manifest["files"]}
    results = verified / "results"
    runs = {p for p in (results / "runs").rglob("*") if p.name in RUN_FILES}
    tables = {p for p in (results / "tables").rglob("*.csv") if p.name != "benchmarks.csv"}
    assert len(runs) == 8 and len(tables) >= 6
    expected = {p.relative_to(verified).as_posix(): _sha256(p) for p in runs | tables}
    assert {path: e["sha256"] for path, e in listed.items()} == expected
    assert all(e["bytes"] == (verified / e["path"]).stat().st_size for e in manifest["files"])
    # sha256sum's own format, checked from the working directory
    text = (results / "manifest.sha256").read_text()
    assert sorted(text.splitlines()) == sorted(f"{d}  {p}" for p, d in expected.items())
    if shutil.which("sha256sum"):
        subprocess.run(["sha256sum", "-c", "--quiet", "results/manifest.sha256"], cwd=verified, check=True)


def test_the_manifest_records_the_environment_and_what_the_runs_recorded(verified):
    manifest = json.loads((verified / "results" / "manifest.json").read_text())
    env = manifest["environment"]
    assert env["packages"]["numpy"] == np.__version__ and env["packages"]["h5py"] == h5py.__version__
    assert env["packages"]["snakemake"] and env["packages"]["cifarflow"]
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["blas"]["libraries"]  # the BLAS library NumPy loaded, found in the job's process
    for r in env["blas"]["runtime"]:  # OpenBLAS: the kernel it chose for this CPU
        assert r["core"] and r["threads"] >= 1
    assert env["cpu"]["logical_cpus"] >= 1
    (runs_env,) = manifest["runs_environments"]  # one environment: every run trained here, 1 thread
    assert runs_env["runs"] == 2 and runs_env["threads"] == 1
    assert runs_env["provenance"]["numpy"] == np.__version__
    page = (verified / "results" / "manifest.html").read_text()
    assert "results/runs/soft/seed0/weights.h5" in page and manifest["files"][0]["sha256"] in page


def test_the_report_has_a_reproducibility_section_with_the_manifest_and_the_verify_outcome(verified):
    snakemake(verified, "--report", "report.zip")
    with zipfile.ZipFile(verified / "report.zip") as z:
        names = z.namelist()
        page = z.read(next(n for n in names if n.endswith("report.html"))).decode()
    script = re.search(r'<script id="categories">\s*var categories = (.*?);\s*</script>', page, re.S).group(1)
    section = json.loads(script)["Reproducibility"]
    assert sorted(f for files in section.values() for f in files) == [
        "results/manifest.html",
        "results/verify/verify.html",
    ]
    assert any(n.endswith("/manifest.html") for n in names) and any(n.endswith("/verify.html") for n in names)


def test_verify_fails_naming_the_file_and_dataset_after_one_weight_is_altered(verified, tmp_path):
    wd = tmp_path / "altered"
    shutil.copytree(verified, wd, symlinks=True)
    weights = wd / "results" / "runs" / "soft" / "seed0" / "weights.h5"
    with h5py.File(weights, "r+") as f:
        w = f["params/W1"]
        value = w[0, 0]
        w[0, 0] = np.nextafter(value, np.inf, dtype=value.dtype)  # one weight, by one unit in the last place
    proc = snakemake(wd, "--cores", "2", "verify", check=False)
    assert proc.returncode != 0
    log = (wd / "logs" / "verify" / "verify.log").read_text()
    expected = "results/runs/soft/seed0/weights.h5: dataset params/W1: 1 of"
    assert expected in log and "results/runs/mlp/seed0: identical" in log
    error = [line for line in log.splitlines() if line.startswith("cifarflow: error: ")]
    assert len(error) == 1 and expected in error[0] and "1 of 2 re-trained runs differ" in error[0]
    assert f"verify.log (rule verify): cifarflow: error: verify: {expected}" in proc.stderr  # the run's last words
    assert not (wd / "results" / "verify" / "verify.json").exists()  # no record of a pass
    # the re-trained files stay for a look
    again = wd / "results" / "verify" / "runs" / "soft" / "seed0"
    out = subprocess.run(
        [sys.executable, "-m", "cifarflow", "compare-runs", str(weights.parent), str(again)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "weights.h5: dataset params/W1: 1 of" in out.stdout


def test_two_runs_of_the_same_config_hold_the_same_results(verified, archive, tmp_path):
    write_config(tmp_path, verify_config(archive, runs=0))
    snakemake(tmp_path, "--cores", "2")
    assert not (tmp_path / "results" / "verify").exists()  # verify.runs 0: no check
    out = subprocess.run(
        [sys.executable, "-m", "cifarflow", "compare-runs", str(verified / "results"), str(tmp_path / "results")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "compare-runs: identical" in out.stdout, out.stdout
    first, second = (json.loads((d / "results" / "manifest.json").read_text()) for d in (verified, tmp_path))
    assert [(e["path"], e["content_sha256"]) for e in first["files"]] == [
        (e["path"], e["content_sha256"]) for e in second["files"]
    ]
    # the clock is in metrics.json: its file's sha256 changes between runs, its content's does not
    metrics = "results/runs/soft/seed0/metrics.json"
    assert {e["path"]: e["sha256"] for e in first["files"]}[metrics] != {
        e["path"]: e["sha256"] for e in second["files"]
    }[metrics]
