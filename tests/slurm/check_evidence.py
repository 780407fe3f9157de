"""Check that a run of tests/slurm/Snakefile really went through SLURM.

Used by .ci/slurm/selftest.sh after each Snakemake run:

    python3 tests/slurm/check_evidence.py success WORKDIR SNAKEMAKE_LOG [JOBCOMP_LOG]
    python3 tests/slurm/check_evidence.py fail    WORKDIR SNAKEMAKE_LOG [JOBCOMP_LOG]

Evidence, per Snakemake job of a SLURM rule:
  * Snakemake's log says "Job N has been submitted with SLURM jobid X (log: .../rule_<rule>/X.log)";
  * slurmctld knows job X (squeue --states=all / scontrol) with the run's job name
    (cifarflow_<run uuid>), comment rule_<rule>, the rule's CPU count, and a final state;
  * the job completion log (slurm.conf JobCompLoc) has a line for X;
  * the rule's output, written inside the job, holds SLURM_JOB_ID == X.
Local rules (`summary`, `all`) must not be submitted and see no SLURM_JOB_ID.

Prints one "[PASS]/[FAIL] ..." line per check and a count; exit status 1 on any failure.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SLURM_RULES = {"threaded": 2, "single": 1, "maybe_fail": 1}  # rule -> threads
results: list[tuple[bool, str]] = []


def check(ok: bool, what: str) -> bool:
    results.append((bool(ok), what))
    print(f"  [{'PASS' if ok else 'FAIL'}] {what}", flush=True)
    return bool(ok)


def read_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip()
    return out


def slurm_jobs(run_id: str) -> dict[str, dict[str, str]]:
    """Jobs of this run known to slurmctld (finished ones stay MinJobAge seconds)."""
    fmt = "%i|%T|%k|%C|%m|%l|%N|%j"
    proc = subprocess.run(
        ["squeue", "--states=all", "--noheader", f"--format={fmt}", "--name", run_id],
        capture_output=True,
        text=True,
        timeout=30,
    )
    jobs = {}
    for line in proc.stdout.splitlines():
        jid, state, comment, cpus, mem, limit, nodes, name = line.split("|")
        jobs[jid.strip()] = dict(state=state, comment=comment, cpus=cpus, mem=mem, limit=limit, nodes=nodes, name=name)
    return jobs


def jobcomp_records(path: Path | None) -> dict[str, dict[str, str]]:
    recs = {}
    if path and path.exists():
        for line in path.read_text().splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            if "JobId" in fields:
                recs[fields["JobId"]] = fields
    return recs


def main(argv: list[str]) -> int:
    mode, workdir, log = argv[1], Path(argv[2]), Path(argv[3])
    jobcomp = Path(argv[4]) if len(argv) > 4 else None
    text = log.read_text(errors="replace")

    m = re.search(r"SLURM run ID: (\S+)", text)
    if not check(m is not None, "Snakemake used the SLURM executor (log has 'SLURM run ID')"):
        return report()
    run_id = m.group(1)

    # rule -> SLURM job id, from the plugin's submission lines
    submitted = {}
    for jid, logpath in re.findall(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)", text):
        rule = Path(logpath).parent.name.removeprefix("rule_")
        submitted[rule] = jid
    check(set(submitted) == set(SLURM_RULES), f"exactly the SLURM rules were submitted: {submitted}")
    if mode == "success":
        check(
            "localrule summary:" in text and "localrule all:" in text, "summary/all ran as local rules (not submitted)"
        )

    squeue = slurm_jobs(run_id)
    comp = jobcomp_records(jobcomp)
    want_state = {r: "COMPLETED" for r in SLURM_RULES}
    if mode == "fail":
        want_state["maybe_fail"] = "FAILED"

    for rule, jid in sorted(submitted.items()):
        q = squeue.get(jid)
        if not check(q is not None, f"{rule}: slurmctld knows job {jid} (squeue --states=all --name {run_id})"):
            continue
        check(
            q["comment"] == f"rule_{rule}" and q["name"] == run_id,
            f"{rule}: job {jid} name={q['name']} comment={q['comment']}",
        )
        check(q["state"] == want_state[rule], f"{rule}: job {jid} state {q['state']} (want {want_state[rule]})")
        check(
            q["cpus"] == str(SLURM_RULES[rule]),
            f"{rule}: job {jid} allocated {q['cpus']} CPU(s) = rule threads {SLURM_RULES[rule]}"
            f" (mem {q['mem']}, limit {q['limit']}, node {q['nodes']})",
        )
        if jobcomp is not None:
            c = comp.get(jid, {})
            check(
                c.get("JobState") == want_state[rule],
                f"{rule}: job completion log has job {jid}: JobState={c.get('JobState')} "
                f"ExitCode={c.get('ExitCode')} ProcCnt={c.get('ProcCnt')}",
            )
        slog = workdir / ".snakemake" / "slurm_logs" / f"rule_{rule}" / f"{jid}.log"
        if mode == "success" or rule == "maybe_fail":
            check(slog.exists(), f"{rule}: per-job SLURM log {slog.relative_to(workdir)} exists")

    if mode == "success":
        for name in ("threaded.env", "single.env", "maybe_fail.env", "summary.tsv"):
            check((workdir / name).exists(), f"output {name} exists")
        for rule, fname in (("threaded", "threaded.env"), ("single", "single.env"), ("maybe_fail", "maybe_fail.env")):
            p = workdir / fname
            if not p.exists():
                continue
            env = read_env(p)
            check(
                env.get("slurm_job_id") == submitted.get(rule),
                f"{rule}: SLURM_JOB_ID inside the job = {env.get('slurm_job_id')} (submitted as {submitted.get(rule)})",
            )
            if rule in ("threaded", "single"):
                t = str(SLURM_RULES[rule])
                check(
                    env.get("threads") == t and env.get("slurm_cpus_per_task") == t and env.get("omp_num_threads") == t,
                    f"{rule}: threads={env.get('threads')} SLURM_CPUS_PER_TASK="
                    f"{env.get('slurm_cpus_per_task')} OMP_NUM_THREADS="
                    f"{env.get('omp_num_threads')} (want {t})",
                )
        summ = workdir / "summary.tsv"
        if summ.exists():
            check("summary\tslurm_job_id\tnone" in summ.read_text(), "local rule summary saw no SLURM_JOB_ID")
    else:  # fail
        jid = submitted.get("maybe_fail", "?")
        check("Error in rule maybe_fail" in text, "Snakemake reports 'Error in rule maybe_fail'")
        check(f"SLURM-job '{jid}' failed" in text, f"Snakemake reports SLURM job {jid} as failed")
        check(not (workdir / "maybe_fail.env").exists(), "failed job left no output")
        slog = workdir / ".snakemake" / "slurm_logs" / "rule_maybe_fail" / f"{jid}.log"
        check(
            slog.exists() and "failing on purpose" in slog.read_text(errors="replace"),
            "the failed job's SLURM log holds its stderr ('failing on purpose')",
        )
    return report()


def report() -> int:
    passed = sum(ok for ok, _ in results)
    failed = len(results) - passed
    print(f"  evidence: {passed} of {passed + failed} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
