"""The config schema (workflow/schemas/config.schema.yaml): where it is, its defaults (the one
place every default is written) and the validator of a variant's settings.

A leaf module (it imports nothing of the package), so that a job reads a default without importing
the config checks."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import yaml


def _schema_path() -> Path:
    """The config schema. One source file, workflow/schemas/config.schema.yaml (Snakemake validates
    against it); pyproject.toml ships that folder as the package data `cifarflow/schemas/`, where an
    installed package finds it. A checkout (or an editable install) reads workflow/schemas/."""
    package = Path(__file__).resolve().parent
    installed = package / "schemas" / "config.schema.yaml"
    return installed if installed.is_file() else package.parent / "schemas" / "config.schema.yaml"


SCHEMA_PATH = _schema_path()


# libyaml's safe loader when PyYAML has it (a fifteenth of the time: the workflow reads the schema
# several times per DAG evaluation); the same values (tests/test_config.py)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_SAFE_LOADER)


def settings_validator(schema: dict):
    """The JSON-schema validator of one variant's settings (`$defs.settings`)."""
    import jsonschema  # slow to import; only a config check needs it

    return jsonschema.Draft202012Validator({"$defs": schema["$defs"], **schema["$defs"]["settings"]})


@functools.lru_cache(maxsize=1)
def default_schema() -> dict:
    """The schema at SCHEMA_PATH, read once (its readers never modify it)."""
    return load_schema()


@functools.lru_cache(maxsize=1)
def default_schema_and_validator():
    """The default schema and its settings validator, made once: the workflow resolves trials in
    its input functions, many times per DAG evaluation (neither object is ever modified)."""
    schema = default_schema()
    return schema, settings_validator(schema)


def default_settings(schema: dict | None = None) -> dict:
    """Every variant setting's default (the schema's `defaults.default`), a copy."""
    schema = schema or load_schema()
    return copy.deepcopy(schema["properties"]["defaults"]["default"])


def setting_keys(schema: dict | None = None) -> set[str]:
    """The variant settings (what a search may vary and what its `base` may set)."""
    schema = schema or load_schema()
    return set(schema["$defs"]["setting_properties"]["properties"])


def block_settings(block: str, given: dict | None, schema: dict | None = None) -> dict:
    """A top-level config block (`statistics`, `figures`, `verify`) as given, over the schema's
    defaults: the block's own `default` object, then each property's `default`."""
    schema = schema or default_schema()
    spec = schema["properties"][block]
    out = copy.deepcopy(spec.get("default") or {})
    out.update({key: copy.deepcopy(p["default"]) for key, p in spec.get("properties", {}).items() if "default" in p})
    out.update(given or {})
    return out


def statistics_settings(config: dict, schema: dict | None = None) -> dict:
    """The config's `statistics` block over the schema's default of each of its settings (alpha,
    confidence, n_resamples, seed, min_effect; `max_seeds` has none and is absent unless given)."""
    return block_settings("statistics", config.get("statistics"), schema)
