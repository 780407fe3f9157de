"""Resolve the workflow config into concrete variants, epoch plans and comparisons.

Pure functions on the config dict (as Snakemake loads it); `common.smk` calls them at DAG time and
the tests call them directly. Every problem is a one-line `ConfigError` naming the config key.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import json
import math
import os
import re
import stat
import sys
from pathlib import Path
from urllib.parse import urlparse

import yaml

from .errors import ConfigError
from .nn.registry import LINEAR_MODELS, MODEL_LOSSES  # noqa: F401 (common.smk imports LINEAR_MODELS)


def _schema_path() -> Path:
    """The config schema. One source file, workflow/schemas/config.schema.yaml (Snakemake validates
    against it); pyproject.toml ships that folder as the package data `cifarflow/schemas/`, where an
    installed package finds it. A checkout (or an editable install) reads workflow/schemas/."""
    here = Path(__file__).resolve().parent
    installed = here / "schemas" / "config.schema.yaml"
    return installed if installed.is_file() else here.parent / "schemas" / "config.schema.yaml"


SCHEMA_PATH = _schema_path()

# Settings that change what an epoch plan holds (the rest only change training).
PLAN_KEYS = ("split", "classes", "train_limit", "augmentation", "shuffle", "epochs", "seed")

# Names that become file paths and job command arguments: split, augmentation, experiment set,
# variant (also as a grid expands it), comparison and plan names. No '/', no shell characters, no
# leading '-' or '.', bounded length (the schema's `$defs.name` holds the same pattern).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$"
NAME_RE = re.compile(NAME_PATTERN)
NAME_RULE = "use 1 to 64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit"
# A variant's display label (`label:`): free text shown in figures, tables and answers, never part
# of a path (jobs get it as JSON params through `report_json`). 1 to 60 characters, no control
# characters, no '<', '>' or '&', no space at either end (the schema's variant.label).
LABEL_PATTERN = r"^(?=\S)(?!.*\s$)[^\x00-\x1f\x7f-\x9f<>&]{1,60}$"
LABEL_RE = re.compile(LABEL_PATTERN)
LABEL_RULE = "use 1 to 60 characters without control characters, '<', '>' or '&', and no space at either end"
LABEL_MAX = 60  # a derived label longer than this is not short: the variant's name is shown instead
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
MAX_WEIGHTS = 20_000_000  # an MLP's weight count (float32: 80 MB, several times over in training)
PLAN_ID_MAX = 120  # longer plan ids are shortened and keyed by a hash of the spec


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _key(path) -> str:
    """Render a jsonschema path as a config key: experiments.set.variants[2].eta."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def show(value, limit: int = 70) -> str:
    """A short one-line rendering of an untrusted value for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "...'" + f" ({len(str(value))} characters)"


def check_name(name, key: str, what: str = "name") -> None:
    """Refuse a name that would be unsafe in a file path or a job command."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ConfigError(f"config key {key}: {what} {show(name)} is not allowed ({NAME_RULE})")


MAX_CONFIG_BYTES = 1_000_000  # a config file (the shipped one is a few KB)
MAX_CONFIG_NODES = 200_000  # values in the config with YAML aliases expanded
MAX_CONFIG_DEPTH = 64
MAX_SOURCE_CLASSES = 256  # labels are stored as uint8


