"""Comparisons, paired tables and questions of the selected sets, checked against the variants
they name (`resolve_comparisons`, `resolve_paired`)."""

from __future__ import annotations

import itertools

from ..errors import ConfigError
from ..names import check_name, show, value_key
from ..nn.registry import LINEAR_MODELS
from ..schema import statistics_settings
from .labels import derived_labels, variant_labels
from .variants import grid_members, selected_sets

# Columns of history.csv a `curves` comparison can draw.
HISTORY_METRICS = (
    "train_loss",
    "val_loss",
    "train_cost",
    "val_cost",
    "train_acc",
    "val_acc",
    "weight_norm2",
    "lr",
    "seconds",
)

# The write-ups' six questions are presets of the two generic kinds: `compare` (two variants, A vs
# B) and `sweep` (two or more variants that differ in one setting). A preset checks that A and B
# are what its wording says and keeps its own sentence; `lambda` is a sweep over lambda.
PAIR_PRESETS = ("softmax_vs_sigmoid", "flip", "shuffle", "relu_vs_softplus", "ce_vs_mse")
QUESTION_KINDS = ("compare", "sweep", "lambda", *PAIR_PRESETS)

MAX_DECIDE_SEEDS = 30


def resolve_comparisons(config: dict, variants: dict[str, dict]) -> dict[str, dict]:
    """Comparisons of the selected sets keyed by name, each with its list of variant names."""
    out = {}
    for set_name in selected_sets(config):
        for i, comp in enumerate(config["experiments"][set_name].get("comparisons") or []):
            where = f"experiments.{set_name}.comparisons[{i}]"
            names = list(comp.get("variants") or [])
            if comp.get("grid"):
                names += grid_members(config, set_name, comp["grid"])
            if not names:
                raise ConfigError(f"config key {where}: a comparison needs `variants` or `grid`")
            for n in names:
                if n not in variants:
                    raise ConfigError(f"config key {where}.variants: unknown variant '{n}'")
            if comp["type"] == "templates":
                for n in names:
                    if variants[n]["model"] not in LINEAR_MODELS:
                        raise ConfigError(
                            f"config key {where}: class templates need linear variants, '{n}' is {variants[n]['model']}"
                        )
            if comp["type"] in ("templates", "per_class", "true_class_prob"):
                _check_same_labels(where, comp["type"], names, variants)
            for m in comp.get("metrics") or []:
                if m not in HISTORY_METRICS:
                    raise ConfigError(
                        f"config key {where}.metrics: unknown metric {show(m)} (use {', '.join(HISTORY_METRICS)})"
                    )
            if comp.get("metrics") and comp["type"] != "curves":
                raise ConfigError(
                    f"config key {where}.metrics: only a curves comparison draws metrics, this one is {comp['type']}"
                )
            if comp["name"] in out:
                raise ConfigError(f"config key {where}.name: comparison name '{comp['name']}' is used twice")
            out[comp["name"]] = dict(comp, set=set_name, variants=names, paired=comp.get("paired", True))
    return out


def _outputs(v: dict, kind: str) -> tuple:
    """What a variant's outputs are labelled with: its classes (and, for templates, whether it has
    one output row, as the logistic model has, or one per class)."""
    return (kind == "templates" and v["model"] == "logistic", tuple(v["classes"] or ()))


def _check_same_labels(where: str, kind: str, names: list[str], variants: dict[str, dict]) -> None:
    """A comparison drawn with one set of class labels needs variants whose outputs share them."""
    first = names[0]
    for n in names[1:]:
        if _outputs(variants[n], kind) != _outputs(variants[first], kind):

            def describe(x):
                v = variants[x]
                kind_ = "a logistic (one output)" if v["model"] == "logistic" else f"a {v['model']}"
                return f"'{x}' is {kind_} on {', '.join(v['classes']) if v['classes'] else 'all classes'}"

            raise ConfigError(
                f"config key {where}.variants: a {kind} comparison labels every variant with the same classes,"
                f" but {describe(first)} and {describe(n)}"
            )


def _flip(v: dict, config: dict) -> float:
    return float(config["augmentations"][v["augmentation"]].get("flip", 0.0))


# kind -> (what A and B must be, a check of the two resolved variants)
_PAIR_KINDS = {
    "softmax_vs_sigmoid": (
        "A a softmax and B a sigmoid model",
        lambda a, b, c: (a["model"], b["model"]) == ("softmax", "sigmoid"),
    ),
    "flip": ("A flips with p = 0.2 and B with p = 0.5", lambda a, b, c: (_flip(a, c), _flip(b, c)) == (0.2, 0.5)),
    "shuffle": ("A shuffled and B not", lambda a, b, c: (bool(a["shuffle"]), bool(b["shuffle"])) == (True, False)),
    "relu_vs_softplus": (
        "A an MLP with ReLU and B one with softplus",
        lambda a, b, c: (
            (a["model"], b["model"], a["activation"], b["activation"]) == ("mlp", "mlp", "relu", "softplus")
        ),
    ),
    "ce_vs_mse": (
        "A trained with cross_entropy and B with mse",
        lambda a, b, c: (a["loss"], b["loss"]) == ("cross_entropy", "mse"),
    ),
}


