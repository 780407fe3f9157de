"""Where a workflow run's wall time goes (a developer tool, not a timed test).

    python tools/workflow_bench.py analyse RUN_DIR [--cores 2] [--src WORKFLOW_DIR] [--out PREFIX]
    python tools/workflow_bench.py run [--commit REV] [--scratch DIR] [--archive PATH] [--cores 2] [--out PREFIX]

`run` clones this repository at REV (default HEAD) into SCRATCH/src, runs the quick config there
(config/config.yaml + config/quick.yaml, `--config local_archive=ARCHIVE`, `--cores N`) in
SCRATCH/run (with Python's bytecode caches on: PYTHONDONTWRITEBYTECODE is removed from its
environment), records the wall time and Snakemake's own CPU time in SCRATCH/run/workflow_bench_run.json,
then analyses the run; it also reports when results/answers.md was written (the first answer). `analyse` reads a finished run directory (the working directory of
`snakemake`):

- jobs: `.snakemake/metadata` (one record per output file; a job's start is when Snakemake marked
  its outputs incomplete, its end the newest output's mtime), joined to the job's benchmark file
  (`benchmarks/<stage>/<name>.tsv` beside `logs/<stage>/<name>.log`: wall `s` and `cpu_time`
  of the job's process tree) and, for training jobs, to the `timing` of their metrics.json
  (`train_seconds`: the epochs; `total_seconds`: the whole `run_variant` call).
- per job: wall (the benchmark's `s`, else end - start), work (the training seconds; none
  recorded for other rules) and overhead = wall - work; for training jobs, start-up = wall -
  total_seconds (interpreter, imports, exit) and bookkeeping = total_seconds - train_seconds
  (reading the split, the test evaluation, writing the run files). By rule: count, sum, median, p90.
- run: the wall time (workflow_bench_run.json, else run.log's "Elapsed time", else the jobs' span),
  the DAG time before the first job, the time after the last one, the core-seconds the jobs
  occupied against cores x wall, and Snakemake's own CPU (main process, children excluded) when
  `run` measured it.
- imports: for each command the rules call, `python -X importtime` of `import cifarflow.cli` and
  the module(s) the command's function imports (the package at --src, default this checkout's
  workflow/), the best of --repeats; its share of the rule's job wall time. Imports a command
  makes later, inside its functions, are not in this figure.

Writes PREFIX.json and PREFIX.md (default RUN_DIR/workflow_bench) and prints the Markdown.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN_RECORD = "workflow_bench_run.json"
HEAVY = ("numpy", "h5py", "pandas", "matplotlib", "scipy", "PIL", "yaml")
LAUNCHER_TOKEN = "$CIFARFLOW_LAUNCHER"


# ---- reading a run ------------------------------------------------------------------------------


def read_benchmark(path) -> dict:
    """The first data row of a Snakemake benchmark TSV as floats (`s`, `cpu_time`, `max_rss`, ...);
    a value that is not a number ("NA") is None."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows:
        raise ValueError(f"{path}: a benchmark file without a data row")
    out = {}
    for key, value in rows[0].items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            out[key] = None if key != "h:m:s" else value
    return out


def launcher_commands(shellcmd: str | None) -> list[str]:
    """The cifarflow commands a rule's shell command runs (`python "$CIFARFLOW_LAUNCHER" [--threads N] cmd`)."""
    if not shellcmd:
        return []
    try:
        tokens = shlex.split(shellcmd)
    except ValueError:
        return []
    out = []
    for i, tok in enumerate(tokens):
        if tok == LAUNCHER_TOKEN or tok.endswith("run_cifarflow.py"):
            j = i + 1
            while j < len(tokens) and tokens[j].startswith("--"):
                j += 1 if "=" in tokens[j] else 2
            if j < len(tokens):
                out.append(tokens[j])
    return out


