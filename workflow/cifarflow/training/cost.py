"""What a training run costs in CPU time, estimated before it runs: the one cost model the search
budget (`budget_cpu_minutes`, check-config's estimate) reads.

The model: an epoch trains on every training image once and evaluates `eval_train` training
images and the validation images (a forward pass, counted as EVAL_PASS of a training image);
a job adds JOB_SECONDS (start-up, reading the split, writing the run files) and one evaluation
of the 10,000 test images. A training image costs SECONDS_PER_10K[kind] = (a, b): a + b x (the
model's weights in millions) seconds per 10,000 images, one thread.

Where the numbers come from: the real-data default run's metrics.json `timing` (train_seconds
per epoch; total_seconds - train_seconds for the job's own work), `--cores 2` on the project's
2-core AMD EPYC (AVX2), two jobs at a time, at commit 3dfd226: the linear models' full-data epoch
(49,000 images, 10,000 + 1,000 evaluated) 0.5-0.86 s, MLP [100] 2.1 s (every training image
evaluated), MLP [256] 3.0 s, MLP [1024, 512] 14.1 s (docs/search.md), the patchify ConvNet
5.8 s and the small ConvNet 47 s; the jobs' own work 0.4-1.8 s (11.7 s for the small ConvNet's
test evaluation). The linear fit a + b x weights is within about 20% of each of these; the
machine's speed itself drifts by 5-20% from hour to hour (docs/performance.md). Another machine
scales every figure: re-measure with `python tools/bench.py` and update the table here.
"""

from __future__ import annotations

from collections.abc import Mapping

INPUT_DIM = 32 * 32 * 3
TEST_IMAGES = 10_000
CIFAR_TRAIN = 50_000  # the five training batches
BATCH_IMAGES = 10_000
EVAL_PASS = 1 / 3  # an evaluated image: a forward pass, about a third of a training step
JOB_SECONDS = 1.0  # a training job's start-up and bookkeeping besides its epochs and test pass
# seconds per 10,000 images (one training step each): a + b x million weights, per model kind;
# the ConvNet's weights say little about its work, so its presets have figures of their own
# (custom `layers` use the small preset's, the slower one).
SECONDS_PER_10K = {
    "softmax": (0.09, 0.70),
    "sigmoid": (0.09, 0.70),
    "logistic": (0.09, 0.70),
    "mlp": (0.09, 0.70),
    "convnet-patchify": (1.1, 0.0),
    "convnet-small": (8.9, 0.0),
}


def n_weights(variant: Mapping) -> int:
    """Weights of a linear model or an MLP on 32x32x3 inputs (the ConvNet's are not used)."""
    k = 1 if variant["model"] == "logistic" else len(variant.get("classes") or range(10))
    widths = [INPUT_DIM, *(variant.get("hidden") or [])] if variant["model"] == "mlp" else [INPUT_DIM]
    widths.append(k)
    return sum((a + 1) * b for a, b in zip(widths, widths[1:]))


def image_counts(variant: Mapping, splits: Mapping) -> tuple[int, int, int]:
    """(training images, validation images, evaluated training images) of a variant's split, its
    classes (a share of the ten) and train_limit."""
    split = splits[variant["split"]]
    if split["type"] == "batches":
        n_train, n_val = BATCH_IMAGES * len(split["train"]), BATCH_IMAGES * len(split["val"])
    else:
        n_val = int(split["val_size"])
        n_train = CIFAR_TRAIN - n_val
    share = len(variant.get("classes") or range(10)) / 10
    n_train, n_val = int(n_train * share), int(n_val * share)
    if variant.get("train_limit"):
        n_train = min(n_train, int(variant["train_limit"]))
    ev = variant.get("eval_train")
    n_eval = n_train if ev in (None, "all") else min(int(ev), n_train)
    return n_train, n_val, n_eval


def seconds_per_10k(variant: Mapping) -> float:
    """CPU seconds of 10,000 training steps' images of this variant's model (SECONDS_PER_10K)."""
    model = variant["model"]
    if model == "convnet":
        patchify = not variant.get("layers") and variant.get("preset") in (None, "patchify")
        return SECONDS_PER_10K["convnet-patchify" if patchify else "convnet-small"][0]
    a, b = SECONDS_PER_10K[model]
    return a + b * n_weights(variant) / 1e6


def epoch_seconds(variant: Mapping, splits: Mapping) -> float:
    """Estimated CPU seconds of one epoch (training steps, then the history's evaluation)."""
    n_train, n_val, n_eval = image_counts(variant, splits)
    return seconds_per_10k(variant) * (n_train + EVAL_PASS * (n_eval + n_val)) / 10_000


def job_seconds(variant: Mapping, splits: Mapping) -> float:
    """Estimated CPU seconds of a training job besides its epochs (start-up, test evaluation)."""
    return JOB_SECONDS + seconds_per_10k(variant) * EVAL_PASS * TEST_IMAGES / 10_000


def run_seconds(variant: Mapping, splits: Mapping, epochs: int | None = None) -> float:
    """Estimated CPU seconds of a whole training job of `variant` (with `epochs` if given)."""
    e = variant["epochs"] if epochs is None else epochs
    return e * epoch_seconds(variant, splits) + job_seconds(variant, splits)
