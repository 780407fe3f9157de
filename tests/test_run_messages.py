"""run_messages: what a finished run says (workflow/Snakefile's onsuccess and onerror), issue 27."""

from __future__ import annotations

import shlex
from pathlib import Path
from types import SimpleNamespace

from cifarflow.run_messages import (
    failed_job_logs,
    failure_message,
    invocation,
    on_error,
    on_success,
    report_command,
    success_message,
)

# Snakemake 9's text for a failed job and for a failed group job (snakemake/logging.py)
JOB_ERROR = """[Fri Dec  4 23:15:30 2026]
Error in rule train:
    message: None
    jobid: 7
    input: results/data/split_basic.h5
    output: results/runs/big/seed0/weights.h5
    log: logs/train/big/seed0.log (check log file(s) for error details)
    shell:
        python ...
        (command exited with non-zero exit code)
"""
GROUP_ERROR = """[Fri Dec  4 23:16:00 2026]
    message: None
    jobs:
        rule train:
            jobid: 8
            output: results/runs/a/seed0/weights.h5
            log: logs/train/a/seed0.log (check log file(s) for error details)
        rule train:
            jobid: 9
            output: results/runs/b/seed0/weights.h5
            log: logs/train/b/seed0.log (check log file(s) for error details)
"""
STARTED = """[Fri Dec  4 23:15:29 2026]
rule train:
    input: results/data/split_basic.h5
    log: logs/train/ok/seed0.log
    jobid: 3
"""


def inv(rundir: Path, workdir: Path, **kw) -> dict:
    return {"rundir": str(rundir), "workdir": str(workdir), "snakefile": "", "configfiles": [], "config_args": []} | kw


def test_the_report_command_repeats_the_runs_snakefile_workdir_and_config(tmp_path):
    (tmp_path / "Snakefile").write_text("")
    (tmp_path / "config").mkdir()
    # the Quickstart's runs: the default Snakefile, in the clone
    plain = inv(tmp_path, tmp_path, snakefile=str(tmp_path / "Snakefile"))
    assert report_command(plain) == "snakemake --report results/report.html"
    quick = plain | {"configfiles": [str(tmp_path / "config" / "quick.yaml")]}
    quick["config_args"] = ["local_archive=../shared/data/cifar-10-jpeg.tar.gz"]
    assert report_command(quick) == (
        "snakemake --report results/report.html --configfile config/quick.yaml"
        " --config local_archive=../shared/data/cifar-10-jpeg.tar.gz"
    )
    # another Snakefile and working directory (-s, -d), paths outside the start folder absolute, quoted
    elsewhere = tmp_path.parent / "my work"
    other = inv(tmp_path, elsewhere, snakefile="/opt/cifarflow/workflow/Snakefile", configfiles=["/etc/a b.yaml"])
    assert shlex.split(report_command(other)) == [
        "snakemake",
        "-s",
        "/opt/cifarflow/workflow/Snakefile",
        "-d",
        str(elsewhere),
        "--report",
        "results/report.html",
        "--configfile",
        "/etc/a b.yaml",
    ]


def test_the_success_message_lists_the_results_that_exist(tmp_path):
    (tmp_path / "results" / "tables").mkdir(parents=True)
    (tmp_path / "results" / "summary.md").write_text("x")
    text = success_message(inv(tmp_path, tmp_path, configfiles=[str(tmp_path / "quick.yaml")]))
    lines = text.splitlines()
    assert lines[0] == "cifarflow: the run is complete."
    assert [line.split()[0] for line in lines[1:3]] == ["results/summary.md", "results/tables/"]
    assert lines[3].startswith("The HTML report of this run")  # answers.md and figures/ absent: not listed
    assert lines[-1] == "  snakemake --report results/report.html --configfile quick.yaml"


def test_failed_jobs_are_read_from_snakemakes_log_once_each(tmp_path):
    log = tmp_path / "run.snakemake.log"
    log.write_text(STARTED + JOB_ERROR + GROUP_ERROR + JOB_ERROR)  # a retried job's error twice
    assert failed_job_logs([log, tmp_path / "missing.log"]) == [
        ("train", ["logs/train/big/seed0.log"]),
        ("train", ["logs/train/a/seed0.log"]),
        ("train", ["logs/train/b/seed0.log"]),
    ]


def test_the_failure_message_names_each_log_with_its_last_line(tmp_path):
    (tmp_path / "logs" / "train" / "big").mkdir(parents=True)
    (tmp_path / "logs" / "train" / "big" / "seed0.log").write_text(
        "epoch   0  lr 0.01 (from epoch 1)\ncifarflow: error: variant big: batch_size 150 is larger than its 40"
        " training images\n\n"
    )
    log = tmp_path / "run.snakemake.log"
    log.write_text(STARTED + JOB_ERROR)
    assert failure_message(inv(tmp_path, tmp_path), [str(log)]).splitlines() == [
        "cifarflow: 1 job failed; its log:",
        "  logs/train/big/seed0.log (rule train): cifarflow: error: variant big: batch_size 150 is larger than its 40"
        " training images",
    ]
    # nothing to name (stopped by the user, say): where Snakemake's log is
    log.write_text(STARTED)
    assert failure_message(inv(tmp_path, tmp_path), [str(log)]) == (
        "cifarflow: the run stopped with an error; Snakemake's log: run.snakemake.log"
    )


def test_the_handlers_read_snakemakes_workflow_and_never_raise(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = SimpleNamespace(configfiles=[tmp_path / "c.yaml"], config_args=["a=1"])
    workflow = SimpleNamespace(rundir=str(tmp_path), main_snakefile=str(tmp_path / "S"), config_settings=settings)
    assert invocation(workflow) == {
        "rundir": str(tmp_path),
        "workdir": str(tmp_path),
        "snakefile": str(tmp_path / "S"),
        "configfiles": [str(tmp_path / "c.yaml")],
        "config_args": ["a=1"],
    }
    said = []
    on_success(workflow, emit=said.append)
    assert said[-1].endswith("snakemake -s S --report results/report.html --configfile c.yaml --config a=1")
    on_error(workflow, [tmp_path / "none.log"], emit=said.append)
    assert said[-1] == "cifarflow: the run stopped with an error; Snakemake's log: none.log"
    broken = SimpleNamespace(config_settings=SimpleNamespace(configfiles=5))  # not a list
    on_success(broken, emit=said.append)  # a note, no exception
    assert said[-1].startswith("cifarflow: (no summary of the run: TypeError")