def read_jobs(run_dir) -> list[dict]:
    """One dict per job from `.snakemake/metadata`: rule, start, end, outputs, log, shellcmd."""
    meta = Path(run_dir) / ".snakemake" / "metadata"
    jobs: dict = {}
    for entry in sorted(meta.iterdir()) if meta.is_dir() else []:
        try:
            record = json.loads(entry.read_text(encoding="utf-8"))
            output = base64.b64decode(entry.name).decode()
        except (OSError, ValueError):
            continue
        if record.get("incomplete") or record.get("starttime") is None or record.get("endtime") is None:
            continue
        key = (record.get("rule"), record.get("job_hash"), tuple(record.get("log") or ()))
        job = jobs.setdefault(
            key,
            {
                "rule": record.get("rule"),
                "start": record["starttime"],
                "end": record["endtime"],
                "outputs": [],
                "log": (record.get("log") or [None])[0],
                "shellcmd": record.get("shellcmd"),
            },
        )
        job["start"] = min(job["start"], record["starttime"])
        job["end"] = max(job["end"], record["endtime"])
        job["outputs"].append(output)
    return sorted(jobs.values(), key=lambda j: j["start"])


def benchmark_path(run_dir, log: str | None) -> Path | None:
    """The benchmark file written beside a job's log (logs/<x>.log -> benchmarks/<x>.tsv), if any."""
    if not log or not log.startswith("logs/"):
        return None
    path = Path(run_dir) / "benchmarks" / Path(log[len("logs/") :]).with_suffix(".tsv")
    return path if path.is_file() else None


def training_timing(run_dir, outputs) -> dict | None:
    """`timing` of the job's metrics.json (training jobs), if it has one."""
    for out in outputs:
        if out.endswith("metrics.json"):
            try:
                timing = json.loads((Path(run_dir) / out).read_text(encoding="utf-8")).get("timing")
            except (OSError, ValueError):
                return None
            if isinstance(timing, dict) and "train_seconds" in timing:
                return timing
    return None


def job_times(run_dir, job: dict) -> dict:
    """A job's wall time and what is known of the work inside it."""
    bench_file = benchmark_path(run_dir, job["log"])
    bench = read_benchmark(bench_file) if bench_file else None
    wall = bench["s"] if bench and bench.get("s") is not None else job["end"] - job["start"]
    timing = training_timing(run_dir, job["outputs"])
    work = timing["train_seconds"] if timing else None
    row = {
        "rule": job["rule"],
        "log": job["log"],
        "start": job["start"],
        "end": job["end"],
        "wall": wall,
        "wall_source": "benchmark" if bench else "metadata",
        "cpu": bench.get("cpu_time") if bench else None,
        "max_rss_mb": bench.get("max_rss") if bench else None,
        "work": work,
        "overhead": wall - (work or 0.0),
        "commands": launcher_commands(job.get("shellcmd")),
    }
    if timing and timing.get("total_seconds") is not None:
        row["startup"] = wall - timing["total_seconds"]
        row["bookkeeping"] = timing["total_seconds"] - timing["train_seconds"]
    return row


def run_wall(run_dir, jobs) -> dict:
    """The run's start (epoch seconds), wall time and where they come from."""
    run_dir = Path(run_dir)
    record = run_dir / RUN_RECORD
    if record.is_file():
        rec = json.loads(record.read_text(encoding="utf-8"))
        return {"start": rec["start"], "wall": rec["wall_seconds"], "source": RUN_RECORD}
    start = None
    logs = sorted((run_dir / ".snakemake" / "log").glob("*.snakemake.log"))
    if logs:  # Snakemake names its log after the time it started: 2026-12-05T020329.731654
        stamp = logs[-1].name.split(".snakemake.log")[0]
        start = datetime.strptime(stamp, "%Y-%m-%dT%H%M%S.%f").timestamp()
    run_log = run_dir / "run.log"
    if start is not None and run_log.is_file():
        m = re.search(
            r"Elapsed time: (\d+):(\d\d):(\d\d(?:\.\d+)?)", run_log.read_text(encoding="utf-8", errors="replace")
        )
        if m:
            wall = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
            return {"start": start, "wall": wall, "source": "run.log Elapsed time"}
    if not jobs:
        return {"start": start, "wall": None, "source": None}
    first, last = min(j["start"] for j in jobs), max(j["end"] for j in jobs)
    start = first if start is None else start
    return {"start": start, "wall": last - start, "source": "jobs' span"}


