"""The training job: a split file, a plan file and a resolved variant in, run files out.

Files of a run (in `outdir`): weights.h5 (parameters, normalisation), predictions.h5 (test class
probabilities and labels), history.csv (one row per epoch, epoch 0 first), metrics.json (test
metrics, history summary, timing, provenance). A checkpoint.h5 exists only while the job runs;
a job killed mid-run resumes from it when its fingerprint (variant, plan, data, code) matches.
"""

from __future__ import annotations

import hashlib
import json
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cifarflow.data.plans import PlanFile
from cifarflow.data.splits import load_split
from cifarflow.data.subset import Data, load_variant_data, select_training
from cifarflow.errors import ConfigError, DataError
from cifarflow.io import (
    atomic_output,
    code_version,
    finite_or_none,
    known_sha256,
    package_digest,
    remove_stale_temporaries,
    versions,
    write_json,
    write_weights,
)
from cifarflow.names import PLAN_KEYS
from cifarflow.nn.models import build_model
from cifarflow.training.evaluation import history_csv, history_summary, metrics_on_test_set
from cifarflow.training.solver import (
    Normalizer,
    PlanSource,
    Result,
    evaluate_and_predict,
    init_rng,
    train,
)
from cifarflow.training.state import TrainState, read_checkpoint, write_checkpoint


def peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM; ru_maxrss would include what the parent had at fork)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_fingerprint(variant: dict, plan_spec: dict, data_sha: str) -> str:
    """The identity of a run's inputs: a checkpoint resumes only a run with the same fingerprint."""
    return hashlib.sha256(
        json.dumps(
            {
                "variant": variant,
                "plan": plan_spec,
                "data": data_sha,
                "code": package_digest(),
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()


def check_plan_spec(plan_path, spec: dict, variant: dict) -> None:
    """The plan file must have been made for this variant's plan spec (`names.PLAN_KEYS`: split,
    classes, train_limit, augmentation, shuffle, seed, and at least its epochs); a plan of another
    spec with the same image count would otherwise train silently on the wrong order or flips."""
    for key in PLAN_KEYS:
        want, got = variant.get(key), spec.get(key, "<missing>")
        if key == "epochs" and isinstance(got, int) and isinstance(want, int) and got >= want:
            continue
        if got != want:
            raise DataError(
                f"{plan_path}: the plan was made for {key}={json.dumps(got)}, variant {variant['name']} has "
                f"{key}={json.dumps(want)}; check the path, or delete the plan and run the plan step again"
            )


def run_variant(
    split_path,
    plan_path,
    variant: dict,
    outdir,
    threads: int | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Train `variant` on the split file with the plan file, write the run files; return metrics."""
    name = variant["name"]
    outdir = Path(outdir)
    t_start = time.perf_counter()
    data, norm = load_training_data(split_path, variant)
    n = len(data.train_labels)
    plan = open_plan(plan_path, variant, n)
    source = PlanSource(plan.plan, plan.images if plan.has_images else None)
    outdir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(outdir)
    model = build_model(
        variant, data.train_images.shape[1:], len(data.class_names), init_rng(variant["seed"]), np.float32
    )
    log(
        f"variant {name}: {variant['model']} ({variant['loss']}), {model.n_params} parameters, {n} training images, "
        f"{len(data.val_labels)} validation, {len(data.test_labels)} test; plan {'materialised' if plan.has_images else 'replayed'}"
    )

    data_sha = known_sha256(split_path, log=log)  # from the split job's record when it verifies
    fingerprint = run_fingerprint(variant, plan.spec, data_sha)
    ckpt_path = outdir / "checkpoint.h5"
    result = train(
        model,
        data,
        source,
        variant,
        norm,
        log=log,
        checkpoint=lambda state: write_checkpoint(ckpt_path, state, fingerprint),
        resume=resumable_state(ckpt_path, fingerprint, variant["epochs"]),
    )

    flip = bool(variant.get("test_flip"))  # test-time augmentation
    test, probs = evaluate_and_predict(
        model, data.test_images, data.test_labels, norm, float(variant["lambda"]), flip=flip
    )
    timing = {
        "train_seconds": round(result.seconds, 3),
        "total_seconds": round(time.perf_counter() - t_start, 3),
        "peak_rss_mb": peak_rss_mb(),
        "resumed_from_epoch": result.resumed_from,
        "threads": threads,
    }
    metrics = run_metrics(variant, model, data, result, test, probs, plan.spec, data_sha, timing)
    write_run_files(outdir, variant, model, norm, data, result, probs, metrics)
    if ckpt_path.exists():
        ckpt_path.unlink()
    status = f"DIVERGED at epoch {result.diverged_epoch}" if result.diverged else f"best epoch {result.best_epoch}"
    log(f"variant {name}: test accuracy {100 * test['acc']:.2f}% ({status}), {result.seconds:.1f}s training")
    return metrics


def load_training_data(split_path, variant: dict) -> tuple[Data, Normalizer]:
    """The variant's images from the split file and their normaliser; refuses a batch larger than
    the training set. Of the training images only the variant's rows are read (its classes and
    training limit, `select_training`): the same arrays as selecting them from the whole split."""
    where = f"variant {variant['name']}: classes"
    split = load_split(
        split_path,
        train_rows=lambda labels, names: select_training(
            labels, names, variant.get("classes"), variant.get("train_limit"), where
        ),
    )
    data = load_variant_data(split, variant)  # selects every row it was given: the selection is idempotent
    if variant.get("classes") or variant.get("train_limit"):
        norm = Normalizer.from_images(data.train_images, variant["normalize"])
    else:  # the whole training split: its statistics are stored in the split file already
        norm = Normalizer.from_split(split, variant["normalize"])
    n = len(data.train_labels)
    if variant["batch_size"] > n:
        raise ConfigError(
            f"variant {variant['name']}: batch_size {variant['batch_size']} is larger than its {n} training images"
        )
    return data, norm


def open_plan(plan_path, variant: dict, n: int) -> PlanFile:
    """The plan file, checked to be this variant's (`check_plan_spec`) and to cover its `n`
    training images for at least its epochs."""
    plan = PlanFile(plan_path)
    check_plan_spec(plan_path, plan.spec, variant)
    if plan.n != n or plan.epochs < variant["epochs"]:
        raise DataError(
            f"{plan_path}: plan has {plan.epochs} epochs of {plan.n} images, variant {variant['name']} needs {variant['epochs']} of {n}"
        )
    return plan


def resumable_state(ckpt_path: Path, fingerprint: str, epochs: int) -> TrainState | None:
    """The checkpoint's state when it belongs to this run (`fingerprint`) and has epochs left to train."""
    resume = read_checkpoint(ckpt_path, fingerprint)
    if resume and resume.epoch >= epochs:
        return None  # a finished run's leftover: start clean (cannot happen unless outputs were removed by hand)
    return resume


def run_metrics(
    variant: dict,
    model,
    data: Data,
    result: Result,
    test: dict,
    probs: np.ndarray,
    plan_spec: dict,
    data_sha: str,
    timing: dict,
) -> dict:
    """metrics.json: test metrics, the history's summary, how the run ended, its inputs and provenance."""
    return {
        "variant": variant["name"],
        "set": variant["set"],
        "model": variant["model"],
        "loss": variant["loss"],
        **metrics_on_test_set(test, probs, data.test_labels, data.class_names),
        **history_summary(result.history, result.best_epoch),
        "epochs_run": int(result.epochs_run),
        "stopped_early": result.stopped_early,
        "stopped_epoch": result.stopped_epoch,
        "diverged": result.diverged,
        "diverged_epoch": result.diverged_epoch,
        "n_params": int(model.n_params),
        "weight_norm2": float(model.weight_norm2()),
        "n_train": len(data.train_labels),
        "config": variant,
        "plan": plan_spec,
        "data_sha256": data_sha,
        "timing": timing,
        "provenance": {**versions(), **code_version()},
    }


def write_run_files(
    outdir: Path,
    variant: dict,
    model,
    norm: Normalizer,
    data: Data,
    result: Result,
    probs: np.ndarray,
    metrics: dict,
) -> None:
    """weights.h5, predictions.h5, history.csv and metrics.json in `outdir`, each written atomically."""
    record = {
        "config": variant,
        "class_names": list(data.class_names),
        "data_sha256": metrics["data_sha256"],
        "provenance": metrics["provenance"],
    }
    attrs = dict(
        record,
        best_epoch=int(result.best_epoch),
        normalize=variant["normalize"],
        input_shape=list(data.train_images.shape[1:]),
        plan=metrics["plan"],
    )
    write_weights(
        outdir / "weights.h5",
        model.params,
        attrs,
        {"norm_mean": norm.mean, "norm_inv_std": norm.inv_std},
    )
    write_weights(
        outdir / "predictions.h5",
        {"probs": probs},
        record,
        {"labels": data.test_labels},
    )
    with atomic_output(outdir / "history.csv") as tmp:
        Path(tmp).write_text(history_csv(result.history), encoding="utf-8")
    write_json(outdir / "metrics.json", finite_or_none(metrics))  # a missing number (NaN) is null
