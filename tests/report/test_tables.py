"""tables: summary, per-class and benchmark tables, and their CSV/Markdown/LaTeX files."""

import io

import pandas as pd
import pytest

from cifarflow.config import default_settings
from cifarflow.report.tables import SETTINGS, benchmark_table, per_class_table, summary_table, write_table

BENCHMARK_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def metrics(name, set_name="baseline", **cfg):
    config = default_settings()
    config.update({"loss": "cross_entropy", "split": "basic"})
    config.update(cfg)
    return {
        "variant": name,
        "set": set_name,
        "model": config["model"],
        "loss": config["loss"],
        "config": config,
        "plan": {"flip": 0.0, "translate": 0},
        "best_val_acc": 0.412345,
        "test_acc": 0.405678,
        "best_epoch": 30,
        "epochs_run": 40,
        "stopped_early": False,
        "stopped_epoch": None,
        "diverged": False,
        "diverged_epoch": None,
        "class_names": ["airplane", "automobile", "bird"],
        "per_class_acc": {"airplane": 0.5, "automobile": 0.25, "bird": 0.123456},
        "timing": {"train_seconds": 12.34, "peak_rss_mb": 420.4},
    }


# ---------------------------------------------------------------------------------------------
# summary_table


def test_summary_drops_settings_shared_by_every_variant():
    df = summary_table([metrics("a", eta=0.1), metrics("b", eta=0.001)])
    assert not {"loss", "split", "batch_size", "epochs", "schedule", "lambda", "shuffle", "momentum"} & set(df)


def test_summary_keeps_the_settings_that_differ():
    df = summary_table([metrics("a", eta=0.1, shuffle=True), metrics("b", eta=0.001, shuffle=False)])
    assert df["eta"].tolist() == [0.1, 0.001] and df["shuffle"].tolist() == [True, False]


def test_summary_always_shows_the_model():
    df = summary_table([metrics("a", eta=0.1), metrics("b", eta=0.001)])
    assert list(df.columns[:2]) == ["variant", "model"] and df["model"].tolist() == ["softmax", "softmax"]


def test_summary_keeps_the_set_when_variants_come_from_several_sets():
    df = summary_table([metrics("a", "s1"), metrics("b", "s2")])
    assert df["set"].tolist() == ["s1", "s2"]


def test_summary_shows_lambda_zero_as_a_differing_value():
    df = summary_table([metrics("a", **{"lambda": 0.0}), metrics("b", **{"lambda": 0.1})])
    assert df["lambda"].tolist() == [0.0, 0.1]


def test_summary_reads_flip_and_translate_from_the_augmentation_plan():
    a, b = metrics("a"), metrics("b")
    b["plan"] = {"flip": 0.5, "translate": 3}
    df = summary_table([a, b])
    assert df["flip"].tolist() == [0.0, 0.5] and df["translate"].tolist() == [0, 3]


def test_summary_describes_early_stopping_and_class_pairs_in_words():
    a = metrics("a", classes=["cat", "dog"], early_stopping={"patience": 5, "monitor": "val_acc"})
    df = summary_table([a, metrics("b")])
    assert df["early_stopping"].tolist() == ["val_acc, patience 5", ""]
    assert df["classes"].tolist() == ["cat/dog", ""]


def test_summary_gives_accuracies_in_percent_with_two_decimals():
    df = summary_table([metrics("a")])
    assert df.loc[0, "best val acc (%)"] == 41.23 and df.loc[0, "test acc (%)"] == 40.57


def test_summary_marks_early_stops_and_divergence():
    a, b = metrics("a"), metrics("b")
    b.update(stopped_early=True, stopped_epoch=17, diverged=True, diverged_epoch=3)
    df = summary_table([a, b])
    assert df["stopped at"].tolist() == ["", 17] and df["diverged"].tolist() == ["", "epoch 3"]


def test_summary_has_no_diverged_column_when_nothing_diverged():
    assert "diverged" not in summary_table([metrics("a"), metrics("b")])


def test_summary_reports_time_and_memory_from_timing_or_top_level():
    a, b = metrics("a"), metrics("b")
    del b["timing"]
    b.update(train_seconds=3.21, peak_rss_mb=99.6)
    df = summary_table([a, b])
    assert df["train s"].tolist() == [12.3, 3.2] and df["peak MB"].tolist() == [420.0, 100.0]


def test_summary_of_nothing_is_an_empty_table():
    assert summary_table([]).empty


def test_settings_cover_the_documented_keys():
    assert SETTINGS[0] == "model" and {"lambda", "eta", "early_stopping", "hidden"} <= set(SETTINGS)


# ---------------------------------------------------------------------------------------------
# per_class_table


def test_per_class_table_has_a_row_per_variant_and_a_column_per_class():
    df = per_class_table([metrics("a"), metrics("b"), metrics("c")])
    assert df.shape == (3, 1 + 3)
    assert list(df.columns) == ["variant", "airplane", "automobile", "bird"]


