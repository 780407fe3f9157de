"""Command-line entry points called by the workflow's rules (`python -m cifarflow <command>`).

Each command parses its arguments and calls one function of a stage package (data, training,
report); that function reads its input files, calls the pure numerical code and writes its
outputs through `cifarflow.io`. A `CifarflowError` ends the command with its one-line message on
stderr and exit status 1; a wrong argument (missing, not a number, not valid JSON) is one line
naming it, exit status 2. Imports are local to each command, so a command loads only its stage
(a job's start-up is part of every job's time: `tools/workflow_bench.py` measures it).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from .errors import CifarflowError


def _log(msg: str) -> None:
    print(msg, flush=True)


def _figure_settings(a) -> dict:
    """The config's `figures` settings that saving reads: dpi, width (inches) and pdf (whether to
    write a PDF beside each PNG)."""
    from .schema import block_settings

    figures = block_settings("figures", getattr(a, "figures", None))  # the schema's defaults under it
    return {"dpi": figures["dpi"], "width": figures["width"], "pdf": figures["pdf"]}


# ---- data --------------------------------------------------------------------------------------


def cmd_download(a) -> None:
    from .data.download import download

    download(a.url, a.out, a.md5, retries=a.retries, backoff=a.backoff, timeout=a.timeout, log=_log)


def cmd_import(a) -> None:
    from .data.splits import import_source

    import_source(a.source, a.out, classes=a.classes, workers=max(1, a.threads or 1), log=_log)


def cmd_split(a) -> None:
    from .data.splits import split_file

    split_file(a.raw, a.spec, a.name, a.out, log=_log)


def cmd_plan(a) -> None:
    from .data.plans import plan_file

    plan_file(a.split, a.spec, a.out, log=_log)


# ---- training ----------------------------------------------------------------------------------


def cmd_train(a) -> None:
    from .training.job import run_variant

    run_variant(a.split, a.plan, a.variant, a.outdir, threads=a.threads, log=_log)


# ---- figures, tables, report -------------------------------------------------------------------


def cmd_preview(a) -> None:
    from .report.variant import augmentation_preview_file

    augmentation_preview_file(a.split, a.augmentation, a.seed, a.out, **_figure_settings(a))


def cmd_plot_variant(a) -> None:
    from .report.variant import variant_figures

    variant_figures(
        a.metrics,
        a.history,
        a.weights,
        a.curves,
        a.confusion,
        a.templates,
        label=a.label,
        **_figure_settings(a),
    )


def cmd_compare(a) -> None:
    from .report.compare import comparison_file

    comparison_file(a.spec, a.runs, a.out, seeds_out=a.seeds_out, **_figure_settings(a))


def cmd_tables(a) -> None:
    from .report.tables import run_tables
    from .schema import block_settings

    run_tables(
        a.metrics,
        a.outdir,
        confidence=float(block_settings("statistics", a.statistics)["confidence"]),
        labels=a.labels,
    )


def cmd_paired(a) -> None:
    from .report.paired import paired_file

    paired_file(
        a.spec,
        a.runs,
        a.statistics,
        a.table,
        a.figure,
        labels=a.labels,
        **_figure_settings(a),
    )


def cmd_decide(a) -> None:
    from .report.paired import decide_file

    decide_file(a.spec, a.runs, a.statistics, a.out)


def cmd_answers(a) -> None:
    from .report.paired import answers_file

    answers_file(a.questions, a.tables, a.runs, a.statistics, a.out, html=a.html, quick=a.quick)


def cmd_benchmarks(a) -> None:
    from .report.tables import benchmark_files_table

    benchmark_files_table(a.files, a.out)


def cmd_table_html(a) -> None:
    from .report.html_table import write_html_tables

    write_html_tables(a.csv, a.html)


def cmd_summary_md(a) -> None:
    from .report.summary import write_summary_markdown

    summary = [f for f in a.summary if f]  # an empty input list arrives as one empty argument
    search = [f for f in a.search if f]
    write_summary_markdown(
        summary[0] if summary else None,
        a.figures_list,
        a.out,
        search[0] if search else None,
        answers=a.answers,
        quick=a.quick,
        labels=a.labels,
    )


# ---- search ------------------------------------------------------------------------------------


def cmd_search_round(a) -> None:
    from .training.search_job import write_round

    write_round(a.set, a.search, a.method, a.round, a.trials, a.histories, a.out, log=_log)


def cmd_search_report(a) -> None:
    from .report.search_report import write_search_report

    write_search_report(a.set, a.search, a.rounds, a.final, a.outdir, **_figure_settings(a))


def cmd_search_summary(a) -> None:
    from .report.search_report import write_search_summary

    write_search_summary(a.sections, a.out)


def cmd_compare_runs(a) -> int:
    from .compare_runs import compare_runs

    return compare_runs(a.a, a.b, log=_log)


def cmd_check_config(a) -> None:
    from .config import load_config_files, selected_sets, validate_config

    config, variants, comparisons = validate_config(load_config_files(a.configfiles))
    sets = selected_sets(config)
    searches = sum(1 for s in sets if config["experiments"][s].get("search"))
    _log(
        f"{', '.join(a.configfiles)}: valid ({len(variants)} variants, {sum(len(v['seeds']) for v in variants.values())}"
        f" training runs, {len(comparisons)} comparisons"
        f"{f', {searches} searches' if searches else ''} in {len(sets)} sets: {', '.join(sets)})"
    )
    from .config import resolve_searches, search_variant
    from .training import search as S

    for set_name, search in resolve_searches(config).items():
        first = S.trials_for_round(set_name, search, 1, {})[0]
        epochs = search_variant(config, set_name, search, first.settings, first.name)["epochs"]
        cost = S.search_cost(search, epochs)
        finals = len(search["final"]["seeds"])
        if search["method"] == "successive_halving":  # the chosen arm's epochs: the last rung's, not max_epochs
            rungs = S.halving_schedule(search["n"], search["reduction"], search["min_epochs"], search["max_epochs"])
            final_epochs = rungs[-1][1]
        else:
            final_epochs = epochs
        _log(
            f"  search {set_name}/{search['name']} ({search['method']}): {cost['trials']} trials in {cost['rounds']}"
            f" round(s), {cost['epochs']} trial epochs, then {finals} final runs of {final_epochs} epochs{S.estimate_text(search)}"
        )


# ---- argument parsing --------------------------------------------------------------------------
# One function per command group adds its commands to the subparsers; `COMMAND_GROUPS` lists them
# in the order of the help. A new command is a `cmd_` function above (importing its stage module
# inside, so other commands do not load it) and its parser in a group, or a new group appended here.


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (`python -m cifarflow train: error:
    the following arguments are required: --split`), exit status 2, without the usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _json_value(text: str):
    """A JSON argument, parsed once here so a malformed value is an error naming its argument."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc})") from None


