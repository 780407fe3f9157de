"""Benchmark suite (a developer tool, outside the runtime package): `python tools/bench.py [--quick] [--models ...] [--out results/bench/bench.json]`.

Everything runs on ONE thread, float32, batch 100 (BLAS/OpenMP are pinned before NumPy loads,
as `python -m cifarflow --threads 1` does; threadpoolctl verifies it when installed). Per model
(`MODELS`: softmax, sigmoid, mlp50/100/256, convnet-patchify, convnet-small):

- step: images/s of one training step of the real model (`cifarflow.nn.models.build_model`:
  `model.loss` = forward + loss + backward, then `optim.sgd_update` on every parameter, as in
  `cifarflow.training.solver.train`), on float32 batches that are already normalised; the median of
  interleaved repeats. With PyTorch importable, the same shapes in eager PyTorch
  (`torch.set_num_threads(1)`, autograd, `torch.optim.SGD`), and the ratio NumPy / PyTorch
  (the median of the paired per-repeat ratios of CPU time, robust to other processes).
- roofline: the step's GEMM FLOPs over the machine's measured single-thread sgemm rate, and a
  lower bound of the bytes it moves over the measured copy bandwidth; `fraction_of_limit` is
  max(both times) / measured step time (1.0 = at the machine's limit), all by CPU time.
- epoch: seconds of one epoch of `cifarflow.training.solver.train` on all training images of the split
  (augmentation flip 0.5 + translate 3 from an epoch plan, the steps, and the per-epoch
  evaluation of the train and validation splits), i.e. the `seconds` the solver records.

Once per run: the peak RSS of a full-data linear training job (`python -m cifarflow --threads 1
train` as a subprocess, 1 epoch), and the wall time of `python -m cifarflow import` on the shared
JPEG archive (preprocessing 60,000 JPEGs into HDF5). With `--profile`, a cProfile breakdown of
one softmax epoch by phase. With `--floor`, what NumPy/OpenBLAS itself reaches here: each linear
and MLP step's matrix products timed alone at their own shapes (the fraction of the sgemm rate a
step could reach if nothing else took time), and a stripped softmax epoch doing only the
unavoidable work (`epoch_floor`), beside the epoch's bandwidth limit.

Data: the real split (`--split`, default results/data/split_full.h5; built from `--archive` when
missing and the archive exists), else random uint8 images of the same shape (`--data random`).
Writes JSON and a tidy CSV (section, model, metric, value, unit) and prints a table.

The NumPy figures depend on the OpenBLAS kernel, which the table names. Where the environment
forces one (OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, e.g. Haswell, set for old OpenBLAS builds on new
CPUs), a current NumPy runs slower kernels than its own choice while PyTorch keeps its own
(oneDNN/MKL) kernels; the step throughputs are then measured twice: in this environment, and in a
child process with both variables removed ("NumPy's own kernel", `--blas own` to measure only
that; `--blas env` for this environment only). Both are reported; the step targets are judged on
NumPy's own kernel, the like-for-like comparison with PyTorch's own kernels. On a 2-core machine
shared with other work, compare runs at a low load average (printed at the end) and re-measure
before quoting a number.
"""

import os
import re
import sys

# This checkout's package, here and in every child process (`python -m cifarflow ...`).
WORKFLOW_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "workflow")
sys.path.insert(0, WORKFLOW_DIR)
os.environ["PYTHONPATH"] = os.pathsep.join(
    [WORKFLOW_DIR] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)
BENCH = os.path.abspath(__file__)

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

if __name__ == "__main__":  # before NumPy loads (see cifarflow/__main__.py)
    for _var in THREAD_VARS:
        os.environ[_var] = "1"
    from cifarflow.__main__ import _keep_freed_memory

    _keep_freed_memory()  # as a training job does (`python -m cifarflow train`)

import argparse  # noqa: E402
import cProfile  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from cifarflow.data.augment import make_epoch_plan  # noqa: E402
from cifarflow.nn.conv import conv_output_shape  # noqa: E402
from cifarflow.nn.models import build_model  # noqa: E402
from cifarflow.nn.optim import sgd_update  # noqa: E402

SCHEMA = "cifarflow-bench/1"
IMAGE_SHAPE = (32, 32, 3)
N_CLASSES = 10
BATCH = 100
N_TRAIN_FULL = 49_000
FULL_SPLIT = {"type": "holdout", "val_size": 1000, "seed": 0}  # config.yaml's `full` split
AUGMENTATION = {"flip": 0.5, "translate": 3}  # config.yaml's `flip_translate`

# name -> model spec (the keys of a variant that build_model reads)
MODELS = {
    "softmax": {"model": "softmax"},
    "sigmoid": {"model": "sigmoid"},
    "mlp50": {"model": "mlp", "hidden": [50]},
    "mlp100": {"model": "mlp", "hidden": [100]},
    "mlp256": {"model": "mlp", "hidden": [256]},
    "convnet-patchify": {"model": "convnet", "preset": "patchify"},
    "convnet-small": {"model": "convnet", "preset": "small"},
}
# the issue's targets: NumPy/PyTorch step throughput (at least), epoch and preprocessing seconds
# and training-job RSS (at most)
STEP_RATIO_TARGET = {
    "softmax": 1.5,
    "sigmoid": 1.5,
    "mlp50": 1.5,
    "mlp100": 1.5,
    "mlp256": 1.5,
    "convnet-patchify": 1.0,
    "convnet-small": 1.0,
}
# ... or, for a model bound by matrix products (its GEMM time bound exceeds its memory bound), this
# fraction of the machine's measured sgemm rate: the MLPs meet their target by either bound, the
# ConvNets need both (issue 19)
SGEMM_FRACTION_TARGET = {"mlp50": 0.8, "mlp100": 0.8, "mlp256": 0.8, "convnet-patchify": 0.5, "convnet-small": 0.5}
FORCED_BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
EPOCH_TARGET_S = 0.5
EPOCH_BANDWIDTH_FACTOR = 3.0  # a full-data linear epoch within this factor of its memory-bandwidth limit
RSS_TARGET_MB = 600.0
IMPORT_TARGET_S = 10.0
IMPORT_THREADS = 2  # workflow/rules/data.smk, rule import_data: threads


# ---- threads and environment -------------------------------------------------------------------


def thread_check() -> dict:
    """The BLAS/OpenMP pools and their thread counts (threadpoolctl), limited to 1 if needed."""
    try:
        import threadpoolctl
    except ImportError:
        return {"checked": False, "note": "threadpoolctl is not installed: thread check skipped"}
    pools = threadpoolctl.threadpool_info()
    out = {
        "checked": True,
        "pools": [
            {k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "version", "architecture")} for p in pools
        ],
        "one_thread": all(p["num_threads"] == 1 for p in pools),
    }
    if not out["one_thread"]:  # e.g. imported after NumPy loaded: limit for this process
        threadpoolctl.threadpool_limits(1)
        out["limited_by_threadpoolctl"] = True
    return out


def environment() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "thread_env": {v: os.environ.get(v) for v in THREAD_VARS},
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def _torch():
    """The torch module pinned to one thread, or None when it is not importable."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass
    return torch


# ---- timing helpers ----------------------------------------------------------------------------


def _median(xs):
    return float(np.median(np.asarray(xs, dtype=np.float64)))


def _cpu_times(fn, repeats: int) -> list:
    """CPU seconds of each of `repeats` calls (on one thread: the time the core worked on it)."""
    out = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        out.append(max(time.process_time() - t0, 1e-9))
    return out


def machine_limits(quick: bool = False, repeats: int = 5) -> dict:
    """Single-thread float32 GEMM rate (GFLOP/s) and copy bandwidth (GB/s, read + write), from the
    best repeat by CPU time (other processes on the machine lower them less than the wall clock)."""
    n = 256 if quick else 1024
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=c)
    t = _cpu_times(lambda: np.matmul(a, b, out=c), repeats)
    gflops = 2.0 * n**3 / min(t) / 1e9  # the best repeat: the machine's limit, not its noise
    size = (16 if quick else 256) << 20
    src = np.ones(size // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    t = _cpu_times(lambda: np.copyto(dst, src), repeats)
    gbs = 2.0 * src.nbytes / min(t) / 1e9
    return {
        "sgemm_gflops": gflops,
        "sgemm_shape": [n, n, n],
        "copy_gbs": gbs,
        "copy_mib": size >> 20,
        "repeats": repeats,
    }


# ---- models: build, count, step ----------------------------------------------------------------


def build(name: str, seed: int = 0):
    return build_model(dict(MODELS[name]), IMAGE_SHAPE, N_CLASSES, np.random.default_rng(seed), np.float32)


def step_cost(model, batch: int) -> dict:
    """GEMM FLOPs of one training step (forward, weight gradients, input gradients except the
    first layer's) and a lower bound of the bytes it moves: the input read twice (forward and
    weight gradient), parameters read (forward), gradients written, parameters read and written
    (update)."""
    flops = 0
    d_in = int(np.prod(IMAGE_SHAPE))
    if hasattr(model, "plan"):  # ConvNet: walk the layers with their shapes
        shape = model.input_shape
        first = True
        for kind, o, i in model.plan:
            if kind == "conv":
                f, kh, kw, c = model.params[f"W{i}"].shape
                ho, wo = conv_output_shape(shape[0], shape[1], (kh, kw), o["stride"], o["pad"])
                gemm = 2 * batch * ho * wo * kh * kw * c * f
                flops += gemm * (2 if first else 3)
                shape, first = (ho, wo, f), False
            elif kind == "pool":
                ho, wo = conv_output_shape(shape[0], shape[1], o["size"], o["stride"], 0)
                shape = (ho, wo, shape[2])
            elif kind == "fc":
                units, d = model.params[f"W{i}"].shape
                flops += 2 * batch * d * units * (2 if first else 3)
                shape, first = (units,), False
    else:
        for j, k in enumerate(model.weight_keys):
            units, d = model.params[k].shape
            flops += 2 * batch * d * units * (2 if j == 0 else 3)
    n_params = int(sum(p.size for p in model.params.values()))
    nbytes = 4 * (2 * batch * d_in + 4 * n_params)
    return {"flops": int(flops), "bytes": int(nbytes), "n_params": n_params}


def batches(n_batches: int, batch: int, seed: int = 0):
    """A pool of normalised-like float32 batches (N, 3072) with int64 labels."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_batches, batch, int(np.prod(IMAGE_SHAPE))), dtype=np.float32)
    y = rng.integers(0, N_CLASSES, size=(n_batches, batch))
    return [(x[i], y[i]) for i in range(n_batches)]


