"""Resolve the workflow config into concrete variants, epoch plans and comparisons.

Pure functions on the config dict (as Snakemake loads it); `common.smk` calls them at DAG time and
the tests call them directly. Every problem is a one-line `ConfigError` naming the config key.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import re
import sys
from pathlib import Path

import yaml

from .errors import ConfigError



def _schema_path() -> Path:
    """The config schema. One source file, workflow/schemas/config.schema.yaml (Snakemake validates
    against it); pyproject.toml ships that folder as the package data `cifarflow/schemas/`, where an
    installed package finds it. A checkout (or an editable install) reads workflow/schemas/."""
    here = Path(__file__).resolve().parent
    installed = here / "schemas" / "config.schema.yaml"
    return installed if installed.is_file() else here.parent / "schemas" / "config.schema.yaml"


SCHEMA_PATH = _schema_path()

MODEL_LOSSES = {
    "softmax": ("cross_entropy", "mse"),
    "sigmoid": ("multi_bce", "mse"),
    "logistic": ("bce", "mse"),
    "mlp": ("cross_entropy", "mse"),
    "convnet": ("cross_entropy", "mse"),
}
LINEAR_MODELS = ("softmax", "sigmoid", "logistic")

# Settings that change what an epoch plan holds (the rest only change training).
PLAN_KEYS = ("split", "classes", "train_limit", "augmentation", "shuffle", "epochs", "seed")

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def _key(path) -> str:
    """Render a jsonschema path as a config key: experiments.set.variants[2].eta."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def check_config(config: dict, schema: dict | None = None) -> None:
    """Validate `config` against the JSON schema; raise ConfigError naming the first bad key."""
    import jsonschema

    schema = schema or load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        raise ConfigError(f"config key {_key(err.absolute_path)}: {err.message}")


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
        raise ConfigError(f"config key {where}.classes (variant {name}): the logistic model needs exactly two classes, e.g. [cat, dog]")
    if v["schedule"] == "cyclic" and v["eta_min"] >= v["eta_max"]:
        raise ConfigError(f"config key {where}.eta_min (variant {name}): eta_min must be below eta_max for the cyclic schedule")
    for key in ("eta", "lambda", "eta_min", "eta_max", "momentum"):
        if isinstance(v[key], float) and not math.isfinite(v[key]):
            raise ConfigError(f"config key {where}.{key} (variant {name}): must be a finite number")


def resolve_variants(config: dict, schema: dict | None = None) -> dict[str, dict]:
    """Every variant of the selected experiment sets, fully resolved, keyed by its unique name.

    Each resolved variant holds every setting plus `name`, `set` and `loss` (never null).
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
        for i, entry in enumerate(exp["variants"]):
            where = f"experiments.{set_name}.variants[{i}]"
            for name, settings in expand_grid(entry):
                if not NAME_RE.match(name):
                    raise ConfigError(f"config key {where}.name: '{name}' is not usable as a file name")
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
                variants[name] = v
                origin[name] = where
    return variants


def grid_members(config: dict, set_name: str, grid_name: str) -> list[str]:
    """The variant names a grid entry of `set_name` expands to."""
    for entry in config["experiments"][set_name]["variants"]:
        if entry["name"] == grid_name and entry.get("grid"):
            return [name for name, _ in expand_grid(entry)]
    raise ConfigError(f"config key experiments.{set_name}.comparisons: no grid variant named '{grid_name}' in set {set_name}")


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
                        raise ConfigError(f"config key {where}: class templates need linear variants, '{n}' is {variants[n]['model']}")
            if comp["name"] in out:
                raise ConfigError(f"config key {where}.name: comparison name '{comp['name']}' is used twice")
            out[comp["name"]] = dict(comp, set=set_name, variants=names)
    return out


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
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", "_".join(parts))


def canonical_json(obj) -> str:
    """Stable JSON (sorted keys) for params, so Snakemake's params trigger sees real changes only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


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


def load_config_files(paths: list[str | Path]) -> dict:
    """The config given by YAML files in order, later files overriding earlier ones."""
    config: dict = {}
    for path in paths:
        try:
            with open(path) as fh:
                data = yaml.safe_load(fh)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of config keys")
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
    return filled, variants, resolve_comparisons(filled, variants)