def check_size(config) -> None:
    """Bound the config before anything walks it: at most MAX_CONFIG_NODES values counted with
    YAML aliases expanded (an alias bomb is a small file whose expansion has billions of values;
    the YAML loader shares them, but every check, JSON dump and schema validation would walk the
    expansion) and MAX_CONFIG_DEPTH levels. Stops counting at the bound, so it is cheap."""
    count, stack = 0, [(config, 0, ())]
    while stack:
        value, depth, path = stack.pop()
        count += 1
        if count > MAX_CONFIG_NODES:
            raise ConfigError(
                f"config key {_key(path[:1])}: the config holds more than {MAX_CONFIG_NODES:,} values "
                f"(YAML aliases expanded); refusing it, check for aliases (*name) that repeat large parts"
            )
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"config key {_key(path[:8])}...: nested more than {MAX_CONFIG_DEPTH} levels deep")
        if isinstance(value, dict):
            stack.extend((v, depth + 1, (*path, str(k))) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            stack.extend((v, depth + 1, (*path, i)) for i, v in enumerate(value))


def check_finite(value, path=()) -> None:
    """Every number anywhere in the config must be finite (the JSON schema lets .nan and .inf through)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key {_key(path)}: {value} is not a finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            check_finite(v, (*path, str(k)))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_finite(v, (*path, i))


def _schema_message(err) -> str:
    if err.validator == "pattern" and err.validator_value == NAME_PATTERN:
        return f"name {show(err.instance)} is not allowed ({NAME_RULE})"
    if err.validator == "pattern" and err.validator_value == LABEL_PATTERN:
        return f"label {show(err.instance)} is not allowed ({LABEL_RULE})"
    if err.validator == "minItems" and list(err.absolute_path) == ["run"]:
        return "[] selects no experiment set (name at least one, or use null to run them all)"
    if err.validator == "pattern":
        return f"{show(err.instance)} does not match {err.validator_value!r}"
    return err.message if len(err.message) <= 300 else err.message[:290] + "..."


def check_config(config: dict, schema: dict | None = None) -> None:
    """Validate `config` against the JSON schema; raise ConfigError naming the first bad key.

    Around it, the checks the schema cannot express: finite numbers everywhere, the download's
    file name, holdout sizes against the classes and the images. (Variant-level checks, such as
    classes against `source_classes`, are in `resolve_variants` and `resolve_comparisons`.)"""
    import jsonschema

    check_size(config)
    check_finite(config)
    classes = config.get("source_classes")
    if isinstance(classes, list) and len(classes) > MAX_SOURCE_CLASSES:
        raise ConfigError(
            f"config key source_classes: {len(classes)} classes; at most {MAX_SOURCE_CLASSES} are supported (labels are uint8)"
        )
    schema = schema or load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(
        validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path)))
    )
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        raise ConfigError(f"config key {_key(err.absolute_path)}: {_schema_message(err)}")
    if config.get("experiments") is None:
        raise ConfigError(
            "config key experiments: missing; a config declares its experiment sets there (check-config: give"
            " config/config.yaml first, and your files after it)"
        )
    download = config.get("download") or {}
    if download.get("url"):
        check_name(Path(urlparse(download["url"]).path).name or "cifar-10.tar.gz", "download.url", "file name")
    for name, exp in (config.get("experiments") or {}).items():
        if not exp.get("variants") and not exp.get("search"):
            raise ConfigError(f"config key experiments.{name}: a set needs `variants`, a `search`, or both")
    classes = config.get("source_classes")
    official = "local_archive" in config and not config["local_archive"]  # the download: 5,000 images a class
    for name, spec in (config.get("splits") or {}).items():
        if spec.get("type") != "holdout":
            continue
        if classes and spec.get("val_size", 0) % len(classes):
            raise ConfigError(
                f"config key splits.{name}.val_size: {spec['val_size']} is not a multiple of the {len(classes)}"
                " source_classes (every class holds out the same number of images)"
            )
        if official and spec.get("val_size", 0) >= 50000:
            raise ConfigError(
                f"config key splits.{name}.val_size: {spec['val_size']} leaves no training image of the 50,000 in the downloaded archive"
            )


def default_settings(schema: dict | None = None) -> dict:
    schema = schema or load_schema()
    return copy.deepcopy(schema["properties"]["defaults"]["default"])


def format_value(value) -> str:
    """A compact, file-name-safe rendering of a grid value (0.001 -> '0.001', True -> 'true')."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = format(value, "g")
    elif isinstance(value, (list, tuple)):
        text = "x".join(format_value(v) for v in value)
    elif isinstance(value, dict):
        text = "_".join(f"{k}{format_value(v)}" for k, v in value.items())
    elif value is None:
        text = "none"
    else:
        text = str(value)
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", text)


def expand_grid(entry: dict) -> list[tuple[str, dict]]:
    """One (name, settings) pair per combination of the entry's `grid` values, in config order."""
    base = {k: v for k, v in entry.items() if k not in ("name", "grid")}
    grid = entry.get("grid")
    if not grid:
        return [(entry["name"], base)]
    keys = list(grid)
    out = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        settings = dict(base)
        settings.update(zip(keys, combo))
        suffix = "-".join(f"{k}{format_value(v)}" for k, v in zip(keys, combo))
        out.append((f"{entry['name']}-{suffix}", settings))
    return out


def selected_sets(config: dict) -> list[str]:
    sets = list(config["experiments"])
    run = config.get("run")
    if run is None:
        return sets
    for name in run:
        if name not in config["experiments"]:
            raise ConfigError(f"config key run: unknown experiment set '{name}' (known: {', '.join(sets)})")
    return list(dict.fromkeys(run))


def _check_variant(name: str, where: str, v: dict, config: dict, settings_validator) -> None:
    for err in settings_validator.iter_errors({k: v[k] for k in v if k not in ("name", "set")}):
        raise ConfigError(f"config key {where}.{_key(err.absolute_path)} (variant {name}): {err.message}")
    if v["split"] not in config["splits"]:
        raise ConfigError(
            f"config key {where}.split (variant {name}): unknown split '{v['split']}' (declared: {', '.join(config['splits'])})"
        )
    if v["augmentation"] not in config["augmentations"]:
        raise ConfigError(
            f"config key {where}.augmentation (variant {name}): unknown augmentation '{v['augmentation']}'"
            f" (declared: {', '.join(config['augmentations'])})"
        )
    loss = v["loss"] or MODEL_LOSSES[v["model"]][0]
    if loss not in MODEL_LOSSES[v["model"]]:
        raise ConfigError(
            f"config key {where}.loss (variant {name}): loss '{loss}' does not fit model '{v['model']}'"
            f" (use one of {', '.join(MODEL_LOSSES[v['model']])})"
        )
    if v["model"] == "logistic" and (not v["classes"] or len(v["classes"]) != 2):
        raise ConfigError(
            f"config key {where}.classes (variant {name}): the logistic model needs exactly two classes, e.g. [cat, dog]"
        )
    if v["schedule"] == "cyclic" and v["eta_min"] >= v["eta_max"]:
        raise ConfigError(
            f"config key {where}.eta_min (variant {name}): eta_min must be below eta_max for the cyclic schedule"
        )
    for key, value in v.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"config key {where}.{key} (variant {name}): {value} is not a finite number")
    known = config.get("source_classes")
    if v["classes"] and known:
        for c in v["classes"]:
            if c not in known:
                raise ConfigError(
                    f"config key {where}.classes (variant {name}): unknown class {show(c)} (source_classes: {', '.join(known)})"
                )
    if v["model"] == "mlp":
        sizes = [32 * 32 * 3, *v["hidden"], len(v["classes"] or known or range(10))]
        weights = sum(a * b for a, b in itertools.pairwise(sizes))
        if weights > MAX_WEIGHTS:
            raise ConfigError(
                f"config key {where}.hidden (variant {name}): {v['hidden']} gives {weights:,} weights, more than the {MAX_WEIGHTS:,} allowed"
            )
    if v["model"] == "convnet":
        _check_convnet_size(name, where, v, len(v["classes"] or known or range(10)))
    if v["train_limit"] and v["batch_size"] > v["train_limit"]:
        raise ConfigError(
            f"config key {where}.batch_size (variant {name}): {v['batch_size']} is more than the {v['train_limit']} images of train_limit"
        )


