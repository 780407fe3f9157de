"""What a finished Snakemake run of cifarflow tells its user (workflow/Snakefile's onsuccess/onerror).

After a successful run: where the summary, the answers, the tables and the figures are (those that
exist), and the exact `snakemake --report` command for the same Snakefile, working directory and
config (`--configfile` files and `--config` values as given), so that the report is built for the
config of the run. After a failed run: each failed job's rule and log file, with the log's last
line (a job's `cifarflow: error: ...`), read from Snakemake's own log of the run.

Snakemake calls a workflow's handlers only for the main Snakefile, not for a module's, so a host
workflow that uses cifarflow as a module prints its own messages, not these.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Iterable
from pathlib import Path

# (path in the working directory, what it holds), listed when present
RESULTS = (
    ("results/summary.md", "the summary: tables, answers and key figures"),
    ("results/answers.md", "the answers to the config's questions"),
    ("results/tables", "the tables (CSV, Markdown, LaTeX; HTML as the report shows them)"),
    ("results/figures", "the figures"),
    ("results/manifest.json", "every result file's sha256 and the environment they were made in"),
    ("results/verify/verify.md", "the re-check: a sample of runs trained again, compared byte for byte"),
)
REPORT = "results/report.html"
# Snakemake's default Snakefiles, in the order it looks for them (snakemake.common.SNAKEFILE_CHOICES)
DEFAULT_SNAKEFILES = ("Snakefile", "snakefile", "workflow/Snakefile", "workflow/snakefile")
MAX_LISTED = 10  # failed jobs listed by name; more are counted

_ERROR_IN_RULE = re.compile(r"^\s*Error in rule (\S+?)[:,]")
_GROUP_MEMBER = re.compile(r"^\s+rule (\S+):\s*$")
_FAILED_LOG = re.compile(r"^\s+log: (.+) \(check log file\(s\) for error details\)\s*$")


def invocation(workflow) -> dict:
    """How Snakemake 9 was started, from its `workflow` object (attributes missing: defaults).

    rundir: the folder Snakemake was started in (`workflow.rundir`); workdir: the working
    directory it runs the workflow in (the current one, `-d`); snakefile: the main Snakefile;
    configfiles / config_args: `--configfile` and `--config` as given on the command line.
    """
    settings = getattr(workflow, "config_settings", None)
    config_args = getattr(settings, "config_args", None) or []
    if isinstance(config_args, str):
        config_args = [config_args]
    return {
        "rundir": str(getattr(workflow, "rundir", None) or os.getcwd()),
        "workdir": os.getcwd(),
        "snakefile": str(getattr(workflow, "main_snakefile", "") or ""),
        "configfiles": [str(p) for p in (getattr(settings, "configfiles", None) or [])],
        "config_args": [str(a) for a in config_args],
    }


def _shown(path, rundir: str) -> str:
    """A path as the user types it where Snakemake was started: relative below that folder, else absolute."""
    p = Path(os.path.abspath(path))
    try:
        return p.relative_to(Path(rundir).resolve()).as_posix() or "."
    except ValueError:
        try:
            return p.relative_to(Path(rundir)).as_posix() or "."
        except ValueError:
            return str(p)


def report_command(inv: dict, report: str = REPORT) -> str:
    """The `snakemake --report` command for the run `inv` describes (same Snakefile, workdir, config)."""
    rundir, workdir = inv["rundir"], inv["workdir"]
    parts = ["snakemake"]
    snakefile = inv.get("snakefile")
    default = next((Path(rundir) / f for f in DEFAULT_SNAKEFILES if (Path(rundir) / f).exists()), None)
    if snakefile and (default is None or os.path.realpath(default) != os.path.realpath(snakefile)):
        parts += ["-s", _shown(snakefile, rundir)]
    if os.path.realpath(workdir) != os.path.realpath(rundir):
        parts += ["-d", _shown(workdir, rundir)]
    parts += ["--report", report]
    if inv.get("configfiles"):
        parts += ["--configfile", *(_shown(f, rundir) for f in inv["configfiles"])]
    if inv.get("config_args"):
        parts += ["--config", *inv["config_args"]]
    return shlex.join(parts)


def success_message(inv: dict) -> str:
    """Where the results are (those that exist) and the report command for the same config."""
    workdir, rundir = Path(inv["workdir"]), inv["rundir"]
    found = [
        (_shown(workdir / rel, rundir) + ("/" if (workdir / rel).is_dir() else ""), what)
        for rel, what in RESULTS
        if (workdir / rel).exists()
    ]
    lines = ["cifarflow: the run is complete."]
    if found:
        width = max(len(p) for p, _ in found)
        lines += [f"  {p:<{width}}  {what}" for p, what in found]
    lines += [
        "The HTML report of this run (or --report results/report.zip for an archive):",
        f"  {report_command(inv)}",
    ]
    return "\n".join(lines)


def failed_job_logs(snakemake_logs: Iterable) -> list[tuple[str, list[str]]]:
    """(rule, its log files) of every failed job that Snakemake's logs of the run name, once each."""
    out, seen = [], set()
    for path in snakemake_logs or []:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        rule = "?"
        for line in text.splitlines():
            m = _ERROR_IN_RULE.match(line) or _GROUP_MEMBER.match(line)
            if m:
                rule = m.group(1)
                continue
            m = _FAILED_LOG.match(line)
            if m:
                logs = [f.strip() for f in m.group(1).split(", ") if f.strip()]
                key = (rule, tuple(logs))
                if key not in seen:
                    seen.add(key)
                    out.append((rule, logs))
    return out


def _last_line(path: Path, limit: int = 200) -> str:
    """The last non-empty line of a job's log (its one-line error), shortened to `limit` characters."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            tail = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return last if len(last) <= limit else last[: limit - 3] + "..."


def failure_message(inv: dict, snakemake_logs: Iterable) -> str:
    """The failed jobs' rules and logs with each log's last line; else where Snakemake's log is."""
    workdir, rundir = Path(inv["workdir"]), inv["rundir"]
    failed = failed_job_logs(snakemake_logs)
    whole = ", ".join(_shown(p, rundir) for p in snakemake_logs or [])
    if not failed:
        return f"cifarflow: the run stopped with an error; Snakemake's log: {whole}" if whole else ""
    lines = [
        f"cifarflow: {len(failed)} jobs failed; their logs:" if len(failed) > 1 else "cifarflow: 1 job failed; its log:"
    ]
    for rule, logs in failed[:MAX_LISTED]:
        for log in logs:
            last = _last_line(workdir / log)
            lines.append(f"  {_shown(workdir / log, rundir)} (rule {rule})" + (f": {last}" if last else ""))
    if len(failed) > MAX_LISTED:
        lines.append(f"  and {len(failed) - MAX_LISTED} more failed jobs in Snakemake's log: {whole}")
    return "\n".join(lines)


def _emit(make: Callable[[], str], emit: Callable[[str], None]) -> None:
    """A handler's message; a fault in writing it never turns a run's outcome into a crash."""
    try:
        text = make()
    except Exception as exc:  # the run's own outcome must stand
        text = f"cifarflow: (no summary of the run: {type(exc).__name__}: {exc})"
    if text:
        emit(text)


def on_success(workflow, emit: Callable[[str], None]) -> None:
    _emit(lambda: success_message(invocation(workflow)), emit)


def on_error(workflow, snakemake_logs, emit: Callable[[str], None]) -> None:
    _emit(lambda: failure_message(invocation(workflow), snakemake_logs), emit)
