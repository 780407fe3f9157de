"""Tables and Markdown summaries built from per-variant metrics."""

import pandas as pd

from cifarflow.config import default_settings
from cifarflow.report.summary import summary_markdown
from cifarflow.report.tables import benchmark_table, per_class_table, summary_table, write_table

CLASSES = ["cat", "dog"]


def metrics(name, **cfg):
    config = default_settings()
    config.update(cfg)
    return {
        "variant": name,
        "set": "s",
        "model": config["model"],
        "loss": "cross_entropy",
        "config": config,
        "plan": {"flip": 0.5, "translate": 0},
        "best_val_acc": 0.41234,
        "test_acc": 0.40567,
        "epochs_run": 40,
        "stopped_early": False,
        "stopped_epoch": None,
        "diverged": False,
        "diverged_epoch": None,
        "per_class_acc": {"cat": 0.5, "dog": 0.25},
        "data_sha256": "ab" * 32,
        "timing": {"train_seconds": 12.34, "peak_rss_mb": 420.0},
    }


def test_summary_keeps_only_the_settings_that_differ():
    df = summary_table([metrics("a", eta=0.1), metrics("b", eta=0.001)])
    assert list(df["variant"]) == ["a", "b"]
    assert "eta" in df and "lambda" not in df and "batch_size" not in df
    assert "model" in df  # always shown
    assert df["test acc (%)"].tolist() == [40.57, 40.57]


def test_summary_marks_divergence_and_early_stops():
    a, b = metrics("a"), metrics("b", **{"lambda": 0.1})
    b.update(diverged=True, diverged_epoch=3, stopped_early=True, stopped_epoch=7)
    df = summary_table([a, b])
    assert df.loc[1, "diverged"] == "epoch 3" and df.loc[1, "stopped at"] == 7


def test_per_class_table_has_one_column_per_class():
    df = per_class_table([metrics("a"), metrics("b")])
    assert list(df.columns) == ["variant", "cat", "dog"] and df.loc[0, "dog"] == 25.0


def test_write_table_writes_csv_markdown_and_booktabs(tmp_path):
    df = summary_table([metrics("a", eta=0.1), metrics("b", eta=0.01)])
    paths = write_table(df, tmp_path / "t")
    assert {p.suffix for p in paths} == {".csv", ".md", ".tex"}
    assert pd.read_csv(tmp_path / "t.csv").shape == df.shape
    assert "| variant" in (tmp_path / "t.md").read_text()
    tex = (tmp_path / "t.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex


def test_benchmark_table_reads_snakemake_benchmark_files(tmp_path):
    tsv = tmp_path / "v.tsv"
    tsv.write_text(
        "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
        "4.25\t0:00:04\t184.36\t304.99\t155.98\t162.91\t0.01\t42.72\t75.12\t3.67\n"
    )
    df = benchmark_table([{"path": tsv, "rule": "train", "job": "v"}])
    assert df.loc[0, "seconds"] == 4.25 and df.loc[0, "max RSS (MB)"] == 184.4


def test_summary_markdown_links_figures_relative_to_results(tmp_path):
    (tmp_path / "summary.md").write_text("| variant |\n|:--|\n| a |\n")
    figs = [
        "results/figures/s/comparisons/pc.png",
        "results/figures/s/a/curves.png",
        "results/figures/augment/flip.png",
    ]
    text = summary_markdown(tmp_path / "summary.md", figs, "results")
    assert "![pc](figures/s/comparisons/pc.png)" in text
    assert "[a curves](figures/s/a/curves.png)" in text
    assert "| a |" in text
