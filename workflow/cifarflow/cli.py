"""Command-line entry points called by the workflow's rules (`python -m cifarflow <command>`).

This is the edge where files are opened; everything it calls takes and returns arrays. A
`CifarflowError` ends the command with its one-line message on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from .errors import CifarflowError, ConfigError, DataError


def _log(msg: str) -> None:
    print(msg, flush=True)


# ---- data --------------------------------------------------------------------------------------


def cmd_download(a) -> None:
    from .download import download

    download(a.url, a.out, a.md5, retries=a.retries, backoff=a.backoff, timeout=a.timeout, log=_log)


def cmd_import(a) -> None:
    from . import data, sources

    t0 = time.perf_counter()
    raw = sources.read_source(a.source, classes=json.loads(a.classes) if a.classes else None)
    _log(f"read {len(raw.train_labels)} training and {len(raw.test_labels)} test images ({raw.source_format}) in {time.perf_counter() - t0:.1f}s")
    digest = data.file_sha256(a.source)
    data.write_raw(raw, a.out, source_path=str(a.source), source_sha256=digest)
    _log(f"wrote {a.out} in {time.perf_counter() - t0:.1f}s (source sha256 {digest})")


def cmd_split(a) -> None:
    from . import data

    spec = json.loads(a.spec)
    raw = data.read_raw(a.raw)
    split = data.make_split(raw, spec, name=a.name)
    data.write_split(split, a.out)
    _log(f"split {a.name}: {len(split.train_labels)} train, {len(split.val_labels)} val, {len(split.test_labels)} test -> {a.out}")


def select_training(labels, class_names, classes, train_limit, where: str):
    """Indices of the training images a variant uses (class subset, then the first train_limit)."""
    import numpy as np

    idx = np.arange(len(labels))
    if classes:
        idx = idx[np.isin(labels, _class_ids(class_names, classes, where))]
    if train_limit:
        idx = idx[: int(train_limit)]
    return idx


def _class_ids(class_names, classes, where: str):
    names = list(class_names)
    for c in classes:
        if c not in names:
            raise ConfigError(f"{where}: unknown class '{c}' (the data has: {', '.join(names)})")
    return [names.index(c) for c in classes]


def cmd_plan(a) -> None:
    from . import data
    from .augment import make_epoch_plan, materialise
    from .store import write_plan

    spec = json.loads(a.spec)
    split = data.load_split(a.split)
    idx = select_training(split.train_labels, split.class_names, spec["classes"], spec["train_limit"], f"plan {Path(a.out).stem}: classes")
    n = len(idx)
    fill = spec.get("fill", "zero")
    plans = [make_epoch_plan(n, e, spec["seed"], spec["shuffle"], spec["flip"], spec["translate"], fill) for e in range(1, spec["epochs"] + 1)]
    mats = None
    if spec["materialize"]:
        images = split.train_images[idx]
        mats = [materialise(images, p) for p in plans]
    write_plan(a.out, plans, spec, mats)
    _log(f"plan {a.out}: {spec['epochs']} epochs of {n} images (flip {spec['flip']}, translate {spec['translate']} fill {fill}, shuffle {spec['shuffle']}, materialised {bool(mats)})")


# ---- training ----------------------------------------------------------------------------------


def load_variant_data(split, variant: dict):
    """The train/val/test arrays of a variant (class subset relabelled 0..k-1, training limit)."""
    import numpy as np

    from .train import Data

    where = f"variant {variant['name']}: classes"
    classes = variant.get("classes")
    tr = select_training(split.train_labels, split.class_names, classes, variant.get("train_limit"), where)
    if classes:
        ids = _class_ids(split.class_names, classes, where)
        remap = np.full(len(split.class_names), -1, dtype=np.int64)
        remap[ids] = np.arange(len(ids))
        va = np.flatnonzero(np.isin(split.val_labels, ids))
        te = np.flatnonzero(np.isin(split.test_labels, ids))
        lab = lambda y: remap[y]  # noqa: E731
        names = tuple(classes)
    else:
        va, te = slice(None), slice(None)
        lab = lambda y: np.asarray(y, dtype=np.int64)  # noqa: E731
        names = tuple(split.class_names)
    train_images = split.train_images if (isinstance(tr, np.ndarray) and len(tr) == len(split.train_labels)) else split.train_images[tr]
    return Data(
        train_images=train_images,
        train_labels=lab(split.train_labels[tr]),
        val_images=split.val_images[va],
        val_labels=lab(split.val_labels[va]),
        test_images=split.test_images[te],
        test_labels=lab(split.test_labels[te]),
        class_names=names,
    )


def peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM; ru_maxrss would include what the parent had at fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cmd_train(a) -> None:
    import hashlib

    import numpy as np
    import pandas as pd

    from . import data as data_mod
    from .models import build_model
    from .store import (
        PlanFile,
        code_version,
        file_sha256,
        package_digest,
        read_checkpoint,
        remove_stale_temporaries,
        versions,
        write_checkpoint,
        write_json,
        write_weights,
    )
    from .train import Normalizer, PlanSource, evaluate, init_rng, predict_all, train

    variant = json.loads(a.variant)
    name = variant["name"]
    outdir = Path(a.outdir)
    t_start = time.perf_counter()
    split = data_mod.load_split(a.split)
    data = load_variant_data(split, variant)
    if variant.get("classes") or variant.get("train_limit"):
        norm = Normalizer.from_images(data.train_images, variant["normalize"])
    else:  # the whole training split: its statistics are stored in the split file already
        norm = Normalizer.from_split(split, variant["normalize"])
    del split
    n = len(data.train_labels)
    if variant["batch_size"] > n:
        raise ConfigError(f"variant {name}: batch_size {variant['batch_size']} is larger than its {n} training images")
    plan = PlanFile(a.plan)
    if plan.n != n or plan.epochs < variant["epochs"]:
        raise DataError(f"{a.plan}: plan has {plan.epochs} epochs of {plan.n} images, variant {name} needs {variant['epochs']} of {n}")
    source = PlanSource(plan.plan, plan.images if plan.has_images else None)
    outdir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(outdir)
    dtype = np.float32
    model = build_model(variant, data.train_images.shape[1:], len(data.class_names), init_rng(variant["seed"]), dtype)
    _log(f"variant {name}: {variant['model']} ({variant['loss']}), {model.n_params} parameters, {n} training images, "
         f"{len(data.val_labels)} validation, {len(data.test_labels)} test; plan {'materialised' if plan.has_images else 'replayed'}")

    data_sha = file_sha256(a.split)
    fingerprint = hashlib.sha256(
        json.dumps({"variant": variant, "plan": plan.spec, "data": data_sha, "code": package_digest()}, sort_keys=True).encode()
    ).hexdigest()
    ckpt_path = outdir / "checkpoint.h5"
    resume = read_checkpoint(ckpt_path, fingerprint)
    if resume and resume["epoch"] >= variant["epochs"]:
        resume = None  # a finished run's leftover: start clean (cannot happen unless outputs were removed by hand)

    result = train(
        model,
        data,
        source,
        variant,
        norm,
        log=_log,
        checkpoint=lambda state: write_checkpoint(ckpt_path, state, fingerprint),
        resume=resume,
    )

    lam = float(variant["lambda"])
    tta = bool(variant.get("test_flip"))
    test = evaluate(model, data.test_images, data.test_labels, norm, lam, flip=tta)
    probs = predict_all(model, data.test_images, norm, flip=tta)
    pred = probs.argmax(axis=1)
    k = len(data.class_names)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (data.test_labels, pred), 1)
    per_class = {c: float(confusion[i, i] / max(confusion[i].sum(), 1)) for i, c in enumerate(data.class_names)}
    hist = pd.DataFrame(result.history)
    best_row = hist.loc[hist["epoch"] == result.best_epoch].iloc[0]
    metrics = {
        "variant": name,
        "set": variant["set"],
        "model": variant["model"],
        "loss": variant["loss"],
        "test_acc": test["acc"],
        "test_loss": test["loss"],
        "test_cost": test["cost"],
        "per_class_acc": per_class,
        "confusion": confusion.tolist(),
        "class_names": list(data.class_names),
        "best_epoch": int(result.best_epoch),
        "best_val_acc": float(hist["val_acc"].iloc[1:].max()) if len(hist) > 1 else float(hist["val_acc"].iloc[0]),
        "best_val_loss": float(hist["val_loss"].iloc[1:].min()) if len(hist) > 1 else float(hist["val_loss"].iloc[0]),
        "selected_val_acc": float(best_row["val_acc"]),
        "epochs_run": int(result.epochs_run),
        "stopped_early": result.stopped_early,
        "stopped_epoch": result.stopped_epoch,
        "diverged": result.diverged,
        "diverged_epoch": result.diverged_epoch,
        "n_params": int(model.n_params),
        "weight_norm2": float(model.weight_norm2()),
        "n_train": n,
        "config": variant,
        "plan": plan.spec,
        "data_sha256": data_sha,
        "timing": {
            "train_seconds": round(result.seconds, 3),
            "total_seconds": round(time.perf_counter() - t_start, 3),
            "peak_rss_mb": peak_rss_mb(),
            "resumed_from_epoch": result.resumed_from,
            "threads": a.threads,
        },
        "provenance": {**versions(), **code_version()},
    }
    record = {"config": variant, "class_names": list(data.class_names), "data_sha256": data_sha, "provenance": metrics["provenance"]}
    attrs = dict(record, best_epoch=int(result.best_epoch), normalize=variant["normalize"],
                 input_shape=list(data.train_images.shape[1:]), plan=plan.spec)
    write_weights(outdir / "weights.h5", model.params, attrs, {"norm_mean": norm.mean, "norm_inv_std": norm.inv_std})
    write_weights(outdir / "predictions.h5", {"probs": probs}, record, {"labels": data.test_labels})
    from .store import atomic_output

    with atomic_output(outdir / "history.csv") as tmp:
        hist.to_csv(tmp, index=False)
    write_json(outdir / "metrics.json", metrics)
    if ckpt_path.exists():
        ckpt_path.unlink()
    status = f"DIVERGED at epoch {result.diverged_epoch}" if result.diverged else f"best epoch {result.best_epoch}"
    _log(f"variant {name}: test accuracy {100 * test['acc']:.2f}% ({status}), {result.seconds:.1f}s training")


# ---- figures, tables, report -------------------------------------------------------------------


def _figure_args(a) -> dict:
    return json.loads(a.figures) if getattr(a, "figures", None) else {}


def cmd_preview(a) -> None:
    import numpy as np

    from . import data, plots
    from .augment import augment_batch

    aug = json.loads(a.augmentation)
    split = data.load_split(a.split)
    rng = np.random.default_rng(a.seed)
    pick = rng.choice(len(split.train_labels), size=8, replace=False)
    originals = split.train_images[pick]
    copies = []
    for _ in range(3):
        flips = rng.random(8) < float(aug.get("flip", 0.0))
        t = int(aug.get("translate", 0))
        shifts = rng.integers(-t, t + 1, size=(8, 2)) if t else np.zeros((8, 2), dtype=int)
        copies.append(augment_batch(originals, flips, shifts, fill=aug.get("fill", "zero")))
    fig = plots.plot_augment_preview(originals, np.stack(copies), [split.class_names[i] for i in split.train_labels[pick]])
    plots.save(fig, a.out, dpi=_figure_args(a).get("dpi", 150))


def _read_history(path):
    import pandas as pd

    return pd.read_csv(path)


def cmd_plot_variant(a) -> None:
    from . import plots
    from .store import read_json, read_weights

    m = read_json(a.metrics)
    dpi = _figure_args(a).get("dpi", 150)
    hist = _read_history(a.history)
    fig = plots.plot_curves(hist, m["variant"], best_epoch=m["best_epoch"], stopped_epoch=m["stopped_epoch"], diverged_epoch=m["diverged_epoch"])
    plots.save(fig, a.curves, dpi=dpi)
    fig = plots.plot_confusion(m["confusion"], m["class_names"], f"{m['variant']}: test confusion matrix")
    plots.save(fig, a.confusion, dpi=dpi)
    params, _, _ = read_weights(a.weights)
    W, labels, title = weight_images(params, m)
    fig = plots.plot_templates(W, labels, title)
    plots.save(fig, a.templates, dpi=dpi)


def weight_images(params: dict, metrics: dict):
    """What to show as images of a variant's first layer: (W rows as (K, 32*32*3), labels, title).

    Linear models: one template per class. MLPs: the first 10 hidden units' input weights.
    ConvNets: the first-layer filters (each (f, f, C), shown enlarged).
    """
    import numpy as np

    name, model = metrics["variant"], metrics["model"]
    W = params["W1"]
    if model in ("softmax", "sigmoid", "logistic"):
        labels = metrics["class_names"] if W.shape[0] == len(metrics["class_names"]) else [f"{metrics['class_names'][1]} vs {metrics['class_names'][0]}"]
        return W, labels, f"{name}: class templates (rows of W)"
    if W.ndim == 2:
        k = min(10, W.shape[0])
        return W[:k], [f"unit {i + 1}" for i in range(k)], f"{name}: input weights of the first {k} hidden units"
    k = min(10, W.shape[0])
    f = W[:k]
    reps = int(np.ceil(32 / f.shape[1]))
    big = np.repeat(np.repeat(f, reps, axis=1), reps, axis=2)[:, :32, :32, :]
    return big.reshape(k, -1), [f"filter {i + 1}" for i in range(k)], f"{name}: first-layer filters"


def cmd_compare(a) -> None:
    from . import plots
    from .store import read_json, read_weights

    spec = json.loads(a.spec)
    dpi = _figure_args(a).get("dpi", 150)
    runs = [Path(r) for r in a.runs]
    names = [r.name for r in runs]
    metrics = {r.name: read_json(r / "metrics.json") for r in runs}
    kind = spec["type"]
    if kind == "per_class":
        class_names = metrics[names[0]]["class_names"]
        fig = plots.plot_per_class({n: metrics[n]["per_class_acc"] for n in names}, class_names)
    elif kind == "vs_lambda":
        rows = [{"variant": n, "value": metrics[n]["config"]["lambda"], "val_acc": metrics[n]["selected_val_acc"],
                 "weight_norm2": metrics[n]["weight_norm2"]} for n in names]
        fig = plots.plot_vs_param(rows, param="lambda")
    elif kind == "curves":
        hists = {n: _read_history(r / "history.csv") for n, r in zip(names, runs)}
        fig = plots.plot_curves_overlay(hists, metrics=tuple(spec.get("metrics") or ("val_acc",)), loss_names={n: metrics[n]["loss"] for n in names})
    elif kind == "templates":
        fig = plots.plot_templates_compare({n: read_weights(r / "weights.h5")[0]["W1"] for n, r in zip(names, runs)}, metrics[names[0]]["class_names"])
    elif kind == "true_class_prob":
        probs = {}
        for n, r in zip(names, runs):
            p, _, extra = read_weights(r / "predictions.h5")
            probs[n] = (p["probs"], extra["labels"])
        fig = plots.plot_true_class_prob(probs)
    else:
        raise ConfigError(f"comparison {spec['name']}: unknown type {kind!r}")
    if spec.get("title"):
        fig.suptitle(spec["title"])
    plots.save(fig, a.out, dpi=dpi)


def cmd_tables(a) -> None:
    from . import tables
    from .store import read_json

    metrics = [read_json(p) for p in a.metrics]
    tables.write_table(tables.summary_table(metrics), str(Path(a.outdir) / "summary"), formats=("csv", "md", "tex"))
    tables.write_table(tables.per_class_table(metrics), str(Path(a.outdir) / "per_class"), formats=("csv", "md"))


def cmd_benchmarks(a) -> None:
    from . import tables

    records = []
    for path in a.files:
        p = Path(path)
        records.append({"path": str(p), "rule": p.parent.name, "job": p.stem})
    tables.write_table(tables.benchmark_table(records), a.out, formats=("csv", "md"))


def cmd_summary_md(a) -> None:
    from .report import summary_markdown
    from .store import atomic_output

    text = summary_markdown(a.summary, a.figures_list, Path(a.out).parent)
    with atomic_output(a.out) as tmp:
        tmp.write_text(text)


def cmd_check_config(a) -> None:
    from .config import load_config_files, selected_sets, validate_config

    config, variants, comparisons = validate_config(load_config_files(a.configfiles))
    sets = selected_sets(config)
    _log(f"{', '.join(a.configfiles)}: valid ({len(variants)} variants, {len(comparisons)} comparisons in {len(sets)} sets: {', '.join(sets)})")


def cmd_readme(a) -> None:
    from .report import update_readme

    changed = update_readme(a.readme, a.runs)
    _log(f"{a.readme}: results block {'updated' if changed else 'already up to date'} from {a.runs}")


# ---- argument parsing --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cifarflow", description=__doc__)
    p.add_argument("--threads", type=int, default=None, help="BLAS/OpenMP threads (set before NumPy loads)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("download", help="fetch an archive with md5 check, retries and an atomic write")
    s.add_argument("--url", required=True)
    s.add_argument("--md5", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--retries", type=int, default=4)
    s.add_argument("--backoff", type=float, default=2.0)
    s.add_argument("--timeout", type=float, default=60)
    s.set_defaults(func=cmd_download)

    s = sub.add_parser("import", help="read a CIFAR-10 source into results/data/cifar10.h5")
    s.add_argument("--source", required=True)
    s.add_argument("--classes", default=None, help="JSON list of the class names the source must have (folder sources)")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("split", help="write one train/val/test split with training statistics")
    s.add_argument("--raw", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--spec", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_split)

    s = sub.add_parser("plan", help="write the epoch plans (order, flips, shifts) of a variant")
    s.add_argument("--split", required=True)
    s.add_argument("--spec", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_plan)

    s = sub.add_parser("train", help="train one variant")
    s.add_argument("--split", required=True)
    s.add_argument("--plan", required=True)
    s.add_argument("--variant", required=True, help="the resolved variant as JSON")
    s.add_argument("--outdir", required=True)
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("preview", help="figure of original vs augmented training images")
    s.add_argument("--split", required=True)
    s.add_argument("--augmentation", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--figures", default=None)
    s.add_argument("--out", required=True, help="output stem (writes .png and .pdf)")
    s.set_defaults(func=cmd_preview)

    s = sub.add_parser("plot-variant", help="curves, confusion matrix and class templates of one variant")
    s.add_argument("--metrics", required=True)
    s.add_argument("--history", required=True)
    s.add_argument("--weights", required=True)
    s.add_argument("--curves", required=True)
    s.add_argument("--confusion", required=True)
    s.add_argument("--templates", required=True)
    s.add_argument("--figures", default=None)
    s.set_defaults(func=cmd_plot_variant)

    s = sub.add_parser("compare", help="one comparison figure across variants")
    s.add_argument("--spec", required=True)
    s.add_argument("--runs", nargs="+", required=True)
    s.add_argument("--figures", default=None)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_compare)

    s = sub.add_parser("tables", help="summary and per-class tables")
    s.add_argument("--metrics", nargs="+", required=True)
    s.add_argument("--outdir", required=True)
    s.set_defaults(func=cmd_tables)

    s = sub.add_parser("benchmarks", help="table of the per-job benchmark files")
    s.add_argument("--files", nargs="+", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_benchmarks)

    s = sub.add_parser("summary-md", help="results/summary.md")
    s.add_argument("--summary", required=True)
    s.add_argument("--figures-list", nargs="*", default=[])
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_summary_md)
    s = sub.add_parser("check-config", help="validate config files (later ones override earlier ones) as the workflow does")
    s.add_argument("configfiles", nargs="+", metavar="CONFIG")
    s.set_defaults(func=cmd_check_config)

    s = sub.add_parser("readme", help="regenerate the README's results block from results/runs")
    s.add_argument("--readme", default="README.md")
    s.add_argument("--runs", default="results/runs")
    s.set_defaults(func=cmd_readme)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except CifarflowError as exc:
        print(f"cifarflow: error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
