#!/usr/bin/env bash
# End-to-end check that profiles/slurm really runs Snakemake jobs as SLURM jobs:
#   1. start the single-node SLURM cluster (.ci/slurm/start.sh);
#   2. run tests/slurm/Snakefile with --profile profiles/slurm: every non-local job
#      must be a SLURM job (submission line in Snakemake's log, the job in
#      squeue/scontrol and in the job completion log, SLURM_JOB_ID inside the job),
#      with the rule's threads as SLURM CPUs / OMP_NUM_THREADS; outputs must appear;
#   3. run it again with --config fail=1: Snakemake must exit non-zero, in bounded
#      time, reporting the failed SLURM job;
#   4. stop the cluster (always, via trap; CIFARFLOW_SLURM_KEEP=1 leaves it up).
# Every Snakemake run is bounded with `timeout -s KILL` (a hung run ignores SIGTERM).
# Exits non-zero on any failure. Work dirs and logs: $SELFTEST_DIR (printed).
#
# To add a step (e.g. the real workflow's quick config), call
#   smk NAME WORKDIR [snakemake args...]   -> sets SMK_RC, SMK_LOG, SMK_SECONDS
# and record results with ok / bad.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
SLURM_DIR=${CIFARFLOW_SLURM_DIR:-/tmp/cifarflow-slurm}
SMK_TIMEOUT=${SMK_TIMEOUT:-300}          # seconds, per Snakemake run (SIGKILL after)
FAIL_BOUND=${FAIL_BOUND:-180}            # seconds the failing run may take at most
SELFTEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cifarflow-slurm-selftest.XXXXXX")
# Snakemake options used for every run here, on top of the profile:
#   short first status check (the plugin's default is 40 s; it then adds 10 s per
#   check that finds nothing finished, so a short start matters for short jobs);
#   keep the per-job SLURM logs of successful jobs too (evidence).
SMK_EXTRA=(--slurm-init-seconds-before-status-checks 2 --slurm-keep-successful-logs)

T0=$(date +%s)
PASSED=0
FAILED=0
say() { echo "[slurm-selftest +$(( $(date +%s) - T0 ))s] $*"; }
ok() { PASSED=$((PASSED + 1)); echo "  [PASS] $*"; }
bad() { FAILED=$((FAILED + 1)); echo "  [FAIL] $*"; }
# evidence MODE WORKDIR LOG: run tests/slurm/check_evidence.py, count its checks
evidence() {
    local out="$SELFTEST_DIR/evidence-$1.txt" p f
    python3 "$REPO/tests/slurm/check_evidence.py" "$1" "$2" "$3" "$JOBCOMP" >"$out" 2>&1
    cat "$out"
    p=$(grep -c '^  \[PASS\]' "$out")
    f=$(grep -c '^  \[FAIL\]' "$out")
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    # the checker must have run to the end (a crash is a failure too)
    if ! grep -q '^  evidence: ' "$out"; then
        bad "SLURM evidence of run '$1' (see $out)"
    fi
}

cleanup() {
    if [ "${CIFARFLOW_SLURM_KEEP:-0}" = 1 ]; then
        say "CIFARFLOW_SLURM_KEEP=1: leaving the cluster running (stop: bash .ci/slurm/stop.sh)"
    else
        bash "$REPO/.ci/slurm/stop.sh" || { echo "[slurm-selftest] stop.sh failed"; FAILED=$((FAILED + 1)); }
    fi
    say "work dirs and logs kept in $SELFTEST_DIR"
    say "total $(( $(date +%s) - T0 ))s"
    echo "slurm-selftest: $PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ] || exit 1
}
trap cleanup EXIT