def convnet_footprint(v: dict, n_classes: int) -> tuple[int, int]:
    """(weights, estimated bytes of model memory) of a ConvNet variant, from its layer shapes
    (`cifarflow.nn.convnet`'s own parsing, imported lazily): float32 parameters four times
    (weights, gradients, two optimiser buffers) and, for the larger of a training batch and a
    prediction chunk, every layer's output and each conv's im2col matrix, twice (forward caches
    and backward). Raises ConfigError (without the key) for an invalid layer list."""
    from cifarflow.nn.conv import infer_shapes, parse_layers
    from cifarflow.nn.convnet import PREDICT_BATCH, layers_from_spec

    raw, where = layers_from_spec(v, n_classes)
    layers = parse_layers(raw, where=where)
    shapes = infer_shapes((32, 32, 3), layers, n_classes=n_classes, where=where)
    weights, per_row = 0, 0
    for (kind, _opts), (_name, out_shape, wshape) in zip(layers, shapes):
        per_row += math.prod(out_shape)
        if wshape is not None:
            weights += math.prod(wshape) + wshape[0]
            if kind == "conv":  # im2col: one row of F*k*k*C... per output position
                per_row += math.prod(out_shape[:2]) * math.prod(wshape[1:])
    rows = max(int(v.get("batch_size") or 1), PREDICT_BATCH)
    return weights, 4 * (4 * weights + 2 * rows * per_row)


def _check_convnet_size(name: str, where: str, v: dict, n_classes: int) -> None:
    """A ConvNet's layers bounded before any job: at most MAX_WEIGHTS weights, and a model that
    fits in the variant's own `mem_mb` (huge filters or units would otherwise end in a
    MemoryError, or in the job being killed, inside the training job)."""
    key = "layers" if v.get("layers") is not None else "preset"
    try:
        weights, nbytes = convnet_footprint(v, n_classes)
    except ConfigError as exc:
        raise ConfigError(f"config key {where}.{key} (variant {name}): {exc}") from None
    if weights > MAX_WEIGHTS:
        raise ConfigError(
            f"config key {where}.{key} (variant {name}): the layers have {weights:,} weights, more than the {MAX_WEIGHTS:,} allowed"
        )
    if nbytes > v["mem_mb"] * 2**20:
        raise ConfigError(
            f"config key {where}.{key} (variant {name}): the layers need about {nbytes / 2**20:,.0f} MB, more than the"
            f" variant's mem_mb {v['mem_mb']}; use smaller layers or a larger mem_mb"
        )


MAX_SEEDS = 100
# Keys of a resolved variant that are not training settings: a run's params leave them out, so
# adding a seed, a cluster group or a display label never reruns an existing run.
NOT_TRAINING = ("seeds", "replicates", "group", "plan_id", "plan_ids", "label")


def resolve_seeds(name: str, seed: int, layers) -> list[int]:
    """The replicate seeds of a variant: the most specific layer (defaults, set defaults, variant or
    grid value, overrides) that sets `seeds` or `replicates` decides; none: [seed].

    `replicates: N` gives seed, seed+1, ..., seed+N-1 (from the variant's resolved `seed`)."""
    chosen = None
    for where, layer in layers:
        has_seeds = layer.get("seeds") is not None
        has_reps = layer.get("replicates") is not None
        if has_seeds and has_reps:
            raise ConfigError(f"config key {where}.seeds (variant {name}): give `seeds` or `replicates`, not both")
        if has_seeds:
            chosen = (f"{where}.seeds", list(layer["seeds"]))
        elif has_reps:
            chosen = (f"{where}.replicates", [seed + i for i in range(int(layer["replicates"]))])
    if chosen is None:
        return [int(seed)]
    key, seeds = chosen
    if not seeds or len(seeds) > MAX_SEEDS:
        raise ConfigError(f"config key {key} (variant {name}): give 1 to {MAX_SEEDS} seeds, not {len(seeds)}")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= 4294967295:
            raise ConfigError(f"config key {key} (variant {name}): seed {show(s)} is not an integer in 0..4294967295")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"config key {key} (variant {name}): seeds {show(seeds)} repeat a seed")
    return seeds


