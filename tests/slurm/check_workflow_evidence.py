"""Check that a run of the REAL workflow (this repo's Snakefile) went through SLURM.

Used by .ci/slurm/selftest.sh after running the workflow with --profile profiles/slurm:

    python3 tests/slurm/check_workflow_evidence.py success WORKDIR SNAKEMAKE_LOG JOBCOMP_LOG [grouped]
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
and per training job: its log (logs/train/<variant>/seed<s>.log) and benchmark exist and the log ends
with the test accuracy (success), or holds ERROR_TEXT and no metrics.json was left (fail).

Group jobs (Snakemake `group:`, e.g. the short trainings bundled by the profile's
`group-components`): one submission "Job <uuid> has been submitted ..." after a block
"Group job <name> (jobs in lexicogr. order):" with its member jobs; the SLURM job has comment
rule_<name>_<rules>, at least the largest member's threads as CPUs, and its log shows every member.
With `grouped`, the training jobs must have gone out in fewer sbatch jobs than there are trainings.
In fail mode, the failing training job must have been submitted twice (the profile's `retries: 1`),
the second time with twice the memory (mem_mb x attempt).

Prints one "[PASS]/[FAIL] ..." line per check and a count; exit status 1 on any failure.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

results: list[bool] = []


def _wildcards(text: str) -> dict:
    """ "variant=soft, seed=0" -> {"variant": "soft", "seed": "0"}."""
    return dict(part.split("=", 1) for part in text.split(", ") if "=" in part)


def _run_of(text: str) -> str:
    """The run a train job's wildcards name: <variant>/seed<s>."""
    w = _wildcards(text)
    return f"{w.get('variant')}/seed{w.get('seed')}"


def check(ok: bool, what: str) -> bool:
    results.append(bool(ok))
    print(f"  [{'PASS' if ok else 'FAIL'}] {what}", flush=True)
    return bool(ok)


def parse_jobs(text: str) -> tuple[dict[str, dict], list[dict]]:
    """Snakemake job id -> {rule, local, wildcards, threads, group} from the job headers of the log,
    and the group jobs in the order Snakemake started them: [{name, members}] (member job ids)."""
    jobs: dict[str, dict] = {}
    groups: list[dict] = []
    current = None
    for line in text.splitlines():
        g = re.search(r"Group job (\S+) \(jobs in lexicogr\. order\):", line)
        if g:
            groups.append({"name": g.group(1), "members": []})
            current = None
            continue
        m = re.match(r"^(\s*)(local)?rule (\S+):$", line)
        if m:
            in_group = bool(m.group(1)) and bool(groups)
            current = {
                "rule": m.group(3),
                "local": bool(m.group(2)),
                "wildcards": "",
                "threads": 1,
                "group": len(groups) - 1 if in_group else None,
            }
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
            if current["group"] is not None:
                groups[current["group"]]["members"].append(value)
        elif key == "wildcards":
            current["wildcards"] = value
        elif key == "threads":
            current["threads"] = int(value)
    return jobs, groups


def group_folder(group: dict, jobs: dict[str, dict]) -> str:
    """The SLURM log folder of a group job: group_<Snakemake's group job name>, which is the group
    id and its members' sorted rule names (at most 5, then "..."). Two groups started in one
    scheduling pass may be submitted in another order than their blocks were printed."""
    rules = sorted({jobs[m]["rule"] for m in group["members"] if m in jobs})
    if len(rules) > 5:
        rules = rules[:5] + ["..."]
    return f"group_{group['name']}_{'_'.join(rules)}"


