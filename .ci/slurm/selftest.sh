#!/usr/bin/env bash
# End-to-end check that profiles/slurm really runs Snakemake jobs as SLURM jobs, on the tiny test
# workflow (tests/slurm/Snakefile) and on the REAL workflow (this repo's Snakefile):
#   1. start the single-node SLURM cluster (.ci/slurm/start.sh); start, in the background and
#      under `nice -n 19`, the LOCAL reference run of the real workflow (step 4's config,
#      --cores 2, no profile): it runs on the CPU time the cluster runs leave idle;
#   2. tiny workflow with --profile profiles/slurm: every non-local job must be a SLURM job
#      (submission line in Snakemake's log, the job in squeue/scontrol and in the job
#      completion log, SLURM_JOB_ID inside the job), with the rule's threads as SLURM CPUs /
#      OMP_NUM_THREADS; outputs must appear (tests/slurm/check_evidence.py);
#   3. the tiny workflow with --config fail=1: Snakemake must exit non-zero by itself, in
#      bounded time, reporting the failed SLURM job;
#   4. the real workflow (whole default target) with the profile, on the quick config
#      (config/config.yaml + config/quick.yaml) restricted to the experiment set(s) $REAL_SETS
#      (default `best`: softmax, sigmoid and MLP, flips and shifts), every variant in the job
#      group `short`, on the shared CIFAR-10 archive: every non-local job (import, split, the
#      training jobs) must be a SLURM job that completed, the trainings bundled into fewer sbatch
#      jobs than trainings (group job), local rules must have run locally, every variant must
#      have its training log (tests/slurm/check_workflow_evidence.py ... grouped);
#   5. every variant of step 4 must be bit for bit identical to the local run of step 1
#      (weights, metrics, history, predictions: tests/slurm/compare_runs.py, cifarflow compare-runs);
#   6. the real workflow with a variant whose training fails on the cluster (batch_size larger
#      than its training images): Snakemake must exit non-zero by itself, in bounded time,
#      reporting the failed SLURM job, and the job's log must hold its one-line error; the job
#      must have been retried once (profile: retries 1) with twice the memory (mem_mb x attempt);
#   7. stop the cluster (always, via trap; CIFARFLOW_SLURM_KEEP=1 leaves it up).
# The cluster runs one after the other on purpose: the plugin checks the jobs' status at 2, 14,
# 36, 68 s (+10 s more after every check that finds nothing finished), so a job that waits in
# the queue behind another run's jobs, or runs slower on a busy CPU, is noticed 20-30 s later.
# (The whole quick config, 40 SLURM jobs, takes ~3 min on the cluster alone: too long here.)
# Every Snakemake run is bounded with `timeout -s KILL` (a hung run ignores SIGTERM).
# Prints one [PASS]/[FAIL] line per check, the time of each phase, and last the line
# `slurm-selftest: N passed, M failed`; exits non-zero on any failure (also when the whole
# self-test takes longer than $SELFTEST_TIME_BOUND seconds). Work dirs and logs: $SELFTEST_DIR.
#
# Knobs (environment): REAL_SETS (comma-separated experiment sets, default best),
# FAIL_SETTINGS (step 6's variant; match a variant of REAL_SETS, see below), REAL_SNAKEMAKE_ARGS
# (extra options for both real runs, e.g. "--until train"), CIFARFLOW_ARCHIVE (default
# ../shared/data/cifar-10-jpeg.tar.gz beside the clone), SMK_TIMEOUT, FAIL_BOUND,
# REAL_FAIL_BOUND, SELFTEST_TIME_BOUND (seconds).
#
# To add a step: a function that calls
#   smk NAME WORKDIR [snakemake args...]   -> sets SMK_RC, SMK_LOG, SMK_SECONDS
# and records results with ok / bad (or runs a checker with `checks`).
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
SLURM_DIR=${CIFARFLOW_SLURM_DIR:-/tmp/cifarflow-slurm}
SMK_TIMEOUT=${SMK_TIMEOUT:-300}          # seconds, per Snakemake run (SIGKILL after)
FAIL_BOUND=${FAIL_BOUND:-180}            # seconds the failing tiny run may take at most
REAL_FAIL_BOUND=${REAL_FAIL_BOUND:-120}  # seconds the failing real-workflow run may take at most
SELFTEST_TIME_BOUND=${SELFTEST_TIME_BOUND:-360}  # the whole self-test, cluster start included
# (360, was 300: step 6's failing training job is now retried once, the profile's `retries: 1`)
REAL_SETS=${REAL_SETS:-best}
ARCHIVE=${CIFARFLOW_ARCHIVE:-$(cd "$REPO/.." && pwd)/shared/data/cifar-10-jpeg.tar.gz}
SELFTEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cifarflow-slurm-selftest.XXXXXX")
JOBCOMP="$SLURM_DIR/jobcomp.log"
# Snakemake options used for every run here, on top of the profile:
#   short first status check (the plugin's default is 40 s; it then adds 10 s per
#   check that finds nothing finished, so a short start matters for short jobs);
#   keep the per-job SLURM logs of successful jobs too (evidence).
SMK_EXTRA=(--slurm-init-seconds-before-status-checks 2 --slurm-keep-successful-logs)
# The real workflow's config: the quick experiment config, restricted to $REAL_SETS, with every
# variant in the cluster job group `short` (group.yaml: the profile's group-components bundles
# up to 8 trainings per sbatch job), so that step 4 shows the grouped submission. The local run
# (step 5's reference) uses the same config: groups do not change results.
GROUP_CONFIG="$SELFTEST_DIR/group.yaml"
printf '%s\n' "# .ci/slurm/selftest.sh: every variant's training in the cluster job group train-short" \
    "overrides: {group: short}" >"$GROUP_CONFIG"
