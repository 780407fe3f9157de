"""The manifest of a run's results: every result file's sha256 and the environment that
bit-identical results depend on (`python -m cifarflow manifest`, rule `manifest`).

For every file (the runs' `weights.h5`, `predictions.h5`, `metrics.json`, `history.csv` and the
tables' CSV) it records the size, the file's sha256 (what `sha256sum` prints) and `content_sha256`,
the digest of what `compare-runs` compares (`compare_runs.content_sha256`: without `metrics.json`'s
`timing` and `provenance`, the HDF5 `provenance` attributes, `history.csv`'s `seconds` and the
per-seed tables' `train s` and `peak MB`). A rerun of the same config must give the same
`content_sha256` for every file; the file's own sha256 changes with the clock (`metrics.json`,
`history.csv`, the tables with times) and with the code and package versions (the `provenance` of
the HDF5 files).

The environment is read in the job that writes the manifest: Python, the packages, the BLAS
library NumPy calls (its build configuration and, read from the loaded library, its kernel for
this CPU and its thread count), the thread variables, the CPU model and its SIMD features. On a
cluster the training jobs may have run elsewhere, so each run's own record (`provenance` and
`timing.threads` of its `metrics.json`) is summarised beside it: the distinct environments and
thread counts the runs were trained with, and how many runs each.
"""

from __future__ import annotations

import ctypes
import hashlib
import html
import json
import os
import platform
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from . import __version__
from .compare_runs import content_sha256, file_kind
from .errors import DataError
from .io import write_json, write_text

FORMAT = "cifarflow-manifest-1"
PACKAGES = ("numpy", "h5py", "scipy", "pandas", "matplotlib", "snakemake")
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
# What each kind's content_sha256 leaves out (and so what may change its file sha256 between reruns)
LEFT_OUT = {
    "weights": "attribute provenance",
    "predictions": "attribute provenance",
    "metrics": "keys timing, provenance",
    "history": "column seconds",
    "table": "columns train s, peak MB (if any)",
}
# OpenBLAS's own functions, under the names its builds export (plain, 64-bit integer interface,
# and the scipy-openblas wheels that NumPy bundles)
_OPENBLAS_NAMES = [(p, s) for p in ("", "scipy_") for s in ("", "64_")]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_entry(path) -> dict:
    """One result file: path (as given), kind, bytes, sha256 and content_sha256."""
    path = Path(path)
    kind = file_kind(path.name)
    if kind is None:
        raise DataError(f"{path}: not a result file the manifest lists (runs' files and tables' CSV)")
    try:
        return {
            "path": path.as_posix(),
            "kind": kind,
            "bytes": path.stat().st_size,
            "sha256": _sha256(path),
            "content_sha256": content_sha256(kind, path),
        }
    except (OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read it for the manifest ({type(exc).__name__}: {exc})") from None


# ---- the environment ---------------------------------------------------------------------------


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _loaded_libraries(words=("blas", "mkl", "blis", "lapack")) -> list[str]:
    """Paths of the shared libraries this process has loaded whose names hold one of `words`
    (Linux: /proc/self/maps; elsewhere none are found)."""
    try:
        text = Path("/proc/self/maps").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    paths = {line.split(None, 5)[5] for line in text.splitlines() if len(line.split(None, 5)) == 6}
    return sorted(p for p in paths if p.startswith("/") and any(w in Path(p).name.lower() for w in words))


def _openblas_runtime(path: str) -> dict | None:
    """The kernel OpenBLAS chose for this CPU, its configuration and threads, from the library."""
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    for prefix, suffix in _OPENBLAS_NAMES:
        try:
            corename = getattr(lib, f"{prefix}openblas_get_corename{suffix}")
        except AttributeError:
            continue
        corename.restype = ctypes.c_char_p
        out = {"library": path, "api": "openblas", "core": corename().decode("ascii", "replace")}
        try:
            config = getattr(lib, f"{prefix}openblas_get_config{suffix}")
            config.restype = ctypes.c_char_p
            out["config"] = config().decode("ascii", "replace").strip()
        except AttributeError:
            pass
        try:
            out["threads"] = int(getattr(lib, f"{prefix}openblas_get_num_threads{suffix}")())
        except AttributeError:
            pass
        return out
    return None


def _blas_build() -> dict:
    """The BLAS NumPy was built against (numpy.show_config), as far as this NumPy tells."""
    import numpy as np

    try:
        config = np.show_config(mode="dicts")
    except TypeError:  # NumPy < 1.26 prints it only
        return {}
    blas = (config or {}).get("Build Dependencies", {}).get("blas", {})
    return {k: blas[k] for k in ("name", "version", "openblas configuration") if k in blas}


def blas_info() -> dict:
    """BLAS as built (`build`) and as loaded in this process (`runtime`: the kernel for this CPU)."""
    import numpy as np

    np.dot(np.ones((2, 2)), np.ones((2, 2)))  # the library is loaded with NumPy; this makes sure
    libraries = _loaded_libraries()
    runtime = [r for r in map(_openblas_runtime, libraries) if r]
    return {"build": _blas_build(), "runtime": runtime, "libraries": libraries}


def cpu_info() -> dict:
    """The CPU model, logical CPUs, the SIMD features NumPy found and the CPU's flags (Linux)."""
    model, flags = platform.processor() or None, []
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                model = value.strip()
            elif key.strip() in ("flags", "Features") and not flags:
                flags = value.split()
    except OSError:
        pass
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            features = {}
    return {
        "model": model,
        "machine": platform.machine(),
        "logical_cpus": os.cpu_count(),
        "simd": sorted(k for k, v in features.items() if v),
        "flags": " ".join(flags),
    }


def environment() -> dict:
    """What bit-identical results depend on, as this process sees it."""
    try:
        import h5py

        hdf5 = h5py.version.hdf5_version
    except ImportError:
        hdf5 = None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "packages": {"cifarflow": __version__, **{p: _version(p) for p in PACKAGES}, "hdf5": hdf5},
        "blas": blas_info(),
        "thread_variables": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
        "cpu": cpu_info(),
    }


