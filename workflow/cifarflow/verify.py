"""verify: re-train a sample of the runs and check that they come out bit-identical
(`python -m cifarflow verify`, rule `verify`, config key `verify: {runs, seed}`).

The sample is `verify.runs` of the runs of the variants' own seeds, chosen by `verify_sample`:
every run (variant, seed) is ranked by sha256 of "<verify.seed>/<variant>/<seed>" and the first
`runs` are taken. The choice depends on the seed and the names only, so it is the same on every
machine and Python, and adding a variant moves a run into the sample only when it ranks before one
already chosen. The workflow re-trains each chosen run from the same split and epoch plan into
results/verify/runs/<variant>/seed<s>/ (by the training rule's own command) and `verify_runs`
compares the re-trained files with the run's files as compare-runs does (cifarflow/compare_runs.py):
`weights.h5` and `predictions.h5` dataset by dataset, `metrics.json` and `history.csv` without the
clock and the provenance.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable
from pathlib import Path

from .compare_runs import FileComparison, compare_trees
from .errors import CifarflowError
from .io import write_json, write_text

FORMAT = "cifarflow-verify-1"


def verify_sample(runs, n: int, seed: int = 0) -> list[tuple[str, int]]:
    """The `n` runs of `runs` ((variant, seed) pairs) that verify re-trains, in their rank order."""

    def rank(run):
        return hashlib.sha256(f"{seed}/{run[0]}/{run[1]}".encode()).hexdigest()

    return sorted(dict.fromkeys((str(v), int(s)) for v, s in runs), key=rank)[: max(0, int(n))]


def compare_run(original: Path, again: Path) -> list[FileComparison]:
    """The run's result files against the re-trained ones (paths relative to the run's folder)."""
    return compare_trees(Path(original), Path(again))


def verify_record(pairs) -> dict:
    """{format, passed, runs: [{run, again, passed, files, differences}]} for (original, again) pairs."""
    runs = []
    for original, again in pairs:
        results = compare_run(original, again)
        differences = [f"{Path(original).as_posix()}/{r.path}: {d}" for r in results for d in r.differences]
        runs.append(
            {
                "run": Path(original).as_posix(),
                "again": Path(again).as_posix(),
                "passed": not differences,
                "files": {r.path: ("identical" if r.identical else "differs") for r in results},
                "differences": differences,
            }
        )
    return {"format": FORMAT, "passed": all(r["passed"] for r in runs), "runs": runs}


def verify_markdown(record: dict) -> str:
    lines = [f"# Verify: {'passed' if record['passed'] else 'FAILED'}", ""]
    if not record["runs"]:
        lines.append("No runs were re-trained (verify.runs is 0).")
    for r in record["runs"]:
        lines.append(f"- {r['run']}: {'identical' if r['passed'] else 'DIFFERS'} ({len(r['files'])} files)")
        lines += [f"  - {d}" for d in r["differences"]]
    return "\n".join(lines) + "\n"


def verify_html(record: dict) -> str:
    """A page for the report: each re-trained run, its files and whether each came out identical."""
    rows = "".join(
        f'<tr><td>{html.escape(r["run"])}</td><td>{html.escape(name)}</td><td class="{state}">{state}</td></tr>\n'
        for r in record["runs"]
        for name, state in r["files"].items()
    )
    differences = "".join(f"<li>{html.escape(d)}</li>" for r in record["runs"] for d in r["differences"])
    verdict = "passed: every re-trained file is identical" if record["passed"] else "FAILED"
    n = len(record["runs"])
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Verify</title><style>'
        "body { font: 13px/1.4 system-ui, sans-serif; margin: 12px; color: #1f2937; }"
        " table { border-collapse: collapse; } th, td { border: 1px solid #d1d5db; padding: 2px 6px; }"
        " th { background: #f3f4f6; text-align: left; } .identical { color: #166534; } .differs { color: #b91c1c; }"
        f"</style></head>\n<body>\n<h1>Verify: {html.escape(verdict)}</h1>\n"
        f"<p>{n} run{'s' if n != 1 else ''} re-trained from the same split and epoch plan and compared with"
        " the results byte for byte (weights and predictions dataset by dataset; metrics.json without timing"
        " and provenance; history.csv without seconds).</p>\n"
        "<table><thead><tr><th>run</th><th>file</th><th>re-trained</th></tr></thead>\n<tbody>\n"
        f"{rows}</tbody></table>\n" + (f"<ul>{differences}</ul>\n" if differences else "") + "</body></html>\n"
    )


def verify_runs(runs, again, out_json, out_md, out_html, log: Callable[[str], None] = print) -> dict:
    """Compare each run folder of `runs` with its re-trained folder in `again` (same order), write the
    record; a difference is a CifarflowError naming the first differing file and dataset."""
    runs, again = list(runs), list(again)
    if len(runs) != len(again):
        raise CifarflowError(f"verify: {len(runs)} run folders but {len(again)} re-trained folders")
    record = verify_record(zip(runs, again))
    for r in record["runs"]:
        log(f"verify: {r['run']}: {'identical' if r['passed'] else 'DIFFERS'} ({len(r['files'])} files)")
        for d in r["differences"]:
            log(f"  {d}")
    differences = [d for r in record["runs"] for d in r["differences"]]
    if differences:
        failed = sum(not r["passed"] for r in record["runs"])
        more = f"; {len(differences) - 1} more differences above" if len(differences) > 1 else ""
        raise CifarflowError(
            f"verify: {differences[0]} ({failed} of {len(record['runs'])} re-trained runs differ from the results{more})"
        )
    write_json(out_json, record)
    write_text(out_md, verify_markdown(record))
    write_text(out_html, verify_html(record))
    log(f"verify: passed, {len(record['runs'])} re-trained runs identical to the results")
    return record


def add_parser(sub) -> None:
    s = sub.add_parser("verify", help="compare re-trained runs with the results byte for byte; exit 1 if any differs")
    s.add_argument("--runs", nargs="*", default=[], help="the run folders (results/runs/<variant>/seed<s>)")
    s.add_argument("--again", nargs="*", default=[], help="their re-trained folders, in the same order")
    s.add_argument("--json", required=True)
    s.add_argument("--md", required=True)
    s.add_argument("--html", required=True)
    s.set_defaults(func=main)


def main(a) -> None:
    runs = [r for r in a.runs if r]  # an empty input list arrives as one empty argument
    again = [r for r in a.again if r]
    verify_runs(runs, again, a.json, a.md, a.html, log=lambda m: print(m, flush=True))