read -r -a REAL_ARGS <<<"${REAL_SNAKEMAKE_ARGS:-}"
REAL_CONFIG=(-s Snakefile "${REAL_ARGS[@]}" --configfile "$REPO/config/config.yaml" "$REPO/config/quick.yaml"
             "$GROUP_CONFIG" --config "local_archive=$ARCHIVE" "run=[$REAL_SETS]")
REAL_DIR="$SELFTEST_DIR/real-slurm"
LOCAL_DIR="$SELFTEST_DIR/real-local"
LOCAL_LOG="$SELFTEST_DIR/real-local.log"
LOCAL_PID=""
# Step 6's failing variant: a batch of 3000 passes the config check (at most quick.yaml's
# train_limit of 5000) but is larger than the 2000 cat and dog images of the basic split's
# data_batch_1, which only the training job knows: it fails on the cluster, not before.
FAIL_VARIANT=ci-fail-batch
FAIL_SETTINGS=${FAIL_SETTINGS:-"model: softmax, split: basic, classes: [cat, dog], augmentation: flip_p05"}
FAIL_ERROR="batch_size 3000 is larger than its 2000 training images"

T0=$(date +%s)
PASSED=0
FAILED=0
PHASES=()
say() { echo "[slurm-selftest +$(( $(date +%s) - T0 ))s] $*"; }
ok() { PASSED=$((PASSED + 1)); echo "  [PASS] $*"; }
bad() { FAILED=$((FAILED + 1)); echo "  [FAIL] $*"; }
phase() { PHASES+=("$(printf '%-62s %4ss' "$1" "$2")"); }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# checks NAME CMD...: run a checker that prints "  [PASS]/[FAIL] ..." lines and, when it ran to
# the end, a last line "  <word>: N of M checks passed"; count its checks.
checks() {
    local name=$1 out="$SELFTEST_DIR/checks-$1.txt" p f
    shift
    "$@" >"$out" 2>&1
    cat "$out"
    p=$(grep -c '^  \[PASS\]' "$out")
    f=$(grep -c '^  \[FAIL\]' "$out")
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    # the checker must have run to the end (a crash is a failure too)
    grep -qE '^  [a-z]+: [0-9]+ of [0-9]+ checks passed' "$out" || bad "checker '$name' did not finish (see $out)"
}
# evidence MODE WORKDIR LOG: tests/slurm/check_evidence.py on a run of tests/slurm/Snakefile
evidence() { checks "tiny-$1" python3 "$REPO/tests/slurm/check_evidence.py" "$1" "$2" "$3" "$JOBCOMP"; }

