"""Resolve the workflow config into concrete variants, epoch plans, searches and questions.

Pure functions on the config dict (as Snakemake loads it); `common.smk` calls them at DAG time and
the tests call them directly. Every problem is a one-line `ConfigError` naming the config key.

One module per concern, each importing only those before it:

- `files`: reading config files (duplicate keys, YTE templates, Python tags, size bounds)
- `variants`: experiment sets, grids, resolved and checked variants, replicate seeds
- `labels`: display labels of variants (figures, tables, answers)
- `searches`: `search:` blocks, their trials and final runs as variants, their epoch plans
- `questions`: comparisons, paired tables and questions
- `validate`: the whole check (`check_config`, `validate_config`)

Names, values and ids (name patterns, `format_value`, `plan_spec`, `plan_id`, params JSON) are in
`cifarflow.names`, the leaf that search planning (`cifarflow.training.search`) shares without an
import cycle; the schema, its defaults and the settings validator in the leaf `cifarflow.schema`. The names below are what the rules, the CLI, tools and tests use.
"""

from ..errors import ConfigError
from ..names import LABEL_PATTERN, canonical_json, plan_id, plan_spec, report_json
from ..schema import SCHEMA_PATH, default_settings, load_schema, statistics_settings
from .files import load_config_files, refuse_duplicate_keys
from .labels import label_part, unique_labels, variant_labels
from .questions import HISTORY_METRICS, resolve_comparisons, resolve_paired
from .searches import final_search_variant, resolve_searches, search_plans, search_variant
from .validate import check_config, validate_config
from .variants import expand_grid, resolve_variants, selected_sets, training_settings

__all__ = [
    "ConfigError",
    "HISTORY_METRICS",
    "LABEL_PATTERN",
    "SCHEMA_PATH",
    "canonical_json",
    "check_config",
    "default_settings",
    "expand_grid",
    "final_search_variant",
    "label_part",
    "load_config_files",
    "load_schema",
    "plan_id",
    "plan_spec",
    "refuse_duplicate_keys",
    "report_json",
    "resolve_comparisons",
    "resolve_paired",
    "resolve_searches",
    "resolve_variants",
    "search_plans",
    "search_variant",
    "selected_sets",
    "statistics_settings",
    "training_settings",
    "unique_labels",
    "validate_config",
    "variant_labels",
]