# smk NAME WORKDIR ARGS... : run Snakemake with the SLURM profile, bounded.
smk() {
    local name=$1 dir=$2
    shift 2
    SMK_LOG="$SELFTEST_DIR/$name.log"
    mkdir -p "$dir"
    local t=$(date +%s)
    say "run '$name': snakemake --profile profiles/slurm --directory $dir $* (timeout ${SMK_TIMEOUT}s)"
    (cd "$REPO" && timeout -s KILL "$SMK_TIMEOUT" snakemake --profile profiles/slurm \
        --directory "$dir" "${SMK_EXTRA[@]}" "$@") >"$SMK_LOG" 2>&1 </dev/null
    SMK_RC=$?
    SMK_SECONDS=$(( $(date +%s) - t ))
    say "run '$name': exit $SMK_RC after ${SMK_SECONDS}s (log $SMK_LOG)"
    if [ "$SMK_RC" = 137 ]; then
        echo "  Snakemake was killed by the ${SMK_TIMEOUT}s timeout; last lines:"
        tail -n 30 "$SMK_LOG" | sed 's/^/    /'
    fi
}

# no job of the run may be left queued or running once Snakemake has exited
no_leftover_jobs() {  # LOG
    local run_id left
    run_id=$(sed -nE 's/.*SLURM run ID: (\S+).*/\1/p' "$1" | head -n 1)
    [ -n "$run_id" ] || return 0
    left=$(squeue -h --name "$run_id" -t pending,running,completing,configuring -o '%i %T' 2>/dev/null)
    if [ -z "$left" ]; then ok "no job of run $run_id left in the queue"; else bad "jobs left in the queue: $left"; fi
}

# ------------------------------------------------------------------ 1. cluster
say "1. start the SLURM cluster"
t=$(date +%s)
if bash "$REPO/.ci/slurm/start.sh"; then
    ok "cluster started in $(( $(date +%s) - t ))s"
else
    bad "cluster did not start"
    exit 1
fi
if python3 -c 'import snakemake_executor_plugin_slurm' 2>/dev/null; then
    ok "snakemake-executor-plugin-slurm $(python3 -c 'import importlib.metadata as m; print(m.version("snakemake-executor-plugin-slurm"))') is installed"
else
    bad "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"
    exit 1
fi
sinfo -o '  %P %a %D %t %c cpus %m MB' || true
JOBCOMP="$SLURM_DIR/jobcomp.log"

# ------------------------------------------------------- 2. a successful run
say "2. tiny workflow, every job must run as a SLURM job"
smk success "$SELFTEST_DIR/success" -s tests/slurm/Snakefile
if [ "$SMK_RC" = 0 ]; then ok "snakemake exited 0 (${SMK_SECONDS}s)"; else bad "snakemake exited $SMK_RC"; tail -n 40 "$SMK_LOG" | sed 's/^/    /'; fi
grep -E "has been submitted with SLURM jobid" "$SMK_LOG" | sed 's/^/    /'
evidence success "$SELFTEST_DIR/success" "$SMK_LOG"
no_leftover_jobs "$SMK_LOG"

# ---------------------------------------------------------- 3. a failing run
say "3. same workflow with --config fail=1: must fail, in bounded time"
smk fail "$SELFTEST_DIR/fail" -s tests/slurm/Snakefile --config fail=1
if [ "$SMK_RC" != 0 ] && [ "$SMK_RC" != 137 ]; then
    ok "snakemake exited $SMK_RC (non-zero) by itself"
else
    bad "snakemake exit status $SMK_RC (want non-zero, not killed)"
fi
if [ "$SMK_SECONDS" -le "$FAIL_BOUND" ]; then ok "failing run ended within ${FAIL_BOUND}s (${SMK_SECONDS}s)"; else bad "failing run took ${SMK_SECONDS}s > ${FAIL_BOUND}s"; fi
grep -E "Error in rule|SLURM-job .* failed" "$SMK_LOG" | sed 's/^/    /'
evidence fail "$SELFTEST_DIR/fail" "$SMK_LOG"
no_leftover_jobs "$SMK_LOG"

say "4. stop the cluster"
# cleanup (trap) stops it and prints the summary line
