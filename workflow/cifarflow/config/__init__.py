"""Resolve the workflow config into concrete variants, epoch plans, searches and questions.

Pure functions on the config dict (as Snakemake loads it); `common.smk` calls them at DAG time and
the tests call them directly. Every problem is a one-line `ConfigError` naming the config key.

One module per concern, each importing only those before it:

- `schema`: the schema file, its defaults (the one place a default is written), the settings validator
- `files`: reading config files (duplicate keys, YTE templates, Python tags, size bounds)
- `variants`: experiment sets, grids, resolved and checked variants, replicate seeds
- `labels`: display labels of variants (figures, tables, answers)
- `searches`: `search:` blocks, their trials and final runs as variants, their epoch plans
- `questions`: comparisons, paired tables and questions
- `validate`: the whole check (`check_config`, `validate_config`)

Names, values and ids (name patterns, `format_value`, `plan_spec`, `plan_id`, params JSON) are in
`cifarflow.names`, the leaf that search planning (`cifarflow.training.search`) shares without an
import cycle. The names below are the package's interface for the rules, the CLI and the tests.
"""

from ..errors import ConfigError
from ..names import (
    LABEL_MAX,
    LABEL_PATTERN,
    LABEL_RE,
    LABEL_RULE,
    NAME_PATTERN,
    NAME_RE,
    NAME_RULE,
    PLAN_KEYS,
    canonical_json,
    check_name,
    format_value,
    plan_id,
    plan_spec,
    report_json,
    show,
)
from .files import MAX_CONFIG_BYTES, load_config_files, load_yaml_unique, refuse_duplicate_keys
from .labels import derived_labels, label_part, unique_labels, variant_labels
from .questions import HISTORY_METRICS, QUESTION_KINDS, resolve_comparisons, resolve_paired
from .schema import SCHEMA_PATH, default_settings, load_schema, setting_keys, statistics_settings
from .searches import final_search_variant, resolve_searches, search_plans, search_variant
from .validate import check_config, validate_config
from .variants import (
    MAX_WEIGHTS,
    NOT_TRAINING,
    convnet_footprint,
    expand_grid,
    resolve_seeds,
    resolve_variants,
    selected_sets,
    training_settings,
)

__all__ = [
    "HISTORY_METRICS",
    "LABEL_MAX",
    "LABEL_PATTERN",
    "LABEL_RE",
    "LABEL_RULE",
    "MAX_CONFIG_BYTES",
    "MAX_WEIGHTS",
    "NAME_PATTERN",
    "NAME_RE",
    "NAME_RULE",
    "NOT_TRAINING",
    "PLAN_KEYS",
    "QUESTION_KINDS",
    "SCHEMA_PATH",
    "ConfigError",
    "canonical_json",
    "check_config",
    "check_name",
    "convnet_footprint",
    "default_settings",
    "derived_labels",
    "expand_grid",
    "final_search_variant",
    "format_value",
    "label_part",
    "load_config_files",
    "load_schema",
    "load_yaml_unique",
    "plan_id",
    "plan_spec",
    "refuse_duplicate_keys",
    "report_json",
    "resolve_comparisons",
    "resolve_paired",
    "resolve_searches",
    "resolve_seeds",
    "resolve_variants",
    "search_plans",
    "search_variant",
    "selected_sets",
    "setting_keys",
    "show",
    "statistics_settings",
    "training_settings",
    "unique_labels",
    "validate_config",
    "variant_labels",
]
