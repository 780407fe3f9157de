"""Epoch-plan files: the stored order, flips and shifts of every epoch (optionally materialised).

`build_plans` turns a split and a plan spec (from `config.plan_spec`) into the epoch plans of
the variant's training images; `write_plan` stores them, `PlanFile` reads them back and checks
their shapes.

Layout::

    /order  (E, n) int32     /flip (E, n) bool     /shift (E, n, 2) int8
    /images (E, n, 32, 32, 3) uint8, only when materialised
    attrs: spec (JSON), epochs, n
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from cifarflow.data.augment import EpochPlan, make_epoch_plan, materialise
from cifarflow.data.splits import load_split
from cifarflow.data.subset import select_training
from cifarflow.errors import DataError
from cifarflow.io import atomic_h5, open_h5


def build_plans(split, spec: dict, where: str) -> tuple[list[EpochPlan], list[np.ndarray] | None]:
    """The plans of epochs 1..spec['epochs'] for the training images `spec` selects from `split`,
    and, when spec['materialize'], the augmented images of every epoch."""
    idx = select_training(
        split.train_labels,
        split.class_names,
        spec["classes"],
        spec["train_limit"],
        where,
    )
    n = len(idx)
    fill = spec.get("fill", "zero")
    plans = [
        make_epoch_plan(n, e, spec["seed"], spec["shuffle"], spec["flip"], spec["translate"], fill)
        for e in range(1, spec["epochs"] + 1)
    ]
    mats = None
    if spec["materialize"]:
        images = split.train_images[idx]
        mats = [materialise(images, p) for p in plans]
    return plans, mats


def write_plan(
    path,
    plans: list[EpochPlan],
    spec: dict,
    materialised: list[np.ndarray] | None = None,
) -> None:
    """Store the plans of epochs 1..E: order (E, n) int32, flip (E, n) bool, shift (E, n, 2) int8."""
    with atomic_h5(path) as f:
        f.create_dataset("order", data=np.stack([p.order for p in plans]))
        f.create_dataset("flip", data=np.stack([p.flip for p in plans]))
        f.create_dataset("shift", data=np.stack([p.shift for p in plans]))
        if materialised is not None:
            e, n = len(materialised), len(materialised[0])
            ds = f.create_dataset(
                "images",
                shape=(e,) + materialised[0].shape,
                dtype=np.uint8,
                chunks=(1, min(n, 1000)) + materialised[0].shape[1:],
            )
            for i in range(e):  # each epoch's images freed once stored (the file is built in memory)
                ds[i] = materialised[i]
                materialised[i] = None
        f.attrs["spec"] = json.dumps(spec, sort_keys=True)
        f.attrs["epochs"] = len(plans)
        f.attrs["n"] = len(plans[0].order)


class PlanFile:
    """Read access to a stored plan: `plan(epoch)` and, when materialised, `images(epoch)` (1-based)."""

    def __init__(self, path):
        self.path = Path(path)
        redo = "delete it and run the plan_epochs step (python -m cifarflow plan)"
        with open_h5(path, "epoch plan") as f:
            missing = [k for k in ("order", "flip", "shift") if not isinstance(f.get(k), h5py.Dataset)]
            missing += [f"attribute {a}" for a in ("spec",) if a not in f.attrs]
            if missing:
                raise DataError(f"{path}: not an epoch plan (missing {', '.join(missing)}); check the path, or {redo}")
            try:
                self.order, self.flip, self.shift = (f[k][()] for k in ("order", "flip", "shift"))
                self.spec = json.loads(f.attrs["spec"])
                self.has_images = "images" in f
            except (OSError, ValueError, TypeError) as exc:
                raise DataError(
                    f"{path}: the epoch plan is truncated or corrupt ({' '.join(str(exc).split())}); {redo}"
                ) from None
        shape = self.order.shape
        if (
            len(shape) != 2
            or self.flip.shape != shape
            or self.shift.shape != (*shape, 2)
            or (self.order.size and (self.order.min() < 0 or self.order.max() >= shape[1]))
        ):
            raise DataError(
                f"{path}: order {shape}, flip {self.flip.shape} and shift {self.shift.shape} are not the plan of one image set; {redo}"
            )
        self.epochs, self.n = shape

    def plan(self, epoch: int) -> EpochPlan:
        return EpochPlan(
            self.order[epoch - 1],
            self.flip[epoch - 1],
            self.shift[epoch - 1],
            self.spec.get("fill", "zero"),
        )

    def images(self, epoch: int) -> np.ndarray:
        with h5py.File(self.path, "r") as f:
            return f["images"][epoch - 1]


def plan_file(split_path, spec: dict, out, log=print) -> None:
    """Build the epoch plans of `spec` on the split file and write them to `out`."""
    where = f"plan {Path(out).stem}: classes"
    split = load_split(  # only the training rows the plan covers (build_plans selects them all again)
        split_path,
        train_rows=lambda labels, names: select_training(labels, names, spec["classes"], spec["train_limit"], where),
    )
    plans, mats = build_plans(split, spec, where)
    write_plan(out, plans, spec, mats)
    fill = spec.get("fill", "zero")
    log(
        f"plan {out}: {spec['epochs']} epochs of {len(plans[0].order)} images (flip {spec['flip']}, translate {spec['translate']} fill {fill}, shuffle {spec['shuffle']}, materialised {bool(mats)})"
    )