# stop a background process we started, by its pid (`timeout` passes SIGTERM on to Snakemake)
stop_pid() {
    local pid=$1 child
    alive "$pid" || return 0
    say "stopping background process $pid"
    child=$(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ')
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.2; done
    # shellcheck disable=SC2086
    alive "$pid" && kill -KILL $child "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

cleanup() {
    local t total
    stop_pid "$LOCAL_PID"
    t=$(date +%s)
    if [ "${CIFARFLOW_SLURM_KEEP:-0}" = 1 ]; then
        say "CIFARFLOW_SLURM_KEEP=1: leaving the cluster running (stop: bash .ci/slurm/stop.sh)"
    else
        bash "$REPO/.ci/slurm/stop.sh" || bad "stop.sh failed"
    fi
    phase "7. stop the cluster" "$(( $(date +%s) - t ))"
    if [ "$FAILED" = 0 ]; then
        # ~700 MB of HDF5 data and plans per self-test: keep them only when something failed
        rm -rf "$SELFTEST_DIR"/real-*/results/data "$SELFTEST_DIR"/real-*/results/plans
        say "logs and results kept in $SELFTEST_DIR (data and plans removed)"
    else
        say "work dirs and logs kept in $SELFTEST_DIR"
    fi
    total=$(( $(date +%s) - T0 ))
    echo "time per phase:"
    printf '  %s\n' "${PHASES[@]}"
    if [ "$total" -le "$SELFTEST_TIME_BOUND" ]; then
        ok "whole self-test took ${total}s (bound ${SELFTEST_TIME_BOUND}s)"
    else
        bad "whole self-test took ${total}s > ${SELFTEST_TIME_BOUND}s"
    fi
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
    local t
    t=$(date +%s)
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

# a run that must fail: non-zero exit by itself (not the timeout's kill), within BOUND seconds
must_have_failed() {  # BOUND
    if [ "$SMK_RC" != 0 ] && [ "$SMK_RC" != 137 ]; then
        ok "snakemake exited $SMK_RC (non-zero) by itself"
    else
        bad "snakemake exit status $SMK_RC (want non-zero, not killed)"
    fi
    if [ "$SMK_SECONDS" -le "$1" ]; then ok "failing run ended within ${1}s (${SMK_SECONDS}s)"; else bad "failing run took ${SMK_SECONDS}s > ${1}s"; fi
}

# ------------------------------------------------------------------------ steps
step_tiny_success() {
    say "2. tiny workflow, every job must run as a SLURM job"
    smk tiny-success "$SELFTEST_DIR/tiny-success" -s tests/slurm/Snakefile
    if [ "$SMK_RC" = 0 ]; then ok "snakemake exited 0 (${SMK_SECONDS}s)"; else bad "snakemake exited $SMK_RC"; tail -n 40 "$SMK_LOG" | sed 's/^/    /'; fi
    grep -E "has been submitted with SLURM jobid" "$SMK_LOG" | sed 's/^/    /'
    evidence success "$SELFTEST_DIR/tiny-success" "$SMK_LOG"
    no_leftover_jobs "$SMK_LOG"
}

step_tiny_fail() {
    say "3. tiny workflow with --config fail=1: must fail, in bounded time"
    # --retries 0: this step checks the failure path itself; step 6 checks the profile's retry
    smk tiny-fail "$SELFTEST_DIR/tiny-fail" -s tests/slurm/Snakefile --config fail=1 --retries 0
    must_have_failed "$FAIL_BOUND"
    grep -E "Error in rule|SLURM-job .* failed" "$SMK_LOG" | sed 's/^/    /'
    evidence fail "$SELFTEST_DIR/tiny-fail" "$SMK_LOG"
    no_leftover_jobs "$SMK_LOG"
}

step_real_success() {
    say "4. the real workflow (quick config, sets $REAL_SETS) on SLURM: every non-local job a SLURM job"
    smk real-slurm "$REAL_DIR" "${REAL_CONFIG[@]}"
    if [ "$SMK_RC" = 0 ]; then ok "snakemake exited 0 (${SMK_SECONDS}s)"; else bad "snakemake exited $SMK_RC"; tail -n 40 "$SMK_LOG" | sed 's/^/    /'; fi
    checks real-slurm python3 "$REPO/tests/slurm/check_workflow_evidence.py" success "$REAL_DIR" "$SMK_LOG" "$JOBCOMP" grouped
    no_leftover_jobs "$SMK_LOG"
}

step_compare() {
    say "5. the same config run locally (--cores 2, started in step 1): every variant bit for bit identical"
    wait "$LOCAL_PID"
    local rc=$? n_train
    LOCAL_PID=""
    if [ "$rc" = 0 ]; then
        ok "local run exited 0 after $(grep -oE 'Elapsed time: [0-9:]+' "$LOCAL_LOG" | tail -n 1 | cut -d' ' -f3) (log $LOCAL_LOG)"
    else
        bad "local run exited $rc"
        tail -n 30 "$LOCAL_LOG" | sed 's/^/    /'
    fi
    if grep -qE "SLURM run ID|has been submitted with SLURM" "$LOCAL_LOG"; then
        bad "the local run submitted SLURM jobs"
    else
        ok "the local run used no SLURM ($(grep -cE '^(local)?rule ' "$LOCAL_LOG") jobs on this host)"
    fi
    n_train=$(awk '/^train +[0-9]+$/ {print $2; exit}' "$LOCAL_LOG")
    checks compare python3 "$REPO/tests/slurm/compare_runs.py" "$REAL_DIR" "$LOCAL_DIR" --expect "${n_train:-0}"
}

step_real_fail() {
    say "6. real workflow with a variant whose training fails: Snakemake must report it, in bounded time"
    local dir="$SELFTEST_DIR/real-fail" d
    mkdir -p "$dir/results"
    # step 4's data and epoch plans (hard links): only the failing training job has to run
    for d in data plans; do
        [ -d "$REAL_DIR/results/$d" ] && cp -al "$REAL_DIR/results/$d" "$dir/results/"
    done
    cat >"$dir/fail.yaml" <<EOF
# one variant that fails in training: batch_size larger than its 2000 training images
experiments:
  ci-fail:
    title: "CI: a training job that fails on the cluster"
    variants:
      - {name: $FAIL_VARIANT, $FAIL_SETTINGS, batch_size: 3000}
run: [ci-fail]
EOF
    smk real-fail "$dir" -s Snakefile --configfile "$REPO/config/config.yaml" "$REPO/config/quick.yaml" \
        "$dir/fail.yaml" --config "local_archive=$ARCHIVE"
    must_have_failed "$REAL_FAIL_BOUND"
    grep -E "Error in rule|SLURM-job .* failed|$FAIL_ERROR" "$SMK_LOG" | awk '!seen[$0]++' | sed 's/^/    /'
    checks real-fail python3 "$REPO/tests/slurm/check_workflow_evidence.py" fail "$dir" "$SMK_LOG" "$JOBCOMP" \
        "$FAIL_VARIANT" "$FAIL_ERROR"
    no_leftover_jobs "$SMK_LOG"
}

# ------------------------------------------------------------------ 1. cluster
say "1. start the SLURM cluster"
if bash "$REPO/.ci/slurm/start.sh"; then
    ok "cluster started in $(( $(date +%s) - T0 ))s"
else
    bad "cluster did not start"
    exit 1
fi
if ! python3 -c 'import snakemake_executor_plugin_slurm' 2>/dev/null; then
    # like start.sh installs SLURM: the project's `slurm` extra, if CI did not install it
    say "snakemake-executor-plugin-slurm is missing: pip install -e '.[slurm]'"
    (cd "$REPO" && timeout 600 python3 -m pip install -q -e '.[slurm]') || true
fi
if python3 -c 'import snakemake_executor_plugin_slurm' 2>/dev/null; then
    ok "snakemake-executor-plugin-slurm $(python3 -c 'import importlib.metadata as m; print(m.version("snakemake-executor-plugin-slurm"))') is installed"
else
    bad "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"
    exit 1
fi
sinfo -o '  %P %a %D %t %c cpus %m MB' || true
phase "1. start the cluster" "$(( $(date +%s) - T0 ))"

REAL_OK=1
if [ -f "$ARCHIVE" ]; then
    ok "real data: $ARCHIVE ($(du -h "$ARCHIVE" | cut -f1)); experiment sets: $REAL_SETS"
    mkdir -p "$LOCAL_DIR"
    say "1. in the background (nice 19): the local reference run for step 5 (log $LOCAL_LOG):"
    echo "    snakemake --cores 2 --directory $LOCAL_DIR ${REAL_CONFIG[*]}"
    (cd "$REPO" && exec timeout -s KILL "$SMK_TIMEOUT" nice -n 19 snakemake --directory "$LOCAL_DIR" --cores 2 \
        "${REAL_CONFIG[@]}") >"$LOCAL_LOG" 2>&1 </dev/null &
    LOCAL_PID=$!
else
    bad "the CIFAR-10 archive $ARCHIVE is missing: the real workflow (steps 4-6) cannot run"
    REAL_OK=0
fi

# -------------------------------------------------- 2. + 3. tiny workflow
# one after the other: side by side, the second run's jobs wait in the queue behind the first's
# and the status checks notice them 20-30 s later
step_tiny_success
phase "2. tiny workflow on SLURM" "$SMK_SECONDS"
step_tiny_fail
phase "3. tiny workflow, failing job on SLURM" "$SMK_SECONDS"

[ "$REAL_OK" = 1 ] || exit 1

# ---------------------------------------------- 4. the real workflow on SLURM
step_real_success
phase "4. real workflow on SLURM ($REAL_SETS)" "$SMK_SECONDS"

# ----------------------------------------------------- 5. SLURM vs local
t=$(date +%s)
step_compare
phase "5. local run ($(grep -oE 'Elapsed time: [0-9:]+' "$LOCAL_LOG" | tail -n 1 | cut -d' ' -f3), from step 1); wait + compare" "$(( $(date +%s) - t ))"

# ------------------------------------------- 6. a failing training job on SLURM
step_real_fail
phase "6. real workflow, failing training job on SLURM" "$SMK_SECONDS"

say "7. stop the cluster"
# cleanup (trap) stops it and prints the timings and the summary line
