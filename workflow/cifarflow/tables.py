"""Comparison tables from the per-variant metrics, as pandas DataFrames written to CSV/Markdown/LaTeX."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

# Settings a summary may show, in this order; only those that differ between the variants are kept.
SETTINGS = (
    "model",
    "loss",
    "split",
    "classes",
    "batch_size",
    "epochs",
    "eta",
    "schedule",
    "lambda",
    "flip",
    "translate",
    "shuffle",
    "early_stopping",
    "hidden",
    "momentum",
)


def _setting(metrics: dict, key: str):
    cfg = metrics["config"]
    if key in ("flip", "translate"):
        value = (metrics.get("plan") or {}).get(key, 0)
    else:
        value = cfg.get(key)
    if key == "eta" and cfg.get("schedule") == "cyclic":
        value = f"{cfg['eta_min']:g}-{cfg['eta_max']:g}"
    if key == "schedule" and value == "step":
        value = f"step x{cfg['step_factor']:g}/{cfg['step_every']}"
    if key == "hidden" and cfg.get("model") != "mlp":
        value = None
    if key == "early_stopping" and value:
        value = f"{value.get('monitor', 'val_loss')}, patience {value['patience']}"
    if isinstance(value, list):
        value = "x".join(map(str, value)) if key == "hidden" else "/".join(map(str, value))
    return "" if value is None else value


def summary_table(metrics_list: list[dict]) -> pd.DataFrame:
    """One row per variant: name, set, the settings that differ, accuracies, epochs, time, memory."""
    rows = []
    for m in metrics_list:
        row = {"variant": m["variant"], "set": m["set"]}
        row.update({k: _setting(m, k) for k in SETTINGS})
        t = m.get("timing") or {}
        row.update(
            {
                "best val acc (%)": round(100 * m["best_val_acc"], 2),
                "test acc (%)": round(100 * m["test_acc"], 2),
                "epochs run": m["epochs_run"],
                "stopped at": m["stopped_epoch"] if m["stopped_early"] else "",
                "diverged": f"epoch {m['diverged_epoch']}" if m["diverged"] else "",
                "train s": round(float(t.get("train_seconds", float("nan"))), 1),
                "peak MB": round(float(t.get("peak_rss_mb", float("nan"))), 0),
            }
        )
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    drop = [k for k in SETTINGS if k != "model" and df[k].astype(str).nunique() <= 1]
    if df["set"].nunique() <= 1 and len(df) > 1:
        drop.append("set")
    if not (df["diverged"] != "").any():
        drop.append("diverged")
    return df.drop(columns=drop)


def per_class_table(metrics_list: list[dict]) -> pd.DataFrame:
    """Test accuracy (%) per class, one row per variant (class pairs leave the other classes empty)."""
    rows = []
    for m in metrics_list:
        row = {"variant": m["variant"]}
        row.update({c: round(100 * a, 2) for c, a in m["per_class_acc"].items()})
        rows.append(row)
    return pd.DataFrame(rows)


def benchmark_table(records: list[dict]) -> pd.DataFrame:
    """Snakemake benchmark files (records: path, rule, job) as one row per job."""
    rows = []
    for r in records:
        b = pd.read_csv(r["path"], sep="\t").iloc[-1]
        rows.append(
            {
                "rule": r["rule"],
                "job": r["job"],
                "seconds": round(float(b["s"]), 2),
                "max RSS (MB)": round(float(b["max_rss"]), 1),
                "cpu seconds": round(float(b["cpu_time"]), 2),
                "mean load (%)": round(float(b["mean_load"]), 1),
            }
        )
    return pd.DataFrame(rows)


def write_table(df: pd.DataFrame, stem: str | os.PathLike, formats=("csv", "md", "tex")) -> list[Path]:
    """Write `df` as <stem>.csv, .md (pipe table) and .tex (booktabs), each atomically."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    writers = {
        "csv": lambda: df.to_csv(index=False),
        "md": lambda: df.to_markdown(index=False) + "\n",
        "tex": lambda: df.to_latex(index=False, escape=True, na_rep=""),
    }
    out = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(writers[fmt]())
        os.replace(tmp, path)
        out.append(path)
    return out