def numpy_step_fn(model, pool, lr: float = 1e-3):
    """A function running `steps` training steps as `cifarflow.training.solver.train` does them."""
    state = {k: {} for k in model.params}

    def run(steps: int):
        for s in range(steps):
            x, y = pool[s % len(pool)]
            _, _, grads = model.loss(x, y, 0.0)
            for k, w in model.params.items():
                model.params[k], state[k] = sgd_update(w, grads[k], state[k], lr, overwrite_dw=True)

    return run


def torch_model(torch, model):
    """The numpy `model`'s architecture in PyTorch (NCHW for convolutions, as a PyTorch user
    writes it), and the loss a PyTorch user would use for its output."""
    nn = torch.nn
    layers = []
    if hasattr(model, "plan"):
        c = model.input_shape[2]
        for kind, o, i in model.plan:
            if kind == "conv":
                f, k, _, _ = model.params[f"W{i}"].shape
                layers.append(nn.Conv2d(c, f, k, stride=o["stride"], padding=o["pad"]))
                c = f
            elif kind == "relu":
                layers.append(nn.ReLU())
            elif kind == "pool":
                layers.append(nn.MaxPool2d(o["size"], o["stride"]))
            elif kind == "flatten":
                layers.append(nn.Flatten())
            else:
                units, d = model.params[f"W{i}"].shape
                layers.append(nn.Linear(d, units))
    else:
        for j, k in enumerate(model.weight_keys):
            units, d = model.params[k].shape
            if j:
                layers.append(nn.ReLU())
            layers.append(nn.Linear(d, units))
    return nn.Sequential(*layers).float()


def torch_step_fn(torch, model, pool, lr: float = 1e-3):
    """Eager PyTorch training steps (autograd, torch.optim.SGD) on the same batches."""
    import torch.nn.functional as F

    net = torch_model(torch, model)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    conv = hasattr(model, "plan")
    tpool = []
    for x, y in pool:
        tx = torch.from_numpy(np.ascontiguousarray(x))
        if conv:  # NCHW, contiguous: what a PyTorch data loader hands over
            tx = tx.reshape(-1, *IMAGE_SHAPE).permute(0, 3, 1, 2).contiguous()
        tpool.append((tx, torch.from_numpy(y)))
    sigmoid = model.output == "sigmoid"

    def run(steps: int):
        for s in range(steps):
            x, y = tpool[s % len(tpool)]
            opt.zero_grad(set_to_none=True)
            out = net(x)
            if sigmoid:
                loss = F.binary_cross_entropy_with_logits(out, F.one_hot(y, N_CLASSES).to(out.dtype))
            else:
                loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()

    return run


def _calibrate(run, target_s: float, max_steps: int = 2000) -> int:
    """Steps per repeat so that one repeat takes about target_s (after one warm-up step)."""
    run(1)
    t0 = time.perf_counter()
    run(2)
    per = max((time.perf_counter() - t0) / 2, 1e-6)
    return int(min(max_steps, max(2, round(target_s / per))))


def bench_steps(
    name: str, batch: int = BATCH, repeats: int = 7, target_s: float = 0.25, torch=None, quick: bool = False
) -> dict:
    """Step throughput of model `name` in NumPy (and PyTorch when given), repeats interleaved.

    Each repeat is timed by the wall clock and by this process's CPU time; on one thread the two
    agree on an idle machine, and the CPU time leaves out the time other processes held the core.
    images_per_s: the median over repeats (wall clock). numpy_over_torch: the median over repeats
    of the paired ratio (NumPy repeat i / PyTorch repeat i, which ran right after it), by CPU time.
    """
    model = build(name)
    pool = batches(2 if quick else 8, batch)
    runners = {"numpy": numpy_step_fn(model, pool)}
    if torch is not None:
        runners["torch"] = torch_step_fn(torch, model, pool)
    steps = {k: _calibrate(r, target_s, max_steps=2 if quick else 2000) for k, r in runners.items()}
    wall = {k: [] for k in runners}
    cpu = {k: [] for k in runners}
    for _ in range(repeats):
        for k, r in runners.items():
            c0, t0 = time.process_time(), time.perf_counter()
            r(steps[k])
            wall[k].append((time.perf_counter() - t0) / steps[k])
            cpu[k].append(max(time.process_time() - c0, 1e-9) / steps[k])
    out = {"spec": MODELS[name], "batch": batch, **step_cost(model, batch)}
    for k, ts in wall.items():
        t = _median(ts)
        out[k] = {
            "images_per_s": batch / t,
            "steps_per_s": 1.0 / t,
            "ms_per_step": 1e3 * t,
            "images_per_s_cpu": batch / _median(cpu[k]),
            "steps_per_repeat": steps[k],
            "repeats_images_per_s": [batch / x for x in ts],
        }
    out.setdefault("torch", None)
    out["numpy_over_torch"] = (
        _median([tt / tn for tn, tt in zip(cpu["numpy"], cpu["torch"])]) if torch is not None else None
    )
    out["numpy_over_torch_wall"] = (
        out["numpy"]["images_per_s"] / out["torch"]["images_per_s"] if torch is not None else None
    )
    return out


def epoch_bandwidth_limit(n_train: int, n_eval: int, copy_gbs: float, d: int = int(np.prod(IMAGE_SHAPE))) -> dict:
    """A lower bound of a linear model's epoch time from the bytes it must move at the measured
    copy bandwidth: per training image its uint8 pixels read (d B), the normalised float32 row
    written (4d) and read by the forward and the weight-gradient GEMMs (8d); per evaluated image
    (validation set and the `eval_train` images) the pixels read, the row written and read once
    (9d). Weights and scores are a few KB and stay in cache."""
    nbytes = n_train * 13 * d + n_eval * 9 * d
    return {"bytes": int(nbytes), "seconds": nbytes / (copy_gbs * 1e9)}


def add_roofline(row: dict, limits: dict) -> None:
    """Lower-bound step times from the machine limits and the measured fraction of them."""
    t_flops = row["flops"] / (limits["sgemm_gflops"] * 1e9)
    t_bytes = row["bytes"] / (limits["copy_gbs"] * 1e9)
    row["limit_ms_flops"] = 1e3 * t_flops
    row["limit_ms_bytes"] = 1e3 * t_bytes
    for k in ("numpy", "torch"):
        if row.get(k):  # by CPU time, as the limits
            t = row["batch"] / row[k]["images_per_s_cpu"]
            row[k]["fraction_of_limit"] = max(t_flops, t_bytes) / t
            row[k]["gflops"] = row["flops"] / t / 1e9


# ---- data and epochs ---------------------------------------------------------------------------


def random_data(n_train: int = N_TRAIN_FULL, n_val: int = 1000, n_test: int = 100, seed: int = 0):
    """cifarflow.data.subset.Data of random uint8 images of the real shapes."""
    from cifarflow.data.subset import Data

    rng = np.random.default_rng(seed)
    img = lambda n: rng.integers(0, 256, size=(n, *IMAGE_SHAPE), dtype=np.uint8)  # noqa: E731
    lab = lambda n: rng.integers(0, N_CLASSES, size=n).astype(np.int64)  # noqa: E731
    return Data(
        img(n_train),
        lab(n_train),
        img(n_val),
        lab(n_val),
        img(n_test),
        lab(n_test),
        tuple(f"c{i}" for i in range(N_CLASSES)),
    )


def split_data(path):
    """cifarflow.data.subset.Data of a split file, as `python -m cifarflow train` loads it."""
    from cifarflow.data.splits import load_split
    from cifarflow.data.subset import load_variant_data

    return load_variant_data(load_split(path), {"name": "bench", "classes": None, "train_limit": None})