def slurm_jobs(run_id: str) -> dict[str, dict[str, str]]:
    fmt = "%i|%T|%k|%C|%j|%m"
    proc = subprocess.run(
        ["squeue", "--states=all", "--noheader", f"--format={fmt}", "--name", run_id],
        capture_output=True,
        text=True,
        timeout=30,
    )
    jobs = {}
    for line in proc.stdout.splitlines():
        jid, state, comment, cpus, name, mem = line.split("|")
        jobs[jid.strip()] = dict(state=state, comment=comment, cpus=cpus, name=name, mem=mem)
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
    want_grouped = mode == "success" and argv[5:6] == ["grouped"]
    text = log.read_text(errors="replace")

    m = re.search(r"SLURM run ID: (\S+)", text)
    if not check(m is not None, "Snakemake used the SLURM executor (log has 'SLURM run ID')"):
        return report()
    run_id = m.group(1)

    jobs, groups = parse_jobs(text)
    # every sbatch submission in order: (snakemake job ids it runs, slurm job id, slurm log, group)
    submissions = []
    unused = list(range(len(groups)))
    for sjid, jid, slog in re.findall(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)", text):
        if sjid.isdigit():
            submissions.append(([sjid], jid, Path(slog), None))
        elif unused:  # a group job: the group block its log folder names, else the next one started
            i = next((i for i in unused if group_folder(groups[i], jobs) in Path(slog).parts), unused[0])
            unused.remove(i)
            submissions.append((groups[i]["members"], jid, Path(slog), groups[i]["name"]))
        else:
            submissions.append(([], jid, Path(slog), "?"))
    submitted = {}  # snakemake job id -> (slurm job id, slurm log path) of its (last) submission
    for members, jid, slog, _ in submissions:
        for sjid in members:
            submitted[sjid] = (jid, slog)
    remote = {j: info for j, info in jobs.items() if not info["local"]}
    local = {j: info for j, info in jobs.items() if info["local"]}
    check(bool(remote), f"the run started {len(remote)} non-local job(s): {counts(i['rule'] for i in remote.values())}")
    check(
        set(remote) <= set(submitted),
        "every non-local job was submitted to SLURM"
        + (
            f" (not submitted: {sorted(remote[j]['rule'] for j in set(remote) - set(submitted))})"
            if not set(remote) <= set(submitted)
            else ""
        ),
    )
    check(
        not (set(local) & set(submitted)) and set(submitted) <= set(jobs),
        f"no local job was submitted; local jobs: {counts(i['rule'] for i in local.values())}",
    )

    squeue = slurm_jobs(run_id)
    comp = jobcomp_records(jobcomp)
    mine = sorted((j for j, r in comp.items() if r.get("Name") == run_id), key=int)
    check(
        len(mine) == len(submissions),
        f"job completion log: {len(mine)} job(s) named {run_id} = {len(submissions)} submission(s)",
    )

    for members, jid, slog, group in submissions:
        if group is not None:
            check_group_job(mode, fail_variant, jobs, members, jid, slog, group, squeue, comp, workdir)
            continue
        sjid = members[0]
        info = jobs.get(sjid, {"rule": "?", "wildcards": "", "threads": 1})
        rule, wc = info["rule"], info["wildcards"]
        label = f"{rule}{'[' + wc + ']' if wc else ''} = SLURM job {jid}"
        failing = mode == "fail" and rule == "train" and _wildcards(wc).get("variant") == fail_variant
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
        attempts = sum(1 for m, *_ in submissions if m == [sjid])
        if not (slog.exists() and f"rule_{rule}" in slog.parts):
            problems.append(f"no per-job SLURM log {slog}")
        elif (re.search(rf"^(local)?rule {re.escape(rule)}:", body, re.M) is None or (wc and wc not in body)) and not (
            failing and attempts > 1  # a failed attempt's log is not kept by the plugin
        ):
            problems.append(f"per-job SLURM log {slog} does not show rule {rule} {wc}")
        rel = slog.relative_to(workdir) if slog.is_relative_to(workdir) else slog
        check(
            not problems,
            f"{label}: {q['state'] if q else '?'} in squeue, {c.get('JobState')} in the job completion log "
            f"(want {want}; exit {c.get('ExitCode')}), {q['cpus'] if q else '?'} CPU(s) for "
            f"{info['threads']} thread(s), log {rel}" + (f" -- PROBLEMS: {'; '.join(problems)}" if problems else ""),
        )

    train_vs = {_run_of(jobs[s]["wildcards"]) for s in submitted if jobs.get(s, {}).get("rule") == "train"}
    train_sbatch = {
        jid for members, jid, *_ in submissions if any(jobs.get(s, {}).get("rule") == "train" for s in members)
    }
    if want_grouped:
        check(
            0 < len(train_sbatch) < len(train_vs),
            f"grouped submission: {len(train_vs)} training jobs went out in {len(train_sbatch)} sbatch job(s)",
        )
    if mode == "success":
        runs = (
            {f"{p.parent.name}/{p.name}" for p in (workdir / "results" / "runs").glob("*/seed*")}
            if (workdir / "results" / "runs").is_dir()
            else set()
        )
        check(
            bool(train_vs) and train_vs == runs,
            f"every variant was trained by a SLURM job: {len(train_vs)} train jobs, {len(runs)} variants in results/runs",
        )
        for v in sorted(runs | train_vs):
            tlog = workdir / "logs" / "train" / f"{v}.log"
            bench = workdir / "benchmarks" / "train" / f"{v}.tsv"
            metrics = workdir / "results" / "runs" / v / "metrics.json"
            body = tlog.read_text(errors="replace") if tlog.exists() else ""
            check(
                "test accuracy" in body and bench.exists() and metrics.exists(),
                f"train[{v}]: training log ({len(body.splitlines())} lines, ends with the test accuracy), "
                f"benchmark and metrics.json exist",
            )
        m = re.findall(r"(\d+) of (\d+) steps \(100%\) done", text)
        check(bool(m), f"Snakemake finished all steps ({'/'.join(m[-1]) if m else 'not 100%'})")
    else:
        check(
            train_vs == {f"{fail_variant}/seed0"}, f"the failing variant's train job was submitted: {sorted(train_vs)}"
        )
        fsjid = next(
            (s for s in submitted if _wildcards(jobs.get(s, {}).get("wildcards", "")).get("variant") == fail_variant),
            None,
        )
        jid = submitted[fsjid][0] if fsjid else "?"
        tries = [j for members, j, *_ in submissions if members == [fsjid]]
        mems = [mem_mb(squeue.get(j, {}).get("mem", "")) for j in tries]
        check(
            len(tries) == 2 and mems[0] and mems[1] == 2 * mems[0],
            f"the failing training job was retried once with twice the memory: SLURM jobs {tries}, --mem {mems} MB",
        )
        check(
            re.search(r"Error in rule train:", text) is not None and f"variant={fail_variant}" in text,
            f"Snakemake reports 'Error in rule train' for variant {fail_variant}",
        )
        check(f"SLURM-job '{jid}' failed" in text, f"Snakemake reports SLURM job {jid} as failed")
        check(
            f"logs/train/{fail_variant}/seed0.log" in text,
            f"Snakemake's error names the job's log logs/train/{fail_variant}/seed0.log",
        )
        tlog = workdir / "logs" / "train" / fail_variant / "seed0.log"
        body = tlog.read_text(errors="replace") if tlog.exists() else ""
        line = next((ln for ln in body.splitlines() if fail_text in ln), None)
        check(line is not None, f"the job's log holds the one-line error: {line!r}")
        check(line is not None and line in text, "Snakemake's output shows that error (profile: show-failed-logs)")
        check(
            not (workdir / "results" / "runs" / fail_variant / "seed0" / "metrics.json").exists(),
            "the failed job left no metrics.json",
        )
        check(
            "Exiting because a job execution failed" in text
            or "At least one job did not complete successfully" in text,
            "Snakemake says the run failed",
        )
    return report()


