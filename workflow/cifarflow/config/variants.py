"""Variants: the selected experiment sets' entries, grids expanded, resolved over the defaults and
checked (each error names its key), with their replicate seeds; and what the training job of one
replicate gets (`training_settings`)."""

from __future__ import annotations

import itertools
import math

from ..errors import ConfigError
from ..names import LABEL_RE, LABEL_RULE, check_name, config_key, format_value, show
from ..nn.conv import infer_shapes, parse_layers
from ..nn.convnet import PREDICT_BATCH, layers_from_spec
from ..nn.registry import MODEL_LOSSES
from ..schema import default_settings, load_schema, settings_validator

MAX_WEIGHTS = 20_000_000  # an MLP's weight count (float32: 80 MB, several times over in training)
MAX_SEEDS = 100

# Keys of a resolved variant that are not training settings: a run's params leave them out, so
# adding a seed, a cluster group or a display label never reruns an existing run.
NOT_TRAINING = ("seeds", "replicates", "group", "plan_id", "plan_ids", "label")


def selected_sets(config: dict) -> list[str]:
    sets = list(config["experiments"])
    run = config.get("run")
    if run is None:
        return sets
    for name in run:
        if name not in config["experiments"]:
            raise ConfigError(f"config key run: unknown experiment set '{name}' (known: {', '.join(sets)})")
    return list(dict.fromkeys(run))


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


def grid_members(config: dict, set_name: str, grid_name: str) -> list[str]:
    """The variant names a grid entry of `set_name` expands to."""
    for entry in config["experiments"][set_name]["variants"]:
        if entry["name"] == grid_name and entry.get("grid"):
            return [name for name, _ in expand_grid(entry)]
    raise ConfigError(
        f"config key experiments.{set_name}.comparisons: no grid variant named '{grid_name}' in set {set_name}"
    )


def check_variant(name: str, where: str, v: dict, config: dict, validator) -> None:
    """Check the resolved variant `v` (declared at config key `where`): its settings against the
    schema (`validator`, see `schema.settings_validator`) and against each other, the config and
    the model's size; raise ConfigError naming the key and the variant."""
    for err in validator.iter_errors({k: v[k] for k in v if k not in ("name", "set")}):
        raise ConfigError(f"config key {where}.{config_key(err.absolute_path)} (variant {name}): {err.message}")
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
    (`cifarflow.nn.convnet`'s own parsing): float32 parameters four times
    (weights, gradients, two optimiser buffers) and, for the larger of a training batch and a
    prediction chunk, every layer's output and each conv's im2col matrix, twice (forward caches
    and backward). Raises ConfigError (without the key) for an invalid layer list."""
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
    schema = schema or load_schema()
    validator = settings_validator(schema)
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
                check_variant(name, where, v, config, validator)
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
