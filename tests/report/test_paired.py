"""report.paired: the answer of each question kind from a recipe table and per-seed metrics."""

import numpy as np
import pytest

from cifarflow.report import recipe
from cifarflow.report.paired import answer, answers_by_set, answers_html, answers_markdown
from cifarflow.report.verdicts import STOP_DECIDED, recipe_pairs_table


def _correct(rng, acc, seeds=3, n=2000):
    return rng.random((seeds, n)) < acc


def _metrics(name, accs, stops, lam=0.0, early=True):
    return [
        {
            "variant": name,
            "test_acc": a,
            "best_epoch": s - 2,
            "epochs_run": s,
            "stopped_early": early,
            "stopped_epoch": s if early else None,
            "config": {"seed": i, "lambda": lam},
        }
        for i, (a, s) in enumerate(zip(accs, stops))
    ]


def _table(correct, pairs, **kw):
    return recipe_pairs_table(correct, pairs, [True] * len(pairs), n_resamples=199, **kw)


@pytest.fixture
def setup():
    rng = np.random.default_rng(1)
    correct = {"a": _correct(rng, 0.7), "b": _correct(rng, 0.5), "c": _correct(rng, 0.69)}
    pairs = _table(correct, [("a", "b"), ("a", "c"), ("b", "c")])
    metrics = {
        "a": _metrics("a", [0.7, 0.71, 0.69], [10, 12, 14], lam=0.0),
        "b": _metrics("b", [0.5, 0.52, 0.48], [20, 22, 24], lam=0.1, early=False),
        "c": _metrics("c", [0.69, 0.7, 0.68], [11, 11, 11], lam=1.0),
    }
    return correct, pairs, metrics


@pytest.mark.parametrize(
    "kind, head, label",
    [
        ("softmax_vs_sigmoid", "Softmax vs sigmoid", "softmax with cross-entropy is better"),
        ("flip", "Flip probability", "flips with p = 0.2 is better"),
        ("relu_vs_softplus", "ReLU vs softplus", "the ReLU MLP is better"),
        ("ce_vs_mse", "Cross-entropy vs MSE", "cross-entropy is better"),
    ],
)
def test_presets_keep_their_wording_and_name_effect_interval_probability_and_seeds(setup, kind, head, label):
    _, pairs, metrics = setup
    text = answer({"name": "q", "kind": kind, "variants": ["a", "b"]}, pairs, metrics, 0.95)
    row = pairs.iloc[0]
    assert text.startswith(head) and f"{100 * row['diff']:+.2f} points" in text
    assert f"{100 * row['diff_lo']:+.2f} to {100 * row['diff_hi']:+.2f}" in text
    assert "over seeds and test images, paired by seed" in text and "P(A>B) = 1.00" in text
    assert f"verdict: {label}" in text  # 0.7 vs 0.5 on 2,000 images x 3 seeds
    assert "3 seeds per variant (the variants' own seeds)" in text


def test_shuffle_says_where_training_ended_and_how_many_seeds_early_stopping_ended(setup):
    _, pairs, metrics = setup
    text = answer({"name": "q", "kind": "shuffle", "variants": ["a", "b"]}, pairs, metrics, 0.95)
    assert "with shuffling training ends at epoch 12.0 (range 10 to 14), early stopping ending 3 of 3 seeds" in text
    assert "keeping epoch 10.0 on average" in text
    assert "with no shuffling training ends at epoch 22.0 (range 20 to 24), early stopping ending 0 of 3" in text


def test_sweep_names_the_values_the_winners_and_the_level_over_its_pairs(setup):
    _, pairs, metrics = setup
    q = {"name": "q", "kind": "lambda", "variants": ["a", "b", "c"], "labels": ["λ 0", "λ 0.1", "λ 1"]}
    text = answer(q, pairs, metrics, 0.95)
    assert text.startswith("Lambda sweep (TDT4265 4c/4e): test accuracy λ 0: ") and "; λ 0.1: 49.60%" in text
    level = f"{100 * (1 - 0.05 / 3):.4g}%"
    assert f"family-wise {level} level over the 3 pairs" in text
    assert "λ 0 beats λ 0.1" in text and "λ 1 beats λ 0.1" in text
    assert "not beaten by any other value: λ 0, λ 1" in text


