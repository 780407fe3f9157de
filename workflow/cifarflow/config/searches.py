"""Searches before any job: each `search:` block checked, its trials and final runs as resolved
variants (checked as a listed variant is, errors naming the search key), and every epoch plan it
can ask for. The planning itself (spaces, trials, rounds, the choice) is `training.search`."""

from __future__ import annotations

import itertools
import math
import re

from ..errors import ConfigError
from ..names import PLAN_KEYS, check_name, plan_id, plan_spec, show
from ..nn.registry import MODEL_LOSSES
from ..schema import (
    default_schema_and_validator,
    default_settings,
    load_schema,
    setting_keys,
    settings_validator,
    statistics_settings,
)
from ..training import cost as C
from ..training import search as S
from .variants import check_variant, selected_sets

SEARCH_PLAN_LIMIT = 1000


def resolve_searches(config: dict, schema: dict | None = None) -> dict[str, dict]:
    """The `search:` blocks of the selected sets, checked and with their defaults, keyed by set.

    Before any job: the block itself (`check_search`, one-line errors naming the key), every trial
    of round 1 and the final runs as complete variants (the same checks as a listed variant), and
    the epoch plans the search can ask for (`search_plans`)."""
    schema = schema or load_schema()
    keys = setting_keys(schema)
    out = {}
    for set_name in selected_sets(config):
        block = config["experiments"][set_name].get("search")
        if block is None:
            continue
        where = f"experiments.{set_name}.search"
        search = S.check_search(block, where, keys)
        check_name(f"{set_name}-{search['name']}-final-s{max(search['final']['seeds'])}", f"{where}.name", "trial name")
        _check_search_ranges(search, where, schema)
        first = S.trials_for_round(set_name, search, 1, {})
        for t in first:
            check_name(t.name, f"{where}.name", "trial name")
            search_variant(config, set_name, search, t.settings, t.name, schema)
        _check_search_values(config, set_name, search, first[0], schema)
        for seed in search["final"]["seeds"]:
            final_search_variant(config, set_name, search, first[0].settings, seed, schema)
        if search["reevaluate"]:
            _resolve_reevaluation(config, set_name, search, first, schema)
        if search["budget_cpu_minutes"] is not None and "n" not in block:
            search = _fit_budget(config, set_name, search, schema)
            for t in S.trials_for_round(set_name, search, 1, {}):
                check_name(t.name, f"{where}.name", "trial name")
        search["estimate"] = search_estimate(config, set_name, search, schema)
        _check_budget(search, where)
        out[set_name] = search
        search_plans(config, set_name, search, schema)
    return out


def _resolve_reevaluation(config: dict, set_name: str, search: dict, first, schema) -> None:
    """The re-evaluation's seeds as a list (a count follows the trials' own seed), fresh against
    the trials' seed and the final seeds; its confidence (null: the config's statistics.confidence);
    its longest trial name valid."""
    where = f"experiments.{set_name}.search.reevaluate"
    r = search["reevaluate"]
    trial_seed = search_variant(config, set_name, search, first[0].settings, first[0].name, schema)["seed"]
    seeds = S.reevaluation_seeds(search, trial_seed)
    for seed in seeds:
        if seed == trial_seed:
            raise ConfigError(f"config key {where}.seeds: seed {seed} is the trials' own seed; extra seeds must differ")
        if seed in search["final"]["seeds"]:
            raise ConfigError(
                f"config key {where}.seeds: seed {seed} is also a final seed (final seeds must be fresh); list other seeds"
            )
        if not 0 <= seed <= S.MAX_SEED:
            raise ConfigError(f"config key {where}.seeds: seed {seed} is not in 0..{S.MAX_SEED}")
    r["seeds"] = seeds
    if r["confidence"] is None:
        r["confidence"] = statistics_settings(config, schema)["confidence"]
    longest = max((t.name for t in first), key=len)
    last = re.sub(r"-r[0-9]+-t", f"-r{S.n_rounds(search)}-t", longest)
    check_name(S.reevaluation_name(last, max(seeds)), f"experiments.{set_name}.search.name", "trial name")
    for seed in seeds:
        search_variant(config, set_name, search, {**first[0].settings, "seed": seed}, first[0].name, schema)


