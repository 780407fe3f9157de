"""Files of the workflow's own making: epoch plans, weights, checkpoints, JSON and CSV results.

Every writer goes through `atomic_output`: the file appears complete under its final name or not
at all, so a killed job never leaves a partial output that looks finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from .augment import EpochPlan
from .errors import DataError


@contextlib.contextmanager
def atomic_output(path: str | Path):
    """Yield a temporary path beside `path`; rename it to `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path, obj) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path) -> dict:
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read JSON ({exc})") from None


def _open_h5(path, what: str) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable HDF5 {what} ({str(exc).splitlines()[0]})") from None


# ---- epoch plans -------------------------------------------------------------------------------


def write_plan(path, plans: list[EpochPlan], spec: dict, materialised: list[np.ndarray] | None = None) -> None:
    """Store the plans of epochs 1..E: order (E, n) int32, flip (E, n) bool, shift (E, n, 2) int8."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("order", data=np.stack([p.order for p in plans]))
        f.create_dataset("flip", data=np.stack([p.flip for p in plans]))
        f.create_dataset("shift", data=np.stack([p.shift for p in plans]))
        if materialised is not None:
            e, n = len(materialised), len(materialised[0])
            ds = f.create_dataset("images", shape=(e,) + materialised[0].shape, dtype=np.uint8, chunks=(1, min(n, 1000)) + materialised[0].shape[1:])
            for i, m in enumerate(materialised):
                ds[i] = m
        f.attrs["spec"] = json.dumps(spec, sort_keys=True)
        f.attrs["epochs"] = len(plans)
        f.attrs["n"] = len(plans[0].order)


class PlanFile:
    """Read access to a stored plan: `plan(epoch)` and, when materialised, `images(epoch)` (1-based)."""

    def __init__(self, path):
        self.path = Path(path)
        redo = "delete it and run the plan_epochs step (python -m cifarflow plan)"
        with _open_h5(path, "epoch plan") as f:
            missing = [k for k in ("order", "flip", "shift") if not isinstance(f.get(k), h5py.Dataset)]
            missing += [f"attribute {a}" for a in ("spec",) if a not in f.attrs]
            if missing:
                raise DataError(f"{path}: not an epoch plan (missing {', '.join(missing)}); check the path, or {redo}")
            try:
                self.order, self.flip, self.shift = (f[k][()] for k in ("order", "flip", "shift"))
                self.spec = json.loads(f.attrs["spec"])
                self.has_images = "images" in f
            except (OSError, ValueError, TypeError) as exc:
                raise DataError(f"{path}: the epoch plan is truncated or corrupt ({' '.join(str(exc).split())}); {redo}") from None
        shape = self.order.shape
        if len(shape) != 2 or self.flip.shape != shape or self.shift.shape != (*shape, 2) or (
            self.order.size and (self.order.min() < 0 or self.order.max() >= shape[1])
        ):
            raise DataError(
                f"{path}: order {shape}, flip {self.flip.shape} and shift {self.shift.shape} are not the plan of one image set; {redo}"
            )
        self.epochs, self.n = shape

    def plan(self, epoch: int) -> EpochPlan:
        return EpochPlan(self.order[epoch - 1], self.flip[epoch - 1], self.shift[epoch - 1], self.spec.get("fill", "zero"))

    def images(self, epoch: int) -> np.ndarray:
        with h5py.File(self.path, "r") as f:
            return f["images"][epoch - 1]


# ---- weights and checkpoints -------------------------------------------------------------------


def write_weights(path, params: dict, attrs: dict, extra: dict | None = None) -> None:
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        g = f.create_group("params")
        for name, value in params.items():
            g.create_dataset(name, data=value)
        for name, value in (extra or {}).items():
            f.create_dataset(name, data=value)
        for k, v in attrs.items():
            f.attrs[k] = v if isinstance(v, (str, int, float, np.ndarray)) else json.dumps(v, sort_keys=True, default=_json_default)


def read_weights(path) -> tuple[dict, dict, dict]:
    """(params, attrs, extra datasets) of a weights file."""
    with _open_h5(path, "weights file") as f:
        if "params" not in f:
            raise DataError(f"{path}: not a cifarflow weights file (no params group)")
        params = {k: f["params"][k][()] for k in f["params"]}
        extra = {k: f[k][()] for k in f if k != "params"}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return params, attrs, extra


def write_checkpoint(path, state: dict, fingerprint: str) -> None:
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        for group, arrays in (("params", state["params"]), ("best_params", state.get("best_params") or {})):
            g = f.create_group(group)
            for k, v in arrays.items():
                g.create_dataset(k, data=v)
        g = f.create_group("opt_state")
        for name, st in state["opt_state"].items():
            sg = g.create_group(name)
            for k, v in st.items():
                sg.create_dataset(k, data=v)
        f.attrs["fingerprint"] = fingerprint
        f.attrs["has_best_params"] = bool(state.get("best_params"))
        f.attrs["meta"] = json.dumps(
            {k: state[k] for k in ("epoch", "step", "history", "best", "seconds")}, default=_json_default
        )


def read_checkpoint(path, fingerprint: str) -> dict | None:
    """The saved state, or None when there is none or it belongs to other settings or is unreadable."""
    if not Path(path).exists():
        return None
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("fingerprint") != fingerprint:
                return None
            state = json.loads(f.attrs["meta"])
            state["params"] = {k: f["params"][k][()] for k in f["params"]}
            state["best_params"] = {k: f["best_params"][k][()] for k in f["best_params"]} if f.attrs["has_best_params"] else None
            state["opt_state"] = {n: {k: f["opt_state"][n][k][()] for k in f["opt_state"][n]} for n in f["opt_state"]}
    except (OSError, KeyError, ValueError):
        return None
    # JSON turns NaN into NaN floats fine, and best["score"] None stays None
    return state


# ---- provenance --------------------------------------------------------------------------------


def file_sha256(path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def code_version() -> dict:
    """The git commit of the checkout the package runs from (and whether it has local changes)."""
    repo = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10)
        if commit.returncode == 0:
            return {"git_commit": commit.stdout.strip(), "git_dirty": bool(dirty.stdout.strip()), "package_sha256": package_digest()}
    except (OSError, subprocess.SubprocessError):
        pass
    return {"git_commit": None, "git_dirty": None, "package_sha256": package_digest()}


def package_digest() -> str:
    """SHA-256 over the package's Python sources: changes with any code change, committed or not."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def remove_stale_temporaries(folder) -> None:
    """Delete temporary files a killed writer left behind (never a finished output)."""
    for tmp in Path(folder).glob(".*.tmp-*"):
        tmp.unlink(missing_ok=True)


def versions() -> dict:
    import matplotlib
    import pandas

    from . import __version__

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version,
        "pandas": pandas.__version__,
        "matplotlib": matplotlib.__version__,
        "cifarflow": __version__,
        "platform": f"{platform.system()} {platform.machine()}",
        "argv0": Path(sys.argv[0]).name,
    }
