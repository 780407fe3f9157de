"""Check that a run of the REAL workflow (this repo's Snakefile) went through SLURM.

Used by .ci/slurm/selftest.sh after running the workflow with --profile profiles/slurm:

    python3 tests/slurm/check_workflow_evidence.py success WORKDIR SNAKEMAKE_LOG JOBCOMP_LOG
    python3 tests/slurm/check_workflow_evidence.py fail    WORKDIR SNAKEMAKE_LOG JOBCOMP_LOG VARIANT ERROR_TEXT

From Snakemake's log it reads every job it started ("rule R:" = executor job, "localrule R:" =
run on the submit host) and every submission line ("Job N has been submitted with SLURM jobid X
(log: ...)"). Then, per job of a non-local rule:
  * it was submitted to SLURM (and no local job was);
  * slurmctld knows the SLURM job (squeue --states=all) under the run's job name with comment
    rule_<rule>, the rule's threads as CPUs, and the wanted final state;
  * the job completion log (slurm.conf JobCompLoc) has it with that state;
  * its per-job SLURM log (.snakemake/slurm_logs/rule_<rule>/[<wildcards>/]<id>.log) exists and
    shows the job step running that rule;
and per training job: its log (logs/train/<variant>.log) and benchmark exist and the log ends
with the test accuracy (success), or holds ERROR_TEXT and no metrics.json was left (fail).

Prints one "[PASS]/[FAIL] ..." line per check and a count; exit status 1 on any failure.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

results: list[bool] = []


def check(ok: bool, what: str) -> bool:
    results.append(bool(ok))
    print(f"  [{'PASS' if ok else 'FAIL'}] {what}", flush=True)
    return bool(ok)


def parse_jobs(text: str) -> dict[str, dict]:
    """Snakemake job id -> {rule, local, wildcards, threads} from the job headers of the log."""
    jobs: dict[str, dict] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^(local)?rule (\S+):$", line)
        if m:
            current = {"rule": m.group(2), "local": bool(m.group(1)), "wildcards": "", "threads": 1}
            continue
        if current is None:
            continue
        s = line.strip()
        if not s or not line.startswith(" "):
            current = None
            continue
        key, _, value = s.partition(": ")
        if key == "jobid":
            jobs[value] = current
        elif key == "wildcards":
            current["wildcards"] = value
        elif key == "threads":
            current["threads"] = int(value)
    return jobs


def slurm_jobs(run_id: str) -> dict[str, dict[str, str]]:
    fmt = "%i|%T|%k|%C|%j"
    proc = subprocess.run(["squeue", "--states=all", "--noheader", f"--format={fmt}", "--name", run_id],
                          capture_output=True, text=True, timeout=30)
    jobs = {}
    for line in proc.stdout.splitlines():
        jid, state, comment, cpus, name = line.split("|")
        jobs[jid.strip()] = dict(state=state, comment=comment, cpus=cpus, name=name)
    return jobs


def jobcomp_records(path: Path) -> dict[str, dict[str, str]]:
    recs = {}
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            if "JobId" in fields:
                recs[fields["JobId"]] = fields
    return recs


def counts(items) -> str:
    return ", ".join(f"{k} x{n}" for k, n in sorted(Counter(items).items())) or "none"


def main(argv: list[str]) -> int:
    mode, workdir, log, jobcomp = argv[1], Path(argv[2]), Path(argv[3]), Path(argv[4])
    fail_variant = argv[5] if mode == "fail" else None
    fail_text = argv[6] if mode == "fail" else None
    text = log.read_text(errors="replace")

    m = re.search(r"SLURM run ID: (\S+)", text)
    if not check(m is not None, "Snakemake used the SLURM executor (log has 'SLURM run ID')"):
        return report()
    run_id = m.group(1)

    jobs = parse_jobs(text)
    submitted = {}  # snakemake job id -> (slurm job id, slurm log path)
    for sjid, jid, slog in re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)", text):
        submitted[sjid] = (jid, Path(slog))
    remote = {j: info for j, info in jobs.items() if not info["local"]}
    local = {j: info for j, info in jobs.items() if info["local"]}
    check(bool(remote), f"the run started {len(remote)} non-local job(s): {counts(i['rule'] for i in remote.values())}")
    check(set(remote) <= set(submitted),
          "every non-local job was submitted to SLURM"
          + (f" (not submitted: {sorted(remote[j]['rule'] for j in set(remote) - set(submitted))})"
             if not set(remote) <= set(submitted) else ""))
    check(not (set(local) & set(submitted)) and set(submitted) <= set(jobs),
          f"no local job was submitted; local jobs: {counts(i['rule'] for i in local.values())}")

    squeue = slurm_jobs(run_id)
    comp = jobcomp_records(jobcomp)
    mine = sorted((j for j, r in comp.items() if r.get("Name") == run_id), key=int)
    check(len(mine) == len(submitted),
          f"job completion log: {len(mine)} job(s) named {run_id} = {len(submitted)} submission(s)")

    for sjid in sorted(submitted, key=lambda s: int(submitted[s][0])):
        jid, slog = submitted[sjid]
        info = jobs.get(sjid, {"rule": "?", "wildcards": "", "threads": 1})
        rule, wc = info["rule"], info["wildcards"]
        label = f"{rule}{'[' + wc + ']' if wc else ''} = SLURM job {jid}"
        failing = mode == "fail" and rule == "train" and wc == f"variant={fail_variant}"
        want = "FAILED" if failing else "COMPLETED"
        q = squeue.get(jid)
        c = comp.get(jid, {})
        body = slog.read_text(errors="replace") if slog.exists() else ""
        problems = []
        if q is None:
            problems.append("unknown to squeue --states=all")
        else:
            if q["state"] != want:
                problems.append(f"squeue state {q['state']}")
            # the plugin's job comment: rule_<rule>, or rule_<rule>_wildcards_<values> with wildcards
            if not (q["comment"] == f"rule_{rule}" or q["comment"].startswith(f"rule_{rule}_wildcards_")):
                problems.append(f"comment {q['comment']}")
            if q["cpus"] != str(info["threads"]):
                problems.append(f"{q['cpus']} CPUs for {info['threads']} thread(s)")
        if c.get("JobState") != want:
            problems.append(f"job completion log: {c.get('JobState')}")
        if not (slog.exists() and f"rule_{rule}" in slog.parts):
            problems.append(f"no per-job SLURM log {slog}")
        elif re.search(rf"^(local)?rule {re.escape(rule)}:", body, re.M) is None or (wc and wc not in body):
            problems.append(f"per-job SLURM log {slog} does not show rule {rule} {wc}")
        rel = slog.relative_to(workdir) if slog.is_relative_to(workdir) else slog
        check(not problems,
              f"{label}: {q['state'] if q else '?'} in squeue, {c.get('JobState')} in the job completion log "
              f"(want {want}; exit {c.get('ExitCode')}), {q['cpus'] if q else '?'} CPU(s) for "
              f"{info['threads']} thread(s), log {rel}" + (f" -- PROBLEMS: {'; '.join(problems)}" if problems else ""))

    train_vs = {jobs[s]["wildcards"].removeprefix("variant=") for s in submitted if jobs.get(s, {}).get("rule") == "train"}
    if mode == "success":
        runs = {p.name for p in (workdir / "results" / "runs").iterdir()} if (workdir / "results" / "runs").is_dir() else set()
        check(bool(train_vs) and train_vs == runs,
              f"every variant was trained by a SLURM job: {len(train_vs)} train jobs, {len(runs)} variants in results/runs")
        for v in sorted(runs | train_vs):
            tlog = workdir / "logs" / "train" / f"{v}.log"
            bench = workdir / "benchmarks" / "train" / f"{v}.tsv"
            metrics = workdir / "results" / "runs" / v / "metrics.json"
            body = tlog.read_text(errors="replace") if tlog.exists() else ""
            check("test accuracy" in body and bench.exists() and metrics.exists(),
                  f"train[{v}]: training log ({len(body.splitlines())} lines, ends with the test accuracy), "
                  f"benchmark and metrics.json exist")
        m = re.findall(r"(\d+) of (\d+) steps \(100%\) done", text)
        check(bool(m), f"Snakemake finished all steps ({'/'.join(m[-1]) if m else 'not 100%'})")
    else:
        check(train_vs == {fail_variant}, f"the failing variant's train job was submitted: {sorted(train_vs)}")
        fsjid = next((s for s in submitted if jobs.get(s, {}).get("wildcards") == f"variant={fail_variant}"), None)
        jid = submitted[fsjid][0] if fsjid else "?"
        check(re.search(r"Error in rule train:", text) is not None and f"variant={fail_variant}" in text,
              f"Snakemake reports 'Error in rule train' for variant {fail_variant}")
        check(f"SLURM-job '{jid}' failed" in text, f"Snakemake reports SLURM job {jid} as failed")
        check(f"logs/train/{fail_variant}.log" in text, f"Snakemake's error names the job's log logs/train/{fail_variant}.log")
        tlog = workdir / "logs" / "train" / f"{fail_variant}.log"
        body = tlog.read_text(errors="replace") if tlog.exists() else ""
        line = next((ln for ln in body.splitlines() if fail_text in ln), None)
        check(line is not None, f"the job's log holds the one-line error: {line!r}")
        check(line is not None and line in text,
              "Snakemake's output shows that error (profile: show-failed-logs)")
        check(not (workdir / "results" / "runs" / fail_variant / "metrics.json").exists(),
              "the failed job left no metrics.json")
        check("Exiting because a job execution failed" in text or "At least one job did not complete successfully" in text,
              "Snakemake says the run failed")
    return report()


def report() -> int:
    passed = sum(results)
    print(f"  evidence: {passed} of {len(results)} checks passed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
