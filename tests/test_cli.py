"""`python -m cifarflow`: argument parsing, one-line errors, dispatch to the stage functions, and
what a command's start-up imports (every job pays for it)."""

import json
import subprocess
import sys

import pytest

from cifarflow import cli
from cifarflow.errors import DataError
from cifarflow.schema import load_schema

TRAIN = ["train", "--split", "s.h5", "--plan", "p.h5", "--variant", '{"name": "v"}', "--outdir", "out"]

# The commands the rules call, each with its required arguments.
MINIMAL = {
    "download": ["--url", "u", "--md5", "m", "--out", "o"],
    "import": ["--source", "s", "--out", "o"],
    "split": ["--raw", "r", "--name", "full", "--spec", "{}", "--out", "o"],
    "plan": ["--split", "s", "--spec", "{}", "--out", "o"],
    "train": TRAIN[1:],
    "preview": ["--split", "s", "--augmentation", "{}", "--out", "o"],
    "plot-variant": ["--metrics", "m", "--history", "h", "--weights", "w", "--curves", "c"]
    + ["--confusion", "c", "--templates", "t"],
    "compare": ["--spec", "{}", "--runs", "r", "--out", "o"],
    "paired": ["--spec", "{}", "--runs", "r", "--table", "t", "--figure", "f"],
    "decide": ["--spec", "{}", "--runs", "r", "--out", "o"],
    "answers": ["--questions", "{}", "--out", "o"],
    "tables": ["--metrics", "m", "--outdir", "o"],
    "benchmarks": ["--files", "f", "--out", "o"],
    "table-html": ["--csv", "c", "--html", "h"],
    "summary-md": ["--out", "o"],
    "search-round": ["--set", "s", "--search", "n", "--method", "grid", "--round", "1", "--trials", "[]"]
    + ["--histories", "h", "--out", "o"],
    "search-report": ["--set", "s", "--search", "{}", "--rounds", "r", "--final", "f", "--outdir", "o"],
    "search-summary": ["--sections", "s", "--out", "o"],
    "compare-runs": ["a", "b"],
    "check-config": ["config.yaml"],
}


def parse(argv):
    return cli.build_parser().parse_args(argv)


def commands() -> dict:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices


def test_every_command_parses_its_required_arguments_and_names_its_function():
    assert set(commands()) >= set(MINIMAL)  # others may register more commands
    for name, args in MINIMAL.items():
        a = parse([name, *args])
        assert a.command == name
        assert a.func.__name__ == "cmd_" + name.replace("-", "_")