def training_settings(variant: dict, seed: int) -> dict:
    """What the training job of one replicate gets: the variant's settings with `seed` set to the
    replicate's seed, without the keys that are not training settings (NOT_TRAINING). With a single
    seed equal to `seed` this is exactly the variant as trained before replicates existed."""
    out = {k: v for k, v in variant.items() if k not in NOT_TRAINING}
    out["seed"] = int(seed)
    return out


def resolve_variants(config: dict, schema: dict | None = None) -> dict[str, dict]:
    """Every variant of the selected experiment sets, fully resolved, keyed by its unique name.

    Each resolved variant holds every setting plus `name`, `set`, `loss` (never null), `seeds`
    (its replicate seeds, a non-empty list; `replicates` is resolved into it and removed) and
    `label` (the entry's `label:` or None; not a training setting, see `variant_labels`).
    """
    import jsonschema

    schema = schema or load_schema()
    settings_schema = {"$defs": schema["$defs"], **schema["$defs"]["settings"]}
    settings_validator = jsonschema.Draft202012Validator(settings_schema)
    base = default_settings(schema)
    base.update(config.get("defaults") or {})
    overrides = config.get("overrides") or {}
    variants: dict[str, dict] = {}
    origin: dict[str, str] = {}
    for set_name in selected_sets(config):
        exp = config["experiments"][set_name]
        set_defaults = exp.get("defaults") or {}
        for i, entry in enumerate(exp.get("variants") or []):
            where = f"experiments.{set_name}.variants[{i}]"
            if "label" in (entry.get("grid") or {}):
                raise ConfigError(
                    f"config key {where}.grid.label: a grid varies settings, not the label (a grid's `label:`"
                    " heads every member's label, which adds the grid's values)"
                )
            for name, settings in expand_grid(entry):
                settings = dict(settings)
                given = settings.pop("label", None)  # display only: never a setting, never checked as one
                check_name(
                    name,
                    f"{where}.name",
                    "variant name (as the grid expands it)" if entry.get("grid") else "variant name",
                )
                if name in variants:
                    kind = "a grid that expands to" if entry.get("grid") else "a second variant named"
                    raise ConfigError(
                        f"config key {where}.name: {kind} '{name}', which {origin[name]} already declares; variant names must be unique"
                    )
                v = dict(base)
                v.update(set_defaults)
                v.update(settings)
                v.update(overrides)
                v["name"], v["set"] = name, set_name
                _check_variant(name, where, v, config, settings_validator)
                v["loss"] = v["loss"] or MODEL_LOSSES[v["model"]][0]
                layers = (
                    ("defaults", config.get("defaults") or {}),
                    (f"experiments.{set_name}.defaults", set_defaults),
                    (where, settings),
                    ("overrides", overrides),
                )
                v["seeds"] = resolve_seeds(name, v["seed"], layers)
                v.pop("replicates", None)
                if given is not None and not (isinstance(given, str) and LABEL_RE.fullmatch(given)):
                    raise ConfigError(f"config key {where}.label: label {show(given)} is not allowed ({LABEL_RULE})")
                v["label"] = given
                variants[name] = v
                origin[name] = where
    return variants


def setting_keys(schema: dict | None = None) -> set[str]:
    """The variant settings (what a search may vary and what its `base` may set)."""
    schema = schema or load_schema()
    return set(schema["$defs"]["setting_properties"]["properties"])


def resolve_searches(config: dict, schema: dict | None = None) -> dict[str, dict]:
    """The `search:` blocks of the selected sets, checked and with their defaults, keyed by set.

    Before any job: the block itself (`check_search`, one-line errors naming the key), every trial
    of round 1 and the final runs as complete variants (the same checks as a listed variant), and
    the epoch plans the search can ask for (`search_plans`)."""
    from .training import search as S

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


def _setting_validator(schema: dict):
    import jsonschema

    return jsonschema.Draft202012Validator({"$defs": schema["$defs"], **schema["$defs"]["settings"]})


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
    from .training import search as S

    validator = _setting_validator(schema)

    def check(key: str, value, at: str) -> None:
        for err in validator.iter_errors({key: value}):
            raise ConfigError(f"config key {at}: {show(value)} is not a valid {key} ({err.message})")

    for key, dim in S.parse_space(search["space"], f"{where}.space", search_points=search["points"]).items():
        if dim.kind == "choice":
            for i, value in enumerate(dim.choices):
                check(key, S._thaw(value), f"{where}.space.{key}.choice[{i}]")
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
    from .training import search as S

    where = f"experiments.{set_name}.search"
    values: list[tuple[str, str, object]] = []
    for key, dim in S.parse_space(search["space"], f"{where}.space", search_points=search["points"]).items():
        if dim.kind == "choice":
            values += [(key, f"{where}.space.{key}.choice[{i}]", S._thaw(c)) for i, c in enumerate(dim.choices)]
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


@functools.lru_cache(maxsize=1)
def _search_schema_and_validator():
    """The default schema and its settings validator, loaded once: the workflow resolves trials in
    its input functions, many times per DAG evaluation (neither object is ever modified)."""
    import jsonschema

    schema = load_schema()
    return schema, jsonschema.Draft202012Validator({"$defs": schema["$defs"], **schema["$defs"]["settings"]})


