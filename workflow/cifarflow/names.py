"""Names, values and ids: the leaf module that the config checks, the search planner and the rules
share (it imports nothing of the package but `errors`).

The patterns of names that become file paths and job arguments and of display labels (and the
labels made unique among the variants a table or figure shows, `unique_labels`); config keys
and short renderings of values for one-line errors; file-name-safe values (`format_value`); stable
JSON for params; epoch-plan specs and their ids.
"""

from __future__ import annotations

import hashlib
import json
import re

from .errors import ConfigError

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

PLAN_ID_MAX = 120  # longer plan ids are shortened and keyed by a hash of the spec


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


def config_key(path) -> str:
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


def value_key(value) -> str:
    """A setting's value as a comparable key: numbers by value (0 and 0.0 are one value)."""
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(value_key(v) for v in value) + "]"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(float(value))
    return canonical_json(value)


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