# ---- summaries ----------------------------------------------------------------------------------


def quantile(values, q: float) -> float | None:
    """The q-quantile by linear interpolation between order statistics (numpy's default)."""
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return None
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def by_rule(rows: list[dict]) -> dict:
    """Per rule: jobs, wall and overhead (sum, median, p90), work, and the training parts."""
    out = {}
    for rule in sorted({r["rule"] for r in rows}):
        rs = [r for r in rows if r["rule"] == rule]
        walls = [r["wall"] for r in rs]
        over = [r["overhead"] for r in rs]
        entry = {
            "jobs": len(rs),
            "wall_sum": sum(walls),
            "wall_median": quantile(walls, 0.5),
            "wall_p90": quantile(walls, 0.9),
            "overhead_sum": sum(over),
            "overhead_median": quantile(over, 0.5),
            "overhead_p90": quantile(over, 0.9),
            "work_sum": sum(r["work"] for r in rs if r["work"] is not None)
            if any(r["work"] is not None for r in rs)
            else None,
            "cpu_sum": sum(r["cpu"] for r in rs if r["cpu"] is not None)
            if any(r["cpu"] is not None for r in rs)
            else None,
            "wall_source": sorted({r["wall_source"] for r in rs}),
            "commands": sorted({c for r in rs for c in r["commands"]}),
        }
        for part in ("startup", "bookkeeping"):
            vals = [r[part] for r in rs if part in r]
            if vals:
                entry[f"{part}_median"] = quantile(vals, 0.5)
                entry[f"{part}_p90"] = quantile(vals, 0.9)
                entry[f"{part}_sum"] = sum(vals)
        out[rule] = entry
    return out


def timeline(jobs: list[dict], wall: dict, cores: int) -> dict:
    """The DAG time before the first job, the tail after the last, and how full the cores were."""
    if not jobs or wall.get("wall") is None:
        return {}
    first, last = min(j["start"] for j in jobs), max(j["end"] for j in jobs)
    busy = sum(j["end"] - j["start"] for j in jobs)
    capacity = cores * wall["wall"]
    return {
        "before_first_job": first - wall["start"] if wall.get("start") is not None else None,
        "after_last_job": wall["start"] + wall["wall"] - last if wall.get("start") is not None else None,
        "job_seconds": busy,
        "core_seconds": capacity,
        "core_utilisation": busy / capacity if capacity else None,
        "idle_core_seconds": capacity - busy,
    }


# ---- imports ------------------------------------------------------------------------------------


def parse_importtime(text: str) -> dict:
    """`python -X importtime` stderr -> total seconds (the top-level imports' cumulative times) and
    the cumulative seconds of the heavy packages (where they are first imported)."""
    total, heavy = 0.0, {}
    for line in text.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3:
            continue
        try:
            cumulative = int(parts[1]) / 1e6
        except ValueError:  # the header line
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip(" "))) // 2
        name = name.strip()
        if depth == 0:
            total += cumulative
        if name in HEAVY and name not in heavy:
            heavy[name] = cumulative
    return {"seconds": total, "heavy": heavy}


def command_modules(src) -> dict:
    """{command: [modules its function imports]} of the cli at `src` (a workflow/ directory)."""
    code = (
        "import ast, inspect, json, textwrap\n"
        "from cifarflow import cli\n"
        "parser = cli.build_parser()\n"
        "sub = next(a for a in parser._actions if a.__class__.__name__ == '_SubParsersAction')\n"
        "out = {}\n"
        "for name, p in sub.choices.items():\n"
        "    if p.get_default('lazy_module'):  # registered lazily: its own module\n"
        "        out[name] = [p.get_default('lazy_module')]\n"
        "        continue\n"
        "    func = p.get_default('func')\n"
        "    mods = []\n"
        "    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(func)))):\n"
        "        if isinstance(node, ast.ImportFrom):\n"
        "            mods.append(('cifarflow.' if node.level else '') + (node.module or ''))\n"
        "        elif isinstance(node, ast.Import):\n"
        "            mods += [a.name for a in node.names]\n"
        "    out[name] = mods or list(getattr(func, 'modules', []))\n"
        "print(json.dumps(out))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(src), cwd=src, check=True
    )
    return json.loads(res.stdout)


