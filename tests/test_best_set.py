"""The shipped `best` set is the shipped searches' final models: each best variant is a setting its
search can choose, trained with the search's final seeds and otherwise exactly the search's base,
so a best run and the search's final run of that seed are the same training (same settings, same
seed, same epoch plan) and write the same files."""

from pathlib import Path

import pytest

from cifarflow.config import plan_id, plan_spec, resolve_searches, resolve_variants, training_settings
from cifarflow.config.files import load_config_files
from cifarflow.config.searches import _searched_keys, final_search_variant

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "config.yaml"
# best variant -> the search set whose final models it reruns
SOURCES = {"best-softmax": "search-softmax", "best-sigmoid": "search-sigmoid", "best-mlp": "search-mlp"}


def _config(run):
    cfg = load_config_files([CONFIG])
    cfg["run"] = run
    return cfg


def _in_space(value, dim: dict) -> bool:
    ((kind, arg),) = dim.items()
    if kind == "choice":
        return value in arg
    lo, hi = arg
    return lo <= value <= hi


@pytest.fixture(scope="module")
def shipped():
    best = resolve_variants(_config(["best"]))
    cfg = _config(sorted(set(SOURCES.values())))
    return best, cfg, resolve_searches(cfg)


def test_best_set_is_exactly_the_searches_variants(shipped):
    best, _, _ = shipped
    assert set(best) == set(SOURCES)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_best_variant_is_its_searchs_final_model(shipped, name):
    best, cfg, searches = shipped
    v, search = best[name], searches[SOURCES[name]]
    assert v["seeds"] == search["final"]["seeds"]
    chosen = {k: v[k] for k in _searched_keys(search)}
    for key, value in chosen.items():
        if key in search["space"]:
            assert _in_space(value, search["space"][key]), f"{name}.{key} = {value} is outside the search's space"
        else:  # successive halving's epochs: the last rung
            assert value == search["max_epochs"]
    for seed in v["seeds"]:
        final = final_search_variant(cfg, SOURCES[name], search, chosen, seed)
        ours, theirs = training_settings(v, seed), training_settings(final, seed)
        assert plan_id(plan_spec(ours, cfg)) == plan_id(plan_spec(theirs, cfg))
        for d in (ours, theirs):
            d.pop("name"), d.pop("set")
        assert ours == theirs


def test_a_changed_best_setting_is_caught(shipped):
    """The comparison above sees a setting the search would not use (here the batch size)."""
    best, cfg, searches = shipped
    v = dict(best["best-softmax"], batch_size=50)
    search = searches["search-softmax"]
    final = final_search_variant(cfg, "search-softmax", search, {k: v[k] for k in _searched_keys(search)}, 101)
    ours, theirs = training_settings(v, 101), training_settings(final, 101)
    assert {k for k in ours if ours[k] != theirs.get(k)} == {"name", "set", "batch_size"}