def test_a_missing_argument_is_one_line_naming_it(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--split", "s.h5", "--plan", "p.h5", "--outdir", "out"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("python -m cifarflow train: error:") and "--variant" in err


def test_malformed_json_is_one_line_naming_the_argument(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([*TRAIN[:-3], "{not json", "--outdir", "out"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --variant: not valid JSON" in err


def test_a_variant_must_be_a_json_object(capsys):
    with pytest.raises(SystemExit):
        parse([*TRAIN[:-3], "[1, 2]", "--outdir", "out"])
    assert "argument --variant: expected a JSON object, got list" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--threads", "two", *TRAIN], "argument --threads: invalid int value: 'two'"),
        (["nope"], "argument COMMAND: invalid choice: 'nope'"),
        ([], "the following arguments are required: COMMAND"),
        (["tables", "--metrics", "m", "--outdir", "o", "--statistics", "[]"], "argument --statistics"),
    ],
)
def test_other_argument_errors_are_one_line(capsys, argv, named):
    with pytest.raises(SystemExit) as exc:
        parse(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and named in err


def test_json_arguments_arrive_parsed_with_their_defaults():
    a = parse(["paired", *MINIMAL["paired"]])
    assert a.statistics == {} and a.labels is None and a.figures is None and a.spec == {}
    a = parse(["plot-variant", *MINIMAL["plot-variant"], "--label", '"softmax"', "--figures", '{"pdf": false}'])
    assert a.label == "softmax"
    # what is not given comes from the schema's `figures` default
    schema_figures = load_schema()["properties"]["figures"]["default"]
    assert cli._figure_settings(a) == {**schema_figures, "pdf": False}
    assert parse(["import", *MINIMAL["import"], "--classes", "null"]).classes is None
    assert parse(["import", *MINIMAL["import"], "--classes", '["cat", "dog"]']).classes == ["cat", "dog"]


def test_train_dispatches_to_run_variant_with_the_parsed_variant_and_threads(monkeypatch):
    import cifarflow.training.job as job

    calls = []
    monkeypatch.setattr(job, "run_variant", lambda *args, **kw: calls.append((args, kw)))
    assert cli.main(["--threads", "2", *TRAIN]) == 0
    (args, kw), *_ = calls
    assert args == ("s.h5", "p.h5", {"name": "v"}, "out")
    assert kw["threads"] == 2


def test_tables_pass_the_confidence_level_and_labels(monkeypatch):
    import cifarflow.report.tables as tables

    calls = []
    monkeypatch.setattr(tables, "run_tables", lambda *args, **kw: calls.append((args, kw)))
    cli.main(["tables", "--metrics", "a.json", "b.json", "--outdir", "o", "--statistics", '{"confidence": 0.9}'])
    cli.main(["tables", "--metrics", "a.json", "--outdir", "o", "--labels", '{"v": "label"}'])
    assert calls[0] == ((["a.json", "b.json"], "o"), {"confidence": 0.9, "labels": None})
    assert calls[1][1] == {"confidence": 0.95, "labels": {"v": "label"}}


def test_summary_md_drops_the_empty_argument_of_an_empty_input_list(monkeypatch):
    import cifarflow.report.summary as summary

    calls = []
    monkeypatch.setattr(summary, "write_summary_markdown", lambda *args, **kw: calls.append((args, kw)))
    cli.main(["summary-md", "--summary", "", "--search", "s.md", "--figures-list", "--out", "o.md"])
    assert calls[0][0] == (None, [], "o.md", "s.md")


def test_a_cifarflow_error_is_one_line_with_exit_status_1(monkeypatch, capsys):
    import cifarflow.training.job as job

    def fail(*args, **kw):
        raise DataError("s.h5: not a split file")

    monkeypatch.setattr(job, "run_variant", fail)
    assert cli.main(TRAIN) == 1
    assert capsys.readouterr().err == "cifarflow: error: s.h5: not a split file\n"


def test_a_command_status_is_the_exit_status(monkeypatch):
    import cifarflow.compare_runs as compare_runs

    monkeypatch.setattr(compare_runs, "compare_runs", lambda a, b, log: 1)
    assert cli.main(["compare-runs", "a", "b"]) == 1


def test_a_command_group_registered_later_is_parsed(monkeypatch):
    def add_extra_commands(sub):
        s = sub.add_parser("extra")
        s.add_argument("--out", required=True)
        s.set_defaults(func=lambda a: 3)

    monkeypatch.setattr(cli, "COMMAND_GROUPS", (*cli.COMMAND_GROUPS, add_extra_commands))
    assert cli.main(["extra", "--out", "o"]) == 3


def _loaded_after(statements: str) -> set:
    heavy = ("numpy", "h5py", "pandas", "matplotlib", "scipy", "PIL", "yaml")
    code = f"import sys\n{statements}\nprint(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.replace("'", '"')))


def test_parsing_a_command_imports_no_numerical_library():
    argv = ["--threads", "1", *TRAIN]
    assert _loaded_after(f"from cifarflow import cli\ncli.build_parser().parse_args({argv!r})") == set()


def test_data_and_training_jobs_import_no_report_library():
    # a training job's start-up is paid 75 times by the quick config: no pandas, matplotlib or scipy
    for module in ("cifarflow.training.job", "cifarflow.data.plans", "cifarflow.data.splits"):
        assert _loaded_after(f"import {module}") <= {"numpy", "h5py", "PIL"}, module


def test_commands_joined_by_and_run_in_order_in_one_process(monkeypatch):
    import cifarflow.report.html_table as html_table
    import cifarflow.training.job as job

    calls = []
    monkeypatch.setattr(job, "run_variant", lambda *args, **kw: calls.append(("train", args[2], kw["threads"])))
    monkeypatch.setattr(html_table, "write_html_tables", lambda csv, html: calls.append(("html", csv, html)))
    second = [*TRAIN[:-3], '{"name": "w"}', "--outdir", "out2"]
    assert (
        cli.main(["--threads", "1", *TRAIN, "--and", *second, "--and", "table-html", "--csv", "c", "--html", "h"]) == 0
    )
    assert calls == [("train", {"name": "v"}, 1), ("train", {"name": "w"}, 1), ("html", ["c"], ["h"])]


def test_a_wrong_argument_in_a_later_command_stops_before_the_first_runs(monkeypatch, capsys):
    import cifarflow.training.job as job

    calls = []
    monkeypatch.setattr(job, "run_variant", lambda *args, **kw: calls.append(args))
    with pytest.raises(SystemExit) as exc:
        cli.main([*TRAIN, "--and", "table-html", "--csv", "c"])
    assert exc.value.code == 2 and calls == []
    assert "table-html: error: the following arguments are required: --html" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["--threads", "1", *TRAIN, "--and", "--threads", "2", *TRAIN])
    assert "argument --threads: train sets 2, the process runs with 1" in capsys.readouterr().err


def test_the_first_failing_command_ends_the_process(monkeypatch, capsys):
    import cifarflow.compare_runs as compare_runs
    import cifarflow.training.job as job

    calls = []
    monkeypatch.setattr(compare_runs, "compare_runs", lambda a, b, log: 1)
    monkeypatch.setattr(job, "run_variant", lambda *args, **kw: calls.append(args))
    assert cli.main(["compare-runs", "a", "b", "--and", *TRAIN]) == 1 and calls == []

    def fail(*args, **kw):
        raise DataError("s.h5: not a split file")

    monkeypatch.setattr(job, "run_variant", fail)
    assert cli.main([*TRAIN, "--and", "compare-runs", "a", "b"]) == 1
    assert capsys.readouterr().err == "cifarflow: error: s.h5: not a split file\n"


def test_a_lazily_registered_command_is_imported_only_when_named():
    named = ["manifest", "--files", "f", "--json", "j", "--sha256", "s", "--html", "h"]
    assert "cifarflow.manifest" not in _modules_after(f"from cifarflow import cli\ncli.parse_commands({TRAIN!r})")
    assert "cifarflow.manifest" in _modules_after(f"from cifarflow import cli\ncli.parse_commands({named!r})")
    a = cli.parse_commands(named)[0]
    assert a.command == "manifest" and a.files == ["f"] and a.func.__module__ == "cifarflow.manifest"


def test_a_lazily_registered_command_reports_its_own_argument_errors(capsys):
    with pytest.raises(SystemExit):
        cli.main(["verify", "--json", "j"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "python -m cifarflow verify: error:" in err and "--md" in err


def _modules_after(statements: str) -> set:
    code = f"import sys\n{statements}\nprint(' '.join(sorted(sys.modules)))"
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())


def test_no_command_imports_scipy_stats_when_it_starts():
    # scipy.stats costs about a second to import: the paired tests load it only where they bootstrap
    modules = ("variant", "compare", "paired", "tables", "html_table", "summary", "search_report")
    code = "\n".join(f"import cifarflow.report.{m}" for m in modules)
    assert "scipy.stats" not in _modules_after(code)
