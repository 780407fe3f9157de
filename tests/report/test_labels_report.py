"""Display labels in the report (issue 31): figures name variants by label (legends, tick labels,
titles) and colour them by name; tables add a `label` column; the name stays the identifier."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from figure_utils import draw, legend_texts, text_collisions, tick_texts  # noqa: E402

from cifarflow.report import compare  # noqa: E402
from cifarflow.report import stat_plots as SP  # noqa: E402
from cifarflow.report.figure import variant_colors  # noqa: E402
from cifarflow.report.summary import summary_markdown  # noqa: E402
from cifarflow.report.tables import with_labels, write_table  # noqa: E402
from cifarflow.report.variant import weight_images  # noqa: E402
from cifarflow.report.verdicts import recipe_display  # noqa: E402

NAMES = ["bonus-softmax-augmentationflip_p05-lambda0.01", "bonus-sigmoid-lambda0"]
LABELS = {NAMES[0]: "softmax, flip_p05, λ 0.01", NAMES[1]: "sigmoid, λ 0"}


def metrics(name, seed, acc):
    return {
        "variant": name,
        "model": "softmax",
        "config": {"seed": seed, "lambda": 0.01 if "softmax" in name else 0.0},
        "class_names": ["cat", "dog"],
        "per_class_acc": {"cat": acc, "dog": acc / 2},
        "confusion": [[5, 5], [5, 5]],
        "test_acc": acc,
        "selected_val_acc": acc,
        "best_val_acc": acc,
        "weight_norm2": 1.0 + acc,
    }


def runs_metrics(seeds=3):
    return {n: [metrics(n, s, 0.4 + 0.01 * s + 0.05 * i) for s in range(seeds)] for i, n in enumerate(NAMES)}


def all_texts(fig):
    draw(fig)
    return legend_texts(fig) + sorted(tick_texts(fig)) + [ax.get_title() for ax in fig.axes]


@pytest.mark.parametrize("kind", ["per_class", "vs_lambda"])
@pytest.mark.parametrize("seeds", [1, 3])
def test_comparison_legends_show_labels_not_names(kind, seeds):
    fig = compare.COMPARISONS[kind]({"labels": LABELS}, NAMES, {}, runs_metrics(seeds))
    legend = " | ".join(legend_texts(fig))
    for n in NAMES:
        assert LABELS[n] in legend, legend
        assert n not in " | ".join(all_texts(fig)), n
    assert text_collisions(fig) == ([], [])


def test_without_labels_a_comparison_still_names_its_variants():
    fig = compare.COMPARISONS["per_class"]({}, NAMES, {}, runs_metrics(3))
    assert all(any(n in t for t in legend_texts(fig)) for n in NAMES)


def test_a_variant_keeps_its_colour_whatever_its_label():
    named = compare.COMPARISONS["vs_lambda"]({}, NAMES, {}, runs_metrics(1))
    labelled = compare.COMPARISONS["vs_lambda"]({"labels": LABELS}, NAMES, {}, runs_metrics(1))

    def colours(fig):
        return [h.get_color() for h in fig.legends[0].legend_handles]

    assert colours(named) == colours(labelled)
    assert colours(labelled) == [variant_colors(NAMES)[n] for n in sorted(NAMES, key=lambda n: n != NAMES[1])]


def test_labels_shared_in_one_figure_fall_back_to_the_names():
    fig = compare.COMPARISONS["per_class"]({"labels": {n: "same" for n in NAMES}}, NAMES, {}, runs_metrics(1))
    assert sorted(legend_texts(fig)) == sorted(NAMES)


def test_a_dollar_in_a_label_is_drawn_as_written():
    fig = compare.COMPARISONS["per_class"]({"labels": {NAMES[0]: "costs $5"}}, NAMES, {}, runs_metrics(1))
    draw(fig)  # an unescaped "$" would start mathtext (and fail here)
    assert "costs \\$5" in legend_texts(fig)


class _Run:
    def __init__(self, m):
        self.metrics = m


def test_the_per_seed_strip_ticks_show_labels(monkeypatch):
    ms = runs_metrics(3)
    dirs = {n: [f"results/runs/{n}/seed{s}" for s in range(3)] for n in NAMES}
    by_dir = {d: _Run(m) for n in NAMES for d, m in zip(dirs[n], ms[n])}
    monkeypatch.setattr(compare, "group_runs", lambda run_dirs: dirs)
    monkeypatch.setattr(compare, "read_run", lambda d: by_dir[str(d)])
    spec = {"name": "cmp", "labels": LABELS}
    fig = compare.seed_strip_figure(spec, [d for n in NAMES for d in dirs[n]])
    ticks = " | ".join(tick_texts(fig))
    assert all(LABELS[n] in ticks for n in NAMES), ticks
    assert not any(n in ticks for n in NAMES), ticks
    assert fig.axes[0].get_title().startswith("cmp:")  # the comparison keeps its name


def test_the_paired_forest_plot_names_pairs_by_label():
    table = pd.DataFrame(
        [
            {
                "variant_a": NAMES[0],
                "variant_b": NAMES[1],
                "diff": 0.01,
                "diff_lo": -0.01,
                "diff_hi": 0.03,
                "verdict": "undecided",
                "p_better": 0.6,
                "min_effect": 0.005,
                "level": 0.95,
            }
        ]
    )
    fig = SP.plot_pair_diffs(table, labels=LABELS)
    ticks = " ".join(t.replace("\n", " ") for t in tick_texts(fig))
    assert f"{LABELS[NAMES[0]]} − {LABELS[NAMES[1]]}" in ticks and NAMES[0] not in ticks
    # the drawn pair keeps the names as its identifier
    assert any(ln.get_gid() == f"pair:{NAMES[0]}|{NAMES[1]}" for ln in fig.axes[0].lines)


def test_a_variants_own_figures_are_titled_by_its_label():
    m = metrics("lg-lambda0.1", 0, 0.4)
    W = np.zeros((2, 3072))
    _, _, title = weight_images({"W1": W}, dict(m, class_names=["cat", "dog"]), "λ 0.1")
    assert title.startswith("λ 0.1:") and "lg-lambda0.1" not in title
    assert weight_images({"W1": W}, m)[2].startswith("lg-lambda0.1:")  # no label: the name


def test_tables_add_the_label_after_the_variant_in_csv_and_first_for_readers(tmp_path):
    df = pd.DataFrame({"variant": NAMES, "test acc (%)": [41.2, 40.1]})
    csv = with_labels(df, LABELS)
    assert list(csv.columns) == ["variant", "label", "test acc (%)"]
    assert csv["label"].tolist() == [LABELS[n] for n in NAMES] and csv["variant"].tolist() == NAMES
    shown = with_labels(df, LABELS, first=True)
    assert list(shown.columns) == ["label", "variant", "test acc (%)"]
    assert with_labels(df, None)["label"].tolist() == NAMES  # no labels: the names
    # free text in a Markdown table: a "|" is escaped and cannot end its cell
    write_table(with_labels(df, {NAMES[0]: "a | b"}, first=True), tmp_path / "t", formats=("md", "csv"))
    md = (tmp_path / "t.md").read_text(encoding="utf-8").splitlines()
    assert "a \\| b" in md[2] and md[2].count(" | ") == md[0].count(" | ")
    assert pd.read_csv(tmp_path / "t.csv")["label"].tolist() == ["a | b", NAMES[1]]
    # LaTeX: a derived label's Greek letters as math, which pdflatex prints too
    write_table(with_labels(df, LABELS, first=True), tmp_path / "t", formats=("tex",))
    tex = (tmp_path / "t.tex").read_text(encoding="utf-8")
    assert "softmax, flip\\_p05, $\\lambda$ 0.01" in tex and "λ" not in tex


def test_paired_markdown_names_a_and_b_by_label():
    row = {
        "variant_a": NAMES[0],
        "variant_b": NAMES[1],
        "label_a": LABELS[NAMES[0]],
        "label_b": LABELS[NAMES[1]],
        "n_seeds_a": 3,
        "acc_a": 0.4,
        "acc_a_lo": 0.39,
        "acc_a_hi": 0.41,
        "n_seeds_b": 3,
        "acc_b": 0.38,
        "acc_b_lo": 0.37,
        "acc_b_hi": 0.39,
        "paired": True,
        "level": 0.95,
        "diff": 0.02,
        "diff_lo": 0.01,
        "diff_hi": 0.03,
        "p_better": 0.9,
        "p_better_lo": 0.7,
        "p_better_hi": 1.0,
        "min_effect": 0.005,
        "verdict": "A better",
        "seeds_needed": np.nan,
    }
    shown = recipe_display(pd.DataFrame([row]))
    assert shown.loc[0, "A"] == LABELS[NAMES[0]] and shown.loc[0, "B"] == LABELS[NAMES[1]]
    plain = {k: v for k, v in row.items() if not k.startswith("label_")}
    assert recipe_display(pd.DataFrame([plain])).loc[0, "A"] == NAMES[0]


def test_summary_links_a_variants_figures_by_its_label(tmp_path):
    figs = [f"results/figures/s/{NAMES[0]}/curves.png", "results/figures/s/v2/curves.png"]
    text = summary_markdown(None, figs, "results", labels={NAMES[0]: "soft [tuned]"})
    assert f"[soft \\[tuned\\] curves](figures/s/{NAMES[0]}/curves.png)" in text
    assert "[v2 curves](figures/s/v2/curves.png)" in text
