# Helpers the rules use: the cifarflow package the jobs run, config validation, variant/grid/plan
# expansion, input functions.
import importlib.util
import json
import os
import re
import shlex
import sys
from pathlib import Path
from urllib.parse import urlparse

from snakemake.exceptions import IncompleteCheckpointException
from snakemake.io import checkpoint_target
from snakemake.sourcecache import HostingProviderFile, LocalGitFile, LocalSourceFile
from snakemake.utils import validate

# Where the rules are read from: a local folder (a clone) or a git source (snakedeploy's
# `github(..., tag=...)`, `gitfile(...)`). This file's own folder, not `workflow.basedir` (the
# consumer's folder when cifarflow is used as a module).
_RULES_DIR = workflow.current_basedir
_RULES_SOURCE = _RULES_DIR.get_path_or_uri(secret_free=True)


def _rules_version():
    """The version the rules belong to: `__version__` of the package beside them, read through
    Snakemake's source cache (so from the git source too)."""
    init = _RULES_DIR.join("../cifarflow/__init__.py")
    try:
        with workflow.sourcecache.open(init) as fh:
            found = re.search(r'^__version__ = "([^"]+)"$', fh.read(), re.MULTILINE)
    except Exception as exc:  # the source cache raises WorkflowError, OSError, git errors
        sys.exit(f"cifarflow: error: cannot read the rules' version from {init}: {str(exc).splitlines()[0]}")
    if not found:
        sys.exit(f"cifarflow: error: {init} states no __version__")
    return found.group(1)


def _package_beside_the_rules(folder):
    """The package `cifarflow` of the clone whose `workflow/` is `folder`, imported from there
    without changing sys.path (a host workflow's imports stay as they were)."""
    init = folder / "cifarflow" / "__init__.py"
    package = sys.modules.get("cifarflow")
    if package is None:
        spec = importlib.util.spec_from_file_location("cifarflow", init, submodule_search_locations=[str(init.parent)])
        package = importlib.util.module_from_spec(spec)
        sys.modules["cifarflow"] = package
        spec.loader.exec_module(package)
    if Path(package.__file__).resolve() != init.resolve():
        sys.exit(
            f"cifarflow: error: this Python process already imported cifarflow from {package.__file__}; the rules"
            f" in {_RULES_SOURCE} run the package beside them ({init}): start Snakemake in a fresh process"
        )
    return package


def _install_hint(version):
    """How to install the package of the rules' version from the rules' own source."""
    if isinstance(_RULES_DIR, HostingProviderFile):
        return f'pip install "git+https://{_RULES_DIR.host}/{_RULES_DIR.repo}@{_RULES_DIR.ref}"'
    if isinstance(_RULES_DIR, LocalGitFile):
        return f'pip install "git+file://{os.path.abspath(_RULES_DIR.repo_path)}@{_RULES_DIR.ref}"'
    return f"install cifarflow {version} from the repository the rules come from"


def _installed_package(version):
    """The package `cifarflow` Python imports (installed in the environment that runs Snakemake)."""
    try:
        import cifarflow as package
    except ImportError:
        sys.exit(
            f"cifarflow: error: the rules ({_RULES_SOURCE}) are cifarflow {version} and their jobs run the"
            f" installed package, but this Python ({sys.executable}) has none: {_install_hint(version)}"
        )
    return package


# Which package the jobs run, checked before any job:
# - rules from a local folder (a clone, or a module read from one): the clone's package, beside the
#   rules; every job runs `python <clone>/workflow/scripts/run_cifarflow.py <command>`, which puts
#   the clone's workflow/ first on the job's sys.path (no PYTHONPATH, no install: conda jobs too);
# - rules from a git source (nothing on disk): the package installed in the environment, of the
#   same version as the rules (a mismatch is one error line); every job runs `python -mcifarflow`.
# The shell commands read `python "$CIFARFLOW_LAUNCHER" <command>`: an environment variable, declared
# with `envvars:` (cluster jobs receive it; a module's shell commands cannot name this file's globals).
RULES_VERSION = _rules_version()
if isinstance(_RULES_DIR, LocalSourceFile):
    PACKAGE_DIR = Path(os.fspath(_RULES_DIR)).resolve().parent
    _package = _package_beside_the_rules(PACKAGE_DIR)
    CIFARFLOW_LAUNCHER = str(PACKAGE_DIR / "scripts" / "run_cifarflow.py")
