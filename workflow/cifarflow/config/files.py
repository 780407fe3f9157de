"""Reading config files: YAML files merged in order as Snakemake merges them, refusing what Snakemake
would run (YTE templates, `!!python/...` tags) or keep silently (a key given twice), and files too
large or nested too deeply to walk."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import yaml

from ..errors import ConfigError
from ..names import config_key

MAX_CONFIG_BYTES = 1_000_000  # a config file (the shipped one is a few KB)
MAX_CONFIG_NODES = 200_000  # values in the config with YAML aliases expanded

MAX_CONFIG_DEPTH = 64


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
                f"config key {config_key(path[:1])}: the config holds more than {MAX_CONFIG_NODES:,} values "
                f"(YAML aliases expanded); refusing it, check for aliases (*name) that repeat large parts"
            )
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"config key {config_key(path[:8])}...: nested more than {MAX_CONFIG_DEPTH} levels deep")
        if isinstance(value, dict):
            stack.extend((v, depth + 1, (*path, str(k))) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            stack.extend((v, depth + 1, (*path, i)) for i, v in enumerate(value))


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
                    return config_key(where), first[ident] + 1, key_node.start_mark.line + 1
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
