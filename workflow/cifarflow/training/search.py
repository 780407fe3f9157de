"""Hyperparameter search: spaces, trials, rounds and the choice, as pure functions (issue 17).

Nothing here opens a file or trains a model. Every random draw comes from
``numpy.random.default_rng(SeedSequence([seed, round, index, key]))``, so a trial's settings
depend only on the search's seed, its round, its index and the setting's name: a larger ``n`` or
one more round keeps every earlier trial (and its name, so Snakemake reuses its run). Choices read
validation scores only: ``validation_summary`` reads the ``val_acc`` column of a history at the
epoch the run keeps (``kept_epoch`` under ``keep_rule``: the last, or early stopping's or
select_best's best epoch, as the final runs keep it); ties go to the earlier trial (lower round,
then lower index). Hyperband (``hyperband_brackets``) runs several successive-halving brackets
side by side, rung k of each in round k. With ``reevaluate``, one more round retrains the top
candidates with extra seeds (``reevaluation_trials``) and the choice is the best mean
(``choose``; ``compare_candidates`` says which are indistinguishable from it).

Wiring into Snakemake (workflow/rules/search.smk; tests/test_search_workflow.py runs it)
-------------------------------------------------------------------------------------------
* Trials are training jobs (`search_train`, the `train` command) writing
  ``results/search/<set>/<search>/trials/<trial>/``. Round 1 is known from the config alone
  (``trials_for_round(set, search, 1, {})``); later rounds from earlier scores.
* Each round ends in the checkpoint ``search_round``: it reads its trials' ``history.csv``
  (``validation_summary``: the ``val_acc`` column only, never a test number) and writes
  ``scored_round_record`` to ``results/search/<set>/<search>/round<k>-<digest>.json``. The digest
  (``round_digest``) names exactly the trials the config asks for, so a file written for a smaller
  ``n`` is never read as current (Snakemake counts any existing checkpoint output as done), and
  the record holds nothing but the round's own trials (its params too): more rounds or a larger
  budget never rerun a finished round. ``search_scored(set, upto)`` walks the records of rounds
  1..upto through ``checkpoints.search_round.get`` (missing -> pending, the DAG is re-evaluated
  after the checkpoint ran), so ``snakemake -n`` lists round 1's jobs only.
* A trial of round k > 1 has the records of rounds < k as inputs, and its params take its
  settings from ``trials_for_round(..., k, scores)``: Snakemake 9 lets a params function depend on
  a checkpoint only when the checkpoint's output is also an input of the rule.
* ``choose`` (best validation accuracy; successive halving: of the last rung) gives the setting
  the final runs (``final/seed<s>/``, ``final.seeds``) retrain; they are the only runs of a search
  whose test numbers are read (``report.search_report``). ``all`` lists every round's record, so
  a search given one more round is extended. Epoch plans are listed before any job
  (``config.search_plans``), so the ``plan_epochs`` rule serves trials of every round.
* Replay: names and settings come from (seed, round, index), so one more round trains only that
  round and a larger ``n`` only the new trials of round 1 (later rounds keep their names but,
  their inputs being round 1's new record, are retrained).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..names import format_value

KINDS = ("log_uniform", "uniform", "int", "choice")
METHODS = ("grid", "random", "coarse_to_fine", "successive_halving", "hyperband")
RESERVED_KEYS = ("name", "set", "seed", "grid")
# Keys a search never takes from `space` or `base`: every trial trains one seed (the trials' own,
# `seed`) and the final runs train `final.seeds`, so `seeds`/`replicates` there would be ignored.
NOT_SEARCH_SETTINGS = ("seeds", "replicates")
# Job resources: every trial of a search runs with the same ones (set them in `base`), so a
# searched value would be ignored for all trials but the first.
NOT_SEARCHED = ("threads", "group", "mem_mb", "runtime")
# Sizes bounded before any job (the schema holds the same maxima): a search is at most MAX_TRIALS
# training jobs, and listing its trials (check-config, snakemake -n) stays quick.
MAX_TRIALS = 1000  # every trial of every round (a grid: the product of its ranges' values)
MAX_N = 1000
MAX_POINTS = 1000
MAX_ROUNDS = 20
MAX_MARGIN = 1.0  # a margin of the whole width already keeps the current range
MAX_DIGITS = 17  # a double has 17 significant digits
MAX_FINAL_SEEDS = 100
MAX_SEED = 4294967295
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")  # the characters of names.NAME_RE; trial names check the length

SEARCH_DEFAULTS = {
    "name": "search",
    "seed": 0,
    "n": 10,
    "points": 5,
    "rounds": 3,
    "top_k": 3,
    "margin": 0.1,
    "reduction": 3,
    "min_epochs": 1,
    "max_epochs": None,
    "digits": 4,
    "base": {},
    "final": {"seeds": [101, 102, 103]},
    "reevaluate": None,
    "budget_cpu_minutes": None,
}
# `reevaluate: {top, seeds, confidence}`: the top candidates retrained with `seeds` extra seeds
# (a count: the trials' seed + 1, + 2, ...; or a list) in one more round; the choice is the best
# mean; confidence null reads the config's statistics.confidence.
REEVALUATE_DEFAULTS = {"top": 3, "seeds": 2, "confidence": None}
MAX_BUDGET_MINUTES = 1_000_000
# Which block keys each method reads (the rest are accepted but ignored).
METHOD_KEYS = {
    "grid": ("points",),
    "random": ("n",),
    "coarse_to_fine": ("n", "rounds", "top_k", "margin"),
    "successive_halving": ("n", "reduction", "min_epochs", "max_epochs"),
    "hyperband": ("reduction", "min_epochs", "max_epochs"),
}
# Methods whose trials set `epochs` themselves (rungs), and so take `min_epochs`/`max_epochs`.
EPOCH_METHODS = ("successive_halving", "hyperband")


@dataclass(frozen=True)
class Dim:
    """One searched setting: a float range, an integer range (either possibly log) or a choice."""

    key: str
    kind: str  # "float", "int" or "choice"
    lo: float | None = None
    hi: float | None = None
    log: bool = False
    choices: tuple = ()
    points: int | None = None

    def width(self) -> float:
        """Width of the range on its own scale (log10 for log ranges); 0 for a choice."""
        if self.kind == "choice":
            return 0.0
        return _fwd(self, self.hi) - _fwd(self, self.lo)


@dataclass(frozen=True)
class Trial:
    """One training run of a search: a name usable as a variant name, and its searched settings."""

    name: str
    round: int
    index: int
    settings: dict = field(compare=True, hash=False)
    bracket: int | None = None  # hyperband: the first-rung epochs of the trial's bracket

    def to_json(self) -> dict:
        out = {"name": self.name, "round": self.round, "index": self.index, "settings": self.settings}
        return out if self.bracket is None else {**out, "bracket": self.bracket}


# ----------------------------------------------------------------------------- validation


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _number_hint(x) -> str:
    if isinstance(x, str):
        try:
            float(x)
        except ValueError:
            return ""
        return " (YAML reads 1e-3 as text: write 1.0e-3)"
    return ""


def _parse_dim(key: str, spec, where: str, search_points: int | None = None) -> Dim:
    w = f"{where}.{key}"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"config key {w}: expected a mapping such as {{log_uniform: [1.0e-5, 1.0e-1]}}, got {spec!r}")
    kinds = [k for k in KINDS if k in spec]
    extra = sorted(set(spec) - set(KINDS) - {"log", "points"})
    if extra:
        raise ConfigError(f"config key {w}.{extra[0]}: unknown option (allowed: {', '.join(KINDS)}, log, points)")
    if len(kinds) != 1:
        raise ConfigError(f"config key {w}: give exactly one of {', '.join(KINDS)}")
    kind = kinds[0]
    points = spec.get("points", search_points)
    if "points" in spec and (
        not isinstance(spec["points"], int) or isinstance(spec["points"], bool) or not 1 <= spec["points"] <= MAX_POINTS
    ):
        raise ConfigError(f"config key {w}.points: must be an integer in 1..{MAX_POINTS}, got {spec['points']!r}")
    if kind == "choice":
        choices = spec["choice"]
        if "log" in spec:
            raise ConfigError(f"config key {w}.log: only integer ranges take `log`")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"config key {w}.choice: must be a non-empty list")
        seen = [json.dumps(c, sort_keys=True) for c in choices]
        if len(set(seen)) != len(seen):
            raise ConfigError(f"config key {w}.choice: a value is listed twice")
        return Dim(key, "choice", choices=tuple(_freeze(c) for c in choices), points=points)
    rng = spec[kind]
    if not isinstance(rng, list) or len(rng) != 2:
        raise ConfigError(f"config key {w}.{kind}: must be a list [lo, hi]")
    for x in rng:
        if not _is_number(x):
            raise ConfigError(f"config key {w}.{kind}: {x!r} is not a finite number{_number_hint(x)}")
    lo, hi = rng
    if not lo < hi:
        raise ConfigError(f"config key {w}.{kind}: lo must be below hi, got [{lo}, {hi}]")
    if kind == "int":
        if not all(isinstance(x, int) for x in rng):
            raise ConfigError(f"config key {w}.int: bounds must be integers, got [{lo}, {hi}]")
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise ConfigError(f"config key {w}.log: must be true or false")
        if log and lo < 1:
            raise ConfigError(f"config key {w}.int: a log integer range needs lo >= 1, got {lo}")
        return Dim(key, "int", lo=int(lo), hi=int(hi), log=log, points=points)
    if "log" in spec:
        raise ConfigError(f"config key {w}.log: only integer ranges take `log` (use log_uniform)")
    if kind == "log_uniform" and lo <= 0:
        raise ConfigError(f"config key {w}.log_uniform: lo must be above 0 on a log scale, got {lo}")
    return Dim(key, "float", lo=float(lo), hi=float(hi), log=kind == "log_uniform", points=points)


def parse_space(
    space, where: str = "search.space", setting_keys=None, search_points: int | None = None
) -> dict[str, Dim]:
    """Validate a `space:` mapping and return {key: Dim} in config order.

    `setting_keys` (e.g. the schema's variant setting names) restricts the keys; `where` is the
    config key of the space, used in every error (`experiments.<set>.search.space`).
    """
    if not isinstance(space, Mapping) or not space:
        raise ConfigError(f"config key {where}: must be a non-empty mapping of setting -> range or choice")
    dims = {}
    for key, spec in space.items():
        if key in RESERVED_KEYS:
            raise ConfigError(f"config key {where}.{key}: '{key}' cannot be searched")
        if key in NOT_SEARCH_SETTINGS:
            raise ConfigError(
                f"config key {where}.{key}: '{key}' cannot be searched (each trial trains one seed, the search's"
                " trials' `seed`; the chosen setting is retrained with final.seeds)"
            )
        if key in NOT_SEARCHED:
            raise ConfigError(
                f"config key {where}.{key}: '{key}' cannot be searched (every trial runs with the same job"
                " resources; set it in the search's base)"
            )
        if setting_keys is not None and key not in setting_keys:
            raise ConfigError(f"config key {where}.{key}: not a variant setting")
        dims[key] = _parse_dim(key, spec, where, search_points)
    return dims


def _int_at_least(block, key, where, minimum, maximum=None):
    v = block[key]
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise ConfigError(f"config key {where}.{key}: must be an integer >= {minimum}, got {v!r}")
    if maximum is not None and v > maximum:
        raise ConfigError(f"config key {where}.{key}: at most {maximum:,}, not {v:,}")


def count_trials(search: Mapping) -> int:
    """How many trials (training jobs) the whole search trains, computed without listing them:
    a grid's product of each range's distinct values, n x rounds (coarse-to-fine), the rungs'
    sum (successive halving; hyperband: of every bracket), n (random); the re-evaluation round's
    trials are not counted (`reevaluation_count`). Needs a block whose sizes are already bounded."""
    method = search["method"]
    if method == "grid":
        dims = parse_space(search["space"], search_points=search["points"])
        return math.prod(len(grid_values(d, d.points or search["points"], search["digits"])) for d in dims.values())
    if method == "successive_halving":
        rungs = halving_schedule(search["n"], search["reduction"], search["min_epochs"], search["max_epochs"])
        return sum(c for c, _ in rungs)
    if method == "hyperband":
        brackets = hyperband_brackets(search["reduction"], search["min_epochs"], search["max_epochs"])
        return sum(c for b in brackets for c, _ in b["rungs"])
    return search["n"] * (search["rounds"] if method == "coarse_to_fine" else 1)


def check_search(search, where: str = "search", setting_keys=None) -> dict:
    """Validate a `search:` block; return it with every default filled in.

    `where` is the block's config key (`experiments.<set>.search`); errors are one line naming
    the offending key. The returned dict is what every other function here takes.
    """
    if not isinstance(search, Mapping):
        raise ConfigError(f"config key {where}: must be a mapping with at least `method` and `space`")
    unknown = sorted(set(search) - set(SEARCH_DEFAULTS) - {"method", "space"})
    if unknown:
        raise ConfigError(
            f"config key {where}.{unknown[0]}: unknown key (allowed: method, space, {', '.join(SEARCH_DEFAULTS)})"
        )
    for key in ("method", "space"):
        if key not in search:
            raise ConfigError(f"config key {where}.{key}: missing (a search needs `method` and `space`)")
    out = json.loads(json.dumps({**SEARCH_DEFAULTS, **search}))
    if out["method"] not in METHODS:
        raise ConfigError(f"config key {where}.method: unknown method '{out['method']}' (known: {', '.join(METHODS)})")
    if not isinstance(out["name"], str) or not NAME_RE.match(out["name"]):
        raise ConfigError(
            f"config key {where}.name: '{out['name']}' must be letters, digits, _ . + - (it goes into trial names)"
        )
    _check_numbers(out, where)
    _check_base(out, where, setting_keys)
    _check_final_seeds(out["final"], where)
    out["reevaluate"] = _check_reevaluate(out["reevaluate"], out["final"]["seeds"], where)
    budget = out["budget_cpu_minutes"]
    if budget is not None and (not _is_number(budget) or not 0 < budget <= MAX_BUDGET_MINUTES):
        raise ConfigError(
            f"config key {where}.budget_cpu_minutes: must be a number of CPU-minutes above 0 (at most"
            f" {MAX_BUDGET_MINUTES:,}), or null for no budget; got {budget!r}"
        )
    parse_space(out["space"], f"{where}.space", setting_keys, out["points"])
    _check_trial_count(out, where)
    return out


def _check_numbers(out: dict, where: str) -> None:
    """The block's sizes, margin and epoch budget: integers in their bounds, consistent with the method."""
    for key, minimum, maximum in (
        ("seed", 0, None),
        ("n", 1, MAX_N),
        ("points", 1, MAX_POINTS),
        ("rounds", 1, MAX_ROUNDS),
        ("top_k", 1, None),
        ("reduction", 2, None),
        ("min_epochs", 1, None),
        ("digits", 1, MAX_DIGITS),
    ):
        _int_at_least(out, key, where, minimum, maximum)
    if not _is_number(out["margin"]) or not 0 <= out["margin"] <= MAX_MARGIN:
        raise ConfigError(
            f"config key {where}.margin: must be a number in 0..{MAX_MARGIN:g} (a fraction of the current width;"
            f" {MAX_MARGIN:g} already keeps the whole range), got {out['margin']!r}"
        )
    if out["method"] == "coarse_to_fine" and out["top_k"] > out["n"]:
        raise ConfigError(f"config key {where}.top_k: {out['top_k']} is more than the {out['n']} trials of a round")
    if out["method"] in EPOCH_METHODS:
        if out["max_epochs"] is None:
            raise ConfigError(f"config key {where}.max_epochs: {out['method']} needs the largest epoch budget")
        _int_at_least(out, "max_epochs", where, out["min_epochs"])
        if "epochs" in out["space"]:
            raise ConfigError(
                f"config key {where}.space.epochs: {out['method']} sets the epochs itself (min_epochs..max_epochs)"
            )


def _check_base(out: dict, where: str, setting_keys) -> None:
    """`base` holds variant settings only, and none that a search sets itself (seeds, replicates)."""
    if not isinstance(out["base"], Mapping):
        raise ConfigError(f"config key {where}.base: must be a mapping of settings")
    for key in out["base"]:
        if key in NOT_SEARCH_SETTINGS:
            raise ConfigError(
                f"config key {where}.base.{key}: a search trains each trial once, with the set's `seed`, and"
                " the chosen setting with final.seeds; set those instead"
            )
        if key in RESERVED_KEYS or (setting_keys is not None and key not in setting_keys):
            raise ConfigError(f"config key {where}.base.{key}: not a variant setting")


def _check_final_seeds(final, where: str) -> None:
    """`final: {seeds: [...]}`, distinct integer seeds, at most MAX_FINAL_SEEDS."""
    if not isinstance(final, Mapping) or set(final) - {"seeds"}:
        raise ConfigError(f"config key {where}.final: must be {{seeds: [...]}}")
    seeds = final.get("seeds")
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SEED for s in seeds)
    ):
        raise ConfigError(f"config key {where}.final.seeds: must be a non-empty list of integers in 0..{MAX_SEED}")
    if len(seeds) > MAX_FINAL_SEEDS:
        raise ConfigError(f"config key {where}.final.seeds: at most {MAX_FINAL_SEEDS} seeds, not {len(seeds)}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"config key {where}.final.seeds: a seed is listed twice")


def _check_reevaluate(block, final_seeds, where: str) -> dict | None:
    """`reevaluate: {top, seeds, confidence}` with its defaults, or None (no re-evaluation)."""
    if block is None:
        return None
    w = f"{where}.reevaluate"
    if not isinstance(block, Mapping):
        raise ConfigError(f"config key {w}: must be a mapping such as {{top: 3, seeds: 2}}, or null")
    unknown = sorted(set(block) - set(REEVALUATE_DEFAULTS))
    if unknown:
        raise ConfigError(f"config key {w}.{unknown[0]}: unknown key (allowed: {', '.join(REEVALUATE_DEFAULTS)})")
    out = {**REEVALUATE_DEFAULTS, **block}
    _int_at_least(out, "top", w, 1, MAX_N)
    seeds = out["seeds"]
    if isinstance(seeds, list):
        if not seeds or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= MAX_SEED for x in seeds):
            raise ConfigError(f"config key {w}.seeds: a list of integers in 0..{MAX_SEED}, or how many extra seeds")
        if len(set(seeds)) != len(seeds) or len(seeds) > MAX_FINAL_SEEDS:
            raise ConfigError(f"config key {w}.seeds: distinct seeds, at most {MAX_FINAL_SEEDS}")
        clash = sorted(set(seeds) & set(final_seeds))
        if clash:
            raise ConfigError(f"config key {w}.seeds: seed {clash[0]} is also a final seed; final seeds must be fresh")
    else:
        _int_at_least(out, "seeds", w, 1, MAX_FINAL_SEEDS)
    c = out["confidence"]
    if c is not None and (not _is_number(c) or not 0 < c < 1):
        raise ConfigError(f"config key {w}.confidence: a level between 0 and 1 (e.g. 0.95), or null; got {c!r}")
    return out