else:
    _package = _installed_package(RULES_VERSION)
    CIFARFLOW_LAUNCHER = "-mcifarflow"  # `python -mcifarflow` is `python -m cifarflow`
if getattr(_package, "__version__", None) != RULES_VERSION:
    sys.exit(
        f"cifarflow: error: the rules ({_RULES_SOURCE}) are cifarflow {RULES_VERSION} but the package Python"
        f" imports ({_package.__file__}) is cifarflow {getattr(_package, '__version__', '(no version)')}:"
        f" {_install_hint(RULES_VERSION)}"
    )
os.environ["CIFARFLOW_LAUNCHER"] = CIFARFLOW_LAUNCHER
# Used as the main workflow (not as a module), local jobs run `python` from the environment that runs
# Snakemake (a conda job: its environment's). A module leaves the host's PATH as it is.
if not workflow.modifier.is_module:
    _bindir = os.path.dirname(sys.executable)
    _path = os.environ.get("PATH", "")
    if _path.split(os.pathsep)[0] != _bindir:
        os.environ.update(PATH=os.pathsep.join([_bindir, _path]))  # always set: nothing for `envvars:` to assert


envvars:
    "CIFARFLOW_LAUNCHER",


from cifarflow.errors import ConfigError  # noqa: E402
from cifarflow.config import (  # noqa: E402
    canonical_json,
    check_config,
    plan_id,
    plan_spec,
    refuse_duplicate_keys,
    report_json,
    resolve_comparisons,
    resolve_paired,
    resolve_searches,
    resolve_variants,
    search_plans,
    training_settings,
    selected_sets,
    statistics_settings,
    unique_labels,
    variant_labels,
)

# One-line errors naming the key first, then Snakemake's own validation (it fills the defaults).
try:
    refuse_duplicate_keys(workflow.configfiles)  # Snakemake keeps a repeated key's last value silently
    check_config(config)
    validate(config, "../schemas/config.schema.yaml")
    VARIANTS = resolve_variants(config)
    COMPARISONS = resolve_comparisons(config, VARIANTS)
    SEARCHES = resolve_searches(config)  # {set: checked search block}; rules/search.smk wires them
    SEARCH_PLANS = {p: spec for s, b in SEARCHES.items() for p, spec in search_plans(config, s, b).items()}
    PAIRED, QUESTIONS = resolve_paired(config, VARIANTS, COMPARISONS)
    # Display labels (figures, tables, answers): report params only, never a training job's
    LABELS = variant_labels(config, VARIANTS)
except ConfigError as _exc:
    sys.exit(f"cifarflow: error: {_exc}")
SETS = [s for s in selected_sets(config) if any(v["set"] == s for v in VARIANTS.values())]
# Seeds until decided: a question with `decide` may add seeds to its variants, each variant's next
# seeds following its own (max + 1, max + 2, ...); EXTRA_SEEDS is the most any question may add.
EXTRA_SEEDS = {n: 0 for n in VARIANTS}
for _q in QUESTIONS.values():
    for _n in _q["variants"]:
        EXTRA_SEEDS[_n] = max(EXTRA_SEEDS[_n], _q["decide"]["extra"][-1] if _q["decide"] else 0)

# Scheduling, answers first: the jobs results/answers.md waits for (the trainings of every set with a
# question, those sets' paired tables, the questions' looks, the answers) run at ANSWER_PRIORITY,
# before the other trainings and tables (0) and the figures and `verify` retraining (-1); the epoch
# plans, which every training waits for, run before all of them.
ANSWER_PRIORITY = 1
ANSWER_SETS = {PAIRED[q["table"]]["set"] for q in QUESTIONS.values()}


def train_priority(wildcards):
    """A training job's priority: ANSWER_PRIORITY for a variant of a set that asks a question."""
    return ANSWER_PRIORITY if VARIANTS[wildcards.variant]["set"] in ANSWER_SETS else 0


def seed_sequence(name, n_extra=None):
    """The variant's own seeds, then `n_extra` (default: the most any question may add) more."""
    v = VARIANTS[name]
    n_extra = EXTRA_SEEDS[name] if n_extra is None else n_extra
    return list(v["seeds"]) + [max(v["seeds"]) + i for i in range(1, n_extra + 1)]