def epoch_settings(name: str, batch: int = BATCH) -> dict:
    """A resolved variant for one epoch of model `name` (schema defaults otherwise)."""
    from cifarflow.config import default_settings
    from cifarflow.nn.registry import MODEL_LOSSES

    s = default_settings()
    s.update(MODELS[name], epochs=1, batch_size=batch, augmentation="flip_translate", name=f"bench-{name}", set="bench")
    s["loss"] = s["loss"] or MODEL_LOSSES[s["model"]][0]
    return s


def _epoch_once(name: str, data, norm, batch: int):
    from cifarflow.training.solver import PlanSource, init_rng, train

    s = epoch_settings(name, batch)
    model = build_model(s, data.train_images.shape[1:], len(data.class_names), init_rng(s["seed"]), np.float32)
    n = len(data.train_labels)
    plans = PlanSource(lambda e: make_epoch_plan(n, e, s["seed"], s["shuffle"], **AUGMENTATION))
    c0, t0 = time.process_time(), time.perf_counter()
    res = train(model, data, plans, s, norm, log=lambda m: None)
    return res.seconds, time.perf_counter() - t0, time.process_time() - c0


def bench_epoch(name: str, data, norm=None, batch: int = BATCH, max_repeats: int = 3, budget_s: float = 10.0) -> dict:
    """Seconds of epoch 1 of `cifarflow.training.solver.train` (steps on augmented batches + evaluation of
    the train and val splits), the median over repeats (up to max_repeats within budget_s)."""
    from cifarflow.training.solver import Normalizer

    norm = norm or Normalizer.from_images(data.train_images, "feature")
    epochs, calls, cpus = [], [], []
    t_start = time.perf_counter()
    while len(epochs) < max_repeats and (not epochs or time.perf_counter() - t_start < budget_s):
        e, c, p = _epoch_once(name, data, norm, batch)
        epochs.append(e)
        calls.append(c)
        cpus.append(p)
    from cifarflow.training.solver import eval_subset

    s = epoch_settings(name, batch)
    sub = eval_subset(data.train_labels, s.get("eval_train"), s["seed"])
    return {
        "seconds": _median(epochs),
        "n_eval_train": int(len(data.train_labels) if sub is None else len(sub)),
        "repeats_seconds": epochs,
        "train_call_seconds": _median(calls),  # also the initial (epoch 0) evaluation
        # CPU time / wall time of the whole call: 1.0 when the core was this process's alone
        "cpu_share": _median([p / c for p, c in zip(cpus, calls)]),
        # what the epoch would take with the core to itself (seconds x cpu_share, an estimate)
        "cpu_seconds_est": _median([e * p / c for e, p, c in zip(epochs, cpus, calls)]),
        "n_train": int(len(data.train_labels)),
        "n_val": int(len(data.val_labels)),
        "images_per_s": len(data.train_labels) / _median(epochs),
    }


# cProfile phases of one epoch: (phase, function name, file suffix, caller function or None).
# The evaluation parts are found as "all calls minus the training loop's", so that they do not
# depend on which helper of `evaluate` makes the call.
PHASES = (
    ("augment (plan_batch: gather, flip, shift)", "plan_batch", "data/augment.py", None),
    ("normalise training batches (uint8 -> float32)", "__call__", "training/solver.py", "_sgd_epoch"),
    ("forward (affine GEMM + bias)", "forward", "nn/models.py", "loss"),
    ("loss (softmax cross-entropy)", "cross_entropy", "nn/losses.py", "loss"),
    ("backward (weight-gradient GEMM)", "backward", "nn/models.py", "loss"),
    ("SGD update", "sgd_update", "nn/optim.py", None),
    ("learning rate", "learning_rate", "nn/optim.py", None),
    ("evaluation of the train and val splits", "evaluate", "training/solver.py", None),
)
EVALUATION_PARTS = (  # (part, function, file suffix, the training loop's share to subtract)
    ("evaluation: normalise", "__call__", "training/solver.py", "_sgd_epoch"),
    ("evaluation: scores GEMM", "scores", "nn/models.py", None),
    ("evaluation: loss", "cross_entropy", "nn/losses.py", "loss"),
)


def _cumtime(stats: pstats.Stats, func: str, suffix: str, caller: str | None) -> float:
    total = 0.0
    for (fname, _, fn), (_, _, _, ct, callers) in stats.stats.items():
        if fn != func or not fname.endswith(suffix):
            continue
        if caller is None:
            total += ct
        else:
            total += sum(v[3] for (_, _, cn), v in callers.items() if cn == caller)
    return total


def profile_epoch(data, name: str = "softmax", batch: int = BATCH, norm=None) -> dict:
    """cProfile of one epoch of `train` for model `name`: seconds per phase (PHASES, which add up
    to the epoch with "other"), and the evaluation's parts; cProfile's overhead is included."""
    from cifarflow.training.solver import Normalizer

    norm = norm or Normalizer.from_images(data.train_images, "feature")
    _epoch_once(name, data, norm, batch)  # warm-up
    prof = cProfile.Profile()
    prof.enable()
    _epoch_once(name, data, norm, batch)
    prof.disable()
    stats = pstats.Stats(prof)
    # train() evaluates twice (epoch 0 before the loop, epoch 1 after it): keep one evaluation
    evaluation = _cumtime(stats, "evaluate", "training/solver.py", None) / 2
    epoch = _cumtime(stats, "train", "training/solver.py", None) - evaluation
    phases = {label: _cumtime(stats, f, s, c) for label, f, s, c in PHASES}
    phases[PHASES[-1][0]] = evaluation
    phases["other (loop, batching, Python overhead)"] = epoch - sum(phases.values())
    parts = {
        label: (_cumtime(stats, f, s, None) - (_cumtime(stats, f, s, loop) if loop else 0.0)) / 2
        for label, f, s, loop in EVALUATION_PARTS
    }
    return {
        "model": name,
        "profiled_epoch_seconds": epoch,
        "phases": phases,
        "evaluation_parts": parts,
        "note": "cProfile cumulative times of one epoch (epoch 0's evaluation removed); profiling adds overhead",
    }


# ---- floors: what NumPy/OpenBLAS reaches here at the models' own shapes --------------------------


def step_gemms(model, batch: int) -> list:
    """The matrix products of one training step of a linear model or MLP, as `cifarflow.nn.layers`
    computes them: per layer the forward `x @ w.T`, the weight gradient `dout.T @ x` and, except
    for the first layer, the input gradient `dout @ w`. Returns [(what, (m, k, n), flops)]."""
    out = []
    for j, key in enumerate(model.weight_keys):
        units, d = model.params[key].shape
        flops = 2 * batch * d * units
        out.append((f"{key} forward x @ W.T", (batch, d, units), flops))
        out.append((f"{key} weight gradient dout.T @ x", (units, batch, d), flops))
        if j:
            out.append((f"{key} input gradient dout @ W", (batch, units, d), flops))
    return out


def gemm_floor(name: str, limits: dict, batch: int = BATCH, repeats: int = 7, target_s: float = 0.02) -> dict | None:
    """The rate of the step's matrix products alone (linear models and MLPs; None for ConvNets),
    each timed by CPU time in interleaved repeats on arrays of its own shapes: the fraction of
    the machine's sgemm rate a step could reach if nothing but its products took time."""
    model = build(name)
    if hasattr(model, "plan"):
        return None
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, int(np.prod(IMAGE_SHAPE))), dtype=np.float32)
    calls = []
    for j, key in enumerate(model.weight_keys):
        w = model.params[key]
        inp = x if j == 0 else rng.standard_normal((batch, w.shape[1]), dtype=np.float32)
        dout = rng.standard_normal((batch, w.shape[0]), dtype=np.float32)
        calls.append(lambda inp=inp, w=w: inp @ w.T)
        calls.append(lambda inp=inp, dout=dout: dout.T @ inp)
        if j:
            calls.append(lambda w=w, dout=dout: dout @ w)
    shapes = step_gemms(model, batch)
    reps = []
    for f in calls:
        f()
        t0 = time.process_time()
        f()
        reps.append(max(1, round(target_s / max(time.process_time() - t0, 1e-6))))
    times = [[] for _ in calls]
    for _ in range(repeats):
        for i, f in enumerate(calls):
            t0 = time.process_time()
            for _ in range(reps[i]):
                f()
            times[i].append(max(time.process_time() - t0, 1e-9) / reps[i])
    seconds = [_median(t) for t in times]
    flops = sum(fl for _, _, fl in shapes)
    gflops = flops / sum(seconds) / 1e9
    return {
        "gemms": [
            {"what": what, "mnk": list(mnk), "us": 1e6 * t, "gflops": fl / t / 1e9}
            for (what, mnk, fl), t in zip(shapes, seconds)
        ],
        "flops": int(flops),
        "gflops": gflops,
        "fraction_of_sgemm": gflops / limits["sgemm_gflops"],
    }