def search_variant(config: dict, set_name: str, search: dict, settings: dict, name: str, schema=None) -> dict:
    """A trial (or final run) as a fully resolved variant: defaults < set defaults < the search's
    `base` < the trial's settings, then `overrides` except on the keys the search sets itself
    (its space, successive halving's epochs, a final run's seed).
    Checked as a listed variant is; errors name the search block."""
    if schema is None:
        schema, validator = _search_schema_and_validator()
    else:
        import jsonschema

        validator = jsonschema.Draft202012Validator({"$defs": schema["$defs"], **schema["$defs"]["settings"]})
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
        _check_variant(name, where, v, config, validator)
    except ConfigError as exc:
        raise ConfigError(_search_setting_key(str(exc), where, search, settings)) from None
    v["loss"] = v["loss"] or MODEL_LOSSES[v["model"]][0]
    return v


def _search_setting_key(message: str, where: str, search: dict, settings: dict) -> str:
    """A trial's error names the search key the bad value came from: `space.<key>` for a searched
    setting, `max_epochs` for successive halving's epochs, `final.seeds` for a final run's seed,
    `base.<key>` for the search's base (`_check_variant` names `<where>.<key>`)."""
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
    from .training import search as S

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


SEARCH_PLAN_LIMIT = 1000


def search_plans(config: dict, set_name: str, search: dict, schema=None) -> dict[str, dict]:
    """Every epoch plan a search can ask for, {plan id: spec}, known before any job runs.

    Later rounds' settings depend on earlier scores, but a plan depends only on PLAN_KEYS: those the
    space varies (choices, integer ranges), the epochs of successive halving's rungs and the final
    seeds. Their combinations are listed (at most SEARCH_PLAN_LIMIT), so `plan_epochs` serves them.
    """
    from .training import search as S

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
            axes[key] = [S._thaw(c) for c in dim.choices] if dim.kind == "choice" else list(range(dim.lo, dim.hi + 1))
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


def grid_members(config: dict, set_name: str, grid_name: str) -> list[str]:
    """The variant names a grid entry of `set_name` expands to."""
    for entry in config["experiments"][set_name]["variants"]:
        if entry["name"] == grid_name and entry.get("grid"):
            return [name for name, _ in expand_grid(entry)]
    raise ConfigError(
        f"config key experiments.{set_name}.comparisons: no grid variant named '{grid_name}' in set {set_name}"
    )


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


# The write-ups' six questions are presets of the two generic kinds: `compare` (two variants, A vs
# B) and `sweep` (two or more variants that differ in one setting). A preset checks that A and B
# are what its wording says and keeps its own sentence; `lambda` is a sweep over lambda.
PAIR_PRESETS = ("softmax_vs_sigmoid", "flip", "shuffle", "relu_vs_softplus", "ce_vs_mse")
QUESTION_KINDS = ("compare", "sweep", "lambda", *PAIR_PRESETS)
MAX_DECIDE_SEEDS = 30


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


def _value_key(value) -> str:
    """A setting's value as a comparable key: numbers by value (0 and 0.0 are one value)."""
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_value_key(v) for v in value) + "]"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(float(value))
    return canonical_json(value)


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
        values = [_value_key(variants[n][setting]) for n in names]
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


_NOT_A_LABEL = ("name", "set", "seed", *NOT_TRAINING, "mem_mb", "runtime", "threads")


def _differing_keys(settings: list[dict], keys=None) -> list[str]:
    """The keys (of `keys`, default every key but _NOT_A_LABEL, sorted) whose values differ among
    the `settings` dicts that hold them (numbers compared by value: 0 and 0.0 are one value)."""
    if keys is None:
        keys = sorted({k for s in settings for k in s} - set(_NOT_A_LABEL))
    return [k for k in keys if len({_value_key(s.get(k)) for s in settings if k in s}) > 1]


def derived_labels(names: list, variants: dict) -> list[str]:
    """A question's labels that tell its variants apart: the settings whose values differ among
    them, as "momentum = 0.9, lambda = 0.01" (the variant's name when no setting differs)."""
    keys = {k for n in names for k in variants[n]}
    differ = _differing_keys([{k: variants[n].get(k) for k in keys} for n in names])
    if not differ:
        return list(names)
    return [", ".join(f"{k} = {format_value(variants[n].get(k))}" for k in differ) for n in names]


# ---- display labels of variants (figures, tables, answers) ----------------------------------

# The order in which a derived label names settings: what a model is before how it was trained.
_LABEL_ORDER = (
    "model",
    "preset",
    "layers",
    "activation",
    "hidden",
    "filters",
    "size",
    "loss",
    "classes",
    "augmentation",
    "shuffle",
    "split",
    "train_limit",
    "normalize",
    "init",
    "init_sigma",
    "schedule",
    "lambda",
    "eta",
    "eta_min",
    "eta_max",
    "n_s",
    "step_every",
    "step_factor",
    "momentum",
    "nesterov",
    "batch_size",
    "epochs",
    "early_stopping",
    "select_best",
    "test_flip",
)
_LABEL_SYMBOLS = {"lambda": "λ", "eta": "η", "eta_min": "η min", "eta_max": "η max"}
_LABEL_VALUE_ONLY = ("model", "preset", "activation", "loss", "augmentation")  # "softmax", not "model softmax"