def _setting_types(key: str, schema: dict) -> set[str]:
    """The JSON types a setting takes (through one `$ref`, e.g. positive_number)."""
    prop = schema["$defs"]["setting_properties"]["properties"].get(key, {})
    if "$ref" in prop:
        prop = schema["$defs"][prop["$ref"].rsplit("/", 1)[-1]]
    types = prop.get("type", [])
    return {types} if isinstance(types, str) else set(types)


def _check_search_ranges(search: dict, where: str, schema: dict) -> None:
    """Every value a search can give a setting lies in that setting's schema range, checked before
    round 1: a range's two ends (every value between them is then valid too: the schema's bounds
    are intervals), every choice, every epochs of successive halving's rungs. Later rounds only
    draw inside the ranges, so no round after the first can draw a value the schema refuses."""
    validator = settings_validator(schema)

    def check(key: str, value, at: str) -> None:
        for err in validator.iter_errors({key: value}):
            raise ConfigError(f"config key {at}: {show(value)} is not a valid {key} ({err.message})")

    for key, dim in S.parse_space(search["space"], f"{where}.space", search_points=search["points"]).items():
        if dim.kind == "choice":
            for i, value in enumerate(dim.choices):
                check(key, S.thaw(value), f"{where}.space.{key}.choice[{i}]")
            continue
        kind = "int" if dim.kind == "int" else "log_uniform" if dim.log else "uniform"
        types = _setting_types(key, schema)
        if dim.kind == "float" and "integer" in types and "number" not in types:
            raise ConfigError(
                f"config key {where}.space.{key}.{kind}: {key} takes whole values; search it with `int` or `choice`"
            )
        for value in (dim.lo, dim.hi):
            check(key, value, f"{where}.space.{key}.{kind}")
    for i, epochs in enumerate(_rung_epochs(search)):
        check("epochs", epochs, f"{where}.{'min_epochs' if i == 0 else 'max_epochs'} (rung {i + 1})")


def _rung_epochs(search: dict) -> list[int]:
    """Every epochs a trial of the search can be given by the method (successive halving's rungs,
    every hyperband bracket's rungs), smallest first; [] when the base sets them."""
    if search["method"] == "successive_halving":
        rungs = S.halving_schedule(search["n"], search["reduction"], search["min_epochs"], search["max_epochs"])
        return sorted({e for _, e in rungs})
    if search["method"] == "hyperband":
        brackets = S.hyperband_brackets(search["reduction"], search["min_epochs"], search["max_epochs"])
        return sorted({e for b in brackets for _, e in b["rungs"]})
    return []


def _check_search_values(config: dict, set_name: str, search: dict, first, schema=None) -> None:
    """The first trial with each searched setting at each end of its range (each choice, each
    rung's epochs) is a valid variant, as a listed one: the checks that look at several settings
    together (a batch larger than train_limit, a loss that does not fit the model, an unknown
    augmentation) see every value a later round can draw before round 1 runs."""
    where = f"experiments.{set_name}.search"
    values: list[tuple[str, str, object]] = []
    for key, dim in S.parse_space(search["space"], f"{where}.space", search_points=search["points"]).items():
        if dim.kind == "choice":
            values += [(key, f"{where}.space.{key}.choice[{i}]", S.thaw(c)) for i, c in enumerate(dim.choices)]
        else:
            kind = "int" if dim.kind == "int" else "log_uniform" if dim.log else "uniform"
            values += [(key, f"{where}.space.{key}.{kind}", x) for x in (dim.lo, dim.hi)]
    values += [("epochs", f"{where}.max_epochs", e) for e in _rung_epochs(search)]
    for key, at, value in values:
        try:
            search_variant(config, set_name, search, {**first.settings, key: value}, first.name, schema)
        except ConfigError as exc:
            m = re.match(rf"config key {re.escape(where)}\.(\S+)(?: \(variant [^)]*\))?: (.*)$", str(exc))
            reason = f"{m.group(1)}: {m.group(2)}" if m else str(exc)
            raise ConfigError(f"config key {at}: with {key} {show(value)} a trial is not valid ({reason})") from None


def _searched_keys(search: dict) -> set[str]:
    keys = set(search["space"])
    return keys | {"epochs"} if search["method"] in S.EPOCH_METHODS else keys