def _interleaved_medians(parts: dict, repeats: int) -> dict:
    """The median CPU seconds of each of `parts` (name -> function), the repeats interleaved."""
    times = {key: [] for key in parts}
    for _ in range(repeats):
        for key, f in parts.items():
            t0 = time.process_time()
            f()
            times[key].append(time.process_time() - t0)
    return {key: _median(t) for key, t in times.items()}


def _floor_evaluated_images(data, images, batch: int):
    """The images a softmax epoch evaluates, as (N, d) uint8 rows: its `eval_train` subset of the
    training images (`images`), then the validation set."""
    from cifarflow.training.solver import eval_subset

    s = epoch_settings("softmax", batch)
    sub = eval_subset(data.train_labels, s.get("eval_train"), s["seed"])
    d = images.shape[1]
    return np.concatenate([images if sub is None else images[sub], data.val_images.reshape(len(data.val_labels), d)])


def _floor_normaliser(norm):
    """normalise(src, out): uint8 rows into the float32 buffer `out`, as the Normalizer does."""

    def normalise(src, out):
        np.copyto(out, src, casting="unsafe")
        np.subtract(out, norm.mean, out=out)
        np.multiply(out, norm.inv_std, out=out)

    return normalise


def _floor_parts(images, labels, evaluated, n_classes: int, norm, batch: int) -> dict:
    """The stripped epoch and its parts, as functions to time: name -> function (see epoch_floor).
    The steps train a softmax model of their own (random weights, plain SGD) in place."""
    n, d = images.shape
    order = np.random.default_rng(0).permutation(n)
    k = n_classes
    w = (np.random.default_rng(1).standard_normal((k, d)) * 0.01).astype(np.float32)
    b = np.zeros(k, dtype=np.float32)
    rows, u8 = norm.buffer(batch), np.empty((batch, d), dtype=np.uint8)
    chunk = norm.buffer(min(1000, len(evaluated)))
    lr, at = np.float32(1e-3), np.arange(batch)
    normalise = _floor_normaliser(norm)

    def steps(gather=True, normalise_=True, gemms=True, rest=True):
        for start in range(0, n - batch + 1, batch):
            idx = order[start : start + batch]
            if gather:
                np.take(images, idx, axis=0, out=u8)
            if normalise_:
                normalise(u8, rows)
            sc = rows @ w.T if gemms else np.zeros((batch, k), dtype=np.float32)
            if rest:
                sc += b
                sc -= sc.max(axis=1, keepdims=True)
                np.exp(sc, out=sc)
                sc /= sc.sum(axis=1, keepdims=True)
                sc[at, labels[idx]] -= 1
                sc /= batch
            if gemms:
                dw = sc.T @ rows
                if rest:
                    dw *= lr
                    np.subtract(w, dw, out=w)
                    np.subtract(b, lr * sc.sum(axis=0), out=b)

    def evaluation():
        for start in range(0, len(evaluated), len(chunk)):
            part = chunk[: len(evaluated[start : start + len(chunk)])]
            normalise(evaluated[start : start + len(chunk)], part)
            sc = part @ w.T
            sc += b
            sc.argmax(axis=1)

    return {
        "epoch": lambda: (steps(), evaluation()),
        "steps": steps,
        "products only (batch in cache)": lambda: steps(False, False, True, False),
        "gather + normalise only": lambda: steps(True, True, False, False),
        "evaluation": evaluation,
    }


def epoch_floor(data, norm, batch: int = BATCH, repeats: int = 5) -> dict:
    """CPU seconds of a stripped full-data softmax epoch: per batch only the work no implementation
    can skip (gather its uint8 rows, normalise them into a reused buffer, forward product,
    softmax gradient, weight-gradient product, SGD update; no augmentation, no framework code),
    then the evaluation of the history's images (the `eval_train` subset and the validation set,
    normalised in chunks of 1000, scores, argmax). Its parts are timed alone as well; interleaved
    repeats, medians."""
    n, d = len(data.train_labels), int(np.prod(data.train_images.shape[1:]))
    images = data.train_images.reshape(n, d)
    evaluated = _floor_evaluated_images(data, images, batch)
    parts = _floor_parts(images, data.train_labels, evaluated, len(data.class_names), norm, batch)
    med = _interleaved_medians(parts, repeats)
    return {
        "seconds": med.pop("epoch"),
        "parts_seconds": med,
        "n_train": n,
        "n_evaluated": len(evaluated),
        "repeats": repeats,
    }


# ---- subprocess jobs: training RSS and preprocessing -------------------------------------------


# A small middle process: a child's ru_maxrss starts at the RSS of the process image it replaced
# at exec (with vfork, the parent's), so a job spawned straight from this (large) process would
# report this process's RSS. Spawned from this launcher, the job's peak is its own.
LAUNCHER = """import json, resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.call(sys.argv[2:], stdout=sys.stdout, stderr=sys.stderr)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    json.dump({"seconds": time.perf_counter() - t0, "cpu_seconds": ru.ru_utime + ru.ru_stime, "returncode": rc,
               "peak_rss_mb": ru.ru_maxrss / 1024}, f)
sys.exit(rc)
"""


def _run_child(cmd: list, log) -> dict:
    """Run cmd (through LAUNCHER): wall and CPU seconds, exit status and the job's own peak RSS."""
    env = dict(os.environ, **{v: "1" for v in THREAD_VARS})
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rusage.json"
        subprocess.run(
            [sys.executable, "-c", LAUNCHER, str(report), *cmd], stdout=log, stderr=subprocess.STDOUT, env=env
        )
        return json.loads(report.read_text())


def _failed(what: str, r: dict, log_path) -> RuntimeError:
    lines = Path(log_path).read_text().strip().splitlines()
    return RuntimeError(
        f"python -m cifarflow {what} failed (exit {r['returncode']}): {lines[-1] if lines else 'no output'} (log: {log_path})"
    )


def train_job(split_path, workdir, model: str = "softmax") -> dict:
    """Peak RSS and time of `python -m cifarflow --threads 1 train` for 1 epoch of `model` on a
    split file, with a plan written by `python -m cifarflow plan` (augmentation flip_translate)."""
    from cifarflow.config import plan_spec, resolve_variants

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "splits": {"full": FULL_SPLIT},
        "augmentations": {"flip_translate": AUGMENTATION},
        "experiments": {
            "bench": {
                "variants": [
                    {
                        "name": f"bench-{model}",
                        **MODELS[model],
                        "split": "full",
                        "epochs": 1,
                        "augmentation": "flip_translate",
                    }
                ]
            }
        },
        "run": None,
    }
    variant = resolve_variants(config)[f"bench-{model}"]
    plan = workdir / "plan.h5"
    py = [sys.executable, "-m", "cifarflow", "--threads", "1"]
    with open(workdir / "job.log", "w") as log:
        p = _run_child(
            py
            + [
                "plan",
                "--split",
                str(split_path),
                "--spec",
                json.dumps(plan_spec(variant, config)),
                "--out",
                str(plan),
            ],
            log,
        )
        if p["returncode"]:
            raise _failed("plan", p, workdir / "job.log")
        t = _run_child(
            py
            + [
                "train",
                "--split",
                str(split_path),
                "--plan",
                str(plan),
                "--variant",
                json.dumps(variant),
                "--outdir",
                str(workdir / "run"),
            ],
            log,
        )
    if t["returncode"]:
        raise _failed("train", t, workdir / "job.log")
    metrics = json.loads((workdir / "run" / "metrics.json").read_text())
    return {
        "model": model,
        "n_train": metrics["n_train"],
        "peak_rss_mb": metrics["timing"]["peak_rss_mb"],
        "peak_rss_mb_rusage": t["peak_rss_mb"],
        "wall_seconds": t["seconds"],
        "cpu_seconds": t["cpu_seconds"],
        "train_seconds": metrics["timing"]["train_seconds"],
        "total_seconds": metrics["timing"]["total_seconds"],
        "test_acc": metrics["test_acc"],
    }


def import_job(archive, out, log_path, threads: int = None) -> dict:
    """Wall time and peak RSS of `python -m cifarflow --threads N import` of `archive` into `out`
    (N: the import rule's `threads:`, IMPORT_THREADS; it decodes in N processes)."""
    threads = threads or IMPORT_THREADS
    with open(log_path, "w") as log:
        r = _run_child(
            [
                sys.executable,
                "-m",
                "cifarflow",
                "--threads",
                str(threads),
                "import",
                "--source",
                str(archive),
                "--out",
                str(out),
            ],
            log,
        )
    if r["returncode"]:
        raise _failed("import", r, log_path)
    import h5py

    with h5py.File(out, "r") as f:
        n = len(f["train/labels"]) + len(f["test/labels"])
    return {
        "archive": str(archive),
        "threads": threads,
        "n_images": n,
        "seconds": r["seconds"],
        "cpu_seconds": r["cpu_seconds"],
        "peak_rss_mb": r["peak_rss_mb"],
        "images_per_s": n / r["seconds"],
    }