def _env(src) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(src)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def measure_imports(src, modules: dict, repeats: int = 3) -> dict:
    """For each command: the best of `repeats` `python -X importtime` runs of `import cifarflow.cli`
    plus its modules (import seconds, heavy packages, the process's wall time), and the wall time
    of a bare `python -c pass` for comparison."""

    def best(stmt: str) -> dict:
        runs = []
        for _ in range(repeats):
            t0, cpu0 = time.perf_counter(), _children_cpu()
            res = subprocess.run(
                [sys.executable, "-X", "importtime", "-c", stmt], capture_output=True, text=True, env=_env(src), cwd=src
            )
            wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
            if res.returncode != 0:
                raise RuntimeError(f"{stmt!r} failed: {res.stderr.strip().splitlines()[-1:]}")
            runs.append(dict(parse_importtime(res.stderr), process_wall=wall, process_cpu=cpu))
        return min(runs, key=lambda r: r["seconds"])

    t_python = min(_wall([sys.executable, "-c", "pass"]) for _ in range(repeats))
    out = {"python_start_wall": t_python, "load_average": os.getloadavg()[0], "commands": {}}
    for command, mods in sorted(modules.items()):
        stmt = "; ".join(["import cifarflow.cli"] + [f"import {m}" for m in mods if m])
        out["commands"][command] = dict(best(stmt), modules=mods)
    return out


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wall(argv) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True)
    return time.perf_counter() - t0


def import_shares(rules: dict, imports: dict) -> dict:
    """Per rule: the import seconds of its command(s) per job, and their share of the rule's wall."""
    out = {}
    for rule, entry in rules.items():
        cmds = [c for c in entry["commands"] if c in imports["commands"]]
        if not cmds:
            continue
        per_job = sum(imports["commands"][c]["seconds"] for c in cmds)
        out[rule] = {
            "commands": cmds,
            "import_seconds_per_job": per_job,
            "share_of_wall": per_job * entry["jobs"] / entry["wall_sum"] if entry["wall_sum"] else None,
        }
    return out


# ---- report -------------------------------------------------------------------------------------


def analyse(run_dir, cores: int = 2, src=None, imports: bool = True, repeats: int = 3) -> dict:
    run_dir = Path(run_dir)
    jobs = read_jobs(run_dir)
    if not jobs:
        raise SystemExit(f"{run_dir}: no finished jobs in .snakemake/metadata (is it a Snakemake working directory?)")
    rows = [job_times(run_dir, j) for j in jobs]
    wall = run_wall(run_dir, jobs)
    rules = by_rule(rows)
    result = {
        "run_dir": str(run_dir),
        "cores": cores,
        "wall_seconds": wall["wall"],
        "wall_source": wall["source"],
        "jobs": len(rows),
        "timeline": timeline(jobs, wall, cores),
        "first_answer_seconds": first_answer(run_dir, wall),
        "rules": rules,
        "job_rows": rows,
    }
    record = run_dir / RUN_RECORD
    if record.is_file():
        rec = json.loads(record.read_text(encoding="utf-8"))
        result["snakemake_cpu"] = {k: rec.get(k) for k in ("self_cpu_seconds", "children_cpu_seconds", "commit")}
    if imports:
        src = Path(src) if src else REPO / "workflow"
        measured = measure_imports(src, command_modules(src), repeats=repeats)
        measured["src"] = str(src)
        result["imports"] = measured
        result["import_shares"] = import_shares(rules, measured)
        total = sum(s["import_seconds_per_job"] * rules[r]["jobs"] for r, s in result["import_shares"].items())
        result["import_share_of_job_seconds"] = total / sum(r["wall"] for r in rows)
    return result


