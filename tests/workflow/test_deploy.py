"""cifarflow deployed the way snakedeploy deploys it: rules read from a git tag, config copied.

`snakedeploy deploy-workflow <repo> <dir> --tag vX.Y.Z` writes `<dir>/workflow/Snakefile`, which
declares cifarflow as a module read from the tag (`github("owner/cifarflow", path=
"workflow/Snakefile", tag=...)`), and copies the repository's `config/` to `<dir>/config/`. Here
the repository is a temporary git repository made from this checkout's files and tagged with its
version, and the module is read through Snakemake's local git source (`gitfile(...)`, the same
kind of source as `github(...)`: nothing of the workflow is on disk beside the consumer). Snakemake
runs in the deployed folder with PYTHONPATH unset: the jobs run the installed `cifarflow` package,
which must be the rules' version.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cifarflow import __version__

from workflow_utils import REPO, SNAKEMAKE, tiny_config, write_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

TAG = f"v{__version__}"

# What snakedeploy writes (its template), with the local git source in place of github(...).
DEPLOYED_SNAKEFILE = """\
configfile: "config/config.yaml"


# declare {repo} as a module
module cifarflow:
    snakefile:
        gitfile({repo!r}, path="workflow/Snakefile", tag={tag!r})
    config:
        config


# use all rules from {repo}
use rule * from cifarflow
"""


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.org", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def release_repo(path: Path, version: str = __version__) -> Path:
    """A git repository holding this checkout's files (as they are in the working tree), with the
    package at `version`, committed and tagged v<version>."""
    listed = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():  # listed but deleted in the working tree: not part of it
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, path / name)
    init = path / "workflow" / "cifarflow" / "__init__.py"
    text, n = re.subn(r'^__version__ = "[^"]+"$', f'__version__ = "{version}"', init.read_text(), flags=re.M)
    assert n == 1
    init.write_text(text)
    git(path, "init", "-q")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", f"release {version}")
    git(path, "tag", f"v{version}")
    return path


def deploy(repo: Path, dest: Path, tag: str) -> Path:
    """What `snakedeploy deploy-workflow <repo> <dest> --tag <tag>` leaves: the module's Snakefile and
    the repository's config/ (taken from the tag)."""
    (dest / "workflow").mkdir(parents=True)
    (dest / "workflow" / "Snakefile").write_text(DEPLOYED_SNAKEFILE.format(repo=str(repo), tag=tag))
    git(repo, "worktree", "add", "-q", "--detach", str(dest / ".tag"), tag)
    shutil.copytree(dest / ".tag" / "config", dest / "config")
    git(repo, "worktree", "remove", "--force", str(dest / ".tag"))
    return dest


def run_snakemake(dest: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Snakemake in the deployed folder, as its user runs it, with no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([SNAKEMAKE, *args], cwd=dest, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, archive) -> tuple[Path, subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """A deployment from the release tag, its config edited to a tiny one, dry-run and run."""
    repo = release_repo(tmp_path_factory.mktemp("cifarflow-repo"))
    dest = deploy(repo, tmp_path_factory.mktemp("deployed") / "my-cifar", TAG)
    assert not (dest / "workflow" / "rules").exists() and not (dest / "workflow" / "cifarflow").exists()
    write_config(dest / "config", tiny_config(archive))  # the user's edit of config/config.yaml
    dry = run_snakemake(dest, "-n", "--cores", "2")
    assert dry.returncode == 0, f"dry run failed:\n{dry.stdout[-3000:]}\n{dry.stderr[-5000:]}"
    run = run_snakemake(dest, "--cores", "2")
    assert run.returncode == 0, f"run failed:\n{run.stdout[-3000:]}\n{run.stderr[-5000:]}"
    return dest, dry, run


def test_the_dry_run_reads_the_rules_from_the_tag(deployed):
    _, dry, _ = deployed
    assert "rule train:" in dry.stdout + dry.stderr
    assert "This was a dry-run" in dry.stdout + dry.stderr


def test_the_deployed_workflow_runs_the_tiny_config_to_the_end(deployed):
    dest, _, _ = deployed
    out = dest / "results"
    for variant in ("soft", "logi"):
        for name in ("weights.h5", "history.csv", "metrics.json", "predictions.h5"):
            assert (out / "runs" / variant / "seed0" / name).stat().st_size > 0
        assert (out / "figures" / "tiny" / variant / "curves.png").stat().st_size > 0
    assert (out / "figures" / "tiny" / "comparisons" / "pc.png").stat().st_size > 0
    assert (out / "tables" / "tiny" / "summary.csv").stat().st_size > 0
    assert (out / "summary.md").stat().st_size > 0
    assert (dest / "logs" / "train" / "soft" / "seed0.log").exists()


def installed_package() -> tuple[str, str]:
    """(version, code digest) of the cifarflow that Python imports without PYTHONPATH: the installed one."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = "import cifarflow; from cifarflow.io import package_digest; print(cifarflow.__version__, package_digest())"
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd="/", capture_output=True, text=True, check=True)
    version, digest = proc.stdout.split()
    return version, digest


def test_jobs_ran_the_installed_package_of_the_rules_version(deployed):
    dest, _, _ = deployed
    provenance = json.loads((dest / "results" / "runs" / "soft" / "seed0" / "metrics.json").read_text())["provenance"]
    assert (provenance["cifarflow"], provenance["package_sha256"]) == installed_package()
    assert provenance["cifarflow"] == __version__


def test_the_report_of_the_deployed_run(deployed):
    dest, _, _ = deployed
    proc = run_snakemake(dest, "--report", "report.zip", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = zipfile.ZipFile(dest / "report.zip").namelist()
    assert "report/report.html" in names
    assert any(n.endswith("curves.png") for n in names), names


def test_rules_of_another_version_than_the_installed_package_are_one_error_line(tmp_path):
    """Rules of release 99.0.0 with this checkout's package installed: refused before any job."""
    repo = release_repo(tmp_path / "repo", version="99.0.0")
    dest = deploy(repo, tmp_path / "my-cifar", "v99.0.0")
    proc = run_snakemake(dest, "-n", timeout=300)
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    line = proc.stderr.strip()
    assert line.startswith("cifarflow: error: "), line
    for part in ("cifarflow 99.0.0", f"cifarflow {__version__}", "@v99.0.0", "pip install"):
        assert part in line, line
    assert not (dest / "results").exists()