def build_split(raw_path, out, spec: dict = FULL_SPLIT) -> None:
    """A split (default: config.yaml's `full`) of an imported raw file, through
    `python -m cifarflow split`."""
    with open(Path(out).with_suffix(".log"), "w") as log:
        r = _run_child(
            [
                sys.executable,
                "-m",
                "cifarflow",
                "--threads",
                "1",
                "split",
                "--raw",
                str(raw_path),
                "--name",
                "full",
                "--spec",
                json.dumps(spec),
                "--out",
                str(out),
            ],
            log,
        )
    if r["returncode"]:
        raise _failed("split", r, Path(out).with_suffix(".log"))


# ---- results -----------------------------------------------------------------------------------


def _target_row(target: str, op: str, limit, measured, unit: str, **extra) -> dict:
    """One row of `targets` (its keys in the order the JSON result shows them)."""
    return {"target": target, "op": op, "limit": limit, "measured": measured, "unit": unit, **extra}


def _step_ratio_targets(result: dict) -> list:
    """NumPy/PyTorch step throughput per model, judged on NumPy's own kernel when this environment
    forces one (the forced kernel's ratio then follows, informative only)."""
    rows = []
    own = result.get("own_blas")
    for name, limit in STEP_RATIO_TARGET.items():
        m = result["models"].get(name)
        ratio = m and m.get("numpy_over_torch")
        target = f"{name} step throughput NumPy/PyTorch"
        if own is not None:  # this environment forces a kernel: judge on NumPy's own kernel
            o = own["models"].get(name)
            rows.append(_target_row(target, ">=", limit, o and o.get("numpy_over_torch"), "x"))
            if ratio is not None:
                rows.append(
                    _target_row(
                        "  the same with the forced kernel (not judged)", ">=", limit, ratio, "x", informative=True
                    )
                )
        else:
            rows.append(_target_row(target, ">=", limit, ratio, "x"))
    return rows


def _sgemm_fraction_targets(result: dict) -> list:
    """The fraction of the machine's sgemm rate per model, measured only where the step is bound by
    its matrix products (and not in a quick run)."""
    rows = []
    for name, limit in SGEMM_FRACTION_TARGET.items():
        m = result["models"].get(name) or {}
        quick = (result.get("settings") or {}).get("quick")  # a smoke run's sgemm rate and steps are not comparable
        bound = not quick and m.get("limit_ms_flops") is not None and m["limit_ms_flops"] >= m.get("limit_ms_bytes", 0)
        frac = (m.get("numpy") or {}).get("fraction_of_limit") if bound else None
        rows.append(
            _target_row(f"{name} step at the machine's sgemm rate (matrix-bound)", ">=", limit, frac, "", model=name)
        )
    return rows


def _epoch_targets(result: dict) -> list:
    """The full-data softmax epoch's seconds and their ratio to its memory-bandwidth limit (which
    is added to the softmax epoch of `result` as bandwidth_limit_seconds)."""
    limits = result.get("machine") or {}
    sm = result["models"].get("softmax") or {}
    ep = sm.get("epoch")
    full = bool(ep and ep["n_train"] == N_TRAIN_FULL)
    rows = [
        _target_row(
            "softmax full-data epoch (augmentation + steps + evaluation)",
            "<=",
            EPOCH_TARGET_S,
            ep["seconds"] if full else None,
            "s",
        )
    ]
    if full and limits.get("copy_gbs"):
        bw = epoch_bandwidth_limit(
            ep["n_train"], ep["n_val"] + ep.get("n_eval_train", ep["n_train"]), limits["copy_gbs"]
        )
        ep["bandwidth_limit_seconds"] = bw["seconds"]
        ratio = ep["seconds"] / bw["seconds"]
    else:
        ratio = None
    rows.append(
        _target_row("softmax full-data epoch / its memory-bandwidth limit", "<=", EPOCH_BANDWIDTH_FACTOR, ratio, "x")
    )
    return rows


def _job_targets(result: dict) -> list:
    """The full-data training job's peak RSS and the preprocessing of all 60,000 JPEGs."""
    job = result.get("train_job")
    imp = result.get("preprocess")
    return [
        _target_row(
            "peak RSS of a full-data linear training job",
            "<=",
            RSS_TARGET_MB,
            job["peak_rss_mb"] if job and job["n_train"] == N_TRAIN_FULL else None,
            "MB",
        ),
        _target_row(
            "preprocessing 60,000 JPEGs into HDF5",
            "<=",
            IMPORT_TARGET_S,
            imp["seconds"] if imp and imp["n_images"] == 60_000 else None,
            "s",
        ),
    ]


def _judge(rows: list) -> None:
    """Add to each row whether it holds and its factor (>= 1 holds; both None: not measured)."""
    for r in rows:
        v = r["measured"]
        r["holds"] = None if v is None else bool(v >= r["limit"] if r["op"] == ">=" else v <= r["limit"])
        r["factor"] = None if v is None else (v / r["limit"] if r["op"] == ">=" else r["limit"] / v)  # >= 1 holds


def _step_verdicts(rows: list) -> list:
    """Each matrix-bound step judged by the bound that applies: MLPs by either figure (PyTorch
    ratio or sgemm fraction), ConvNets by both (by the ratio alone when not matrix-bound)."""
    verdicts_rows = []
    for name in SGEMM_FRACTION_TARGET:
        ratio = next((r for r in rows if r["target"] == f"{name} step throughput NumPy/PyTorch"), None)
        frac = next(r for r in rows if r.get("model") == name)
        both = name.startswith("convnet")
        verdicts = [x["holds"] for x in (ratio, frac) if x is not None and x["holds"] is not None]
        holds = (all(verdicts) if both else any(verdicts)) if verdicts else None
        if both and frac["measured"] is None:
            holds = ratio and ratio["holds"]  # not matrix-bound: the PyTorch ratio alone
        verdicts_rows.append(
            _target_row(
                f"{name} step, judged ({'both figures' if both else 'either figure'})",
                "",
                None,
                None,
                "",
                holds=holds,
                factor=None,
            )
        )
    return verdicts_rows


def targets(result: dict) -> list:
    """Each target of the issue with its measured value and whether it holds (None: not measured)."""
    rows = _step_ratio_targets(result) + _sgemm_fraction_targets(result) + _epoch_targets(result)
    rows += _job_targets(result)
    _judge(rows)
    return rows + _step_verdicts(rows)


def tidy_rows(result: dict) -> list:
    """(section, model, metric, value, unit) for every number of the result."""
    rows = []
    m = result["machine"]
    rows += [
        ("machine", "", "sgemm_gflops", m["sgemm_gflops"], "GFLOP/s"),
        ("machine", "", "copy_gbs", m["copy_gbs"], "GB/s"),
    ]
    for name, r in result["models"].items():
        rows += [
            ("step", name, "n_params", r["n_params"], ""),
            ("step", name, "flops_per_step", r["flops"], "FLOP"),
            ("step", name, "bytes_per_step_min", r["bytes"], "B"),
        ]
        for fw in ("numpy", "torch"):
            if r.get(fw):
                for k, unit in (
                    ("images_per_s", "images/s"),
                    ("steps_per_s", "steps/s"),
                    ("ms_per_step", "ms"),
                    ("images_per_s_cpu", "images/s"),
                    ("gflops", "GFLOP/s"),
                    ("fraction_of_limit", ""),
                ):
                    if k in r[fw]:
                        rows.append(("step", name, f"{fw}_{k}", r[fw][k], unit))
        if r.get("numpy_over_torch") is not None:
            rows += [
                ("step", name, "numpy_over_torch", r["numpy_over_torch"], "x"),
                ("step", name, "numpy_over_torch_wall", r["numpy_over_torch_wall"], "x"),
            ]
        if r.get("epoch"):
            rows += [
                ("epoch", name, "seconds", r["epoch"]["seconds"], "s"),
                ("epoch", name, "n_train", r["epoch"]["n_train"], "images"),
                ("epoch", name, "cpu_share", r["epoch"]["cpu_share"], ""),
                ("epoch", name, "cpu_seconds_est", r["epoch"]["cpu_seconds_est"], "s"),
                ("epoch", name, "images_per_s", r["epoch"]["images_per_s"], "images/s"),
            ]
    own = result.get("own_blas")
    if own:
        for name, r in own["models"].items():
            for k in ("numpy_images_per_s", "torch_images_per_s", "numpy_over_torch"):
                if r.get(k) is not None:
                    rows.append(("step_own_blas", name, k, r[k], "x" if k == "numpy_over_torch" else "images/s"))
    if result.get("train_job"):
        j = result["train_job"]
        rows += [
            ("train_job", j["model"], k, j[k], u)
            for k, u in (
                ("peak_rss_mb", "MB"),
                ("peak_rss_mb_rusage", "MB"),
                ("wall_seconds", "s"),
                ("cpu_seconds", "s"),
                ("train_seconds", "s"),
            )
        ]
    if result.get("preprocess"):
        p = result["preprocess"]
        rows += [
            ("preprocess", "", k, p[k], u)
            for k, u in (("seconds", "s"), ("cpu_seconds", "s"), ("n_images", "images"), ("peak_rss_mb", "MB"))
        ]
    if result.get("epoch_profile"):
        for phase, s in {**result["epoch_profile"]["phases"], **result["epoch_profile"]["evaluation_parts"]}.items():
            rows.append(("epoch_profile", result["epoch_profile"]["model"], phase, s, "s"))
    return rows