def _check_trial_count(out: dict, where: str) -> None:
    """At most MAX_TRIALS trials in the whole search, counted without listing them."""
    trials = count_trials(out)
    if trials > MAX_TRIALS:
        key, size = {
            "grid": ("space", "the product of the ranges' values"),
            "successive_halving": ("n", "the rungs' trials"),
            "hyperband": ("max_epochs", "the brackets' trials"),
            "coarse_to_fine": ("n", "n x rounds"),
            "random": ("n", "n"),
        }[out["method"]]
        raise ConfigError(
            f"config key {where}.{key}: the search trains {trials:,} trials ({size}), more than the {MAX_TRIALS:,}"
            " a search may; narrow it or split it over several sets"
        )


# ----------------------------------------------------------------------------- sampling


def _freeze(value):
    """Lists inside choices become tuples (hashable); `thaw` turns them back for JSON and settings."""
    return tuple(_freeze(v) for v in value) if isinstance(value, list) else value


def thaw(value):
    """A choice's value as the config gave it (the lists `_freeze` made tuples)."""
    return [thaw(v) for v in value] if isinstance(value, tuple) else value


def _fwd(dim: Dim, x: float) -> float:
    return math.log10(x) if dim.log else float(x)


def _inv(dim: Dim, y: float) -> float:
    return 10.0**y if dim.log else float(y)


