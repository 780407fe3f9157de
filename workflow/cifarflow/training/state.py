"""Typed training settings and state. The state is also the checkpoint format.

`TrainSettings` is what the solver reads of a resolved variant (no `.get` defaults scattered
through the loop); `TrainState` is what the solver hands to its `checkpoint` callback after every
epoch and takes back as `resume`. `write_checkpoint`/`read_checkpoint` store a `TrainState` in
HDF5 for the training job (`training.job`); the solver itself opens no files.

Checkpoint layout::

    /params/<name>, /best_params/<name>, /opt_state/<param>/<key>   arrays
    attrs: fingerprint, has_best_params, meta (JSON of epoch, step, history, best, seconds)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py

from cifarflow.io import atomic_h5, json_default


@dataclass(frozen=True)
class TrainSettings:
    """The solver's settings, read once from a resolved variant (see the config schema)."""

    lam: float
    batch_size: int
    epochs: int
    momentum: float
    nesterov: bool
    early_stopping: dict | None
    monitor: str | None  # the history column that picks the best epoch; None keeps the last
    test_flip: bool
    eval_train: int | str | None  # training images the history's train_* columns use (None/all: every one)
    seed: int
    schedule: dict  # the keys `nn.optim.learning_rate` reads

    @classmethod
    def from_variant(cls, v: dict) -> TrainSettings:
        es = v.get("early_stopping") or None
        monitor = es.get("monitor", "val_loss") if es else ("val_acc" if v.get("select_best") else None)
        return cls(
            lam=float(v["lambda"]),
            batch_size=int(v["batch_size"]),
            epochs=int(v["epochs"]),
            momentum=float(v.get("momentum") or 0.0),
            nesterov=bool(v.get("nesterov")),
            early_stopping=es,
            monitor=monitor,
            test_flip=bool(v.get("test_flip")),
            eval_train=v.get("eval_train"),
            seed=int(v.get("seed") or 0),
            schedule=dict(v),
        )


@dataclass
class TrainState:
    """Everything the solver needs to continue after a completed epoch, bit for bit."""

    epoch: int
    step: int
    params: dict
    opt_state: dict  # {param name: {key: array}}
    history: list  # one row (dict) per evaluated epoch, epoch 0 first
    best: dict  # {"epoch", "score", "bad_epochs"}
    best_params: dict | None
    seconds: float


META = ("epoch", "step", "history", "best", "seconds")


def write_checkpoint(path, state: TrainState, fingerprint: str) -> None:
    with atomic_h5(path) as f:
        for group, arrays in (
            ("params", state.params),
            ("best_params", state.best_params or {}),
        ):
            g = f.create_group(group)
            for k, v in arrays.items():
                g.create_dataset(k, data=v)
        g = f.create_group("opt_state")
        for name, st in state.opt_state.items():
            sg = g.create_group(name)
            for k, v in st.items():
                sg.create_dataset(k, data=v)
        f.attrs["fingerprint"] = fingerprint
        f.attrs["has_best_params"] = bool(state.best_params)
        f.attrs["meta"] = json.dumps({k: getattr(state, k) for k in META}, default=json_default)


def read_checkpoint(path, fingerprint: str) -> TrainState | None:
    """The saved state, or None when there is none or it belongs to other settings or is unreadable."""
    if not Path(path).exists():
        return None
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("fingerprint") != fingerprint:
                return None
            meta = json.loads(f.attrs["meta"])
            state = TrainState(
                **{k: meta[k] for k in META},
                params={k: f["params"][k][()] for k in f["params"]},
                best_params={k: f["best_params"][k][()] for k in f["best_params"]}
                if f.attrs["has_best_params"]
                else None,
                opt_state={n: {k: f["opt_state"][n][k][()] for k in f["opt_state"][n]} for n in f["opt_state"]},
            )
    except (OSError, KeyError, ValueError):
        return None
    # JSON turns NaN into NaN floats fine, and best["score"] None stays None
    return state
