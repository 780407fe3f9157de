"""compare-runs: are two result trees the same results, bit for bit?

`python -m cifarflow compare-runs A B` walks two folders (two workdirs, two `results/` folders,
two `results/runs/` folders or two single runs) and compares, file by file at the same relative
path, what a run of the same config must reproduce exactly:

- `weights.h5` and `predictions.h5`: every dataset (name, dtype, shape and bytes) and every
  attribute but `provenance` (versions, host and commit);
- `metrics.json`: every key but `timing` and `provenance`;
- `history.csv`: every column but `seconds` (the clock);
- tables (every other `.csv`): every column but the per-seed table's `train s` and `peak MB`;
  `benchmarks.csv` (runtimes and memory only) is not compared.

Figures, logs and the Markdown/LaTeX renderings of the tables are not compared; hidden folders
(`.snakemake/`) are skipped. It prints one line per difference, naming the file and the dataset,
key or cell, then a count; `compare_runs` returns 0 when the trees hold the same results, 1
otherwise. tests/slurm/compare_runs.py (the SLURM self-test) calls `compare_trees` too.
`content_sha256` is the digest of what is compared in one file (the manifest lists it,
cifarflow/manifest.py).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CifarflowError, DataError
from .io import MAX_HISTORY_BYTES, MAX_JSON_BYTES, check_file

# metrics.json keys and HDF5 attributes that legitimately differ between identical runs
VOLATILE_KEYS = ("timing", "provenance")
# history.csv's cumulative time; the per-seed tables' training time and peak memory (report/tables.py)
VOLATILE_COLUMNS = ("seconds", "train s", "peak MB")
# tables of runtimes and memory only: nothing in them is reproducible
TIMING_TABLES = ("benchmarks.csv",)
KINDS = ("weights", "predictions", "metrics", "history", "table")
MAX_SHOWN = 5  # differences listed per file; the rest are counted


@dataclass
class FileComparison:
    """One relative path: what kind of result it is and how A and B differ (empty: identical)."""

    path: str
    kind: str
    differences: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences


def file_kind(name: str) -> str | None:
    """The kind of result a file name holds, or None when compare-runs does not compare it."""
    if name in ("weights.h5", "predictions.h5"):
        return name.removesuffix(".h5")
    if name == "metrics.json":
        return "metrics"
    if name == "history.csv":
        return "history"
    if name.endswith(".csv") and name not in TIMING_TABLES:
        return "table"
    return None


def result_files(root: Path) -> dict[str, str]:
    """{relative posix path: kind} of the files under `root` that compare-runs compares."""
    out = {}
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not p.is_file():
            continue
        kind = file_kind(p.name)
        if kind:
            out[rel.as_posix()] = kind
    return out


def _short(value, n: int = 60) -> str:
    s = str(value)
    return s if len(s) <= n else s[: n - 3] + "..."


def _equal(a, b) -> bool:
    """Deep equality of decoded JSON/HDF5 values with NaN equal to NaN (a NaN loss is a result too)."""
    import numpy as np

    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        return a.tobytes() == b.tobytes() if a.dtype.kind not in "OUS" else bool(np.array_equal(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _mapping_differences(a: dict, b: dict, prefix: str = "", skip: tuple = ()) -> list[str]:
    """Every key whose value differs, nested dicts followed down (`a.b.c`), lists compared whole."""
    out = []
    for k in sorted(set(a) | set(b), key=str):
        if k in skip:
            continue
        if k not in b or k not in a:
            out.append(f"{prefix}{k} only in {'A' if k not in b else 'B'}")
        elif isinstance(a[k], dict) and isinstance(b[k], dict):
            out += _mapping_differences(a[k], b[k], f"{prefix}{k}.")
        elif not _equal(a[k], b[k]):
            out.append(f"{prefix}{k}: {_short(a[k])} != {_short(b[k])}")
    return out


def compare_metrics(a: Path, b: Path) -> list[str]:
    ma, mb = json.loads(a.read_text(encoding="utf-8")), json.loads(b.read_text(encoding="utf-8"))
    return _mapping_differences(ma, mb, skip=VOLATILE_KEYS)


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        return [], []
    header = rows[0]
    keep = [i for i, c in enumerate(header) if c not in VOLATILE_COLUMNS]
    return [header[i] for i in keep], [[r[i] if i < len(r) else "" for i in keep] for r in rows[1:]]


def compare_csv(a: Path, b: Path) -> list[str]:
    """Cells compared as text (the numbers exactly as written), without the volatile columns."""
    ha, ra = _read_csv(a)
    hb, rb = _read_csv(b)
    if ha != hb:
        only_a, only_b = [c for c in ha if c not in hb], [c for c in hb if c not in ha]
        if only_a or only_b:
            return [f"columns only in A: {only_a}, only in B: {only_b}"]
        return ["the same columns in another order"]
    out = []
    if len(ra) != len(rb):
        out.append(f"{len(ra)} rows in A, {len(rb)} in B")
    cells = [(i, j) for i, (x, y) in enumerate(zip(ra, rb), start=1) if x != y for j in range(len(ha)) if x[j] != y[j]]
    for i, j in cells[:MAX_SHOWN]:
        out.append(
            f"row {i} ({ha[0]} {ra[i - 1][0]}), column {ha[j]}: {_short(ra[i - 1][j])} != {_short(rb[i - 1][j])}"
        )
    if len(cells) > MAX_SHOWN:
        out.append(f"and {len(cells) - MAX_SHOWN} more differing cells")
    return out


def _value_differences(name: str, x, y) -> str | None:
    """How two arrays differ (None: the same dtype, shape and bytes)."""
    import numpy as np

    if x.dtype != y.dtype or x.shape != y.shape:
        return f"dataset {name}: {x.dtype} {x.shape} in A, {y.dtype} {y.shape} in B"
    if _equal(x, y):
        return None
    if x.dtype.kind in "OUS":
        return f"dataset {name}: values differ"
    xb = np.ascontiguousarray(x).reshape(-1).view(np.uint8).reshape(x.size, -1)
    yb = np.ascontiguousarray(y).reshape(-1).view(np.uint8).reshape(y.size, -1)
    n = int(np.count_nonzero((xb != yb).any(axis=1)))
    msg = f"dataset {name}: {n} of {x.size} values differ"
    if x.dtype.kind in "fiu":
        with np.errstate(all="ignore"):
            d = np.abs(x.astype(np.float64) - y.astype(np.float64))
        if np.isfinite(d).any():
            msg += f" (largest |A - B| {float(np.nanmax(np.where(np.isfinite(d), d, np.nan))):.3g})"
    return msg


def _attributes(obj) -> dict:
    return {k: obj.attrs[k] for k in obj.attrs if k not in VOLATILE_KEYS}


def compare_h5(a: Path, b: Path) -> list[str]:
    """Every dataset by bytes and every attribute (root, groups, datasets) but `provenance`."""
    import h5py
    import numpy as np

    out = []
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        objects_a, objects_b = {"/": fa}, {"/": fb}
        fa.visititems(lambda name, obj: objects_a.__setitem__(name, obj))
        fb.visititems(lambda name, obj: objects_b.__setitem__(name, obj))
        for name in sorted(set(objects_a) | set(objects_b)):
            if name not in objects_a or name not in objects_b:
                out.append(f"{name} only in {'A' if name in objects_a else 'B'}")
                continue
            oa, ob = objects_a[name], objects_b[name]
            if isinstance(oa, h5py.Dataset) != isinstance(ob, h5py.Dataset):
                out.append(f"{name}: a dataset in one file, a group in the other")
                continue
            if isinstance(oa, h5py.Dataset):
                d = _value_differences(name, np.asarray(oa[()]), np.asarray(ob[()]))
                if d:
                    out.append(d)
            where = "" if name == "/" else f" of {name}"
            out += [f"attribute{where} {d}" for d in _mapping_differences(_attributes(oa), _attributes(ob))]
    return out


COMPARE: dict[str, Callable[[Path, Path], list[str]]] = {
    "weights": compare_h5,
    "predictions": compare_h5,
    "metrics": compare_metrics,
    "history": compare_csv,
    "table": compare_csv,
}


def _canonical(value):
    """A JSON-able form of a decoded JSON/HDF5 value that two values share exactly when `_equal`
    holds: arrays by dtype, shape and bytes (strings and objects item by item), NaN as NaN."""
    import numpy as np

    if isinstance(value, (np.ndarray, np.generic)):
        a = np.asarray(value)
        if a.dtype.kind in "OUS":
            items = [_canonical(x) for x in a.reshape(-1).tolist()]
            return {"dtype": a.dtype.str, "shape": list(a.shape), "items": items}
        digest = hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
        return {"dtype": a.dtype.str, "shape": list(a.shape), "sha256": digest}
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, float) and math.isnan(value):
        return {"float": "nan"}
    if isinstance(value, dict):
        return {"dict": [[str(k), _canonical(v)] for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))]}
    if isinstance(value, (list, tuple)):
        return [_canonical(x) for x in value]
    return {type(value).__name__: value}


def _h5_content(path: Path) -> list:
    import h5py

    out = []
    with h5py.File(path, "r") as f:
        objects = {"/": f}
        f.visititems(lambda name, obj: objects.__setitem__(name, obj))
        for name in sorted(objects):
            obj = objects[name]
            data = _canonical(obj[()]) if isinstance(obj, h5py.Dataset) else "group"
            out.append([name, data, _canonical(_attributes(obj))])
    return out


def _metrics_content(path: Path) -> dict:
    metrics = json.loads(path.read_text(encoding="utf-8"))
    return _canonical({k: v for k, v in metrics.items() if k not in VOLATILE_KEYS})


CONTENT: dict[str, Callable[[Path], object]] = {
    "weights": _h5_content,
    "predictions": _h5_content,
    "metrics": _metrics_content,
    "history": _read_csv,
    "table": _read_csv,
}


# The text files' size limits, checked before a byte is read: /dev/zero or a huge file in a result
# tree is a one-line error, not a job read into memory (HDF5 files are read dataset by dataset).
TEXT_LIMITS = {
    "metrics": ("metrics file", MAX_JSON_BYTES),
    "history": ("history file", MAX_HISTORY_BYTES),
    "table": ("table", MAX_HISTORY_BYTES),
}


def check_size(kind: str, path: Path) -> None:
    """A `DataError` naming `path` when a text result file is not a regular file within its limit."""
    if kind in TEXT_LIMITS:
        what, limit = TEXT_LIMITS[kind]
        check_file(path, what, limit)


def content_sha256(kind: str, path: Path) -> str:
    """sha256 of what compare-runs compares in a result file of `kind` (`file_kind`): two files of
    the same kind have the same digest exactly when compare-runs finds no difference between them,
    whatever their timing and provenance (which change the file's own sha256 from run to run)."""
    check_size(kind, Path(path))
    text = json.dumps(CONTENT[kind](Path(path)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def compare_file(kind: str, a: Path, b: Path) -> list[str]:
    """The differences of one file present in both trees; an unreadable file is a difference too."""
    try:
        check_size(kind, a)
        check_size(kind, b)
        diffs = COMPARE[kind](a, b)
    except DataError as exc:  # not a regular file, or over its size limit
        return [f"cannot compare: {exc}"]
    except (OSError, ValueError, KeyError, UnicodeDecodeError) as exc:  # corrupt or truncated: say so
        return [f"cannot compare: {type(exc).__name__}: {_short(exc, 120)}"]
    if len(diffs) > MAX_SHOWN:
        diffs = diffs[:MAX_SHOWN] + [f"and {len(diffs) - MAX_SHOWN} more differences"]
    return diffs


def compare_trees(a: Path, b: Path) -> list[FileComparison]:
    """Every result file of either tree, by relative path (sorted), with its differences."""
    a, b = Path(a), Path(b)
    for name, root in (("A", a), ("B", b)):
        if not root.is_dir():
            raise CifarflowError(f"{name} ({root}) is not a folder")
    files_a, files_b = result_files(a), result_files(b)
    if not files_a and not files_b:
        raise CifarflowError(
            f"no result files (weights.h5, predictions.h5, metrics.json, history.csv, tables) under {a} or {b}"
        )
    out = []
    for rel in sorted(set(files_a) | set(files_b)):
        kind = files_a.get(rel) or files_b[rel]
        if rel not in files_b or rel not in files_a:
            out.append(FileComparison(rel, kind, [f"only in {'A' if rel in files_a else 'B'}"]))
        else:
            out.append(FileComparison(rel, kind, compare_file(kind, a / rel, b / rel)))
    return out


def _kind_counts(results) -> str:
    """'2 weights, 1 table': how many of `results` are of each kind, in KINDS order."""
    kinds = Counter(r.kind for r in results)
    return ", ".join(f"{kinds[k]} {k}" for k in KINDS if kinds[k])


def compare_runs(a: Path, b: Path, log: Callable[[str], None] = print) -> int:
    """Print what differs between two result trees, by file; 0 when they hold the same results."""
    results = compare_trees(a, b)
    for r in results:
        for d in r.differences:
            log(f"{r.path}: {d}")
    differ = [r for r in results if not r.identical]
    counts = _kind_counts(results)
    if differ:
        log(
            f"compare-runs: {len(differ)} of {len(results)} files differ ({_kind_counts(differ)} of {counts})"
            f" between {a} and {b}"
        )
        return 1
    log(f"compare-runs: identical, {len(results)} files ({counts}) in {a} and {b}")
    return 0