def round_sig(x: float, digits: int) -> float:
    """`x` rounded to `digits` significant digits (readable settings, stable names)."""
    return float(f"{x:.{digits - 1}e}") if x != 0 else 0.0


def _key_id(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little")


def trial_rng(seed: int, round_: int, index: int, key: str, stream: Sequence[int] = ()) -> np.random.Generator:
    """The generator of one setting of one trial: independent of every other trial and key
    (`stream`: more entropy words, e.g. a hyperband bracket's first-rung epochs)."""
    return np.random.default_rng(np.random.SeedSequence([seed, round_, index, _key_id(key), *stream]))


def sample_value(dim: Dim, rng: np.random.Generator, digits: int = 4):
    """One draw from `dim`: uniform on the log scale for log ranges, rounded, inside [lo, hi]."""
    if dim.kind == "choice":
        return thaw(dim.choices[int(rng.integers(len(dim.choices)))])
    if dim.kind == "int":
        if dim.log:
            y = rng.uniform(math.log(dim.lo), math.log(dim.hi + 1))
            return int(min(max(math.floor(math.exp(y)), dim.lo), dim.hi))
        return int(rng.integers(dim.lo, dim.hi + 1))
    x = _inv(dim, rng.uniform(_fwd(dim, dim.lo), _fwd(dim, dim.hi)))
    return min(max(round_sig(x, digits), dim.lo), dim.hi)


def sample_settings(
    dims: Mapping[str, Dim], seed: int, round_: int, index: int, digits: int = 4, stream: Sequence[int] = ()
) -> dict:
    """The settings of trial `index` of round `round_`: one independent draw per key."""
    return {key: sample_value(dim, trial_rng(seed, round_, index, key, stream), digits) for key, dim in dims.items()}


def grid_values(dim: Dim, points: int | None = None, digits: int = 4) -> list:
    """The grid of one key: all choices, or `points` evenly spaced values (log-spaced on log ranges)."""
    if dim.kind == "choice":
        return [thaw(c) for c in dim.choices]
    n = points or dim.points or SEARCH_DEFAULTS["points"]
    ys = (
        [(_fwd(dim, dim.lo) + _fwd(dim, dim.hi)) / 2]
        if n == 1
        else np.linspace(_fwd(dim, dim.lo), _fwd(dim, dim.hi), n)
    )
    if dim.kind == "int":
        vals = [int(min(max(round(_inv(dim, y)), dim.lo), dim.hi)) for y in ys]
    else:
        vals = [min(max(round_sig(_inv(dim, y), digits), dim.lo), dim.hi) for y in ys]
    return list(dict.fromkeys(vals))


# ----------------------------------------------------------------------------- names


def trial_name(set_name: str, search_name: str, round_: int, index: int) -> str:
    """`<set>-<search>-r<round>-t<index>`: stable, so a replayed trial finds its trained run."""
    return f"{set_name}-{search_name}-r{round_}-t{index}"


def grid_trial_name(set_name: str, search_name: str, settings: Mapping) -> str:
    """Grid trials are named by their values, so a finer grid reuses the points it shares."""
    return f"{set_name}-{search_name}-" + "-".join(f"{k}{format_value(v)}" for k, v in settings.items())


def hyperband_trial_name(set_name: str, search_name: str, bracket: int, round_: int, index: int) -> str:
    """`<set>-<search>-b<first-rung epochs>-r<round>-t<index>`: a bracket is named by the epochs of
    its first rung, which a larger `max_epochs` does not change (its `s` would)."""
    return f"{set_name}-{search_name}-b{bracket}-r{round_}-t{index}"


def reevaluation_name(candidate: str, seed: int) -> str:
    """`<candidate's trial name>-s<seed>`: the candidate retrained with an extra seed; named after
    the candidate, so it is reused whatever round it is scored in."""
    return f"{candidate}-s{seed}"


def final_name(set_name: str, search_name: str, seed: int) -> str:
    return f"{set_name}-{search_name}-final-s{seed}"


# ----------------------------------------------------------------------------- schedules


def halving_schedule(n: int, reduction: int, min_epochs: int, max_epochs: int) -> list[tuple[int, int]]:
    """Successive halving's rungs as (trials, epochs), from n trials at `min_epochs`.

    Each rung keeps the best n // reduction trials (at least one) and trains them for `reduction`
    times the epochs, capped at `max_epochs`; it ends after the rung with one trial or with
    `max_epochs`. E.g. (27, 3, 1, 20) -> [(27, 1), (9, 3), (3, 9), (1, 20)].
    """
    if n < 1 or reduction < 2 or min_epochs < 1 or max_epochs < min_epochs:
        raise ValueError(f"bad halving schedule: n={n} reduction={reduction} epochs {min_epochs}..{max_epochs}")
    rungs = [(n, min_epochs)]
    while rungs[-1][0] > 1 and rungs[-1][1] < max_epochs:
        count, epochs = rungs[-1]
        rungs.append((max(1, count // reduction), min(epochs * reduction, max_epochs)))
    return rungs


def hyperband_brackets(reduction: int, min_epochs: int, max_epochs: int) -> list[dict]:
    """Hyperband's brackets (Li et al. 2018, Algorithm 1) with R = max_epochs, eta = reduction and
    the smallest budget min_epochs: s_max = floor(log_eta(R / min_epochs)); bracket s (s_max..0)
    starts n = ceil((s_max + 1) / (s + 1) * eta^s) trials at r = R / eta^s epochs (rounded down),
    and its rung i (0..s) keeps floor(n / eta^i) of them for R / eta^(s - i) epochs: successive
    halving inside the bracket, every bracket ending at R. Returned with the most epochs first
    (s = 0 first), each as {"s", "start" (first-rung epochs, the bracket's name), "rungs": [(trials,
    epochs), ...]}. E.g. R = 81, eta = 3, min_epochs 1: n = 5, 8, 15, 34, 81 at r = 81, 27, 9, 3, 1.
    Integers throughout, so no rounding of a logarithm can add or drop a bracket."""
    if reduction < 2 or min_epochs < 1 or max_epochs < min_epochs:
        raise ValueError(f"bad hyperband schedule: reduction={reduction} epochs {min_epochs}..{max_epochs}")
    s_max = 0
    while min_epochs * reduction ** (s_max + 1) <= max_epochs:
        s_max += 1
    out = []
    for s in range(s_max + 1):
        n = -(-(s_max + 1) * reduction**s // (s + 1))  # ceil, exactly
        rungs = [(max(1, n // reduction**i), max_epochs // reduction ** (s - i)) for i in range(s + 1)]
        out.append({"s": s, "start": rungs[0][1], "rungs": rungs})
    return out


def _base_rounds(search: Mapping) -> int:
    """The rounds of the method itself (without the re-evaluation round)."""
    method = search["method"]
    if method == "coarse_to_fine":
        return search["rounds"]
    if method == "successive_halving":
        return len(halving_schedule(search["n"], search["reduction"], search["min_epochs"], search["max_epochs"]))
    if method == "hyperband":
        return len(hyperband_brackets(search["reduction"], search["min_epochs"], search["max_epochs"]))
    return 1


def n_rounds(search: Mapping) -> int:
    """How many rounds (checkpoints) the search has: the method's, and one for the re-evaluation."""
    return _base_rounds(search) + (1 if search.get("reevaluate") else 0)


def reevaluation_round(search: Mapping) -> int | None:
    """The round that retrains the top candidates with extra seeds (the last one), or None."""
    return n_rounds(search) if search.get("reevaluate") else None


def reevaluation_seeds(search: Mapping, trial_seed: int = 0) -> list[int]:
    """The extra seeds of the re-evaluation: its list, or `seeds` of them after the trials' seed
    (config.resolve_searches writes the list, from the trials' own seed)."""
    seeds = search["reevaluate"]["seeds"]
    return list(seeds) if isinstance(seeds, list) else [trial_seed + i for i in range(1, seeds + 1)]


def final_epochs(search: Mapping) -> int | None:
    """The epochs of the chosen trial (and so of the final runs) when the method sets them: the last
    rung's (successive halving) or max_epochs (hyperband); None when they are the base's."""
    if search["method"] == "successive_halving":
        return halving_schedule(search["n"], search["reduction"], search["min_epochs"], search["max_epochs"])[-1][1]
    if search["method"] == "hyperband":
        return search["max_epochs"]
    return None


def pool_size(search: Mapping) -> int:
    """How many trials the choice is made among (successive halving: the last rung; hyperband:
    every trial trained for max_epochs; otherwise every trial)."""
    method = search["method"]
    if method == "successive_halving":
        return halving_schedule(search["n"], search["reduction"], search["min_epochs"], search["max_epochs"])[-1][0]
    if method == "hyperband":
        brackets = hyperband_brackets(search["reduction"], search["min_epochs"], search["max_epochs"])
        return sum(b["rungs"][-1][0] for b in brackets)
    return count_trials(search)


def reevaluation_count(search: Mapping) -> int:
    """Trials of the re-evaluation round: min(top, the pool) candidates x the extra seeds."""
    r = search.get("reevaluate")
    return min(r["top"], pool_size(search)) * len(reevaluation_seeds(search)) if r else 0


def search_cost(search: Mapping, epochs: int | None = None) -> dict:
    """Trials and trained epochs of the whole search, re-evaluation included (`epochs`: each
    trial's epochs, for the methods that do not set them), to size a search before running it."""
    method = search["method"]
    last = final_epochs(search)
    if method == "successive_halving":
        rungs = halving_schedule(search["n"], search["reduction"], search["min_epochs"], search["max_epochs"])
        trials, trained = sum(c for c, _ in rungs), sum(c * e for c, e in rungs)
    elif method == "hyperband":
        brackets = hyperband_brackets(search["reduction"], search["min_epochs"], search["max_epochs"])
        trials = sum(c for b in brackets for c, _ in b["rungs"])
        trained = sum(c * e for b in brackets for c, e in b["rungs"])
    else:
        if epochs is None:
            raise ValueError(f"search_cost of a {method} search needs the trials' epochs")
        trials = len(grid_trials("x", search)) if method == "grid" else search["n"] * _base_rounds(search)
        trained, last = trials * epochs, epochs
    extra = reevaluation_count(search)
    return {"rounds": n_rounds(search), "trials": trials + extra, "epochs": trained + extra * last}


def estimate_text(search: Mapping) -> str:
    """check-config's words for a search's CPU estimate and budget (`search["estimate"]`, written
    by config.resolve_searches from training.cost), or "" when there is none."""
    est = search.get("estimate")
    if not est:
        return ""
    budget = search.get("budget_cpu_minutes")
    text = f"; estimated {est['total_minutes']:.1f} CPU-minutes with the final runs"
    return text + (f" (budget {budget:g})" if budget is not None else "")


# ----------------------------------------------------------------------------- selection


def _score(value) -> float:
    """A validation score for ranking: NaN, infinities and None (a record's JSON null) rank last."""
    v = value["val_acc"] if isinstance(value, Mapping) else value
    v = math.nan if v is None else float(v)
    return v if math.isfinite(v) else -math.inf


def _json_score(value) -> float | None:
    """A score as a record writes it: JSON has no NaN or infinity, so a non-finite score is null."""
    v = _score(value)
    return v if math.isfinite(v) else None


def rank_trials(trials: Sequence[Trial], scores: Mapping[str, float | Mapping]) -> list[Trial]:
    """Trials from best to worst validation score; ties (and NaN, ranked last) by round, then index.

    `scores` maps trial name -> best validation accuracy (or a mapping with `val_acc`); a trial
    without a score is an error, so no choice is made on part of a round.
    """
    missing = [t.name for t in trials if t.name not in scores]
    if missing:
        raise ValueError(f"no validation score for trial(s) {', '.join(missing)}")
    return sorted(trials, key=lambda t: (-_score(scores[t.name]), t.round, t.index))


def top_k(trials: Sequence[Trial], scores: Mapping, k: int) -> list[Trial]:
    return rank_trials(trials, scores)[:k]


def narrow_space(dims: Mapping[str, Dim], best: Sequence[Mapping], margin: float = 0.1) -> dict[str, Dim]:
    """The next round's space: each numeric range spans the `best` settings' values, widened by
    `margin` times the current width on each side (on the log scale for log ranges) and clipped to
    the current range, so ranges never grow and never leave the original bounds; integer ranges
    round outwards; a choice keeps the values seen in `best` (in config order).
    """
    out = {}
    for key, dim in dims.items():
        vals = [b[key] for b in best]
        if dim.kind == "choice":
            seen = {json.dumps(v, sort_keys=True) for v in vals}
            kept = tuple(c for c in dim.choices if json.dumps(thaw(c), sort_keys=True) in seen)
            out[key] = Dim(key, "choice", choices=kept or dim.choices, points=dim.points)
            continue
        pad = min(margin, MAX_MARGIN) * dim.width()
        ys = [_fwd(dim, v) for v in vals]
        # clipped before leaving the log scale: 10 ** (a wide range's end + pad) would overflow
        y_lo, y_hi = min(ys) - pad, max(ys) + pad
        lo = dim.lo if y_lo <= _fwd(dim, dim.lo) else max(_inv(dim, y_lo), dim.lo)
        hi = dim.hi if y_hi >= _fwd(dim, dim.hi) else min(_inv(dim, y_hi), dim.hi)
        if dim.kind == "int":
            lo, hi = max(math.floor(lo + 1e-9), dim.lo), min(math.ceil(hi - 1e-9), dim.hi)
        lo = min(lo, hi)  # guards rounding at the bounds; equal best values still give lo <= hi
        out[key] = Dim(key, dim.kind, lo=lo, hi=hi, log=dim.log, points=dim.points)
    return out


# ----------------------------------------------------------------------------- rounds


def _random_round(set_name: str, search: Mapping, dims: Mapping[str, Dim], round_: int, n: int) -> list[Trial]:
    return [
        Trial(
            trial_name(set_name, search["name"], round_, i),
            round_,
            i,
            sample_settings(dims, search["seed"], round_, i, search["digits"]),
        )
        for i in range(n)
    ]


def grid_trials(set_name: str, search: Mapping) -> list[Trial]:
    """Every combination of the keys' grids, in config order (first key varies slowest)."""
    dims = parse_space(search["space"], search_points=search["points"])
    keys = list(dims)
    axes = [grid_values(dims[k], dims[k].points or search["points"], search["digits"]) for k in keys]
    trials, names = [], set()
    for i, combo in enumerate(itertools.product(*axes)):
        settings = dict(zip(keys, combo))
        name = grid_trial_name(set_name, search["name"], settings)
        if name in names:
            raise ConfigError(f"config key experiments.{set_name}.search.space: two grid points share the name {name}")
        names.add(name)
        trials.append(Trial(name, 1, i, settings))
    return trials


def space_for_round(
    search: Mapping, round_: int, trials_by_round: Mapping[int, Sequence[Trial]], scores: Mapping
) -> dict[str, Dim]:
    """Coarse-to-fine: the space round `round_` samples, narrowed round by round from the original."""
    dims = parse_space(search["space"], search_points=search["points"])
    for r in range(1, round_):
        best = top_k(trials_by_round[r], scores, search["top_k"])
        dims = narrow_space(dims, [t.settings for t in best], search["margin"])
    return dims


def _bracket_trials(
    set_name: str, search: Mapping, dims, bracket: Mapping, round_: int, scores: Mapping
) -> list[Trial]:
    """Hyperband: the trials of one bracket in round `round_` (its rung round_ - 1)."""
    start, rungs = bracket["start"], bracket["rungs"]
    n0, e0 = rungs[0]
    current = [
        Trial(
            hyperband_trial_name(set_name, search["name"], start, 1, i),
            1,
            i,
            {**sample_settings(dims, search["seed"], 1, i, search["digits"], (start,)), "epochs": e0},
            start,
        )
        for i in range(n0)
    ]
    for r in range(2, round_ + 1):
        count, epochs = rungs[r - 1]
        kept = top_k(current, scores, count)
        current = sorted(
            (
                Trial(
                    hyperband_trial_name(set_name, search["name"], start, r, t.index),
                    r,
                    t.index,
                    {**t.settings, "epochs": epochs},
                    start,
                )
                for t in kept
            ),
            key=lambda t: t.index,
        )
    return current


def trials_for_round(set_name: str, search: Mapping, round_: int, scores: Mapping) -> list[Trial]:
    """The trials of round `round_` (1-based), given the validation scores of all earlier rounds.

    Round 1 needs no scores. For coarse_to_fine, round k samples the space narrowed around the
    top_k of round k-1; for successive_halving, round k holds the best arms of round k-1 with more
    epochs (names r<k>-t<arm>, the arm's index from round 1, settings unchanged but `epochs`);
    for hyperband, round k holds rung k of every bracket that has one (`hyperband_brackets`; names
    b<first-rung epochs>-r<k>-t<arm>, each bracket's arms drawn from (seed, its first-rung epochs,
    the arm's index)). With `reevaluate`, the last round retrains the top candidates with extra
    seeds (`reevaluation_trials`).
    """
    method = search["method"]
    total = n_rounds(search)
    if not 1 <= round_ <= total:
        raise ValueError(f"search {search['name']} has rounds 1..{total}, not {round_}")
    if round_ == reevaluation_round(search):
        return reevaluation_trials(set_name, search, scores)
    if method == "grid":
        return grid_trials(set_name, search)
    dims = parse_space(search["space"], search_points=search["points"])
    if method == "random":
        return _random_round(set_name, search, dims, 1, search["n"])
    if method == "coarse_to_fine":
        by_round: dict[int, list[Trial]] = {}
        for r in range(1, round_ + 1):
            by_round[r] = _random_round(set_name, search, space_for_round(search, r, by_round, scores), r, search["n"])
        return by_round[round_]
    if method == "hyperband":
        brackets = hyperband_brackets(search["reduction"], search["min_epochs"], search["max_epochs"])
        return [
            t
            for b in brackets
            if len(b["rungs"]) >= round_
            for t in _bracket_trials(set_name, search, dims, b, round_, scores)
        ]
    # successive halving
    rungs = halving_schedule(search["n"], search["reduction"], search["min_epochs"], search["max_epochs"])
    arms = _random_round(set_name, search, dims, 1, search["n"])
    current = [Trial(t.name, 1, t.index, {**t.settings, "epochs": rungs[0][1]}) for t in arms]
    for r in range(2, round_ + 1):
        count, epochs = rungs[r - 1]
        kept = top_k(current, scores, count)
        current = sorted(
            (
                Trial(trial_name(set_name, search["name"], r, t.index), r, t.index, {**t.settings, "epochs": epochs})
                for t in kept
            ),
            key=lambda t: t.index,
        )
    return current


def all_trials(set_name: str, search: Mapping, scores: Mapping) -> list[Trial]:
    """The trials of every round that can be determined from `scores` (round 1 always; round k
    once every trial of round k-1 has a score), in round then index order."""
    out = []
    for r in range(1, n_rounds(search) + 1):
        trials = trials_for_round(set_name, search, r, scores)
        out += trials
        if any(t.name not in scores for t in trials):
            break
    return out


def candidate_pool(set_name: str, search: Mapping, scores: Mapping) -> list[Trial]:
    """The trials the choice is made among, once the method's rounds are scored: every trial, or
    those trained with the full budget (successive halving: the last rung; hyperband: every
    bracket's last rung, max_epochs)."""
    trials = []
    for r in range(1, _base_rounds(search) + 1):
        trials += trials_for_round(set_name, search, r, scores)
    if any(t.name not in scores for t in trials):
        raise ValueError(f"search {search['name']}: not every round has validation scores yet")
    if search["method"] == "successive_halving":
        trials = [t for t in trials if t.round == _base_rounds(search)]
    elif search["method"] == "hyperband":
        trials = [t for t in trials if t.settings["epochs"] == search["max_epochs"]]
    return trials


def reevaluation_trials(set_name: str, search: Mapping, scores: Mapping) -> list[Trial]:
    """The re-evaluation round: the best `reevaluate.top` of the candidate pool (by validation score
    at the kept epoch), each retrained with every extra seed (`reevaluation_seeds`), named
    `<candidate>-s<seed>`, settings the candidate's with `seed`."""
    round_ = reevaluation_round(search)
    pool = rank_trials(candidate_pool(set_name, search, scores), scores)
    seeds = reevaluation_seeds(search)
    return [
        Trial(reevaluation_name(c.name, seed), round_, i * len(seeds) + j, {**c.settings, "seed": seed}, c.bracket)
        for i, c in enumerate(pool[: search["reevaluate"]["top"]])
        for j, seed in enumerate(seeds)
    ]


def candidate_scores(set_name: str, search: Mapping, scores: Mapping) -> list[tuple[Trial, list]]:
    """Each re-evaluated candidate (in rank order) with its validation scores: its own trial's
    first (the trials' seed), then one per extra seed in `reevaluation_seeds` order."""
    trials = reevaluation_trials(set_name, search, scores)
    missing = [t.name for t in trials if t.name not in scores]
    if missing:
        raise ValueError(f"search {search['name']}: no validation score for {', '.join(missing)}")
    pool = {t.name: t for t in candidate_pool(set_name, search, scores)}
    out: dict[str, list] = {}
    for t in trials:
        cand = t.name.rsplit("-s", 1)[0]
        out.setdefault(cand, [scores[cand]]).append(scores[t.name])
    return [(pool[name], vals) for name, vals in out.items()]


def _mean_score(values: Sequence) -> float:
    """The mean of a candidate's scores; a missing (null, NaN) score makes it rank last."""
    vals = [_score(v) for v in values]
    return sum(vals) / len(vals) if all(math.isfinite(v) for v in vals) else -math.inf


def reevaluation_summary(set_name: str, search: Mapping, scores: Mapping, confidence: float = 0.95) -> list[dict]:
    """`compare_candidates` of the search's re-evaluated candidates (every round scored)."""
    cands = candidate_scores(set_name, search, scores)
    return compare_candidates([(t.name, t.settings, vals) for t, vals in cands], confidence)


def compare_candidates(candidates: Sequence[tuple[str, Mapping, Sequence]], confidence: float = 0.95) -> list[dict]:
    """The re-evaluated candidates (name, settings, scores per seed in the same seed order; given in
    rank order), best mean first (ties: the better-ranked candidate), each with its scores, their
    mean, and the difference chosen - candidate with its two-sided `confidence` Student t interval
    over the seeds, paired by seed (every candidate trains the same seeds, so what the seeds share,
    the data order and augmentation draws, cancels). `indistinguishable`: the interval holds 0 (or
    a score is missing): these validation runs cannot tell the candidate from the chosen one. The
    question is about these settings on this validation set over training seeds; the validation
    images are fixed, so their sampling is not in the interval (a larger validation split is)."""
    from scipy import stats  # deferred: scipy, which only the record and the report need

    order = sorted(range(len(candidates)), key=lambda i: (-_mean_score(candidates[i][2]), i))
    best_vals = [_score(v) for v in candidates[order[0]][2]]
    out = []
    for rank, i in enumerate(order):
        name, settings, vals = candidates[i]
        d = [a - _score(b) for a, b in zip(best_vals, vals, strict=True)]
        lo = hi = diff = None
        if rank > 0 and all(math.isfinite(x) for x in d):
            n = len(d)
            diff = sum(d) / n
            sd = math.sqrt(sum((x - diff) ** 2 for x in d) / (n - 1))
            half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
            lo, hi = diff - half, diff + half
        out.append(
            {
                "name": name,
                "settings": dict(settings),
                "val_acc": [_json_score(v) for v in vals],
                "mean": _json_score(_mean_score(vals)),
                "chosen": rank == 0,
                "diff": diff,
                "diff_lo": lo,
                "diff_hi": hi,
                "confidence": confidence,
                "indistinguishable": rank == 0 or lo is None or lo <= 0,
            }
        )
    return out


def choose(set_name: str, search: Mapping, scores: Mapping) -> Trial:
    """The chosen trial: the best validation score at the kept epoch over the candidate pool
    (`candidate_pool`; ties to the earlier trial), or, with `reevaluate`, the re-evaluated
    candidate with the best mean over its seeds (ties: the better-ranked candidate). Every round
    must be scored."""
    pool = candidate_pool(set_name, search, scores)
    if not search.get("reevaluate"):
        return rank_trials(pool, scores)[0]
    cands = candidate_scores(set_name, search, scores)
    best = min(range(len(cands)), key=lambda i: (-_mean_score(cands[i][1]), i))
    return cands[best][0]


KEEP_RULES = ("last", "val_acc", "val_loss")


def keep_rule(variant: Mapping) -> str:
    """Which epoch's weights a run of `variant` keeps, as training.state.TrainSettings reads it:
    early stopping's monitor (val_loss unless it says val_acc), val_acc with `select_best`,
    otherwise the last epoch ("last"). The round ranks trials by val_acc at that epoch."""
    es = variant.get("early_stopping") or None
    if es:
        return es.get("monitor", "val_loss")
    return "val_acc" if variant.get("select_best") else "last"


def kept_epoch(history: Sequence[Mapping], keep: str = "last") -> int:
    """The epoch whose weights the run keeps, from its history rows (epoch 0 first), as the solver
    picks it: the last row ("last"; after a divergence the history ends at the epoch whose weights
    were kept), or the first epoch (epoch 0 included) after which `keep` (val_acc: higher,
    val_loss: lower) never strictly improved."""
    if keep not in KEEP_RULES:
        raise ValueError(f"unknown keep rule {keep!r} (known: {', '.join(KEEP_RULES)})")
    if keep == "last":
        return int(history[-1]["epoch"])
    best = history[0]
    for row in history[1:]:
        v, b = float(row[keep]), float(best[keep])
        if (v < b) if keep == "val_loss" else (v > b):
            best = row
    return int(best["epoch"])


def validation_summary(history: Sequence[Mapping], keep: str = "last") -> dict:
    """The validation accuracy of a run at the epoch it keeps (`kept_epoch` under `keep`), that
    epoch, and the epochs run, from history rows (reads only `epoch`, `val_acc` and, for keep
    val_loss, `val_loss`, so test numbers cannot enter a choice). A NaN accuracy ranks last."""
    if not history:
        raise ValueError("empty history")
    epoch = kept_epoch(history, keep)
    row = next(r for r in history if int(r["epoch"]) == epoch)
    return {"val_acc": _score(row["val_acc"]), "epoch": epoch, "epochs_run": int(history[-1]["epoch"]), "keep": keep}


SCORING = "val_acc at the kept epoch"  # in every round digest: records scored another way are not read


def round_digest(trials: Sequence[Trial], keeps: Mapping[str, str] | None = None) -> str:
    """A short digest of a round's trial names, settings and keep rules (`keep_rule`; "last" when
    not given) and of SCORING, for the round's file name: a round file then always scores exactly
    the trials the current config asks for, the way the current code scores them."""
    keeps = keeps or {}
    rows = [[t.name, t.settings, keeps.get(t.name, "last")] for t in trials]
    text = json.dumps({"scoring": SCORING, "trials": rows}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def scores_from_record(record: Mapping) -> dict[str, float]:
    """Trial name -> validation score, from what `scored_round_record` wrote."""
    return {t["name"]: t["val_acc"] for t in record["trials"]}


def trial_from_json(d: Mapping) -> Trial:
    bracket = d.get("bracket")
    return Trial(
        d["name"], int(d["round"]), int(d["index"]), dict(d["settings"]), None if bracket is None else int(bracket)
    )


def scored_round_record(
    set_name: str,
    search_name: str,
    method: str,
    round_: int,
    trials: Sequence[Trial],
    summaries: Mapping,
    keeps: Mapping[str, str] | None = None,
    cpu_seconds: Mapping[str, float | None] | None = None,
    reevaluation: Sequence[Mapping] | None = None,
) -> dict:
    """What a round's checkpoint in the workflow writes: the round's trials, ranked, each with its
    `validation_summary` (val_acc at the kept epoch, that epoch, epochs_run, keep) and its job's
    CPU seconds (`cpu_seconds`, from its metrics.json timing; null when unknown). It needs nothing
    but the round's own trials, so the record (and the checkpoint's params) stays the same when the
    search gets more rounds or a larger budget: a finished round is never rerun, and neither are
    the trials after it. The next round and the choice are derived from these records
    (`trials_for_round`, `choose`). The re-evaluation round also holds `reevaluation_summary`
    (the candidates, their means and which are indistinguishable from the chosen one)."""
    scores = {name: s["val_acc"] for name, s in summaries.items()}
    ranked = rank_trials(trials, scores)
    cpu_seconds = cpu_seconds or {}
    out = {
        "set": set_name,
        "search": search_name,
        "method": method,
        "round": round_,
        "digest": round_digest(trials, keeps),
        "scoring": SCORING,
        "trials": [
            {
                **t.to_json(),
                "val_acc": _json_score(summaries[t.name]["val_acc"]),
                **{k: summaries[t.name][k] for k in ("epoch", "epochs_run")},
                "keep": summaries[t.name].get("keep", "last"),
                "cpu_seconds": cpu_seconds.get(t.name),
                "rank": i + 1,
            }
            for i, t in enumerate(ranked)
        ],
    }
    if reevaluation is not None:
        out["reevaluation"] = list(reevaluation)
    return out