def first_answer(run_dir, wall) -> float | None:
    """Seconds from the run's start until results/answers.md was written (None without it): what a
    user waits for the verdicts, while the figures are still being drawn."""
    answers = Path(run_dir) / "results" / "answers.md"
    if wall.get("start") is None or not answers.is_file():
        return None
    return answers.stat().st_mtime - wall["start"]


def _f(x, digits=2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def markdown(result: dict) -> str:
    t = result.get("timeline", {})
    lines = [
        f"Run {result['run_dir']}: {_f(result['wall_seconds'], 1)} s wall ({result['wall_source']}), "
        f"{result['jobs']} jobs on {result['cores']} cores; the jobs occupied {_f(t.get('job_seconds'), 1)} of "
        f"{_f(t.get('core_seconds'), 1)} core-seconds ({_f(100 * (t.get('core_utilisation') or 0), 0)}%); "
        f"{_f(t.get('before_first_job'), 1)} s before the first job, {_f(t.get('after_last_job'), 1)} s after the last.",
    ]
    if result.get("first_answer_seconds") is not None:
        lines.append(
            f"The answers (results/answers.md) were written {_f(result['first_answer_seconds'], 1)} s after the start."
        )
    cpu = result.get("snakemake_cpu")
    if cpu:
        lines.append(
            f"Snakemake's own CPU (main process): {_f(cpu.get('self_cpu_seconds'), 1)} s; its children "
            f"(jobs, solver): {_f(cpu.get('children_cpu_seconds'), 1)} s."
        )
    lines += [
        "",
        "| rule | jobs | wall sum (s) | wall median / p90 | overhead sum (s) | overhead median / p90 | work sum (s) |"
        " imports per job (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    shares = result.get("import_shares", {})
    for rule, e in sorted(result["rules"].items(), key=lambda kv: -kv[1]["wall_sum"]):
        imp = shares.get(rule, {}).get("import_seconds_per_job")
        lines.append(
            f"| {rule} | {e['jobs']} | {_f(e['wall_sum'], 1)} | {_f(e['wall_median'])} / {_f(e['wall_p90'])} | "
            f"{_f(e['overhead_sum'], 1)} | {_f(e['overhead_median'])} / {_f(e['overhead_p90'])} | "
            f"{_f(e['work_sum'], 1)} | {_f(imp)} |"
        )
    train = result["rules"].get("train")
    if train and "startup_median" in train:
        lines += [
            "",
            f"Training jobs: start-up (interpreter, imports, exit) median {_f(train['startup_median'])} s "
            f"(p90 {_f(train['startup_p90'])}), bookkeeping in the job (split, test evaluation, writing) median "
            f"{_f(train['bookkeeping_median'])} s (p90 {_f(train['bookkeeping_p90'])}), training "
            f"{_f(train['work_sum'], 1)} s in all.",
        ]
    if "imports" in result:
        imp = result["imports"]
        lines += [
            "",
            f"Imports at the commands' start (`python -X importtime`, best of the repeats, at a load average of "
            f"{_f(imp.get('load_average'), 1)}; `python -c pass` takes {_f(imp['python_start_wall'], 3)} s): "
            f"{_f(100 * result['import_share_of_job_seconds'], 0)}% of the jobs' wall time.",
            "",
            "| command | import (s) | process wall (s) | process CPU (s) | heavy packages (s) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for cmd, m in sorted(imp["commands"].items(), key=lambda kv: -kv[1]["seconds"]):
            heavy = ", ".join(f"{k} {v:.3f}" for k, v in sorted(m["heavy"].items(), key=lambda kv: -kv[1]))
            lines.append(
                f"| {cmd} | {_f(m['seconds'], 3)} | {_f(m['process_wall'], 3)} | {_f(m.get('process_cpu'), 3)} | "
                f"{heavy or '-'} |"
            )
    return "\n".join(lines) + "\n"


def write_outputs(result: dict, prefix) -> None:
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    prefix.with_suffix(".md").write_text(markdown(result), encoding="utf-8")


# ---- running the quick config -------------------------------------------------------------------


def _proc_cpu(pid: int) -> tuple[float, float]:
    """(own, reaped children's) CPU seconds of a process from /proc/<pid>/stat (works on a zombie)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime) / tick, (cutime + cstime) / tick


def run_quick(commit: str, scratch, archive, cores: int, repo=REPO, extra=()) -> Path:
    """Clone `repo` at `commit`, run its quick config in scratch/run (with the Snakemake options
    `extra` appended); return that directory."""
    scratch = Path(scratch).resolve()
    src, run_dir = scratch / "src", scratch / "run"
    if src.exists() or run_dir.exists():
        raise SystemExit(f"{scratch}: src/ or run/ exists already; give an empty --scratch")
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(repo), str(src)], check=True)
    subprocess.run(["git", "-C", str(src), "checkout", "--quiet", "--detach", commit], check=True)
    sha = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    run_dir.mkdir(parents=True)
    argv = [
        "snakemake",
        "-s",
        str(src / "Snakefile"),
        "--configfile",
        str(src / "config" / "config.yaml"),
        str(src / "config" / "quick.yaml"),
        "--config",
        f"local_archive={Path(archive).resolve()}",
        "--cores",
        str(cores),
        *extra,
    ]
    # As a user's shell runs it: Python writes its bytecode caches (a machine that sets
    # PYTHONDONTWRITEBYTECODE makes every job compile the modules it imports again, ~0.1 s a job).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with open(run_dir / "run.log", "w", encoding="utf-8") as log:
        start = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=run_dir, stdout=log, stderr=subprocess.STDOUT, env=env)
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: /proc still has its times
        wall = time.perf_counter() - t0
        own, children = _proc_cpu(proc.pid)
        status = proc.wait()
    record = {
        "command": argv,
        "commit": sha.stdout.strip(),
        "start": start,
        "wall_seconds": wall,
        "self_cpu_seconds": own,
        "children_cpu_seconds": children,
        "exit_status": status,
        "bytecode_caches": True,  # PYTHONDONTWRITEBYTECODE removed from the run's environment
    }
    (run_dir / RUN_RECORD).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    if status != 0:
        raise SystemExit(f"snakemake exited with {status}: see {run_dir / 'run.log'}")
    return run_dir


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="mode", required=True)
    a = sub.add_parser("analyse", help="analyse a finished run directory")
    a.add_argument("run_dir", type=Path)
    r = sub.add_parser("run", help="run the quick config from a fresh clone, then analyse it")
    r.add_argument("--commit", default="HEAD")
    r.add_argument("--scratch", type=Path, required=True, help="an empty directory for the clone and the run")
    r.add_argument("--archive", type=Path, default=Path("/work/shared/data/cifar-10-jpeg.tar.gz"))
    r.add_argument(
        "--snakemake-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more Snakemake command-line word (repeat it), e.g. --snakemake-arg=--scheduler --snakemake-arg=greedy",
    )
    for s in (a, r):
        s.add_argument("--cores", type=int, default=2)
        s.add_argument("--src", type=Path, default=None, help="workflow/ directory whose imports are measured")
        s.add_argument("--no-imports", action="store_true", help="skip the import measurement")
        s.add_argument("--repeats", type=int, default=3)
        s.add_argument("--out", type=Path, default=None, help="output prefix (default RUN_DIR/workflow_bench)")
    args = p.parse_args(argv)
    if args.mode == "run":
        run_dir = run_quick(args.commit, args.scratch, args.archive, args.cores, extra=args.snakemake_arg)
        src = args.src or args.scratch.resolve() / "src" / "workflow"
    else:
        run_dir, src = args.run_dir, args.src
    result = analyse(run_dir, cores=args.cores, src=src, imports=not args.no_imports, repeats=args.repeats)
    write_outputs(result, args.out or Path(run_dir) / "workflow_bench")
    print(markdown(result), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