def mem_mb(value: str) -> int:
    """squeue's %m (e.g. 1500M, 3G) in MB; 0 when unknown."""
    m = re.fullmatch(r"(\d+)([MG]?)", value.strip())
    return (int(m.group(1)) * (1024 if m.group(2) == "G" else 1)) if m else 0


def check_group_job(mode, fail_variant, jobs, members, jid, slog, group, squeue, comp, workdir) -> None:
    """One sbatch job that ran a Snakemake group job: state, comment, CPUs, per-job log."""
    infos = [jobs.get(s, {"rule": "?", "wildcards": "", "threads": 1}) for s in members]
    labels = [f"{i['rule']}[{i['wildcards']}]" for i in infos]
    want = (
        "FAILED" if mode == "fail" and any(i["wildcards"] == f"variant={fail_variant}" for i in infos) else "COMPLETED"
    )
    q = squeue.get(jid)
    c = comp.get(jid, {})
    body = slog.read_text(errors="replace") if slog.exists() else ""
    problems = []
    if not infos:
        problems.append("no member jobs found in Snakemake's log")
    if q is None:
        problems.append("unknown to squeue --states=all")
    else:
        if q["state"] != want:
            problems.append(f"squeue state {q['state']}")
        if not q["comment"].startswith(f"rule_{group}"):
            problems.append(f"comment {q['comment']}")
        most, total = max((i["threads"] for i in infos), default=1), sum(i["threads"] for i in infos)
        if not (most <= int(q["cpus"]) <= total):
            problems.append(f"{q['cpus']} CPUs (members need {most} to {total})")
    if c.get("JobState") != want:
        problems.append(f"job completion log: {c.get('JobState')}")
    if not (slog.exists() and any(part.startswith(f"group_{group}") for part in slog.parts)):
        problems.append(f"no per-job SLURM log {slog}")
    else:
        missing = [lb for lb, i in zip(labels, infos, strict=True) if i["wildcards"] not in body]
        if f"Group job {group}" not in body or missing:
            problems.append(f"per-job SLURM log {slog} does not show the group job or {missing}")
    rel = slog.relative_to(workdir) if slog.is_relative_to(workdir) else slog
    check(
        not problems,
        f"group job {group} = SLURM job {jid} running {len(infos)} jobs ({', '.join(labels)}): "
        f"{q['state'] if q else '?'} in squeue, {c.get('JobState')} in the job completion log (want {want}), "
        f"{q['cpus'] if q else '?'} CPU(s), {q['mem'] if q else '?'} memory, log {rel}"
        + (f" -- PROBLEMS: {'; '.join(problems)}" if problems else ""),
    )


def report() -> int:
    passed = sum(results)
    print(f"  evidence: {passed} of {len(results)} checks passed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
