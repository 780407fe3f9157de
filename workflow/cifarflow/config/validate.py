"""The config check before any job: the schema, the checks it cannot express, and the resolution
of variants, comparisons, searches and questions (`validate_config`, what check-config runs)."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from urllib.parse import urlparse

from ..errors import ConfigError
from ..names import LABEL_PATTERN, LABEL_RULE, NAME_PATTERN, NAME_RULE, check_name, config_key, show
from ..schema import load_schema
from .files import check_size
from .questions import resolve_comparisons, resolve_paired
from .searches import resolve_searches
from .variants import resolve_variants

MAX_SOURCE_CLASSES = 256  # labels are stored as uint8


def check_finite(value, path=()) -> None:
    """Every number anywhere in the config must be finite (the JSON schema lets .nan and .inf through)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key {config_key(path)}: {value} is not a finite number")
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
    import jsonschema  # slow to import; only a config check needs it

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
        raise ConfigError(f"config key {config_key(err.absolute_path)}: {_schema_message(err)}")
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