PLANS = {}
for _name, _v in VARIANTS.items():
    # One epoch plan per replicate seed (the seed is part of the plan spec, so of its id).
    _v["plan_ids"] = {}
    for _s in seed_sequence(_name):
        _spec = plan_spec(training_settings(_v, _s), config)
        _v["plan_ids"][_s] = plan_id(_spec)
        PLANS[_v["plan_ids"][_s]] = _spec
PLANS.update(SEARCH_PLANS)
STATISTICS = statistics_settings(config)  # the config's statistics over the schema's defaults
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


def _output_folder(name):
    """Where this workflow writes its `name` folder (results, logs, ...), as Snakemake will: a module's
    `prefix:` (or `replace_prefix:`) moves it. Read while this file is included, when Snakemake's
    current path modifier is the one of this workflow (of the module, when used as one)."""
    probe = os.path.join(name, "probe")  # a file path in the folder, as Snakemake's prefixes apply to files
    moved = str(workflow.modifier.path_modifier.replace_prefix(probe))
    return os.path.dirname(moved)


def _refuse_links(path, below=True):
    """`path` and every folder on the way to it must not be a symbolic link, nor (`below`) anything
    in it: Snakemake writes a benchmark file through a link planted at its path (it removes old
    outputs and logs first, but not benchmarks), and a linked folder sends every output in it elsewhere."""
    parts = Path(path).parts
    for i in range(1, len(parts) + 1):
        if os.path.islink(os.path.join(*parts[:i])):
            _link_error(os.path.join(*parts[:i]))
    todo = [path] if below and os.path.isdir(path) else []
    while todo:
        try:
            with os.scandir(todo.pop()) as entries:
                for e in entries:
                    if e.is_symlink():
                        _link_error(e.path)
                    if e.is_dir(follow_symlinks=False):
                        todo.append(e.path)
        except OSError:  # removed meanwhile, or unreadable: not a link
            continue


def _link_error(path):
    try:
        target = f" (to {os.readlink(path)!r})"
    except OSError:
        target = ""
    sys.exit(
        f"cifarflow: error: {path!r} is a symbolic link{target}; cifarflow writes results, logs and benchmarks"
        " only as files and folders of the working directory, never through a link: remove it (to keep the"
        " outputs on another disk, run the workflow there with -d)"
    )


# Outputs stay inside the working directory: a module prefix that is absolute or climbs out of it is
# refused, and so is a symbolic link anywhere in an output folder. Checked before any job.
OUTPUT_FOLDERS = [_output_folder(d) for d in ("results", "logs", "benchmarks", "resources")]
for _folder in OUTPUT_FOLDERS:
    if Path(_folder).is_absolute() or ".." in Path(_folder).parts:
        sys.exit(
            f"cifarflow: error: module prefix: the outputs would go to {_folder!r}, outside the working directory;"
            " give the module a relative prefix without '..' (e.g. prefix: \"cifar\")"
        )
for _folder in OUTPUT_FOLDERS[:3]:
    _refuse_links(_folder)
if not config["local_archive"]:  # the download's folder (its file is replaced whole, never written through)
    _refuse_links(OUTPUT_FOLDERS[3], below=False)


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
    from cifarflow.data.source_digest import cached_source_sha256

    local = config["local_archive"]
    if not local or not os.path.lexists(local):
        return ""
    try:
        return cached_source_sha256(local, ".snakemake/cifarflow/archive-sha256.json")
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
    if seed not in v["plan_ids"] or wildcards.seed != str(seed):
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


def run_dir(name, seed):
    """The folder of one replicate's run files."""
    return f"results/runs/{name}/seed{seed}"


def run_dirs(name):
    """The variant's run folders: its own seeds and those its questions added (input functions
    only: it waits for the questions' looks)."""
    return [run_dir(name, s) for s in variant_seeds(name)]


def own_run_dirs(name):
    """The run folders of the variant's own seeds (known when the workflow is parsed)."""
    return [run_dir(name, s) for s in VARIANTS[name]["seeds"]]


def each_or_pending(items, files_of):
    """`files_of(item)` for every item, in order. An item whose files wait for a question's look
    that has not run yet gives that look's record instead, flagged as a checkpoint target (what
    Snakemake does for a whole input function that waits): the job is evaluated again once the
    look exists, and meanwhile the other items' files are known, so a dry run lists their jobs."""
    out = []
    for item in items:
        try:
            out += files_of(item)
        except IncompleteCheckpointException as exc:
            out.append(checkpoint_target(exc.targetfile))
    return out


