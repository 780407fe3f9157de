# Helpers the rules use: config validation, variant/grid/plan expansion, input functions.
import os
import re
import sys
from pathlib import Path
from urllib.parse import urlparse

from snakemake.sourcecache import LocalSourceFile
from snakemake.utils import validate

# The package sits beside this file's folder (workflow/cifarflow). Found from this file's own
# location: `workflow.basedir` is the consumer's folder when cifarflow is used as a module.
_RULES_DIR = workflow.current_basedir
if not isinstance(_RULES_DIR, LocalSourceFile):
    sys.exit(
        f"cifarflow: error: read the workflow from a local folder (a clone), not {_RULES_DIR.get_path_or_uri(secret_free=True)}"
    )
PACKAGE_DIR = Path(os.fspath(_RULES_DIR)).resolve().parent
sys.path.insert(0, str(PACKAGE_DIR))
# Every job runs `python "$CIFARFLOW_LAUNCHER" <command> ...`: the script puts PACKAGE_DIR first on
# sys.path itself, so jobs need no PYTHONPATH (conda jobs lose it) and work from any directory.
# An environment variable, not `{CIFARFLOW_LAUNCHER:q}`: Snakemake formats a module's shell
# commands with the consumer's globals, where a name defined here is unknown. Jobs inherit it
# (a cluster job parses this file again and sets it itself).
CIFARFLOW_LAUNCHER = str(PACKAGE_DIR / "scripts" / "run_cifarflow.py")
os.environ["CIFARFLOW_LAUNCHER"] = CIFARFLOW_LAUNCHER


envvars:
    "CIFARFLOW_LAUNCHER",


from cifarflow.errors import ConfigError  # noqa: E402
from cifarflow.config import (  # noqa: E402
    LINEAR_MODELS,
    canonical_json,
    check_config,
    plan_id,
    plan_spec,
    resolve_comparisons,
    resolve_paired,
    resolve_searches,
    resolve_variants,
    search_plans,
    training_settings,
    selected_sets,
    use_this_python_in_jobs,
)

# One-line errors naming the key first, then Snakemake's own validation (it fills the defaults).
try:
    check_config(config)
    validate(config, "../schemas/config.schema.yaml")
    VARIANTS = resolve_variants(config)
    COMPARISONS = resolve_comparisons(config, VARIANTS)
    SEARCHES = resolve_searches(config)  # {set: checked search block}; rules/search.smk wires them
    SEARCH_PLANS = {p: spec for s, b in SEARCHES.items() for p, spec in search_plans(config, s, b).items()}
    PAIRED, QUESTIONS = resolve_paired(config, VARIANTS, COMPARISONS)
except ConfigError as _exc:
    sys.exit(f"cifarflow: error: {_exc}")
SETS = [s for s in selected_sets(config) if any(v["set"] == s for v in VARIANTS.values())]
PLANS = {}
for _v in VARIANTS.values():
    # One epoch plan per replicate seed (the seed is part of the plan spec, so of its id).
    _v["plan_ids"] = {}
    for _s in _v["seeds"]:
        _spec = plan_spec(training_settings(_v, _s), config)
        _v["plan_ids"][_s] = plan_id(_spec)
        PLANS[_v["plan_ids"][_s]] = _spec
PLANS.update(SEARCH_PLANS)
STATISTICS = {"alpha": 0.05, "confidence": 0.95, "n_resamples": 9999, "seed": 0, **(config.get("statistics") or {})}
SPLITS = sorted({v["split"] for v in VARIANTS.values()} | {p["split"] for p in SEARCH_PLANS.values()})
PREVIEWS = sorted(
    {v["augmentation"] for v in VARIANTS.values() if any(config["augmentations"][v["augmentation"]].values())}
)
DOWNLOAD_PATH = "resources/" + (Path(urlparse(config["download"]["url"]).path).name or "cifar-10.tar.gz")
FIGURES = canonical_json(config["figures"])
PDF = bool(config["figures"].get("pdf", True))


def pdf_outputs(**paths):
    """A rule's PDF outputs (named), or none when the config's `figures.pdf` is false."""
    return paths if PDF else {}


def _inside_workdir(path):
    """Every output path is relative and never climbs out of the working directory."""
    p = Path(path)
    if p.is_absolute() or ".." in p.parts:
        sys.exit(
            f"cifarflow: error: output path {path!r} would leave the working directory; check the names in the config"
        )
    return path


# Local jobs run `python` from the environment that runs Snakemake (a conda job: its environment's).
use_this_python_in_jobs()


def _alternatives(names):
    return "|".join(re.escape(n) for n in sorted(names)) or "(?!)"


wildcard_constraints:
    variant=_alternatives(VARIANTS),
    set=_alternatives(SETS),
    plan=_alternatives(PLANS),
    split=_alternatives(config["splits"]),
    comparison=_alternatives(COMPARISONS),
    table=_alternatives(PAIRED),
    seed=r"\d+",
    augmentation=_alternatives(config["augmentations"]),


def source_archive():
    """The local archive or directory named by `local_archive`, else the downloaded archive."""
    return config["local_archive"] or DOWNLOAD_PATH


def _local_archive_file():
    local = config["local_archive"]
    return local if local and Path(local).is_file() else None


def source_input():
    """The import step's input. A local archive file is keyed to its content, not its timestamp
    (`source_digest`): a copy of the same archive with a new mtime does not rebuild everything.
    The user's path is marked `local`: a module's `prefix:` does not apply to it."""
    archive_file = _local_archive_file()
    if archive_file:
        return ancient(local(archive_file))
    return local(config["local_archive"]) if config["local_archive"] else DOWNLOAD_PATH


