"""Display labels of variants (figures, tables, answers): given by the config or derived from the
settings that tell a set's variants apart, unique within the set. Never part of a path, never a
training setting."""

from __future__ import annotations

from ..errors import ConfigError
from ..names import LABEL_MAX, format_value, show, unique_labels, value_key
from .variants import NOT_TRAINING, expand_grid, selected_sets

_NOT_A_LABEL = ("name", "set", "seed", *NOT_TRAINING, "mem_mb", "runtime", "threads")


def _differing_keys(settings: list[dict], keys=None) -> list[str]:
    """The keys (of `keys`, default every key but _NOT_A_LABEL, sorted) whose values differ among
    the `settings` dicts that hold them (numbers compared by value: 0 and 0.0 are one value)."""
    if keys is None:
        keys = sorted({k for s in settings for k in s} - set(_NOT_A_LABEL))
    return [k for k in keys if len({value_key(s.get(k)) for s in settings if k in s}) > 1]


def derived_labels(names: list, variants: dict) -> list[str]:
    """A question's labels that tell its variants apart: the settings whose values differ among
    them, as "momentum = 0.9, lambda = 0.01" (the variant's name when no setting differs)."""
    keys = {k for n in names for k in variants[n]}
    differ = _differing_keys([{k: variants[n].get(k) for k in keys} for n in names])
    if not differ:
        return list(names)
    return [", ".join(f"{k} = {format_value(variants[n].get(k))}" for k in differ) for n in names]


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
                    by_value.setdefault(value_key(fixed[i][k]), []).append(i)
                else:
                    split.append([i])
            if len(by_value) > 1:
                for members in by_value.values():
                    for i in members:
                        out[i].append(label_part(k, fixed[i][k]))
            split += by_value.values()
        groups = [g for g in split if len(g) > 1]
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
