"""report.paired: the answer of each question kind from a pairs table and per-seed metrics."""

import numpy as np
import pytest

from cifarflow.report import stats
from cifarflow.report.paired import answer, answers_by_set, answers_html, answers_markdown


def _correct(rng, acc, seeds=3, n=400):
    return rng.random((seeds, n)) < acc


def _metrics(name, accs, stops, lam=0.0):
    return [
        {
            "variant": name,
            "test_acc": a,
            "best_epoch": s - 2,
            "epochs_run": s,
            "stopped_early": True,
            "stopped_epoch": s,
            "config": {"seed": i, "lambda": lam},
        }
        for i, (a, s) in enumerate(zip(accs, stops))
    ]


@pytest.fixture
def setup():
    rng = np.random.default_rng(1)
    correct = {"a": _correct(rng, 0.7), "b": _correct(rng, 0.5), "c": _correct(rng, 0.69)}
    pairs = stats.pairs_table(correct, n_resamples=199)
    metrics = {
        "a": _metrics("a", [0.7, 0.71, 0.69], [10, 12, 14], lam=0.0),
        "b": _metrics("b", [0.5, 0.52, 0.48], [20, 22, 24], lam=0.1),
        "c": _metrics("c", [0.69, 0.7, 0.68], [11, 11, 11], lam=1.0),
    }
    return pairs, metrics


@pytest.mark.parametrize(
    "kind, head",
    [
        ("softmax_vs_sigmoid", "Softmax vs sigmoid"),
        ("flip", "Flip probability"),
        ("relu_vs_softplus", "ReLU vs softplus"),
        ("ce_vs_mse", "Cross-entropy vs MSE"),
    ],
)
def test_pairwise_kinds_read_the_row_of_their_pair(setup, kind, head):
    pairs, metrics = setup
    text = answer({"kind": kind, "variants": ["a", "b"]}, pairs, metrics, 0.05, 0.95)
    row = pairs.iloc[0]
    assert text.startswith(head) and f"{100 * row['diff']:+.2f} points" in text
    assert "is better" in text  # 0.7 vs 0.5 on 400 images x 3 seeds


def test_shuffle_reports_the_mean_stop_and_kept_epochs(setup):
    pairs, metrics = setup
    text = answer({"kind": "shuffle", "variants": ["a", "b"]}, pairs, metrics, 0.05, 0.95)
    assert "at epoch 12.0 (range 10 to 14 over 3 seeds) with shuffling" in text  # stop epochs of a
    assert "and 22.0 (range 20 to 24 over 3 seeds) without" in text  # stop epochs of b
    assert "keeping the weights of epoch 10.0 (range 8 to 12 over 3 seeds)" in text  # best epochs of a


def test_lambda_names_the_values_and_the_indistinguishable_group(setup):
    pairs, metrics = setup
    text = answer({"kind": "lambda", "variants": ["a", "b", "c"]}, pairs, metrics, 0.05, 0.95)
    assert text.startswith("Lambda sweep") and "lambda = 0.1" in text
    assert "{0, 1}" in text  # a and c (0.7 vs 0.69) cannot be told apart


def test_a_pair_missing_from_its_table_is_an_error(setup):
    pairs, metrics = setup
    with pytest.raises(Exception, match=r"\(b, a\)"):
        answer({"kind": "flip", "variants": ["b", "a"]}, pairs, metrics, 0.05, 0.95)


def test_markdown_and_html_hold_the_same_sentences_grouped_by_set(setup):
    pairs, metrics = setup
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
    assert "<script" not in page