def source_digest():
    """sha256 of the local archive file or directory (cached by path, sizes and mtimes), else ''.
    A directory's digest covers its files' contents, so images changed in place are imported
    again; a device or FIFO (e.g. /dev/zero) is refused here, before any job reads it."""
    from cifarflow.errors import CifarflowError
    from cifarflow.io import cached_file_sha256

    local = config["local_archive"]
    if not local or not os.path.lexists(local):
        return ""
    try:
        return cached_file_sha256(local, ".snakemake/cifarflow/archive-sha256.json")
    except CifarflowError as exc:
        sys.exit(f"cifarflow: error: {exc}")


def train_group(name):
    """The cluster job group of a variant's training job, or None (its own job)."""
    group = VARIANTS[name]["group"]
    return f"train-{group}" if group else None


def retry_mem(mem_mb):
    """`mem_mb` of a job: the base value, times the attempt (a job retried after running out of
    memory asks for more; the profile sets `retries`)."""
    return lambda wildcards, attempt: mem_mb * attempt


def variant_of(wildcards):
    return VARIANTS[wildcards.variant]


def seed_of(wildcards):
    """The replicate seed of a train job; a seed the variant does not have is no job."""
    v = variant_of(wildcards)
    seed = int(wildcards.seed)
    if seed not in v["seeds"] or wildcards.seed != str(seed):
        raise ValueError(f"variant {wildcards.variant} has no replicate seed {wildcards.seed} (seeds: {v['seeds']})")
    return seed


def train_inputs(wildcards):
    v = variant_of(wildcards)
    plan = v["plan_ids"][seed_of(wildcards)]
    return {
        "split": f"results/data/split_{v['split']}.h5",
        "digest": f"results/data/split_{v['split']}.h5.sha256.json",
        "plan": f"results/plans/{plan}.h5",
    }


def train_params(wildcards):
    """The training settings of one replicate as JSON: no `seeds`, `group` or plan ids, so adding a
    seed or a group never changes (and reruns) an existing run."""
    return canonical_json(training_settings(variant_of(wildcards), seed_of(wildcards)))


def variant_figure_inputs(wildcards):
    v = variant_of(wildcards)
    if v["set"] != wildcards.set:
        raise ValueError(f"variant {wildcards.variant} belongs to set {v['set']}, not {wildcards.set}")
    return {k: [f"{d}/{f}" for d in run_dirs(wildcards.variant)] for k, f in RUN_FILES.items()}


def run_dir(name, seed):
    """The folder of one replicate's run files."""
    return f"results/runs/{name}/seed{seed}"


def run_dirs(name):
    return [run_dir(name, s) for s in VARIANTS[name]["seeds"]]


def run_files(name, seed):
    return {k: f"{run_dir(name, seed)}/{f}" for k, f in RUN_FILES.items()}


def all_metrics(names):
    return [f"{d}/metrics.json" for n in names for d in run_dirs(n)]


RUN_FILES = {
    "weights": "weights.h5",
    "history": "history.csv",
    "metrics": "metrics.json",
    "predictions": "predictions.h5",
}


def variant_figures(name):
    v = VARIANTS[name]
    base = f"results/figures/{v['set']}/{name}"
    return [f"{base}/curves.png", f"{base}/confusion.png", f"{base}/templates.png"]


def comparison_inputs(wildcards):
    comp = COMPARISONS[wildcards.comparison]
    return [f"{d}/{f}" for n in comp["variants"] for d in run_dirs(n) for f in RUN_FILES.values()]


def paired_inputs(wildcards):
    table = PAIRED[wildcards.table]
    return [f"{d}/{f}" for n in table["variants"] for d in run_dirs(n) for f in ("predictions.h5", "metrics.json")]


def paired_outputs():
    return [f"results/tables/{t['set']}/paired_{n}.{ext}" for n, t in PAIRED.items() for ext in ("csv", "md")] + [
        f"results/figures/{t['set']}/comparisons/{n}_paired.png" for n, t in PAIRED.items()
    ]


def answers_inputs(wildcards):
    tables = sorted({q["table"] for q in QUESTIONS.values()})
    names = list(dict.fromkeys(n for q in QUESTIONS.values() for n in q["variants"]))
    return {
        "tables": [f"results/tables/{PAIRED[t]['set']}/paired_{t}.csv" for t in tables],
        "metrics": all_metrics(names),
    }


def set_metrics(wildcards):
    return all_metrics([n for n, v in VARIANTS.items() if v["set"] == wildcards.set])


def figure_outputs():
    out = []
    for name in VARIANTS:
        out += variant_figures(name)
    out += [f"results/figures/{c['set']}/comparisons/{n}.png" for n, c in COMPARISONS.items()]
    out += [f"results/figures/{c['set']}/comparisons/{n}_seeds.png" for n, c in COMPARISONS.items()]
    out += [f"results/figures/{t['set']}/comparisons/{n}_paired.png" for n, t in PAIRED.items()]
    out += [f"results/figures/augment/{a}.png" for a in PREVIEWS]
    return out


def table_outputs():
    if not VARIANTS:  # only searches selected: they have tables of their own (rules/search.smk)
        return []
    out = [f"results/tables/{s}/summary.csv" for s in SETS]
    out += ["results/tables/summary.csv", "results/tables/benchmarks.csv"]
    out += [p for p in paired_outputs() if "/tables/" in p]
    return out


def all_outputs():
    out = figure_outputs() + table_outputs() + ["results/summary.md"]
    if QUESTIONS:
        out += ["results/answers.md", "results/answers.html"]
    for path in [f"results/plans/{p}.h5" for p in PLANS] + all_metrics(VARIANTS) + [DOWNLOAD_PATH]:
        _inside_workdir(path)
    return [_inside_workdir(p) for p in out]