def _json_object(text: str) -> dict:
    value = _json_value(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _optional_json(text: str):
    """A JSON argument where an empty string means none (a rule may pass an empty value)."""
    return _json_value(text) if text else None


def add_data_commands(sub) -> None:
    s = sub.add_parser("download", help="fetch an archive with md5 check, retries and an atomic write")
    s.add_argument("--url", required=True)
    s.add_argument("--md5", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--retries", type=int, default=4)
    s.add_argument("--backoff", type=float, default=2.0)
    s.add_argument("--timeout", type=float, default=60)
    s.set_defaults(func=cmd_download)

    s = sub.add_parser("import", help="read a CIFAR-10 source into results/data/cifar10.h5")
    s.add_argument("--source", required=True)
    s.add_argument(
        "--classes", type=_optional_json, default=None, help="JSON list of the class names the source must have"
    )
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("split", help="write one train/val/test split with training statistics")
    s.add_argument("--raw", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--spec", type=_json_value, required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_split)

    s = sub.add_parser("plan", help="write the epoch plans (order, flips, shifts) of a variant")
    s.add_argument("--split", required=True)
    s.add_argument("--spec", type=_json_value, required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_plan)


def add_training_commands(sub) -> None:
    s = sub.add_parser("train", help="train one variant")
    s.add_argument("--split", required=True)
    s.add_argument("--plan", required=True)
    s.add_argument("--variant", type=_json_object, required=True, help="the resolved variant as JSON")
    s.add_argument("--outdir", required=True)
    s.set_defaults(func=cmd_train)


def add_figure_commands(sub) -> None:
    s = sub.add_parser("preview", help="figure of original vs augmented training images")
    s.add_argument("--split", required=True)
    s.add_argument("--augmentation", type=_json_value, required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--figures", type=_json_object, default=None)
    s.add_argument("--out", required=True, help="output stem (writes .png and .pdf)")
    s.set_defaults(func=cmd_preview)

    s = sub.add_parser("plot-variant", help="curves, confusion matrix and class templates of one variant")
    s.add_argument("--metrics", nargs="+", required=True, help="one per replicate seed")
    s.add_argument("--history", nargs="+", required=True)
    s.add_argument("--weights", nargs="+", required=True)
    s.add_argument("--curves", required=True)
    s.add_argument("--confusion", required=True)
    s.add_argument("--templates", required=True)
    s.add_argument("--figures", type=_json_object, default=None)
    s.add_argument(
        "--label", type=_optional_json, default=None, help="the variant's display label as JSON (default: its name)"
    )
    s.set_defaults(func=cmd_plot_variant)

    s = sub.add_parser("compare", help="one comparison figure across variants")
    s.add_argument("--spec", type=_json_value, required=True)
    s.add_argument("--runs", nargs="+", required=True)
    s.add_argument("--figures", type=_json_object, default=None)
    s.add_argument("--out", required=True)
    s.add_argument("--seeds-out", default=None, help="output stem of the per-seed strip plot")
    s.set_defaults(func=cmd_compare)


def add_statistics_commands(sub) -> None:
    s = sub.add_parser("paired", help="paired tests of a family of pairs: table and figure")
    s.add_argument(
        "--spec",
        type=_json_value,
        required=True,
        help="JSON {name, pairs, paired, min_effect, look, n_looks, stop_reason}",
    )
    s.add_argument("--runs", nargs="+", required=True)
    s.add_argument("--statistics", type=_json_object, default="{}")
    s.add_argument("--labels", type=_optional_json, default=None, help="JSON {variant: display label}")
    s.add_argument("--figures", type=_json_object, default=None)
    s.add_argument("--table", required=True, help="output stem (writes .csv and .md)")
    s.add_argument("--figure", required=True, help="output stem (writes .png and .pdf)")
    s.set_defaults(func=cmd_paired)

    s = sub.add_parser("decide", help="one look of a question that adds seeds: its verdicts and whether it stops")
    s.add_argument(
        "--spec", type=_json_value, required=True, help="JSON {name, pairs, paired, min_effect, look, n_looks}"
    )
    s.add_argument("--runs", nargs="+", required=True)
    s.add_argument("--statistics", type=_json_object, default="{}")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_decide)

    s = sub.add_parser("answers", help="results/answers.md: one sentence per question")
    s.add_argument("--questions", type=_json_value, required=True)
    s.add_argument("--tables", nargs="*", default=[])
    s.add_argument("--runs", nargs="*", default=[])
    s.add_argument("--statistics", type=_json_object, default="{}")
    s.add_argument("--out", required=True)
    s.add_argument("--html", default=None, help="also write the answers as an HTML page")
    s.add_argument("--quick", action="store_true", help="the run's config is marked quick: say so")
    s.set_defaults(func=cmd_answers)


def add_table_commands(sub) -> None:
    s = sub.add_parser("tables", help="summary and per-class tables")
    s.add_argument("--metrics", nargs="+", required=True)
    s.add_argument("--outdir", required=True)
    s.add_argument(
        "--statistics", type=_json_object, default="{}", help="JSON {confidence}: the level of the intervals"
    )
    s.add_argument("--labels", type=_optional_json, default=None, help="JSON {variant: display label}")
    s.set_defaults(func=cmd_tables)

    s = sub.add_parser("benchmarks", help="table of the per-job benchmark files")
    s.add_argument("--files", nargs="+", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_benchmarks)

    s = sub.add_parser("table-html", help="CSV tables as sortable HTML pages (the report shows them inline)")
    s.add_argument("--csv", nargs="+", required=True)
    s.add_argument("--html", nargs="+", required=True, help="one page per CSV file, in the same order")
    s.set_defaults(func=cmd_table_html)

    s = sub.add_parser("summary-md", help="results/summary.md")
    s.add_argument("--summary", nargs="*", default=[], help="results/tables/summary.md (none: only searches ran)")
    s.add_argument("--search", nargs="*", default=[], help="results/search/summary.md, appended")
    s.add_argument("--figures-list", nargs="*", default=[])
    s.add_argument("--answers", nargs="*", default=[])
    s.add_argument("--out", required=True)
    s.add_argument("--quick", action="store_true", help="the run's config is marked quick: say so")
    s.add_argument(
        "--labels", type=_optional_json, default=None, help="JSON {variant: display label} for the figure links"
    )
    s.set_defaults(func=cmd_summary_md)


def add_search_commands(sub) -> None:
    s = sub.add_parser("search-round", help="score one search round from its trials' validation accuracy")
    s.add_argument("--set", required=True)
    s.add_argument("--search", required=True, help="the search's name")
    s.add_argument("--method", required=True)
    s.add_argument("--round", type=int, required=True)
    s.add_argument(
        "--trials", type=_json_value, required=True, help="the round's trials as JSON (name, round, index, settings)"
    )
    s.add_argument("--histories", nargs="+", required=True, help="their history.csv files, in the same order")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_search_round)

    s = sub.add_parser("search-report", help="a search's trials table, figures, choice and final test accuracy")
    s.add_argument("--set", required=True)
    s.add_argument("--search", type=_json_object, required=True, help="the checked search block as JSON")
    s.add_argument("--rounds", nargs="+", required=True, help="the rounds' records")
    s.add_argument("--final", nargs="+", required=True, help="the final runs' metrics.json")
    s.add_argument("--figures", type=_json_object, default=None)
    s.add_argument("--outdir", required=True)
    s.set_defaults(func=cmd_search_report)

    s = sub.add_parser("search-summary", help="results/search/summary.md from every search's section")
    s.add_argument("--sections", nargs="+", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_search_summary)


def add_tool_commands(sub) -> None:
    s = sub.add_parser(
        "compare-runs",
        help="compare two result trees file by file (weights, predictions, metrics, histories, tables); exit 1 if they"
        " differ",
        description="Compare two result trees (workdirs, results/ or results/runs/ folders) file by file at the same"
        " relative paths: weights.h5 and predictions.h5 (every dataset and attribute but provenance), metrics.json"
        " (without timing and provenance), history.csv (without seconds) and the tables (CSV, without the time and"
        " memory columns; benchmarks.csv is not compared). Prints what differs by file and dataset; exit status 0"
        " when identical, 1 otherwise.",
    )
    s.add_argument("a", metavar="A", type=Path, help="a result tree")
    s.add_argument("b", metavar="B", type=Path, help="the result tree to compare it with")
    s.set_defaults(func=cmd_compare_runs)

    s = sub.add_parser(
        "check-config", help="validate config files (later ones override earlier ones) as the workflow does"
    )
    s.add_argument("configfiles", nargs="+", metavar="CONFIG")
    s.set_defaults(func=cmd_check_config)


def add_lazy_command(sub, name: str, module: str, help: str) -> None:
    """A command whose parser is defined by `module.add_parser(sub)`, imported only when the
    command line names it: other commands' jobs do not pay for importing it (`--help` lists it by
    `help`)."""
    if name in getattr(sub, "load_lazy", ()):
        importlib.import_module(module).add_parser(sub)
    else:
        sub.add_parser(name, help=help).set_defaults(lazy_module=module, command_name=name)


def add_reproducibility_commands(sub) -> None:
    # `manifest` and `verify`, in modules of their own (importing them costs every job ~50 ms)
    add_lazy_command(
        sub, "manifest", "cifarflow.manifest", "sha256 of every result file and the environment bit-identity depends on"
    )
    add_lazy_command(
        sub,
        "verify",
        "cifarflow.verify",
        "compare re-trained runs with the results byte for byte; exit 1 if any differs",
    )


COMMAND_GROUPS = (
    add_data_commands,
    add_training_commands,
    add_figure_commands,
    add_statistics_commands,
    add_table_commands,
    add_search_commands,
    add_tool_commands,
    add_reproducibility_commands,
)


def build_parser(load: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """The parser of every command; `load` names the lazily registered commands to build in full."""
    p = CommandParser(prog="python -m cifarflow", description=__doc__)
    p.add_argument("--threads", type=int, default=None, help="BLAS/OpenMP threads (set before NumPy loads)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.load_lazy = load
    for add_commands in COMMAND_GROUPS:
        add_commands(sub)
    p.commands = sub.choices  # {name: its parser}
    return p


AND = "--and"  # separates the commands of one process: `train ... --and train ... --and plot-variant ...`


def _command_name(segment: list[str]) -> str | None:
    """The command a segment names: its first word that is not an option or the value of --threads."""
    skip = False
    for token in segment:
        if skip:
            skip = False
        elif token == "--threads":
            skip = True
        elif not token.startswith("-"):
            return token
    return None


def _parser_for(segment: list[str], parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """`parser`, or one with the lazily registered command the segment names built in full."""
    command = parser.commands.get(_command_name(segment))
    if command is not None and command.get_default("lazy_module"):
        return build_parser(load=(command.get_default("command_name"),))
    return parser


def parse_commands(argv: list[str]) -> list[argparse.Namespace]:
    """Parse `COMMAND ARGS [--and COMMAND ARGS ...]`, every command before any runs, so a wrong
    argument in the last one stops the process before the first has written anything. Options
    given before the first command (`--threads`) hold for all of them; a later command may repeat
    them but not change them."""
    segments: list[list[str]] = [[]]
    for token in argv:
        if token == AND:
            segments.append([])
        else:
            segments[-1].append(token)
    parser = build_parser()
    parsed = [_parser_for(segment, parser).parse_args(segment) for segment in segments]
    for args in parsed[1:]:
        if args.threads is None:
            args.threads = parsed[0].threads
        elif args.threads != parsed[0].threads:  # BLAS reads its thread count once, when NumPy loads
            parser.error(
                f"argument --threads: {args.command} sets {args.threads}, the process runs with {parsed[0].threads}"
            )
    return parsed


def main(argv: list[str] | None = None) -> int:
    """Run the command(s) of `argv` in this process, in order; the first that fails ends it.

    Several commands in one process (joined by `--and`) pay the interpreter's start and the
    imports once: a rule that runs many short commands (the seeds of a variant, a set's figures,
    a table and its HTML page) saves most of each one's start-up."""
    for stream in (sys.stdout, sys.stderr):  # an ASCII locale (LC_ALL=C): escape what it cannot show, no traceback
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    for args in parse_commands(sys.argv[1:] if argv is None else argv):
        try:
            status = args.func(args)  # None, or a command's own exit status (compare-runs: 1 when the trees differ)
        except CifarflowError as exc:
            print(f"cifarflow: error: {exc}", file=sys.stderr, flush=True)
            return 1
        if status:
            return status
    return 0