def _same_test_images(where: str, names, variants: dict) -> None:
    """Paired tests need the same test images: the variants must share their classes."""
    first = variants[names[0]]
    for n in names[1:]:
        if (variants[n]["classes"] or None) != (first["classes"] or None):
            raise ConfigError(
                f"config key {where}: paired tests need the same test images, but '{names[0]}' and '{n}'"
                " are evaluated on different classes (set `paired: false` on a comparison)"
            )


def _question_variants(config: dict, set_name: str, q: dict, where: str, variants: dict) -> tuple[list, str | None]:
    """(the question's variants in order, the swept setting or None), checked against its kind."""
    kind = q["kind"]
    names = list(q.get("variants") or [])
    if q.get("grid"):
        if kind not in ("sweep", "lambda"):
            raise ConfigError(f"config key {where}.grid: only a sweep (or lambda) question takes a grid")
        names += [n for n in grid_members(config, set_name, q["grid"]) if n not in names]
    for n in names:
        if n not in variants:
            raise ConfigError(f"config key {where}.variants: unknown variant '{n}'")
    setting = "lambda" if kind == "lambda" else q.get("setting")
    if q.get("setting") is not None and kind != "sweep":
        raise ConfigError(f"config key {where}.setting: only a sweep question names a setting")
    if kind in ("sweep", "lambda"):
        if kind == "sweep" and not setting:
            raise ConfigError(f"config key {where}.setting: a sweep question names the setting it sweeps")
        if len(names) < 2:
            raise ConfigError(f"config key {where}: a {kind} question needs a grid or 2 or more variants")
        if setting not in variants[names[0]]:
            raise ConfigError(f"config key {where}.setting: '{setting}' is not a setting of the variants")
        values = [value_key(variants[n][setting]) for n in names]
        if len(set(values)) != len(values):
            raise ConfigError(
                f"config key {where}.variants: a {kind} question needs variants with different {setting} values"
            )
        return names, setting
    if len(names) != 2:
        raise ConfigError(f"config key {where}.variants: a {kind} question compares two variants [A, B]")
    if kind in _PAIR_KINDS:
        what, ok = _PAIR_KINDS[kind]
        if not ok(variants[names[0]], variants[names[1]], config):
            raise ConfigError(f"config key {where}.variants: a {kind} question needs {what} ({names[0]}, {names[1]})")
    return names, None


def _question_labels(names: list, variants: dict, display: dict) -> list[str]:
    """A question's labels when it gives none: a variant's display label where the config gives it
    one (`label:`), else the settings that tell the question's variants apart (`derived_labels`);
    all derived when the two kinds would name two variants alike."""
    derived = derived_labels(names, variants)
    chosen = [display.get(n, d) if variants[n].get("label") is not None else d for n, d in zip(names, derived)]
    return chosen if len(set(chosen)) == len(chosen) else derived


def _question_decide(q: dict, where: str, names: list, variants: dict, cap=None) -> dict | None:
    """The question's `decide` block with its looks: the seed counts (beyond each variant's own
    seeds) at which it looks, or None (one look at the variants' own seeds). `cap`
    (statistics.max_seeds) lowers every question's max_seeds, e.g. for a quick look; a cap at or
    below the variants' own seeds leaves the question with one look."""
    decide = q.get("decide")
    if not decide:
        return None
    n_own = max(len(variants[n]["seeds"]) for n in names)
    max_seeds, batch = int(decide["max_seeds"]), int(decide.get("batch", 2))
    if cap is not None and int(cap) < max_seeds:
        if int(cap) <= n_own:
            return None
        max_seeds = int(cap)
    if max_seeds > MAX_DECIDE_SEEDS:
        raise ConfigError(f"config key {where}.decide.max_seeds: at most {MAX_DECIDE_SEEDS}, not {max_seeds}")
    if max_seeds <= n_own:
        raise ConfigError(
            f"config key {where}.decide.max_seeds: {max_seeds} is not more than the variants' own {n_own} seeds"
        )
    extra = list(range(0, max_seeds - n_own, batch)) + [max_seeds - n_own]
    return {"max_seeds": max_seeds, "batch": batch, "extra": sorted(set(extra))}


