"""The training loop (solver): batching from epoch plans, schedules, history, early stopping.

Models know nothing about epochs; this module knows nothing about files (it opens none):
checkpoints go out through the `checkpoint` callback as a `TrainState` and come back as `resume`.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from cifarflow.data.augment import EpochPlan, mirror, plan_batch
from cifarflow.data.subset import Data
from cifarflow.nn.base import predict_from_scores, probabilities_from_scores
from cifarflow.nn.losses import get_loss
from cifarflow.nn.optim import learning_rate, sgd_update
from cifarflow.training.state import TrainSettings, TrainState

INIT_STREAM = 0x5EED_0002
EVAL_STREAM = 0x5EED_0003


def init_rng(seed: int) -> np.random.Generator:
    """The generator of a variant's weight initialisation (kept apart from the plans' streams)."""
    return np.random.default_rng([seed, INIT_STREAM])


def eval_subset(labels: np.ndarray, size, seed: int) -> np.ndarray | None:
    """Sorted indices of a stratified random subset of `size` training images, or None for all of them.

    size: an integer, or None / "all" for the whole training set (also when it is not smaller than
    the set). Each class gets its share of `size` in proportion to its count (largest remainders,
    ties to the lower label), drawn without replacement from a generator of its own
    (`[seed, EVAL_STREAM]`), so no other random draw of the variant changes.
    """
    if size is None or size == "all":
        return None
    size, n = int(size), len(labels)
    if size >= n:
        return None
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * size / n
    take = np.floor(exact).astype(np.int64)
    extra = size - int(take.sum())
    order = np.lexsort((classes, -(exact - take)))  # largest remainder first, then by label
    take[order[:extra]] += 1
    rng = np.random.default_rng([seed, EVAL_STREAM])
    picks = [rng.choice(np.flatnonzero(labels == c), size=int(k), replace=False) for c, k in zip(classes, take)]
    return np.sort(np.concatenate(picks))


class Normalizer:
    """Maps uint8 images (B, H, W, C) to float32 rows (B, H*W*C): (x - mean) / std.

    mode 'feature': one mean/std per pixel and channel; 'channel': per colour channel;
    'scale': x / 255. Statistics come from the variant's training images.
    """

    def __init__(self, mean: np.ndarray, std: np.ndarray, mode: str):
        self.mode = mode
        self.mean = np.ascontiguousarray(mean, dtype=np.float32).reshape(-1)
        self.inv_std = (1.0 / np.maximum(np.asarray(std, dtype=np.float64).reshape(-1), 1e-8)).astype(np.float32)

    @classmethod
    def from_images(cls, images: np.ndarray, mode: str = "feature", chunk: int = 1000) -> Normalizer:
        """Statistics of `images` (N, H, W, C) uint8, computed exactly by `data.splits.image_stats`."""
        from cifarflow.data.splits import image_stats  # defers h5py and PIL (data.sources): the solver reads no files

        size = int(np.prod(images.shape[1:]))
        if mode == "scale":
            return cls(np.zeros(size), np.full(size, 255.0), mode)
        if mode not in ("feature", "channel"):
            raise ValueError(f"unknown normalisation {mode!r}")
        mean, std, cmean, cstd = image_stats(images, chunk)
        if mode == "channel":
            mean, std = np.broadcast_to(cmean, images.shape[1:]), np.broadcast_to(cstd, images.shape[1:])
        return cls(mean, std, mode)

    @classmethod
    def from_split(cls, split, mode: str = "feature") -> Normalizer:
        """The same statistics as `from_images(split.train_images)`, read from the split file's `stats/`."""
        shape = split.mean.shape
        if mode == "scale":
            return cls(np.zeros(int(np.prod(shape))), np.full(int(np.prod(shape)), 255.0), mode)
        if mode == "channel":
            return cls(np.broadcast_to(split.channel_mean, shape), np.broadcast_to(split.channel_std, shape), mode)
        if mode != "feature":
            raise ValueError(f"unknown normalisation {mode!r}")
        return cls(split.mean, split.std, mode)

    def __call__(self, images: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The float32 rows of `images`; into `out` ((B, H*W*C) float32, overwritten) when given.

        Both ways compute the same numbers: uint8 -> float32 is exact, then one subtraction and
        one multiplication per element. A caller that reuses `out` for every batch saves
        allocating (and first touching) a new array each time.
        """
        x = images.reshape(len(images), -1)
        if out is None:
            out = x.astype(np.float32)
        else:
            np.copyto(out, x, casting="unsafe")
        out -= self.mean
        out *= self.inv_std
        return out

    def buffer(self, rows: int) -> np.ndarray:
        """An array for `out` of up to `rows` images (slice it to a batch's length)."""
        return np.empty((rows, self.mean.size), dtype=np.float32)


@dataclass
class Result:
    params: dict
    history: list
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    stopped_epoch: int | None
    diverged: bool
    diverged_epoch: int | None
    seconds: float
    resumed_from: int | None = None


def _scores(model, images: np.ndarray, norm: Normalizer, flip: bool, buf: np.ndarray | None = None) -> np.ndarray:
    """Scores of uint8 images; with `flip`, the mean of the scores of each image and its mirror image.

    buf: a `norm.buffer` of at least len(images) rows for the normalised images (overwritten).
    """
    rows = None if buf is None else buf[: len(images)]
    scores = model.scores(norm(images, rows))
    if flip:
        scores += model.scores(norm(mirror(images), rows))  # the bytes of images[:, :, ::-1]
        scores *= scores.dtype.type(0.5)
    return scores


def evaluate(
    model, images: np.ndarray, labels: np.ndarray, norm: Normalizer, lam: float, chunk: int = 1000, flip: bool = False
) -> dict:
    """Mean loss, cost (loss + lam * ||W||^2) and accuracy of `model` on a whole split, by chunks.

    flip: test-time augmentation, averaging the scores of each image and its horizontal mirror.
    """
    return _evaluate(model, images, labels, norm, lam, chunk, flip)[0]


def evaluate_and_predict(
    model, images: np.ndarray, labels: np.ndarray, norm: Normalizer, lam: float, chunk: int = 1000, flip: bool = False
) -> tuple[dict, np.ndarray]:
    """`evaluate` and `predict_all` from one pass over the images (the final test evaluation):
    the same chunks give the same scores, so both results equal the separate calls bit for bit."""
    return _evaluate(model, images, labels, norm, lam, chunk, flip, probabilities=True)


def _chunk_scores(model, images: np.ndarray, norm: Normalizer, chunk: int, flip: bool):
    """(start, scores) of each `chunk` images in turn, normalised into one reused buffer: the one
    pass that `evaluate`, `predict_all` and `evaluate_and_predict` share."""
    buf = norm.buffer(min(chunk, len(images)))
    for start in range(0, len(images), chunk):
        yield start, _scores(model, images[start : start + chunk], norm, flip, buf)


def _evaluate(model, images, labels, norm, lam, chunk, flip, probabilities=False):
    loss_fn = get_loss(model.loss_name, model.output)
    n = len(labels)
    total_loss, correct, parts = 0.0, 0, []
    for start, scores in _chunk_scores(model, images, norm, chunk, flip):
        y = labels[start : start + chunk]
        loss, _ = loss_fn(scores, y)
        total_loss += float(loss) * len(y)
        correct += int(np.count_nonzero(predict_from_scores(scores) == y))
        if probabilities:
            parts.append(probabilities_from_scores(scores, model.output))
    loss = total_loss / n
    metrics = {"loss": loss, "cost": loss + lam * float(model.weight_norm2()), "acc": correct / n}
    return metrics, (np.concatenate(parts).astype(np.float32) if probabilities else None)


def predict_all(model, images: np.ndarray, norm: Normalizer, chunk: int = 1000, flip: bool = False) -> np.ndarray:
    """Class probabilities (N, n_classes) float32 for every image (flip: as in `evaluate`)."""
    parts = [probabilities_from_scores(s, model.output) for _, s in _chunk_scores(model, images, norm, chunk, flip)]
    return np.concatenate(parts).astype(np.float32)


class PlanSource:
    """Where the batches of each epoch come from: a plan replayed on the images, or materialised images."""

    def __init__(self, plans: Callable[[int], EpochPlan], materialised: Callable[[int], np.ndarray] | None = None):
        self.plans = plans
        self.materialised = materialised

    def batches(
        self, images: np.ndarray, labels: np.ndarray, epoch: int, batch_size: int, chunk: int = 5000
    ) -> Iterable:
        """(uint8 images, labels) of each batch of `epoch`, augmenting a few thousand images at a time."""
        plan = self.plans(epoch)
        mat = self.materialised(epoch) if self.materialised else None
        n = len(plan.order)
        per_chunk = max(1, chunk // batch_size) * batch_size
        for c0 in range(0, n, per_chunk):
            c1 = min(c0 + per_chunk, n)
            block = mat[c0:c1] if mat is not None else plan_batch(images, plan, c0, c1)
            for start in range(c0, c1, batch_size):
                stop = min(start + batch_size, c1)
                yield block[start - c0 : stop - c0], labels[plan.order[start:stop]]


def _improved(monitor: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value < best if monitor == "val_loss" else value > best


def train(
    model,
    data: Data,
    plans: PlanSource,
    settings: dict | TrainSettings,
    norm: Normalizer,
    log: Callable[[str], None] = print,
    checkpoint: Callable[[TrainState], None] | None = None,
    resume: TrainState | None = None,
) -> Result:
    """Train `model` in place for settings.epochs epochs (or until early stopping or divergence).

    settings: a `TrainSettings`, or the resolved variant it is read from. `checkpoint(state)` is
    called after every completed epoch with a `TrainState` that `resume=state` continues from,
    giving bit-identical results.
    """
    if not isinstance(settings, TrainSettings):
        settings = TrainSettings.from_variant(settings)
    es, monitor = settings.early_stopping, settings.monitor
    eval_images, eval_labels = _train_eval_set(data, settings)

    def history_row(epoch: int, lr: float | None) -> dict:
        return _epoch_row(model, eval_images, eval_labels, data, norm, settings.lam, epoch, lr, 0.0, settings.test_flip)

    state = _resumed(model, resume, log) if resume else _started(model, settings, history_row(0, float("nan")), log)
    stopped_epoch = diverged_epoch = None
    last_good = _copy_params(model.params)
    rows = norm.buffer(settings.batch_size)  # every step's normalised batch (a step keeps no reference to it)
    start_epoch, start_seconds = state.epoch, state.seconds
    for epoch in range(state.epoch + 1, settings.epochs + 1):
        t0 = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            batches = plans.batches(data.train_images, data.train_labels, epoch, settings.batch_size)
            lr_first, finite = _sgd_epoch(model, batches, norm, settings, state, epoch, rows)
            row = history_row(epoch, lr_first) if finite else None
        state.seconds += time.perf_counter() - t0
        if row is None or not all(np.isfinite(row[k]) for k in ("train_loss", "val_loss")):
            diverged_epoch = epoch
            log(
                f"epoch {epoch}: the loss is no longer finite (NaN or inf): the variant diverged; keeping the weights of epoch {epoch - 1}"
            )
            model.params.update(last_good)
            break
        row["seconds"] = state.seconds
        state.history.append(row)
        state.epoch = epoch
        log(_progress(row, left=time_left(state.seconds - start_seconds, epoch - start_epoch, settings.epochs - epoch)))
        last_good = _copy_params(model.params)
        if monitor is not None:
            _track_best(model, state, monitor, row, epoch)
        if checkpoint:
            checkpoint(dataclasses.replace(state))
        if es and state.best["bad_epochs"] >= int(es["patience"]):
            stopped_epoch = epoch
            log(
                f"early stopping at epoch {epoch}: no improvement of {monitor} for {es['patience']} epochs; best epoch {state.best['epoch']}"
            )
            break
    return _result(model, state, monitor is not None, stopped_epoch, diverged_epoch, resume)


def _train_eval_set(data: Data, settings: TrainSettings) -> tuple[np.ndarray, np.ndarray]:
    """The training images and labels the history's train_* columns are measured on: all of them,
    or the `eval_subset` of settings.eval_train."""
    subset = eval_subset(data.train_labels, settings.eval_train, settings.seed)
    if subset is None:
        return data.train_images, data.train_labels
    return data.train_images[subset], data.train_labels[subset]


def _copy_params(params: dict) -> dict:
    return {k: v.copy() for k, v in params.items()}


def _started(model, settings: TrainSettings, row: dict, log: Callable[[str], None]) -> TrainState:
    """The state before epoch 1: `row` (epoch 0's history row, the initial weights) and no step taken."""
    # epoch 0 takes no step (its history lr is NaN): the line shows the rate epoch 1 starts with
    log(_progress(row, next_lr=learning_rate(settings.schedule, 0, 1)))
    best = {"epoch": 0, "score": None, "bad_epochs": 0}
    best_params = None
    if settings.monitor is not None:
        best["score"] = row[settings.monitor]
        best_params = _copy_params(model.params)
    return TrainState(
        epoch=0,
        step=0,
        params=model.params,
        opt_state={k: {} for k in model.params},
        history=[row],
        best=best,
        best_params=best_params,
        seconds=0.0,
    )


def _resumed(model, resume: TrainState, log: Callable[[str], None]) -> TrainState:
    """The state of `resume` (a checkpoint), copied; its weights loaded into `model`."""
    model.params.update(_copy_params(resume.params))
    log(f"resumed from the checkpoint of epoch {resume.epoch}")
    return TrainState(
        epoch=int(resume.epoch),
        step=int(resume.step),
        params=model.params,
        opt_state=copy.deepcopy(resume.opt_state),
        history=list(resume.history),
        best=dict(resume.best),
        best_params=_copy_params(resume.best_params) if resume.best_params else None,
        seconds=float(resume.seconds),
    )


def _sgd_epoch(
    model, batches: Iterable, norm: Normalizer, settings: TrainSettings, state: TrainState, epoch: int, rows: np.ndarray
) -> tuple[float | None, bool]:
    """One epoch's SGD steps on `batches`, updating model.params, state.opt_state and state.step in
    place. Returns (the learning rate of its first step, False if a loss was not finite: the
    epoch stops at that batch)."""
    lr_first = None
    for xb, yb in batches:
        lr = learning_rate(settings.schedule, state.step, epoch)
        lr_first = lr if lr_first is None else lr_first
        loss, _, grads = model.loss(norm(xb, rows[: len(xb)]), yb, settings.lam)
        if not np.isfinite(loss):
            return lr_first, False
        for name, w in model.params.items():
            model.params[name], state.opt_state[name] = sgd_update(
                w, grads[name], state.opt_state[name], lr, settings.momentum, settings.nesterov, overwrite_dw=True
            )
        state.step += 1
    return lr_first, True


def _track_best(model, state: TrainState, monitor: str, row: dict, epoch: int) -> None:
    """Keep the weights of `epoch` as the best when row[monitor] improved on the best so far;
    otherwise count one more epoch without improvement (early stopping's patience)."""
    if _improved(monitor, row[monitor], state.best["score"]):
        state.best.update(epoch=epoch, score=row[monitor], bad_epochs=0)
        state.best_params = _copy_params(model.params)
    else:
        state.best["bad_epochs"] += 1


def _result(
    model, state: TrainState, keep_best: bool, stopped_epoch: int | None, diverged_epoch: int | None, resume
) -> Result:
    """The `Result` of a finished loop; with `keep_best`, the model gets the best epoch's weights back."""
    epochs_run = state.history[-1]["epoch"]
    if keep_best and state.best_params is not None:
        model.params.update(state.best_params)
        best_epoch = state.best["epoch"]
    else:
        best_epoch = epochs_run
    return Result(
        params=model.params,
        history=state.history,
        best_epoch=best_epoch,
        epochs_run=epochs_run,
        stopped_early=stopped_epoch is not None,
        stopped_epoch=stopped_epoch,
        diverged=diverged_epoch is not None,
        diverged_epoch=diverged_epoch,
        seconds=state.seconds,
        resumed_from=int(resume.epoch) if resume else None,
    )


def _epoch_row(
    model,
    eval_images,
    eval_labels,
    data: Data,
    norm: Normalizer,
    lam: float,
    epoch: int,
    lr: float | None,
    seconds: float,
    tta: bool = False,
) -> dict:
    """One history row: train_* on `eval_images` (the training set or its `eval_train` subset), val_* on the validation set."""
    tr = evaluate(model, eval_images, eval_labels, norm, lam)
    va = evaluate(model, data.val_images, data.val_labels, norm, lam, flip=tta)
    return {
        "epoch": epoch,
        "lr": float("nan") if lr is None else float(lr),
        "train_loss": tr["loss"],
        "train_cost": tr["cost"],
        "train_acc": tr["acc"],
        "val_loss": va["loss"],
        "val_cost": va["cost"],
        "val_acc": va["acc"],
        "weight_norm2": float(model.weight_norm2()),
        "seconds": seconds,
    }


def time_left(seconds: float, epochs_done: int, epochs_left: int) -> float | None:
    """The seconds the remaining epochs would take at the mean pace of the epochs this process has
    trained so far (None before the first one). Early stopping may end sooner."""
    if epochs_done <= 0:
        return None
    return seconds / epochs_done * epochs_left


def _progress(row: dict, next_lr: float | None = None, left: float | None = None) -> str:
    """One epoch's log line; `next_lr` (epoch 0, which takes no step) is the rate epoch 1 starts with;
    `left`, the estimated seconds to the last epoch, is shown while epochs remain."""
    lr = f"{row['lr']:.3g}" if next_lr is None else f"{next_lr:.3g} (from epoch 1)"
    line = (
        f"epoch {row['epoch']:3d}  lr {lr}  train loss {row['train_loss']:.4f} cost {row['train_cost']:.4f} "
        f"acc {100 * row['train_acc']:.2f}%  val loss {row['val_loss']:.4f} acc {100 * row['val_acc']:.2f}%  "
        f"{row['seconds']:.1f}s"
    )
    return line if left is None or left <= 0 else f"{line}  about {format_duration(left)} left"


def format_duration(seconds: float) -> str:
    """12s, 3m05s, 1h02m: how long, to the second below an hour."""
    s = round(seconds)
    if s < 1:
        return "under 1s"
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