def _label_number(value) -> str:
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, (list, tuple)):
        return "x".join(_label_number(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_label_number(v)}" for k, v in value.items())
    return str(value)


def label_part(key: str, value) -> str:
    """One setting as a derived label shows it: "λ 0.01", "softmax", "flip_p05", "no shuffle",
    "hidden 512x256", "40 epochs", "cat/dog"."""
    words = key.replace("_", " ")
    if isinstance(value, bool):
        return words if value else f"no {words}"
    if key == "classes":
        return "/".join(map(str, value)) if value else "all classes"
    if key == "early_stopping":
        if not value:
            return "no early stopping"
        return f"early stopping ({value.get('monitor', 'val_loss')}, patience {value.get('patience')})"
    if value is None:
        return f"no {words}"
    text = _label_number(value)
    if key == "epochs":
        return f"{text} epochs"
    if key == "batch_size":
        return f"batch {text}"
    if key in _LABEL_SYMBOLS:
        return f"{_LABEL_SYMBOLS[key]} {text}"
    if key in _LABEL_VALUE_ONLY:
        return text
    return f"{words} {text}"


def _label_keys(keys) -> list[str]:
    keys = set(keys)
    return [k for k in _LABEL_ORDER if k in keys] + sorted(keys - set(_LABEL_ORDER))


def _entry_parts(fixed: list[dict]) -> list[list[str]]:
    """For entries (each a dict of its fixed settings), the settings each one's label names: in
    _LABEL_ORDER, a setting is named when another entry agrees on every earlier differing setting
    but not on this one. So two entries always differ in the first differing setting they name
    (both name it), and a setting nobody else needs is left out ("softmax" alone when no other
    softmax entry is there). Linear in entries x settings: the entries that agree so far are
    kept as groups, split by each setting in turn (an entry without the setting, a grid that
    varies it, agrees with none)."""
    differ = _label_keys(_differing_keys(fixed))
    out: list[list[str]] = [[] for _ in fixed]
    groups = [list(range(len(fixed)))]
    for k in differ:
        split: list[list[int]] = []
        for group in groups:
            by_value: dict[str, list[int]] = {}
            for i in group:
                if k in fixed[i]:
                    by_value.setdefault(_value_key(fixed[i][k]), []).append(i)
                else:
                    split.append([i])
            if len(by_value) > 1:
                for members in by_value.values():
                    for i in members:
                        out[i].append(label_part(k, fixed[i][k]))
            split += by_value.values()
        groups = [g for g in split if len(g) > 1]
    return out


def unique_labels(names, labels: dict, keep=()) -> dict[str, str]:
    """`labels` (name -> label) for `names`, unique: every variant whose label it shares with
    another falls back to its name (names are unique); within a group that shares one, a variant
    in `keep` (one whose label the config gives) keeps it when it is the only one there. A name
    missing from `labels` is its own label."""
    out = {n: str(labels.get(n) or n) for n in names}
    keep = set(keep)
    while True:
        groups: dict[str, list] = {}
        for n in names:
            groups.setdefault(out[n], []).append(n)
        changed = False
        for group in groups.values():
            if len(group) < 2:
                continue
            kept = [n for n in group if n in keep and out[n] != n]
            for n in group:
                if out[n] != n and not (len(kept) == 1 and n == kept[0]):
                    out[n], changed = n, True
        if not changed:
            return out


def variant_labels(config: dict, variants: dict[str, dict]) -> dict[str, str]:
    """Every resolved variant's display label (name -> label), unique within its set.

    A variant's `label:` is its label; a grid's `label:` heads each member's label, followed by the
    member's grid values ("flip_p05, λ 0.01"). Otherwise the label is derived from the settings
    that distinguish the variant's entry within its set (a grid entry: the settings all its members
    share; see `_entry_parts`) and, for a grid member, its grid values, e.g.
    `bonus-softmax-augmentationflip_p05-lambda0.01` -> "softmax, flip_p05, λ 0.01". A derived label
    that is empty or longer than LABEL_MAX characters is the variant's name; so is every label two
    variants of one set would share (a given label is kept over derived ones). Two variants of one
    set given the same label are an error. The name stays the identifier (paths, CSV `variant`
    columns); the labels reach the report jobs as params, never a training job."""
    labels: dict[str, str] = {}
    for set_name in selected_sets(config):
        entries = []  # (entry index, entry, its resolved members, the grid keys whose values differ)
        for i, entry in enumerate(config["experiments"][set_name].get("variants") or []):
            members = [n for n, _ in expand_grid(entry) if n in variants]
            if not members:
                continue
            grid = [k for k in (entry.get("grid") or {}) if _differing_keys([variants[n] for n in members], [k])]
            entries.append((i, entry, members, grid))
        fixed = [
            {k: x for k, x in variants[members[0]].items() if k not in _NOT_A_LABEL and k not in grid}
            for _, _, members, grid in entries
        ]
        parts = _entry_parts(fixed)
        given: dict[str, int] = {}
        kept = []
        for (i, entry, members, grid), head in zip(entries, parts):
            where = f"experiments.{set_name}.variants[{i}].label"
            text = entry.get("label")
            if text is not None and not grid:
                if text in given:
                    raise ConfigError(
                        f"config key {where}: label {show(text)} is also the label of"
                        f" experiments.{set_name}.variants[{given[text]}]; labels tell a set's variants apart"
                    )
                given[text] = i
            for n in members:
                tail = [label_part(k, variants[n][k]) for k in grid]
                if text is not None:
                    labels[n] = ", ".join([text, *tail])
                    kept.append(n)
                    continue
                derived = ", ".join([*head, *tail])
                labels[n] = derived if derived and len(derived) <= LABEL_MAX else n
        names = [n for _, _, members, _ in entries for n in members]
        labels.update(unique_labels(names, labels, keep=kept))
    return labels


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
    tables: dict[str, dict] = {}
    display = variant_labels(config, variants)
    for name, comp in comparisons.items():
        if comp.get("paired", True) and len(comp["variants"]) >= 2:
            where = f"experiments.{comp['set']}.comparisons[{name}]"
            _same_test_images(where, comp["variants"], variants)
            pairs = [list(p) for p in itertools.combinations(comp["variants"], 2)]
            tables[name] = {"set": comp["set"], "variants": list(comp["variants"]), "pairs": pairs}
    questions: dict[str, dict] = {}
    statistics = config.get("statistics") or {}
    for set_name in selected_sets(config):
        exp = config["experiments"][set_name]
        for i, pair in enumerate(exp.get("pairs") or []):
            where = f"experiments.{set_name}.pairs[{i}]"
            for n in pair:
                if n not in variants:
                    raise ConfigError(f"config key {where}: unknown variant '{n}'")
            if pair[0] == pair[1]:
                raise ConfigError(f"config key {where}: a pair needs two different variants, not '{pair[0]}' twice")
            _same_test_images(where, list(pair), variants)
        if exp.get("pairs"):
            name = f"{set_name}-pairs"
            check_name(name, f"experiments.{set_name}.pairs", "table name (<set>-pairs)")
            if name in comparisons:
                raise ConfigError(
                    f"config key experiments.{set_name}.pairs: its table name '{name}' is also a comparison's name"
                )
            pairs = [list(p) for p in exp["pairs"]]
            tables[name] = {
                "set": set_name,
                "variants": list(dict.fromkeys(n for p in pairs for n in p)),
                "pairs": pairs,
            }
        for i, q in enumerate(exp.get("questions") or []):
            where = f"experiments.{set_name}.questions[{i}]"
            names, setting = _question_variants(config, set_name, q, where, variants)
            labels = q.get("labels")
            if labels is not None and len(labels) != len(names):
                raise ConfigError(
                    f"config key {where}.labels: give one label per variant ({len(names)}), not {len(labels)}"
                )
            _same_test_images(where, names, variants)
            if q["name"] in questions:
                raise ConfigError(f"config key {where}.name: question name '{q['name']}' is used twice")
            if q["name"] in tables or q["name"] in comparisons:
                raise ConfigError(
                    f"config key {where}.name: '{q['name']}' is also the name of a comparison or paired table"
                )
            if labels is None:
                labels = _question_labels(names, variants, display)
            pairs = [list(p) for p in itertools.combinations(names, 2)]
            tables[q["name"]] = {"set": set_name, "variants": names, "pairs": pairs, "question": q["name"]}
            questions[q["name"]] = {
                "set": set_name,
                "kind": q["kind"],
                "variants": names,
                "setting": setting,
                "labels": list(labels),
                "min_effect": float(q.get("min_effect", statistics.get("min_effect", 0.005))),
                "decide": _question_decide(q, where, names, variants, statistics.get("max_seeds")),
                "set_title": exp.get("title"),
                "set_description": exp.get("description"),
                "table": q["name"],
            }
    return tables, questions


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


def plan_spec(variant: dict, config: dict) -> dict:
    """What the variant's epoch plan depends on (and nothing else), as a plain dict."""
    spec = {k: variant[k] for k in PLAN_KEYS}
    aug = config["augmentations"][variant["augmentation"]]
    spec["flip"] = float(aug.get("flip", 0.0))
    spec["translate"] = int(aug.get("translate", 0))
    if aug.get("fill", "zero") != "zero" and spec["translate"]:  # absent when zero: plan ids stay
        spec["fill"] = aug["fill"]
    spec["materialize"] = bool(config.get("materialize", False))
    return spec


def plan_id(spec: dict) -> str:
    """A readable, unique file stem for an epoch plan."""
    parts = [spec["split"], spec["augmentation"], f"seed{spec['seed']}", f"ep{spec['epochs']}"]
    if not spec["shuffle"]:
        parts.append("noshuffle")
    if spec["classes"]:
        parts.append("-".join(spec["classes"]))
    if spec["train_limit"]:
        parts.append(f"n{spec['train_limit']}")
    stem = re.sub(r"[^A-Za-z0-9_.+-]", "_", "_".join(parts))
    if len(stem) > PLAN_ID_MAX:  # many or long class names: keep the file name short, still unique
        stem = f"{stem[: PLAN_ID_MAX - 17]}_{hashlib.sha256(canonical_json(spec).encode()).hexdigest()[:16]}"
    return stem


def canonical_json(obj) -> str:
    """Stable JSON (sorted keys) for params, so Snakemake's params trigger sees real changes only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def report_json(obj) -> str:
    """`canonical_json` for the params of a job whose outputs are in Snakemake's HTML report.

    Snakemake writes those params into a <script> block of the report without escaping them for
    HTML, so a config's free text (a title, a class name) holding '</script><script>...' would end
    that block and run as a script of its own. '<', '>' and '&' are written as JSON escapes
    (\\u003c ...), which can only occur inside JSON strings and which json.loads reads back as the
    same text; a value without them is exactly `canonical_json`'s (no rerun)."""
    return canonical_json(obj).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def use_this_python_in_jobs() -> None:
    """Put the Python that runs Snakemake first on PATH, so `python` in a job shell is that one.

    Local jobs and cluster jobs (which export the submitting environment) inherit PATH; a job in a
    conda environment gets that environment's `python` (activation puts it first). The package
    itself is found by workflow/scripts/run_cifarflow.py, not through PYTHONPATH.
    """
    bindir = os.path.dirname(sys.executable)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])