def resolve_paired(config: dict, variants: dict, comparisons: dict) -> tuple[dict, dict]:
    """The paired-test tables and the questions of the selected sets.

    Returns (tables, questions). tables: name -> {set, variants, pairs} - one per comparison of 2+
    variants with `paired` on (its name), one per set with `pairs` (`<set>-pairs`), and one per
    question (the question's name: a question that adds seeds reads its own runs). questions:
    name -> {set, kind, variants, setting, labels, min_effect, decide, table}; `decide` is None or
    {max_seeds, batch, extra} where `extra` lists the seeds added per variant at each look.
    """
    tables = _comparison_tables(comparisons, variants)
    display = variant_labels(config, variants)
    questions: dict[str, dict] = {}
    statistics = statistics_settings(config)
    for set_name in selected_sets(config):
        exp = config["experiments"][set_name]
        pairs_table = _pairs_table(set_name, exp, variants, comparisons)
        if pairs_table is not None:
            tables[f"{set_name}-pairs"] = pairs_table
        for i, q in enumerate(exp.get("questions") or []):
            where = f"experiments.{set_name}.questions[{i}]"
            taken = {*tables, *comparisons}
            question = _question(config, set_name, q, where, variants, display, statistics, questions, taken)
            tables[q["name"]] = {
                "set": set_name,
                "variants": question["variants"],
                "pairs": [list(p) for p in itertools.combinations(question["variants"], 2)],
                "question": q["name"],
            }
            questions[q["name"]] = question
    return tables, questions


def _comparison_tables(comparisons: dict, variants: dict) -> dict[str, dict]:
    """A paired table per comparison of 2+ variants with `paired` on, named as the comparison."""
    tables: dict[str, dict] = {}
    for name, comp in comparisons.items():
        if comp.get("paired", True) and len(comp["variants"]) >= 2:
            where = f"experiments.{comp['set']}.comparisons[{name}]"
            _same_test_images(where, comp["variants"], variants)
            pairs = [list(p) for p in itertools.combinations(comp["variants"], 2)]
            tables[name] = {"set": comp["set"], "variants": list(comp["variants"]), "pairs": pairs}
    return tables


def _pairs_table(set_name: str, exp: dict, variants: dict, comparisons: dict) -> dict | None:
    """The set's `pairs` as one paired table (`<set>-pairs`), checked; None when it has none."""
    for i, pair in enumerate(exp.get("pairs") or []):
        where = f"experiments.{set_name}.pairs[{i}]"
        for n in pair:
            if n not in variants:
                raise ConfigError(f"config key {where}: unknown variant '{n}'")
        if pair[0] == pair[1]:
            raise ConfigError(f"config key {where}: a pair needs two different variants, not '{pair[0]}' twice")
        _same_test_images(where, list(pair), variants)
    if not exp.get("pairs"):
        return None
    name = f"{set_name}-pairs"
    check_name(name, f"experiments.{set_name}.pairs", "table name (<set>-pairs)")
    if name in comparisons:
        raise ConfigError(
            f"config key experiments.{set_name}.pairs: its table name '{name}' is also a comparison's name"
        )
    pairs = [list(p) for p in exp["pairs"]]
    return {"set": set_name, "variants": list(dict.fromkeys(n for p in pairs for n in p)), "pairs": pairs}


def _check_labels_given(q: dict, where: str, names: list) -> None:
    labels = q.get("labels")
    if labels is not None and len(labels) != len(names):
        raise ConfigError(f"config key {where}.labels: give one label per variant ({len(names)}), not {len(labels)}")


def _question(config, set_name, q, where, variants, display, statistics, asked, taken) -> dict:
    """The question `q` of `set_name` resolved (see `resolve_paired`), checked against its kind, its
    variants, the names of the questions `asked` before it and the table names `taken` (comparisons,
    earlier tables)."""
    names, setting = _question_variants(config, set_name, q, where, variants)
    _check_labels_given(q, where, names)
    _same_test_images(where, names, variants)
    if q["name"] in asked:
        raise ConfigError(f"config key {where}.name: question name '{q['name']}' is used twice")
    if q["name"] in taken:
        raise ConfigError(f"config key {where}.name: '{q['name']}' is also the name of a comparison or paired table")
    labels = q.get("labels")
    if labels is None:
        labels = _question_labels(names, variants, display)
    exp = config["experiments"][set_name]
    return {
        "set": set_name,
        "kind": q["kind"],
        "variants": names,
        "setting": setting,
        "labels": list(labels),
        "min_effect": float(q.get("min_effect", statistics["min_effect"])),
        "decide": _question_decide(q, where, names, variants, statistics.get("max_seeds")),
        "set_title": exp.get("title"),
        "set_description": exp.get("description"),
        "table": q["name"],
    }