def search_variant(config: dict, set_name: str, search: dict, settings: dict, name: str, schema=None) -> dict:
    """A trial (or final run) as a fully resolved variant: defaults < set defaults < the search's
    `base` < the trial's settings, then `overrides` except on the keys the search sets itself
    (its space, successive halving's epochs, a final run's seed).
    Checked as a listed variant is; errors name the search block."""
    if schema is None:
        schema, validator = default_schema_and_validator()
    else:
        validator = settings_validator(schema)
    v = default_settings(schema)
    v.update(config.get("defaults") or {})
    v.update(config["experiments"][set_name].get("defaults") or {})
    v.update(search["base"])
    v.update(settings)
    searched = _searched_keys(search)
    v.update({k: x for k, x in (config.get("overrides") or {}).items() if k not in searched and k not in settings})
    v["name"], v["set"] = name, set_name
    where = f"experiments.{set_name}.search"
    try:
        check_variant(name, where, v, config, validator)
    except ConfigError as exc:
        raise ConfigError(_search_setting_key(str(exc), where, search, settings)) from None
    v["loss"] = v["loss"] or MODEL_LOSSES[v["model"]][0]
    return v


def _search_setting_key(message: str, where: str, search: dict, settings: dict) -> str:
    """A trial's error names the search key the bad value came from: `space.<key>` for a searched
    setting, `max_epochs` for successive halving's epochs, `final.seeds` for a final run's seed,
    `base.<key>` for the search's base (`check_variant` names `<where>.<key>`)."""
    m = re.match(rf"config key {re.escape(where)}\.([A-Za-z_]+)\b", message)
    if not m:
        return message
    key = m.group(1)
    if key in search["space"]:
        better = f"{where}.space.{key}"
    elif key == "epochs" and search["method"] in S.EPOCH_METHODS:
        better = f"{where}.max_epochs"
    elif key == "seed" and "seed" in settings:
        better = f"{where}.final.seeds"
    elif key in search["base"]:
        better = f"{where}.base.{key}"
    else:
        return message
    return f"config key {better}" + message[m.end() :]