def write_results(result: dict, out) -> tuple:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    csv_path = out.with_suffix(".csv")
    out.write_text(json.dumps(result, indent=2) + "\n")
    with open(csv_path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("section", "model", "metric", "value", "unit"))
        w.writerows(tidy_rows(result))
    return out, csv_path


def _fmt(v, spec=".0f"):
    return "-" if v is None else format(v, spec)


def _blas(result: dict) -> str:
    pools = [p for p in result["threads"].get("pools") or [] if p["user_api"] == "blas"]
    kernel = ", ".join(
        f"{p['internal_api']} {p['version']} kernel {p.get('architecture')} ({p['num_threads']} thread)" for p in pools
    )
    core = result["environment"].get("openblas_coretype")
    return (kernel or "unknown (threadpoolctl not installed)") + (f", OPENBLAS_CORETYPE={core}" if core else "")


def _table_header(result: dict) -> list:
    """The machine, the BLAS kernel and PyTorch version, and the step table's column titles."""
    m = result["machine"]
    return [
        f"machine: sgemm {m['sgemm_gflops']:.1f} GFLOP/s ({'x'.join(map(str, m['sgemm_shape']))}, 1 thread), "
        f"copy {m['copy_gbs']:.1f} GB/s (read + write); batch {result['settings']['batch_size']}, float32, 1 thread",
        f"NumPy BLAS: {_blas(result)}; PyTorch: {result['environment'].get('torch') or 'not measured'}",
        "",
        f"{'model':<17}{'params':>9}{'MFLOP':>8}{'NumPy img/s':>13}{'steps/s':>9}{'%limit':>8}"
        f"{'Torch img/s':>13}{'steps/s':>9}{'%limit':>8}{'NumPy/Torch':>13}{'target':>8}{'epoch s':>9}{'(CPU)':>7}",
    ]


def _model_lines(result: dict) -> list:
    """One table row per model (step rates, fractions of the limit, ratio, target, epoch)."""
    lines = []
    for name, r in result["models"].items():
        npy, tor = r["numpy"], r.get("torch")
        ep = r.get("epoch")
        lines.append(
            f"{name:<17}{r['n_params']:>9}{r['flops'] / 1e6:>8.1f}{npy['images_per_s']:>13.0f}{npy['steps_per_s']:>9.0f}"
            f"{100 * npy['fraction_of_limit']:>7.0f}%"
            f"{_fmt(tor and tor['images_per_s']):>13}{_fmt(tor and tor['steps_per_s']):>9}"
            f"{(_fmt(tor and 100 * tor['fraction_of_limit']) + '%') if tor else '-':>8}"
            f"{_fmt(r['numpy_over_torch'], '.2f'):>13}{STEP_RATIO_TARGET[name]:>7.1f}x{_fmt(ep and ep['seconds'], '.2f'):>9}"
            f"{_fmt(ep and ep['cpu_seconds_est'], '.2f'):>7}"
        )
    if any(r.get("torch") for r in result["models"].values()):
        lines.append(
            "(img/s, steps/s: wall clock; %limit and NumPy/Torch (median of the paired per-repeat ratios) by CPU time)"
        )
    return lines


def _own_blas_lines(result: dict) -> list:
    """The step rates with NumPy's own BLAS kernel (nothing unless the environment forces one)."""
    own = result.get("own_blas")
    if not own:
        return []
    lines = [
        "",
        f"the same steps with NumPy's own BLAS kernel ({own['kernel']}; this environment forces "
        f"{own['forced']}), sgemm {own['sgemm_gflops']:.1f} GFLOP/s:",
        f"{'model':<17}{'NumPy img/s':>13}{'Torch img/s':>13}{'NumPy/Torch':>13}",
    ]
    for name, r in own["models"].items():
        lines.append(
            f"{name:<17}{r['numpy_images_per_s']:>13.0f}{_fmt(r.get('torch_images_per_s')):>13}"
            f"{_fmt(r.get('numpy_over_torch'), '.2f'):>13}"
        )
    return lines


def _epoch_note(result: dict) -> list:
    """What the epochs ran on, the softmax epoch's bandwidth limit and each model's CPU share."""
    if not result["models"]:
        return []
    n = next(iter(result["models"].values())).get("epoch")
    if not n:
        return []
    bw = (result["models"].get("softmax") or {}).get("epoch", {}).get("bandwidth_limit_seconds")
    return [
        f"(epoch: {n['n_train']} training images, evaluation of {n.get('n_eval_train', n['n_train'])} of them "
        f"(eval_train) and {n['n_val']} validation images, {result['settings']['data']}; "
        + (f"softmax epoch memory-bandwidth limit {bw:.3f} s; " if bw else "")
        + "(CPU): seconds x the CPU share of the core during the epochs: "
        + ", ".join(f"{k} {r['epoch']['cpu_share']:.2f}" for k, r in result["models"].items() if r.get("epoch"))
        + ")"
    ]


def _job_lines(result: dict) -> list:
    """The training job's peak RSS and times, and the preprocessing run (each when measured)."""
    lines = []
    if result.get("train_job"):
        j = result["train_job"]
        lines.append(
            f"training job ({j['model']}, 1 epoch, {j['n_train']} images): peak RSS {j['peak_rss_mb']:.0f} MB "
            f"(rusage {j['peak_rss_mb_rusage']:.0f} MB), {j['wall_seconds']:.1f} s wall (CPU {j['cpu_seconds']:.1f} s), {j['train_seconds']:.2f} s training"
        )
    if result.get("preprocess"):
        p = result["preprocess"]
        lines.append(
            f"preprocessing ({p.get('threads', 1)} decoding processes): {p['n_images']} images in {p['seconds']:.1f} s ({p['images_per_s']:.0f}/s; CPU {p['cpu_seconds']:.1f} s), "
            f"peak RSS {p['peak_rss_mb']:.0f} MB"
        )
    return lines