def test_per_class_table_is_in_percent():
    df = per_class_table([metrics("a")])
    assert df.loc[0, ["airplane", "automobile", "bird"]].tolist() == [50.0, 25.0, 12.35]


def test_per_class_table_maps_class_indices_to_names():
    m = metrics("a")
    m["per_class_acc"] = {"0": 0.5, "1": 0.25, "2": 0.1}
    assert list(per_class_table([m]).columns) == ["variant", "airplane", "automobile", "bird"]


def test_per_class_table_leaves_classes_a_pair_lacks_empty():
    pair = metrics("pair")
    pair.update(class_names=["bird", "frog"], per_class_acc={"bird": 0.7, "frog": 0.6})
    df = per_class_table([metrics("a"), pair])
    assert df.shape == (2, 1 + 4) and pd.isna(df.loc[1, "airplane"]) and df.loc[1, "frog"] == 60.0


# ---------------------------------------------------------------------------------------------
# benchmark_table


def test_benchmark_table_parses_a_snakemake_benchmark_file(tmp_path):
    tsv = tmp_path / "a1-lam0.tsv"
    tsv.write_text(BENCHMARK_HEADER + "49.55\t0:00:49\t371.29\t464.77\t332.71\t342.00\t3.95\t4.80\t42.04\t21.17\n")
    df = benchmark_table([{"rule": "train", "job": "a1-lam0", "path": tsv}])
    assert list(df.columns) == ["rule", "job", "seconds", "max RSS (MB)", "cpu seconds", "mean load (%)"]
    assert df.loc[0].tolist() == ["train", "a1-lam0", 49.55, 371.3, 21.17, 42.0]


def test_benchmark_table_treats_na_as_missing():
    text = BENCHMARK_HEADER + "0.0123\t0:00:00\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n"
    df = benchmark_table([{"rule": "split", "job": "split=basic", "benchmark": text}])
    assert df.loc[0, "seconds"] == 0.01 and pd.isna(df.loc[0, "max RSS (MB)"]) and pd.isna(df.loc[0, "cpu seconds"])


def test_benchmark_table_averages_repeats_and_keeps_the_peak_memory():
    text = BENCHMARK_HEADER + "2.0\t0:00:02\t100\t1\t1\t1\t0\t0\t50\t1.0\n4.0\t0:00:04\t300\t1\t1\t1\t0\t0\t70\t3.0\n"
    bench = pd.read_csv(io.StringIO(text), sep="\t")
    df = benchmark_table([{"rule": "train", "wildcards": "variant=a", "benchmark": bench}])
    assert df.loc[0, ["job", "seconds", "max RSS (MB)", "cpu seconds"]].tolist() == ["variant=a", 3.0, 300.0, 2.0]


def test_benchmark_table_rejects_a_file_that_is_not_a_benchmark():
    with pytest.raises(ValueError, match="no 's' column"):
        benchmark_table([{"rule": "train", "job": "a", "benchmark": "x\ty\n1\t2\n"}])


# ---------------------------------------------------------------------------------------------
# write_table


@pytest.fixture
def table():
    a, b = metrics("a_1", eta=0.1), metrics("b_2", eta=0.001)
    b.update(stopped_early=True, stopped_epoch=17)
    return summary_table([a, b])


def test_write_table_writes_csv_markdown_and_latex(tmp_path, table):
    paths = write_table(table, tmp_path / "summary")
    assert [p.name for p in paths] == ["summary.csv", "summary.md", "summary.tex"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert pd.read_csv(paths[0]).shape == table.shape
    assert (tmp_path / "summary.md").read_text().startswith("| variant")


def test_write_table_latex_uses_booktabs_and_escapes(tmp_path, table):
    write_table(table, tmp_path / "t", formats=("tex",))
    tex = (tmp_path / "t.tex").read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "test acc (\\%)" in tex and "a\\_1" in tex


def test_write_table_prints_floats_without_padding(tmp_path, table):
    write_table(table, tmp_path / "t", formats=("tex", "md"))
    for suffix in ("tex", "md"):
        text = (tmp_path / f"t.{suffix}").read_text()
        assert "41.23" in text and "41.230000" not in text and "0.001" in text


def test_write_table_leaves_missing_cells_empty(tmp_path):
    df = pd.DataFrame({"variant": ["a", "b"], "stopped at": pd.array([None, 7], dtype="Int64")})
    write_table(df, tmp_path / "t")
    for suffix in ("csv", "md", "tex"):
        text = (tmp_path / f"t.{suffix}").read_text()
        assert "NA" not in text and "nan" not in text.lower(), suffix


def test_write_table_keeps_dots_in_the_stem_and_leaves_no_temporary_files(tmp_path, table):
    write_table(table, tmp_path / "lambda0.1", formats=("csv", "md"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lambda0.1.csv", "lambda0.1.md"]


def test_write_table_rejects_an_unknown_format_before_writing(tmp_path, table):
    with pytest.raises(ValueError, match="unknown"):
        write_table(table, tmp_path / "t", formats=("csv", "xlsx"))
    assert not list(tmp_path.iterdir())