# ---- the runs' own records ---------------------------------------------------------------------


def runs_environments(metrics_files) -> list[dict]:
    """The distinct (provenance, threads) the runs recorded, each with its number of runs and the
    first run; `argv0` (how the job was started) is left out."""
    groups: dict[str, dict] = {}
    for path in metrics_files:
        try:
            m = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot read the run's record ({exc})") from None
        prov = {k: v for k, v in (m.get("provenance") or {}).items() if k != "argv0"}
        record = {"provenance": prov, "threads": (m.get("timing") or {}).get("threads")}
        key = json.dumps(record, sort_keys=True)
        groups.setdefault(key, {**record, "runs": 0, "example": Path(path).parent.as_posix()})["runs"] += 1
    return sorted(groups.values(), key=lambda g: -g["runs"])


def build_manifest(files, env: dict | None = None) -> dict:
    files = [Path(f) for f in files]
    entries = sorted((file_entry(f) for f in files), key=lambda e: e["path"])
    return {
        "format": FORMAT,
        "environment": env if env is not None else environment(),
        "runs_environments": runs_environments(f for f in files if f.name == "metrics.json"),
        "left_out_of_content_sha256": LEFT_OUT,
        "files": entries,
    }


# ---- writing -----------------------------------------------------------------------------------


def sha256sum_text(manifest: dict) -> str:
    """The files' sha256 in the format `sha256sum -c` checks (from the working directory)."""
    return "".join(f"{e['sha256']}  {e['path']}\n" for e in manifest["files"])