def _merge(base: dict, extra: dict) -> dict:
    """`extra` over `base`, nested dicts merged key by key (as Snakemake merges --configfile files)."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def refuse_yte(path, data) -> None:
    """A YAML config with a true `__use_yte__` at its top level is a YTE template: Snakemake's
    config loader runs its `?...` values as Python code when it reads the file (`--configfile`,
    `configfile:`; even for `snakemake -n`), before any workflow code can look at it."""
    if isinstance(data, dict) and data.get("__use_yte__"):
        raise ConfigError(
            f"{path}: config key __use_yte__ makes this file a YTE template, whose ?-expressions Snakemake runs"
            " as Python code when it loads the file (even for -n, before any cifarflow check); a cifarflow"
            " config is plain YAML: refusing it, do not give it to snakemake"
        )


def refuse_python_tag(path, exc) -> None:
    """A `!!python/...` tag: Snakemake reads YAML configs with PyYAML's FullLoader (through YTE),
    which builds Python objects from such tags (`!!python/name:` any name of a loaded module)."""
    tag = re.search(r"tag:yaml\.org,2002:(python/[^'\s]*)", str(getattr(exc, "problem", None) or ""))
    if tag:
        line = f" at line {exc.problem_mark.line + 1}" if getattr(exc, "problem_mark", None) else ""
        raise ConfigError(
            f"{path}: the YAML tag !!{tag.group(1)[:60]}{line} asks for a Python object (Snakemake reads configs"
            " with PyYAML's FullLoader, which builds them from such tags); a cifarflow config holds plain values only"
        ) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML, and Snakemake's
    loaders, keep the last value silently)."""


