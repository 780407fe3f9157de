"""Packaging: every package the code imports is declared (pyproject.toml and the conda env file),
and a wheel built from this checkout, installed NON-editable into a fresh virtual environment,
validates a config with its shipped schema."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from workflow_utils import REPO

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

# Import name -> PyPI distribution and conda-forge package.
DISTRIBUTIONS = {
    "numpy": ("numpy", "numpy"),
    "h5py": ("h5py", "h5py"),
    "matplotlib": ("matplotlib", "matplotlib-base"),
    "pandas": ("pandas", "pandas"),
    "PIL": ("pillow", "pillow"),
    "yaml": ("pyyaml", "pyyaml"),
    "jsonschema": ("jsonschema", "jsonschema"),
    "scipy": ("scipy", "scipy"),
}
# Imported only when present, for optional checks of the benchmark suite (guarded by try/except).
OPTIONAL = {"torch", "threadpoolctl"}


def imported_top_level_modules() -> set[str]:
    names = set()
    files = sorted((REPO / "workflow" / "cifarflow").glob("*.py")) + sorted(
        (REPO / "workflow" / "scripts").glob("*.py")
    )
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "cifarflow" and n != "__future__"}


def requirement_name(req: str) -> str:
    return re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower()


def test_every_third_party_import_is_declared_with_a_version_range():
    imported = imported_top_level_modules()
    unknown = imported - set(DISTRIBUTIONS) - OPTIONAL
    assert not unknown, f"imports with no entry in DISTRIBUTIONS (declare them, then list them here): {unknown}"
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    declared = {requirement_name(d): d for d in deps}
    for module in imported - OPTIONAL:
        dist = DISTRIBUTIONS[module][0]
        assert dist in declared, f"{module} is imported but {dist} is not in pyproject.toml's dependencies"
        assert re.search(r">=\s*[\d.]+", declared[dist]) and "<" in declared[dist], (
            f"{declared[dist]}: give a version range"
        )
    assert "snakemake" in {requirement_name(d) for d in deps}  # the Snakefile imports it


def test_conda_env_installs_what_the_jobs_import():
    env = yaml.safe_load((REPO / "workflow" / "envs" / "cifarflow.yaml").read_text())
    packages = {requirement_name(d) for d in env["dependencies"] if isinstance(d, str)}
    assert "python" in packages
    for module in imported_top_level_modules() - OPTIONAL:
        assert DISTRIBUTIONS[module][1] in packages, (
            f"workflow/envs/cifarflow.yaml lacks {DISTRIBUTIONS[module][1]} ({module})"
        )


def _copy_checkout(dest: Path) -> Path:
    """The checkout's sources without results or build leftovers (the build writes into its source)."""
    ignore = shutil.ignore_patterns(
        ".git",
        "results",
        "resources",
        "logs",
        "benchmarks",
        ".snakemake",
        "__pycache__",
        "build",
        "*.egg-info",
        ".venv",
        ".pytest_cache",
    )
    return Path(shutil.copytree(REPO, dest, ignore=ignore))


def _see_dependencies_of_this_environment(py: str) -> None:
    """Let the venv at `py` import the dependencies installed here (numpy, jsonschema, ...) without
    installing them again: a .pth file that appends this environment's site-packages to its
    sys.path. Only the directories are added (their own .pth files, such as this checkout's
    editable install, are not run), so `cifarflow` comes from the venv's own site-packages."""
    paths = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    Path(site, "_test_parent_environment.pth").write_text("".join(f"{p}\n" for p in sorted(paths)))


@pytest.mark.slow
def test_wheel_installed_non_editable_validates_a_config(tmp_path):
    src = _copy_checkout(tmp_path / "src")
    wheels = tmp_path / "wheels"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # Built as a user's pip builds it: in an isolated environment with the build requirements that
    # pyproject.toml declares (setuptools>=77), not with whatever setuptools this venv happens to have.
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("cifarflow-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    py = str(venv / "bin" / "python")
    _see_dependencies_of_this_environment(py)
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def run(*args):
        return subprocess.run([py, *args], capture_output=True, text=True, env=env, cwd=elsewhere, timeout=300)

    modules = sorted(
        ".".join(("cifarflow", *f.relative_to(REPO / "workflow" / "cifarflow").with_suffix("").parts))
        for f in (REPO / "workflow" / "cifarflow").rglob("*.py")
        if f.name not in ("__init__.py", "__main__.py")
    )
    every = run("-c", f"import importlib; [importlib.import_module(m) for m in {modules!r}]")
    assert every.returncode == 0, f"a module of the package is missing from the wheel: {every.stderr[-2000:]}"
    where = run(
        "-c",
        "import importlib.metadata as m, cifarflow, cifarflow.config as c; "
        "print(cifarflow.__file__); print(c.SCHEMA_PATH); print(m.version('cifarflow'), cifarflow.__version__)",
    )
    assert where.returncode == 0, where.stderr
    package_file, schema, versions = where.stdout.splitlines()
    assert Path(package_file).is_relative_to(venv), f"imported {package_file}, not the installed wheel"
    assert (
        Path(schema).is_relative_to(venv)
        and Path(schema).read_bytes() == (REPO / "workflow" / "schemas" / "config.schema.yaml").read_bytes()
    )
    dist_version, package_version = versions.split()
    assert dist_version == package_version

    ok = run(
        "-m", "cifarflow", "check-config", str(REPO / "config" / "config.yaml"), str(REPO / "config" / "quick.yaml")
    )
    assert ok.returncode == 0, ok.stderr
    assert "valid" in ok.stdout

    bad = elsewhere / "bad.yaml"
    bad.write_text(yaml.safe_dump({"defaults": {"eta": "fast"}}))
    fail = run("-m", "cifarflow", "check-config", str(REPO / "config" / "config.yaml"), str(bad))
    assert fail.returncode == 1
    assert fail.stderr.strip().startswith("cifarflow: error:") and "defaults.eta" in fail.stderr