def _environment_rows(manifest: dict) -> list[tuple[str, str]]:
    env = manifest["environment"]
    rows = [("Python", f"{env['python']} ({env['implementation']})"), ("platform", env["platform"])]
    rows += [(name, str(v)) for name, v in env["packages"].items()]
    build = env["blas"]["build"]
    if build:
        rows.append(("BLAS (NumPy's build)", " ".join(str(build[k]) for k in build)))
    for r in env["blas"]["runtime"]:
        rows.append(("BLAS kernel (loaded)", f"{r['core']} ({Path(r['library']).name}, {r.get('threads')} threads)"))
    if not env["blas"]["runtime"]:
        rows.append(("BLAS libraries (loaded)", ", ".join(env["blas"]["libraries"]) or "not found"))
    threads = env["thread_variables"]
    rows.append(("thread variables", ", ".join(f"{k}={v}" for k, v in threads.items()) or "none set"))
    cpu = env["cpu"]
    rows.append(("CPU", f"{cpu['model']} ({cpu['machine']}, {cpu['logical_cpus']} logical CPUs)"))
    rows.append(("SIMD features (NumPy)", " ".join(cpu["simd"]) or "unknown"))
    return rows


def _table(header: list[str], rows: list[list], table_id: str = "") -> str:
    ident = f' id="{table_id}"' if table_id else ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>\n" for row in rows)
    return f"<table{ident}><thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>\n"


_STYLE = (
    "body { font: 13px/1.4 system-ui, sans-serif; margin: 12px; color: #1f2937; }"
    " h1 { font-size: 15px; } h2 { font-size: 14px; margin-top: 16px; }"
    " table { border-collapse: collapse; } th, td { border: 1px solid #d1d5db; padding: 2px 6px; }"
    " th { background: #f3f4f6; text-align: left; } td { font-family: ui-monospace, monospace; }"
)


def manifest_html(manifest: dict) -> str:
    """A page for the report: the environment, the runs' environments and every file's digests."""
    files = manifest["files"]
    runs_env = [
        [
            g["runs"],
            g["threads"],
            ", ".join(f"{k} {v}" for k, v in g["provenance"].items() if k != "package_sha256"),
            g["example"],
        ]
        for g in manifest["runs_environments"]
    ]
    file_rows = [[e["path"], e["kind"], e["bytes"], e["sha256"], e["content_sha256"]] for e in files]
    left_out = "; ".join(f"{k}: {v}" for k, v in manifest["left_out_of_content_sha256"].items())
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Manifest of the results</title>'
        f"<style>{_STYLE}</style></head>\n<body>\n<h1>Manifest of the results ({len(files)} files)</h1>\n"
        "<h2>Environment of the manifest job</h2>\n"
        + _table(["what", "value"], _environment_rows(manifest))
        + "<h2>What the runs were trained with (their metrics.json)</h2>\n"
        + _table(["runs", "threads", "provenance", "e.g."], runs_env)
        + "<h2>Files</h2>\n<p>sha256: the file's bytes (<code>sha256sum -c results/manifest.sha256</code> checks"
        " them). content sha256: what compare-runs compares, the same on every rerun of the same config"
        f" ({html.escape(left_out)} left out).</p>\n"
        + _table(["file", "kind", "bytes", "sha256", "content sha256"], file_rows, "cf-files")
        + "</body></html>\n"
    )


def write_manifest(files, out_json, out_sha256, out_html, log: Callable[[str], None] = print) -> dict:
    """Hash `files`, read the environment and write the manifest as JSON, sha256sum text and HTML."""
    manifest = build_manifest(files)
    write_json(out_json, manifest)
    write_text(out_sha256, sha256sum_text(manifest))
    write_text(out_html, manifest_html(manifest))
    kernels = ", ".join(r["core"] for r in manifest["environment"]["blas"]["runtime"]) or "unknown"
    log(f"manifest: {len(manifest['files'])} files hashed; BLAS kernel {kernels}; written to {out_json}")
    return manifest


def add_parser(sub) -> None:
    s = sub.add_parser("manifest", help="sha256 of every result file and the environment bit-identity depends on")
    s.add_argument("--files", nargs="+", required=True, help="the result files (runs' files, tables' CSV)")
    s.add_argument("--json", required=True)
    s.add_argument("--sha256", required=True, help="the files' sha256 in `sha256sum -c` format")
    s.add_argument("--html", required=True)
    s.set_defaults(func=main)


def main(a) -> None:
    write_manifest(a.files, a.json, a.sha256, a.html, log=lambda m: print(m, flush=True))