def all_metrics(names):
    return each_or_pending(names, lambda n: [f"{d}/metrics.json" for d in run_dirs(n)])


# ---------------------------------------------------------------------------------------------
# questions that add seeds (checkpoint `decide` in rules/report.smk)


def question_seeds(name, look=None):
    """Variant -> its seeds at the question's look `look` (default: the look it stopped at)."""
    q = QUESTIONS[name]
    if look is None:
        look = question_stop(name)[0]
    extra = q["decide"]["extra"][look - 1] if q["decide"] else 0
    return {n: seed_sequence(n, extra) for n in q["variants"]}


def question_stop(name):
    """(the look the question stopped at, its stop reason): its looks' records, one checkpoint
    each, read in order until one says stop; a question without `decide` has one look."""
    q = QUESTIONS[name]
    if not q["decide"]:
        return 1, "own seeds"
    for look in range(1, len(q["decide"]["extra"]) + 1):
        record = checkpoints.decide.get(question=name, look=str(look)).output[0]
        with open(record, encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("look") != look or not isinstance(data.get("stop"), bool):
            raise ValueError(f"{record}: not the record of look {look} of question {name}; delete it to redo the look")
        if data["stop"]:
            return look, data["stop_reason"]
    raise ValueError(f"question {name}: its last look's record does not stop it")


def variant_seeds(name):
    """The variant's seeds: its own, and as many more as any of its questions added."""
    n = len(VARIANTS[name]["seeds"])
    for qname, q in QUESTIONS.items():
        if q["decide"] and name in q["variants"]:
            n = max(n, len(question_seeds(qname)[name]))
    return seed_sequence(name, n - len(VARIANTS[name]["seeds"]))


def _same_streams(a, b, seeds_a, seeds_b):
    """Two variants' runs pair seed by seed when they ran the same seeds with the same epoch plans
    (order, flips, shifts) and the same initialisation settings (so the same initial draws)."""
    va, vb = VARIANTS[a], VARIANTS[b]
    init = ("init", "init_sigma")
    return (
        seeds_a == seeds_b
        and all(va["plan_ids"][s] == vb["plan_ids"][s] for s in seeds_a)
        and all(va.get(k) == vb.get(k) for k in init)
    )


def table_seeds(table_name, look=None):
    """Variant -> the seeds a paired table (or one look of a question) reads."""
    t = PAIRED[table_name]
    if t.get("question"):
        return question_seeds(t["question"], look)
    return {n: variant_seeds(n) for n in t["variants"]}


def labels_of(names):
    """Name -> display label of the variants `names` drawn together (unique among them), as JSON
    for a report job's params: free text, so through `report_json` (its outputs are in the report)."""
    return report_json(unique_labels(list(names), LABELS))


def table_spec(table_name, look=None):
    """The JSON spec of a paired table or look: pairs, pairing, min_effect, looks, stop reason."""
    t = PAIRED[table_name]
    seeds = table_seeds(table_name, look)
    q = QUESTIONS.get(t.get("question"))
    spec = {
        "name": table_name,
        "pairs": t["pairs"],
        "paired": [_same_streams(a, b, seeds[a], seeds[b]) for a, b in t["pairs"]],
        "min_effect": q["min_effect"] if q else STATISTICS["min_effect"],
        "n_looks": len(q["decide"]["extra"]) if q and q["decide"] else 1,
        "max_seeds": q["decide"]["max_seeds"] if q and q["decide"] else None,
    }
    if look is None:
        spec["look"], spec["stop_reason"] = question_stop(t["question"]) if q else (1, "own seeds")
    else:
        spec["look"] = look
    return report_json(spec)  # the paired rule's outputs are in the report


def table_settings(table_name):
    """The config's part of a paired table's (or a question's look's) spec, known without any run:
    its pairs, min_effect and decide block (their change reruns the table or look)."""
    t = PAIRED[table_name]
    q = QUESTIONS.get(t.get("question"))
    return report_json(
        {
            "pairs": t["pairs"],
            "min_effect": q["min_effect"] if q else STATISTICS["min_effect"],
            "decide": q["decide"] if q else None,
        }
    )


def decide_inputs(wildcards):
    """One look of a question: the runs of its seeds at that look, after the look before it."""
    q = QUESTIONS[wildcards.question]
    look = int(wildcards.look)
    if not q["decide"] or not 1 <= look <= len(q["decide"]["extra"]) or wildcards.look != str(look):
        raise ValueError(f"question {wildcards.question} has no look {wildcards.look}")
    seeds = question_seeds(wildcards.question, look)
    runs = [f"{run_dir(n, s)}/{f}" for n in q["variants"] for s in seeds[n] for f in ("predictions.h5", "metrics.json")]
    before = [f"results/decide/{wildcards.question}/look{look - 1}.json"] if look > 1 else []
    return {"runs": runs, "before": before}


RUN_FILES = {
    "weights": "weights.h5",
    "history": "history.csv",
    "metrics": "metrics.json",
    "predictions": "predictions.h5",
}


def files_named(files, name):
    """The files among `files` whose base name is `name` (a rule's inputs, in their order)."""
    return [f for f in files if os.path.basename(f) == name]


def variant_figures(name):
    v = VARIANTS[name]
    base = f"results/figures/{v['set']}/{name}"
    return [f"{base}/curves.png", f"{base}/confusion.png", f"{base}/templates.png"]


def launcher_commands(segments):
    """Several cifarflow commands for one process (`python "$CIFARFLOW_LAUNCHER" A --and B ...`:
    the interpreter's start and the imports are paid once), every word quoted for the shell."""
    return " --and ".join(" ".join(shlex.quote(str(word)) for word in segment) for segment in segments)


def set_variants(set_name):
    return [n for n, v in VARIANTS.items() if v["set"] == set_name]


def set_comparisons(set_name):
    return [n for n, c in COMPARISONS.items() if c["set"] == set_name]


def runs_in(files, name):
    """The run folders of variant `name` among a job's input files (.../runs/<name>/seed<s>/<file>),
    in their order: the seeds Snakemake resolved, its questions' added ones included."""
    return list(dict.fromkeys(os.path.dirname(f) for f in files if Path(f).parts[-3:-2] == (name,)))


def output_ending(output, suffix):
    """The one output of a job whose path ends with `suffix` (a module's prefix comes before it)."""
    (path,) = [f for f in output if f == suffix or (f.endswith(suffix) and f[-len(suffix) - 1] == os.sep)]
    return path


def preview_command(augmentation, split, output):
    """The `preview` command of one augmentation (the previews' rule runs all in one process)."""
    stem = output_ending(output, f"figures/augment/{augmentation}.png").removesuffix(".png")
    spec = canonical_json(config["augmentations"][augmentation])
    return ["preview", "--split", split, "--augmentation", spec, "--figures", FIGURES, "--out", stem]


def set_figure_inputs(set_name):
    """The input function of a set's figure job: every run file of its variants and comparisons."""

    def inputs(wildcards):
        names = set_variants(set_name) + [n for c in set_comparisons(set_name) for n in COMPARISONS[c]["variants"]]
        return each_or_pending(
            dict.fromkeys(names), lambda n: [f"{d}/{f}" for d in run_dirs(n) for f in RUN_FILES.values()]
        )

    return inputs


def comparison_spec(name):
    c = COMPARISONS[name]
    return report_json(dict(c, confidence=STATISTICS["confidence"], labels=unique_labels(c["variants"], LABELS)))


def set_figure_settings(set_name):
    """What the config decides about a set's figures (labels, comparison specs, `figures:`), as a
    param without `input`: Snakemake reruns the figure job when it changes."""
    return report_json(
        {
            "figures": config["figures"],
            "labels": {n: LABELS[n] for n in set_variants(set_name)},
            "comparisons": {c: json.loads(comparison_spec(c)) for c in set_comparisons(set_name)},
        }
    )


def set_figure_commands(set_name, input, output):
    """A set's figures in one process: `plot-variant` per variant, `compare` per comparison."""
    segments = []
    for n in set_variants(set_name):
        runs = runs_in(input, n)
        stem = os.path.dirname(output_ending(output, f"{set_name}/{n}/curves.png"))
        segments.append(
            ["plot-variant"]
            + ["--metrics", *(f"{d}/metrics.json" for d in runs)]
            + ["--history", *(f"{d}/history.csv" for d in runs)]
            + ["--weights", *(f"{d}/weights.h5" for d in runs)]
            + ["--curves", f"{stem}/curves", "--confusion", f"{stem}/confusion", "--templates", f"{stem}/templates"]
            + ["--figures", FIGURES, "--label", report_json(LABELS[n])]
        )
    for c in set_comparisons(set_name):
        runs = [d for n in COMPARISONS[c]["variants"] for d in runs_in(input, n)]
        out = output_ending(output, f"{set_name}/comparisons/{c}.png").removesuffix(".png")
        segments.append(
            ["compare", "--spec", comparison_spec(c), "--runs", *runs, "--figures", FIGURES]
            + ["--out", out, "--seeds-out", f"{out}_seeds"]
        )
    return launcher_commands(segments)


def set_tables_paired(set_name):
    """The set's paired tables (its comparisons', its `pairs`, its questions' own)."""
    return [n for n, t in PAIRED.items() if t["set"] == set_name]


def set_paired_inputs(set_name):
    """The input function of a set's paired job: predictions and metrics of every table's runs
    (a question's: at the look it stopped at)."""

    def table_files(t):
        seeds = table_seeds(t)
        return [f"{run_dir(n, s)}/{f}" for n in seeds for s in seeds[n] for f in ("predictions.h5", "metrics.json")]

    def inputs(wildcards):
        return list(dict.fromkeys(each_or_pending(set_tables_paired(set_name), table_files)))

    return inputs


def set_paired_settings(set_name):
    """What the config decides about a set's paired tables, as a param without `input` (Snakemake
    compares only those): each table's pairs, min_effect, decide and labels; statistics; figures."""
    return report_json(
        {
            "tables": {
                t: {"settings": json.loads(table_settings(t)), "labels": json.loads(labels_of(PAIRED[t]["variants"]))}
                for t in set_tables_paired(set_name)
            },
            "statistics": STATISTICS,
            "figures": config["figures"],
        }
    )


def set_paired_commands(set_name, input, output):
    """A set's paired tables in one process: `paired` per table, then one `table-html` for all."""
    segments, csvs, htmls = [], [], []
    for t in set_tables_paired(set_name):
        runs = []
        for n, seeds in table_seeds(t).items():
            dirs = {os.path.basename(d): d for d in runs_in(input, n)}
            runs += [dirs[f"seed{s}"] for s in seeds]
        table = output_ending(output, f"tables/{set_name}/paired_{t}.csv").removesuffix(".csv")
        figure = output_ending(output, f"figures/{set_name}/comparisons/{t}_paired.png").removesuffix(".png")
        segments.append(
            ["paired", "--spec", table_spec(t), "--runs", *runs, "--statistics", canonical_json(STATISTICS)]
            + ["--labels", labels_of(PAIRED[t]["variants"]), "--figures", FIGURES]
            + ["--table", table, "--figure", figure]
        )
        csvs.append(f"{table}.csv")
        htmls.append(f"{table}.html")
    segments.append(["table-html", "--csv", *csvs, "--html", *htmls])
    return launcher_commands(segments)


def paired_outputs():
    return [f"results/tables/{t['set']}/paired_{n}.{ext}" for n, t in PAIRED.items() for ext in ("csv", "md")] + [
        f"results/figures/{t['set']}/comparisons/{n}_paired.png" for n, t in PAIRED.items()
    ]


def answers_inputs(wildcards):
    tables = sorted({q["table"] for q in QUESTIONS.values()})
    metrics = []
    for name in QUESTIONS:
        seeds = question_seeds(name)
        metrics += [f"{run_dir(n, s)}/metrics.json" for n in seeds for s in seeds[n]]
    return {
        "tables": [f"results/tables/{PAIRED[t]['set']}/paired_{t}.csv" for t in tables],
        "metrics": list(dict.fromkeys(metrics)),
    }


def set_metrics(wildcards):
    return all_metrics(set_variants(wildcards.set))


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
    own = [f"{d}/metrics.json" for n in VARIANTS for d in own_run_dirs(n)]
    for path in [f"results/plans/{p}.h5" for p in PLANS] + own + [DOWNLOAD_PATH]:
        _inside_workdir(path)
    return [_inside_workdir(p) for p in out]