def final_search_variant(config: dict, set_name: str, search: dict, chosen: dict, seed: int, schema=None) -> dict:
    """The chosen setting retrained with the fresh final seed `seed` (an error if it is the trials' own seed)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= S.MAX_SEED:
        raise ConfigError(
            f"config key experiments.{set_name}.search.final.seeds: seed {show(seed)} is not an integer in 0..{S.MAX_SEED}"
        )
    trial = search_variant(config, set_name, search, chosen, "x", schema)
    if seed == trial["seed"]:
        raise ConfigError(
            f"config key experiments.{set_name}.search.final.seeds: seed {seed} is the trials' own seed; final seeds must be fresh"
        )
    return search_variant(
        config, set_name, search, {**chosen, "seed": seed}, S.final_name(set_name, search["name"], seed), schema
    )


def search_plans(config: dict, set_name: str, search: dict, schema=None) -> dict[str, dict]:
    """Every epoch plan a search can ask for, {plan id: spec}, known before any job runs.

    Later rounds' settings depend on earlier scores, but a plan depends only on PLAN_KEYS: those the
    space varies (choices, integer ranges), the epochs of the rungs (successive halving,
    hyperband), the final seeds and the re-evaluation's seeds. Their combinations are listed (at most SEARCH_PLAN_LIMIT), so `plan_epochs` serves them.
    """
    where = f"experiments.{set_name}.search.space"
    first = S.trials_for_round(set_name, search, 1, {})
    v0 = search_variant(config, set_name, search, first[0].settings, first[0].name, schema)
    dims = S.parse_space(search["space"], where, search_points=search["points"])
    sizes: dict[str, int] = {}  # counted before any list is made: an integer range can be wide
    for key, dim in dims.items():
        if key not in PLAN_KEYS:
            continue
        if dim.kind == "float":
            raise ConfigError(f"config key {where}.{key}: {key} takes whole values; search it with `int` or `choice`")
        sizes[key] = len(dim.choices) if dim.kind == "choice" else dim.hi - dim.lo + 1
    epochs = _rung_epochs(search)
    if epochs:
        sizes["epochs"] = len(epochs)
    extra = S.reevaluation_seeds(search, v0["seed"]) if search["reevaluate"] else []
    seeds = [v0["seed"], *search["final"]["seeds"], *extra]
    count = math.prod(sizes.values()) * len(seeds)
    if count > SEARCH_PLAN_LIMIT:
        raise ConfigError(
            f"config key {where}: the searched plan settings ({', '.join(sizes)}) give {count:,}"
            f" epoch plans, more than {SEARCH_PLAN_LIMIT:,}; narrow their ranges"
        )
    axes: dict[str, list] = {}
    for key, dim in dims.items():
        if key in sizes:
            axes[key] = [S.thaw(c) for c in dim.choices] if dim.kind == "choice" else list(range(dim.lo, dim.hi + 1))
    if epochs:
        axes["epochs"] = epochs
    axes["seed"] = seeds
    out = {}
    for combo in itertools.product(*axes.values()):
        v = search_variant(
            config, set_name, search, {**first[0].settings, **dict(zip(axes, combo))}, v0["name"], schema
        )
        spec = plan_spec(v, config)
        out[plan_id(spec)] = spec
    return out


# ----------------------------------------------------------------------------- budget

ESTIMATE_SAMPLE = 20  # round-1 draws whose mean epoch cost stands for every trial's


def search_estimate(config: dict, set_name: str, search: dict, schema=None) -> dict:
    """The search's estimated CPU time (training.cost), before any job: every trial's epochs
    (`search_cost`, re-evaluation included) at the mean epoch cost of the first ESTIMATE_SAMPLE
    round-1 draws (later rounds draw from the same or narrower ranges), plus each trial job's own
    work, plus the final runs. Minutes, {trials_minutes, final_minutes, total_minutes}."""
    sample = S.trials_for_round(set_name, {**search, "n": min(search["n"], ESTIMATE_SAMPLE)}, 1, {})
    if search["method"] in ("grid", "hyperband"):
        sample = S.trials_for_round(set_name, search, 1, {})[:ESTIMATE_SAMPLE]
    splits = config.get("splits") or default_settings_of(schema, "splits")
    base = search_variant(config, set_name, search, sample[0].settings, sample[0].name, schema)
    variants = [{**base, **t.settings} for t in sample]
    per_epoch = sum(C.epoch_seconds(v, splits) for v in variants) / len(variants)
    per_job = sum(C.job_seconds(v, splits) for v in variants) / len(variants)
    final_epochs = S.final_epochs(search) or base["epochs"]
    cost = S.search_cost(search, base["epochs"])
    trials_s = cost["epochs"] * per_epoch + cost["trials"] * per_job
    final_s = len(search["final"]["seeds"]) * (final_epochs * per_epoch + per_job)
    return {
        "trials_minutes": round(trials_s / 60, 2),
        "final_minutes": round(final_s / 60, 2),
        "total_minutes": round((trials_s + final_s) / 60, 2),
        "epoch_seconds": round(per_epoch, 3),
        "model": "training.cost",
    }


def default_settings_of(schema, key: str):
    """The schema's default of a top-level config key (the splits a config that lists none uses)."""
    return (schema or load_schema())["properties"][key]["default"]


def _fit_budget(config: dict, set_name: str, search: dict, schema) -> dict:
    """With a budget and no `n` given, `n` becomes the largest that fits it (random,
    coarse_to_fine: trials per round; successive halving: the first rung); other methods keep
    their plan and are only checked."""
    if search["method"] not in ("random", "coarse_to_fine", "successive_halving"):
        return search
    lo, hi = 1, S.MAX_N
    budget = search["budget_cpu_minutes"]

    def fits(n: int) -> bool:
        trial = {**search, "n": n}
        if trial["method"] == "coarse_to_fine" and trial["top_k"] > n:
            trial["top_k"] = n
        if S.count_trials(trial) > S.MAX_TRIALS:
            return False
        return search_estimate(config, set_name, trial, schema)["total_minutes"] <= budget

    if not fits(lo):
        return search  # _check_budget says by how much
    while lo < hi:  # the estimate grows with n: the largest n that fits
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    out = {**search, "n": lo}
    if out["method"] == "coarse_to_fine":
        out["top_k"] = min(out["top_k"], lo)
    return out


def _check_budget(search: dict, where: str) -> None:
    budget = search["budget_cpu_minutes"]
    est = search["estimate"]["total_minutes"]
    if budget is not None and est > budget:
        raise ConfigError(
            f"config key {where}.budget_cpu_minutes: the search is estimated at {est:.1f} CPU-minutes"
            f" ({search['estimate']['trials_minutes']:.1f} trials, {search['estimate']['final_minutes']:.1f} final runs),"
            f" more than its budget of {budget:g}; raise the budget or shrink the search (n, max_epochs,"
            " reevaluate, final.seeds; without `n` the budget sets it)"
        )