def _duplicate_key(node, path=(), seen=None):
    """(config key, first line, repeated line) of the first key given twice in a mapping of the
    composed YAML `node`, or None. Each node is visited once (an alias bomb is not expanded)."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return None
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                where = (*path, key_node.value)
                ident = (key_node.tag, key_node.value)
                if ident in first:
                    return _key(where), first[ident] + 1, key_node.start_mark.line + 1
                first[ident] = key_node.start_mark.line
            found = _duplicate_key(value_node, (*path, getattr(key_node, "value", "?")), seen)
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found = _duplicate_key(item, (*path, i), seen)
            if found:
                return found
    return None


def load_yaml_unique(text, path):
    """The YAML document `text` (of the file `path`) as plain values, a ConfigError naming the
    file, the key and its lines when a mapping gives a key twice."""
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        found = _duplicate_key(node) if node is not None else None
        if found:
            key, first, again = found
            raise ConfigError(
                f"{path}: config key {key} is given twice (lines {first} and {again}); YAML would keep the last"
                " silently: remove one"
            )
        return loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def refuse_duplicate_keys(paths) -> None:
    """The workflow's check of the config files Snakemake read (`workflow.configfiles`): Snakemake
    keeps a repeated key's last value silently. A file that cannot be read or parsed here is left
    to Snakemake, which has read it already."""
    for path in paths:
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                continue
            with open(path, "rb") as fh:
                text = fh.read(MAX_CONFIG_BYTES + 1)
            if len(text) <= MAX_CONFIG_BYTES:
                load_yaml_unique(text, path)
        except (OSError, yaml.YAMLError, RecursionError):
            continue


def load_config_files(paths: list[str | Path]) -> dict:
    """The config given by YAML files in order, later files overriding earlier ones."""
    config: dict = {}
    for path in paths:
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):  # before opening: a FIFO would block the open
                raise ConfigError(f"{path}: not a regular file (a device, FIFO or folder); give a YAML file")
            with open(path, "rb") as fh:
                text = fh.read(MAX_CONFIG_BYTES + 1)
            if len(text) > MAX_CONFIG_BYTES:
                raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES:,} bytes; not a cifarflow config")
            data = load_yaml_unique(text, path)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            refuse_python_tag(path, exc)
            raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        except RecursionError:
            raise ConfigError(f"{path}: nested too deeply to read") from None
        refuse_yte(path, data)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of config keys")
        check_size(data)
        config = _merge(config, data)
    return config


def validate_config(config: dict, schema: dict | None = None) -> tuple[dict, dict, dict]:
    """What the workflow does with a config before any job: the schema check, the schema's top-level
    defaults for missing keys (as Snakemake's `validate` fills them), the variants and comparisons.
    Returns (config with defaults, variants, comparisons); raises ConfigError naming the key."""
    schema = schema or load_schema()
    check_config(config, schema)
    filled = copy.deepcopy(config)
    for key, prop in schema.get("properties", {}).items():
        if key not in filled and "default" in prop:
            filled[key] = copy.deepcopy(prop["default"])
    variants = resolve_variants(filled, schema)
    comparisons = resolve_comparisons(filled, variants)
    resolve_searches(filled, schema)
    resolve_paired(filled, variants, comparisons)
    return filled, variants, comparisons
