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
from ..schema import default_schema_and_validator, default_settings, load_schema, setting_keys, settings_validator
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
        out[set_name] = search
        search_plans(config, set_name, search, schema)
    return out


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
    if search["method"] == "successive_halving":
        rungs = S.halving_schedule(search["n"], search["reduction"], search["min_epochs"], search["max_epochs"])
        for i, (_, epochs) in enumerate(rungs):
            check("epochs", epochs, f"{where}.{'min_epochs' if i == 0 else 'max_epochs'} (rung {i + 1})")


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
    if search["method"] == "successive_halving":
        rungs = S.halving_schedule(search["n"], search["reduction"], search["min_epochs"], search["max_epochs"])
        values += [("epochs", f"{where}.max_epochs", e) for _, e in rungs[1:]]
    for key, at, value in values:
        try:
            search_variant(config, set_name, search, {**first.settings, key: value}, first.name, schema)
        except ConfigError as exc:
            m = re.match(rf"config key {re.escape(where)}\.(\S+)(?: \(variant [^)]*\))?: (.*)$", str(exc))
            reason = f"{m.group(1)}: {m.group(2)}" if m else str(exc)
            raise ConfigError(f"config key {at}: with {key} {show(value)} a trial is not valid ({reason})") from None


def _searched_keys(search: dict) -> set[str]:
    keys = set(search["space"])
    return keys | {"epochs"} if search["method"] == "successive_halving" else keys


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
    elif key == "epochs" and search["method"] == "successive_halving":
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
    space varies (choices, integer ranges), the epochs of successive halving's rungs and the final
    seeds. Their combinations are listed (at most SEARCH_PLAN_LIMIT), so `plan_epochs` serves them.
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
    epochs = []
    if search["method"] == "successive_halving":
        rungs = S.halving_schedule(search["n"], search["reduction"], search["min_epochs"], search["max_epochs"])
        epochs = sorted({e for _, e in rungs})
        sizes["epochs"] = len(epochs)
    seeds = [v0["seed"], *search["final"]["seeds"]]
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