def test_a_generic_comparison_is_headed_by_its_labels(setup):
    _, pairs, metrics = setup
    q = {"name": "q", "kind": "compare", "variants": ["a", "b"], "labels": ["momentum = 0.9", "momentum = 0"]}
    text = answer(q, pairs, metrics, 0.95)
    assert text.startswith("momentum = 0.9 vs momentum = 0: momentum = 0.9 reaches")
    assert "verdict: momentum = 0.9 is better" in text


def test_one_seed_is_undecided_whatever_the_difference():
    rng = np.random.default_rng(2)
    correct = {"a": _correct(rng, 0.9, seeds=1), "b": _correct(rng, 0.1, seeds=1)}
    table = _table(correct, [("a", "b")])
    assert table["verdict"].tolist() == [recipe.VERDICT_UNDECIDED]
    text = answer({"name": "q", "kind": "compare", "variants": ["a", "b"]}, table, {}, 0.95)
    assert "undecided: one seed gives no seed-to-seed spread" in text and "no interval" in text


def test_a_question_that_added_seeds_says_so(setup):
    correct, _, metrics = setup
    table = _table(correct, [("a", "b")], n_looks=4, look=2, stop_reason=STOP_DECIDED)
    text = answer({"name": "q", "kind": "compare", "variants": ["a", "b"]}, table, metrics, 0.95)
    assert "decided with 3 seeds per variant (look 2 of at most 4)" in text
    assert f"{100 * (1 - 0.05 / 4):.4g}% CI" in text


def test_a_pair_missing_from_its_table_is_an_error(setup):
    _, pairs, metrics = setup
    with pytest.raises(Exception, match=r"\(b, a\)"):
        answer({"name": "q", "kind": "flip", "variants": ["b", "a"]}, pairs, metrics, 0.95)


def test_markdown_and_html_hold_the_same_answers_grouped_by_set_and_mark_a_quick_run(setup):
    _, pairs, metrics = setup
    questions = {
        "q1": {"set": "s1", "kind": "flip", "variants": ["a", "b"], "table": "t"},
        "q2": {"set": "s2", "kind": "lambda", "variants": ["a", "b", "c"], "table": "t"},
    }
    by_set = answers_by_set(questions, {"t": pairs}, metrics, {"alpha": 0.05})
    md, page = answers_markdown(by_set), answers_html(by_set)
    assert md.index("### s1") < md.index("**q1**") < md.index("### s2") < md.index("**q2**")
    for _, items in by_set.items():
        for name, text in items:
            assert text in md and f"<b>{name}</b>" in page
    assert "<script" not in page and "QUICK" not in md
    assert "QUICK RUN" in answers_markdown(by_set, quick=True) and "QUICK RUN" in answers_html(by_set, quick=True)


def test_answers_are_headed_by_the_sets_title_and_description_escaped_in_html(setup):
    _, pairs, metrics = setup
    questions = {
        "q1": {
            "set": "s1",
            "kind": "flip",
            "variants": ["a", "b"],
            "table": "t",
            "set_title": "Flips <b>and</b> more",
            "set_description": "Two\nlines",
        }
    }
    from cifarflow.report.paired import set_texts

    by_set = answers_by_set(questions, {"t": pairs}, metrics, {})
    md = answers_markdown(by_set, sets=set_texts(questions))
    page = answers_html(by_set, sets=set_texts(questions))
    assert "### s1: Flips <b>and</b> more" in md and "\nTwo lines\n" in md
    assert "<h3>s1: Flips &lt;b&gt;and&lt;/b&gt; more</h3>" in page and "<p>Two lines</p>" in page