def _profile_lines(result: dict) -> list:
    """The --profile section: the epoch's phases, largest first, then the evaluation's parts."""
    pr = result.get("epoch_profile")
    if not pr:
        return []
    lines = ["", f"profile of one {pr['model']} epoch ({pr['profiled_epoch_seconds']:.2f} s under cProfile):"]
    for phase, s in sorted(pr["phases"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {phase:<52}{s:>7.3f} s {100 * s / pr['profiled_epoch_seconds']:>5.1f}%")
    for part, s in pr["evaluation_parts"].items():
        lines.append(f"    {part:<50}{s:>7.3f} s {100 * s / pr['profiled_epoch_seconds']:>5.1f}%")
    return lines


def _load_lines(result: dict) -> list:
    """The load average at the start and end of the run, with a warning when others were busy."""
    load = [result["environment"].get("load_average"), result["environment"].get("load_average_end")]
    if not all(load):
        return []
    busy = max(load[0][0], load[1][0]) > 1.2
    return [
        "",
        f"load average (1 min) at start {load[0][0]:.2f}, at end {load[1][0]:.2f}"
        + (
            f": other processes were busy on this {os.cpu_count()}-core machine, expect noisier figures" if busy else ""
        ),
    ]


def _target_lines(result: dict) -> list:
    """The targets: limit, measured value and whether each holds (verdict rows: the status only)."""
    lines = ["", "targets:"]
    for t in result["targets"]:
        status = "not measured" if t["holds"] is None else ("holds" if t["holds"] else "MISSED")
        if t.get("informative"):
            status = ""
        if t["limit"] is None:  # a verdict row
            lines.append(f"  {t['target']:<60} {'':<22}{'':>7}  {status}")
            continue
        lines.append(
            f"  {t['target']:<60} {t['op']} {t['limit']:g} {t['unit']:<3} measured {_fmt(t['measured'], '.2f'):>7}  {status}"
        )
    return lines


def format_table(result: dict) -> str:
    """The printed summary of a result: the step table, then each measured section and the targets."""
    lines = _table_header(result) + _model_lines(result) + _own_blas_lines(result) + _epoch_note(result)
    lines += _job_lines(result) + _profile_lines(result) + format_floors(result) + _load_lines(result)
    return "\n".join(lines + _target_lines(result))


def format_floors(result: dict) -> list:
    """The --floor section of the table (nothing without it)."""
    gemm = {k: r["gemm_floor"] for k, r in result["models"].items() if r.get("gemm_floor")}
    ep = result.get("epoch_floor")
    if not gemm and not ep:
        return []
    lines = ["", "floors (NumPy/OpenBLAS on this machine, CPU time, interleaved repeats):"]
    for name, g in gemm.items():
        step = result["models"][name]["numpy"]
        lines.append(
            f"  {name:<15} its step's matrix products alone: {g['gflops']:.1f} GFLOP/s = "
            f"{100 * g['fraction_of_sgemm']:.0f}% of the sgemm rate (the whole step: {100 * step['fraction_of_limit']:.0f}%"
            + (f"; target {100 * SGEMM_FRACTION_TARGET[name]:.0f}%)" if name in SGEMM_FRACTION_TARGET else ")")
        )
        for p in g["gemms"]:
            lines.append(
                f"    {p['what']:<36} {'x'.join(map(str, p['mnk'])):>14} {p['us']:>9.1f} us {p['gflops']:>7.1f} GFLOP/s"
            )
    if ep:
        bw = ep.get("bandwidth_limit_seconds")
        lines.append(
            f"  stripped softmax epoch ({ep['n_train']} images; evaluation of {ep['n_evaluated']}): {ep['seconds']:.3f} s"
            + (
                f" = {ep['seconds'] / bw:.2f}x its bandwidth limit {bw:.3f} s (target {EPOCH_BANDWIDTH_FACTOR:g}x)"
                if bw
                else ""
            )
        )
        for part, sec in ep["parts_seconds"].items():
            lines.append(f"    {part:<36} {sec:>7.3f} s")
    return lines


# ---- regression check against earlier figures ---------------------------------------------------


def machine_key(env: dict, quick: bool, data: str) -> str:
    """The file name (no extension) of a machine's recorded baseline: CPU model, core count, mode
    and data, as letters, digits and dashes, e.g. ``amd-epyc-7b13-2cpu-quick-random``."""
    cpu = re.sub(r"[^a-z0-9]+", "-", str(env.get("cpu") or "unknown-cpu").lower()).strip("-")[:80]
    mode = "quick" if quick else "full"
    kind = "random" if data == "random" else "real"
    return f"{cpu}-{env.get('cpu_count')}cpu-{mode}-{kind}"


def compare_results(result: dict, baseline: dict, factor: float) -> dict:
    """Each model's step rate and epoch time (by CPU time, which other processes disturb least)
    against `baseline`, an earlier result of this benchmark. A regression is a step rate below
    the baseline's / factor or an epoch above its * factor. Figures from another machine (CPU
    model or core count) or another mode (quick or full, data) are not compared."""
    keys = ("cpu", "cpu_count")
    same = all(result["environment"].get(k) == baseline.get("environment", {}).get(k) for k in keys) and all(
        result["settings"].get(k) == baseline.get("settings", {}).get(k) for k in ("quick", "data", "batch_size")
    )
    rows = []
    if not same:
        return {
            "compared": False,
            "factor": factor,
            "rows": rows,
            "regressions": 0,
            "note": "the baseline comes from another machine or mode: nothing compared",
        }
    for name, r in result["models"].items():
        b = baseline.get("models", {}).get(name)
        if not b:
            continue
        pairs = [("step images/s (CPU)", r["numpy"]["images_per_s_cpu"], b["numpy"]["images_per_s_cpu"], True)]
        # a quick run's epochs are one pass over 500 images (10-800 ms of CPU): too noisy to judge
        full = not result["settings"].get("quick")
        if full and r.get("epoch") and b.get("epoch") and r["epoch"]["n_train"] == b["epoch"]["n_train"]:
            pairs.append(("epoch s (CPU est.)", r["epoch"]["cpu_seconds_est"], b["epoch"]["cpu_seconds_est"], False))
        for metric, new, old, higher_is_better in pairs:
            change = new / old if higher_is_better else old / new  # > 1: faster than the baseline
            rows.append(
                {
                    "model": name,
                    "metric": metric,
                    "baseline": old,
                    "measured": new,
                    "speed_vs_baseline": change,
                    "regression": bool(change < 1.0 / factor),
                }
            )
    return {
        "compared": True,
        "factor": factor,
        "rows": rows,
        "regressions": sum(r["regression"] for r in rows),
        "baseline_created": baseline.get("created"),
    }


def format_comparison(cmp: dict) -> str:
    if not cmp["compared"]:
        return f"regression check: {cmp['note']}"
    lines = [
        f"regression check against the figures of {cmp.get('baseline_created')} (fails below 1/{cmp['factor']:g} of their speed):",
        f"{'model':<17}{'metric':<22}{'baseline':>11}{'measured':>11}{'speed':>8}",
    ]
    for r in cmp["rows"]:
        lines.append(
            f"{r['model']:<17}{r['metric']:<22}{r['baseline']:>11.4g}{r['measured']:>11.4g}{r['speed_vs_baseline']:>7.2f}x"
            + ("  REGRESSION" if r["regression"] else "")
        )
    lines.append(f"{cmp['regressions']} regression(s)")
    return "\n".join(lines)


# ---- command -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python tools/bench.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="results/bench/bench.json", help="JSON result; the CSV goes beside it (.csv)")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from: {', '.join(MODELS)}")
    p.add_argument(
        "--quick", action="store_true", help="tiny repeats and sizes (smoke test; numbers are not meaningful)"
    )
    p.add_argument("--repeats", type=int, default=None, help="step-throughput repeats (default 7, quick 2)")
    p.add_argument(
        "--blas",
        choices=("both", "env", "own"),
        default="both",
        help="step throughputs with this environment's BLAS kernel (env), NumPy's own choice (own: "
        f"{' and '.join(FORCED_BLAS_VARS)} removed, in a child process when they are set) or both",
    )
    p.add_argument("--skip-torch", action="store_true", help="no PyTorch side by side (also when it is not importable)")
    p.add_argument("--skip-epoch", action="store_true", help="no full epochs of cifarflow.training.solver.train")
    p.add_argument("--skip-rss", action="store_true", help="no training job subprocess (peak RSS)")
    p.add_argument("--skip-import", action="store_true", help="no preprocessing of the JPEG archive")
    p.add_argument("--profile", action="store_true", help="cProfile breakdown of one softmax epoch")
    p.add_argument(
        "--floor",
        action="store_true",
        help="what NumPy/OpenBLAS reaches here: each linear/MLP step's matrix products alone (the fraction of "
        "the sgemm rate they allow) and a stripped softmax epoch (the unavoidable work only)",
    )
    p.add_argument(
        "--data",
        choices=("auto", "real", "random"),
        default="auto",
        help="auto: the real split if present or buildable from --archive, else random images",
    )
    p.add_argument("--split", default="results/data/split_full.h5", help="the full split (49,000 training images)")
    p.add_argument(
        "--archive", default="../shared/data/cifar-10-jpeg.tar.gz", help="CIFAR-10 source for the preprocessing run"
    )
    p.add_argument("--epoch-images", type=int, default=None, help="training images per epoch (default all; quick 500)")
    p.add_argument(
        "--compare",
        default=None,
        metavar="JSON",
        help="an earlier result of this benchmark on this machine (e.g. the --out of the last --quick run, read "
        "before it is overwritten): exit 1 when a step or epoch is slower than it by more than --max-slowdown",
    )
    p.add_argument("--max-slowdown", type=float, default=2.0, help="the factor of --compare (default 2.0)")
    p.add_argument(
        "--baselines",
        default=None,
        metavar="DIR",
        help="compare with DIR/<machine>.json, the recorded figures of this machine and mode (CPU model, core "
        "count, quick or full, data; see machine_key); without one nothing is compared (use --record-baseline)",
    )
    p.add_argument(
        "--record-baseline",
        action="store_true",
        help="with --baselines: write this run's figures as the machine's baseline (after any comparison)",
    )
    p.add_argument(
        "--epoch-repeats",
        type=int,
        default=3,
        help="epochs per model, at most (the median is reported; after 10 s on one model no further repeat starts)",
    )
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    a = build_parser().parse_args(argv)
    a.argv = argv
    names = [n.strip() for n in a.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        print(f"bench: error: unknown model {unknown[0]!r}; use one of {', '.join(MODELS)}", file=sys.stderr)
        return 2
    repeats = a.repeats or (2 if a.quick else 7)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".bench-work-", dir=out.parent))  # plans, runs, imported copies
    try:
        return _run(a, names, repeats, out, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _own_kernel_env() -> dict:
    """This process's environment without the variables that force an OpenBLAS kernel."""
    return {k: v for k, v in os.environ.items() if k not in FORCED_BLAS_VARS}


def own_blas_child(a, names: list, repeats: int, work: Path) -> dict:
    """Step throughputs measured by a child `python tools/bench.py` with the forced-kernel
    variables removed, so OpenBLAS picks its own kernel for this CPU."""
    child_out = work / "own_blas.json"
    cmd = [
        sys.executable,
        BENCH,
        "--blas",
        "env",
        "--models",
        ",".join(names),
        "--repeats",
        str(repeats),
        "--skip-epoch",
        "--skip-rss",
        "--skip-import",
        "--out",
        str(child_out),
    ]
    cmd += ["--quick"] if a.quick else []
    cmd += ["--skip-torch"] if a.skip_torch else []
    r = subprocess.run(cmd, env=_own_kernel_env(), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"the own-kernel child run failed ({' '.join(cmd)}): {r.stderr.strip().splitlines()[-1:]}")
    child = json.loads(child_out.read_text())
    return {
        "forced": ", ".join(f"{v}={os.environ[v]}" for v in FORCED_BLAS_VARS if os.environ.get(v)),
        "kernel": _blas(child),
        "sgemm_gflops": child["machine"]["sgemm_gflops"],
        "models": {
            name: {
                "numpy_images_per_s": m["numpy"]["images_per_s"],
                "torch_images_per_s": m["torch"]["images_per_s"] if m.get("torch") else None,
                "numpy_over_torch": m.get("numpy_over_torch"),
            }
            for name, m in child["models"].items()
        },
    }


def _log(msg: str) -> None:
    print(msg, flush=True)


def _error(msg: str, code: int) -> int:
    print(f"bench: error: {msg}", file=sys.stderr)
    return code


def _option_conflict(a) -> str | None:
    """What is wrong with the combination of regression-check options (None: nothing)."""
    if a.record_baseline and not a.baselines:
        return "--record-baseline needs --baselines DIR"
    if a.compare and a.baselines:
        return "give --compare or --baselines, not both"
    if a.baselines and a.data == "auto":
        return "--baselines needs --data random or --data real (the baseline's name says which)"
    return None


def _baseline_file(a) -> Path | None:
    """With --baselines: this machine's baseline file, which becomes --compare when it exists."""
    if not a.baselines:
        return None
    key = machine_key(environment(), a.quick, a.data)
    baseline_file = Path(a.baselines) / f"{key}.json"
    if baseline_file.is_file():
        a.compare = str(baseline_file)
    else:
        _log(f"regression check: no baseline for this machine ({baseline_file}); nothing to compare with")
    return baseline_file


def _read_baseline(a) -> tuple:
    """(the --compare result or None, an error message or None): None without --compare or when
    the file does not exist yet (this run's figures then become the baseline)."""
    if not a.compare:
        return None, None
    try:
        return json.loads(Path(a.compare).read_text()), None
    except FileNotFoundError:
        _log(f"regression check: {a.compare} does not exist yet; this run's figures become the baseline")
    except (OSError, ValueError) as exc:
        return None, f"--compare {a.compare}: not a readable benchmark result ({exc})"
    return None, None


def _setup(skip_torch: bool) -> tuple:
    """(torch module or None, the thread check, the environment with PyTorch's version and threads)."""
    torch = None if skip_torch else _torch()
    threads = thread_check()  # after torch loaded its OpenMP runtime
    env = environment()
    if torch is not None:
        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
    _log(f"threads: {threads.get('pools') or threads.get('note')}")
    return torch, threads, env


def _needs_data(a) -> bool:
    """Whether any part of the run reads images (epochs, training job, profile, floor)."""
    return not a.skip_epoch or not a.skip_rss or a.profile or a.floor


def _split_file(a, work: Path) -> tuple:
    """(the split file, the preprocessing figures or None): the --split file, or, when it is missing
    and the archive exists, one built in `work` from the archive (timing its import)."""
    split, archive = Path(a.split), Path(a.archive)
    if a.data != "random" and _needs_data(a) and not split.exists() and archive.exists():
        _log(f"{split} is missing: importing {archive} and building the full split in {work}")
        preprocess = import_job(archive, work / "cifar10.h5", work / "import.log")
        split = work / "split_full.h5"
        build_split(work / "cifar10.h5", split)
        return split, preprocess
    return split, None


def _epoch_data(a, split: Path, use_real: bool) -> tuple:
    """(Data, Normalizer) for the epochs, profile and floor, or (None, None) when none runs."""
    if not (_needs_data(a) and not (a.skip_epoch and not a.profile and not a.floor)):
        return None, None
    from cifarflow.training.solver import Normalizer

    n = a.epoch_images or (500 if a.quick else None)
    data = split_data(split) if use_real else random_data(n or N_TRAIN_FULL)
    if n:
        data.train_images, data.train_labels = data.train_images[:n], data.train_labels[:n]
    return data, Normalizer.from_images(data.train_images, "feature")


def _new_result(a, names: list, repeats: int, data_note: str, env: dict, threads: dict, limits: dict) -> dict:
    """The result's header (settings, environment, threads, machine) with no model measured yet."""
    return {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": {
            "batch_size": BATCH,
            "dtype": "float32",
            "threads": 1,
            "quick": a.quick,
            "repeats": repeats,
            "models": names,
            "data": data_note,
            "augmentation": AUGMENTATION,
        },
        "environment": env,
        "threads": threads,
        "machine": limits,
        "models": {},
    }


def _bench_model(a, name: str, repeats: int, torch, limits: dict, data, norm) -> dict:
    """One model's step figures with their roofline, its GEMM floor (--floor) and epochs."""
    _log(f"step: {name}")
    row = bench_steps(name, BATCH, repeats, torch=torch, quick=a.quick)
    add_roofline(row, limits)
    if a.floor:
        row["gemm_floor"] = gemm_floor(name, limits, BATCH, repeats=2 if a.quick else 7)
    if data is not None and not a.skip_epoch:
        _log(f"epoch: {name}")
        row["epoch"] = bench_epoch(
            name, data, norm, BATCH, max_repeats=1 if a.quick else a.epoch_repeats, budget_s=0 if a.quick else 10.0
        )
    return row


def _add_epoch_floor(result: dict, a, data, norm, copy_gbs: float) -> None:
    """The stripped softmax epoch with its bandwidth limit (--floor)."""
    _log("floor: stripped softmax epoch")
    floor = result["epoch_floor"] = epoch_floor(data, norm, BATCH, repeats=1 if a.quick else 5)
    bw = epoch_bandwidth_limit(floor["n_train"], floor["n_evaluated"], copy_gbs)
    floor["bandwidth_limit_seconds"] = bw["seconds"]


def _add_jobs(result: dict, a, split: Path, use_real: bool, preprocess, work: Path) -> None:
    """The training job's peak RSS (with the real split) and the preprocessing run (unless the
    split was built from the archive in this run, which timed it already)."""
    archive = Path(a.archive)
    if not a.skip_rss:
        if use_real:
            _log("training job: softmax, 1 epoch (subprocess)")
            result["train_job"] = train_job(split, work / "train_job")
        else:
            _log("training job skipped: no split file")
    if not a.skip_import and preprocess is None:
        if archive.exists():
            _log(f"preprocessing: python -m cifarflow import {archive}")
            preprocess = import_job(archive, work / "cifar10.h5", work / "import.log")
        else:
            _log(f"preprocessing skipped: {archive} is absent")
    result["preprocess"] = preprocess


def _report(a, result: dict, baseline, baseline_file, out: Path) -> int:
    """Judge the targets, compare with the baseline, write and print the result, record it as the
    baseline when asked; the exit status (1: a regression against the baseline)."""
    result["targets"] = targets(result)
    env = result["environment"]
    env["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    if baseline is not None:
        result["comparison"] = compare_results(result, baseline, a.max_slowdown)
    json_path, csv_path = write_results(result, out)
    print()
    print(format_table(result))
    if baseline is not None:
        print()
        print(format_comparison(result["comparison"]))
    print(f"\nwrote {json_path} and {csv_path}")
    if a.record_baseline:
        baseline_file.parent.mkdir(parents=True, exist_ok=True)
        baseline_file.write_text(json_path.read_text())
        print(f"recorded {baseline_file} as this machine's baseline")
    return 1 if baseline is not None and result["comparison"]["regressions"] else 0


def _run(a, names: list, repeats: int, out: Path, work: Path) -> int:
    conflict = _option_conflict(a)
    if conflict:
        return _error(conflict, 2)
    baseline_file = _baseline_file(a)
    baseline, unreadable = _read_baseline(a)
    if unreadable:
        return _error(unreadable, 2)
    forced = any(os.environ.get(v) for v in FORCED_BLAS_VARS)
    if a.blas == "own" and forced:  # run everything without the forced kernel
        return subprocess.run([sys.executable, BENCH, *a.argv], env=_own_kernel_env()).returncode

    torch, threads, env = _setup(a.skip_torch)
    limits = machine_limits(a.quick)
    _log(f"machine: sgemm {limits['sgemm_gflops']:.1f} GFLOP/s, copy {limits['copy_gbs']:.1f} GB/s")

    # data: the real split, or build it from the archive (timing the import), or random images
    split, preprocess = _split_file(a, work)
    if a.data == "real" and not split.exists():
        return _error(
            f"{split}: no split file and no archive at {Path(a.archive)} to build it from; use --data random", 1
        )
    use_real = a.data != "random" and split.exists()
    data, norm = _epoch_data(a, split, use_real)

    data_note = f"real split {split}" if use_real else "random uint8 images"
    result = _new_result(a, names, repeats, data_note, env, threads, limits)
    for name in names:
        result["models"][name] = _bench_model(a, name, repeats, torch, limits, data, norm)
    if a.blas == "both" and forced:
        _log("step: the same steps with NumPy's own BLAS kernel (child process)")
        result["own_blas"] = own_blas_child(a, names, repeats, work)
    if a.profile and data is not None:
        _log("profile: softmax epoch")
        result["epoch_profile"] = profile_epoch(data, "softmax", BATCH, norm)
    if a.floor and data is not None:
        _add_epoch_floor(result, a, data, norm, limits["copy_gbs"])
    _add_jobs(result, a, split, use_real, preprocess, work)
    return _report(a, result, baseline, baseline_file, out)


if __name__ == "__main__":
    sys.exit(main())
