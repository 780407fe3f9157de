#!/usr/bin/env bash
# Stop the single-node SLURM cluster started by .ci/slurm/start.sh.
# Cancels the cluster's remaining jobs, then ends exactly the daemons whose PIDs
# start.sh recorded in $CIFARFLOW_SLURM_DIR/pids (default /tmp/cifarflow-slurm/pids)
# and verifies that they are gone. Exit 0 when nothing of ours is left running.
set -uo pipefail

STATE_DIR=${CIFARFLOW_SLURM_DIR:-/tmp/cifarflow-slurm}
PIDS="$STATE_DIR/pids"
export PATH="$PATH:/usr/sbin:/sbin"

log() { echo "[slurm-stop] $*"; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# Remove the slurm.conf start.sh wrote (and restore the one it replaced, if any). Left in place
# with slurmctld gone, every later `snakemake` on this machine pays ~9 s: the SLURM executor
# plugin runs `scontrol show config` when it loads, and scontrol retries the dead controller for
# 9 s. Without a slurm.conf it fails at once. start.sh writes it again.
remove_conf() {
    local conf=/etc/slurm/slurm.conf
    [ -f "$conf" ] && grep -qxF "# cifarflow single-node test cluster (written by .ci/slurm/start.sh)" "$conf" || return 0
    if [ -f "$conf.before-cifarflow" ]; then
        mv -f "$conf.before-cifarflow" "$conf" && log "restored the previous $conf"
    else
        rm -f "$conf" && log "removed $conf"
    fi
}

if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    exec sudo -E bash "$0" "$@"
fi
if [ ! -s "$PIDS" ]; then
    log "no pid file $PIDS: nothing to stop"
    pgrep -x slurmctld >/dev/null 2>&1 || remove_conf
    exit 0
fi

# Jobs first, while slurmctld/slurmd can still clean up their job steps
# (slurmstepd and the job's processes are not children of slurmd).
slurmctld_pid=$(awk '$1 == "slurmctld" {print $2}' "$PIDS" | tail -n 1)
if alive "$slurmctld_pid"; then
    left=$(timeout 10 squeue -h -o %i 2>/dev/null | tr '\n' ' ')
    if [ -n "${left// /}" ]; then
        log "cancelling leftover jobs: $left"
        # shellcheck disable=SC2086
        timeout 20 scancel $left 2>/dev/null || true
        for _ in $(seq 40); do
            [ -z "$(timeout 10 squeue -h -t running,completing,pending -o %i 2>/dev/null)" ] && break
            sleep 0.5
        done
    fi
fi

# Reverse start order: slurmd, slurmctld, munged.
status=0
mapfile -t entries < <(tac "$PIDS")
for entry in "${entries[@]}"; do
    name=${entry%% *}
    pid=${entry##* }
    [ -n "$pid" ] || continue
    if ! alive "$pid"; then
        log "$name (pid $pid) already gone"
        continue
    fi
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    if [ "$comm" != "$name" ]; then
        log "pid $pid is '$comm', not $name: pid reused, leaving it alone"
        continue
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
        log "$name (pid $pid) ignored SIGTERM for 10 s: sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    fi
    if alive "$pid"; then
        log "ERROR: $name (pid $pid) is still running"
        status=1
    else
        log "$name (pid $pid) stopped"
    fi
done

if [ "$status" = 0 ]; then
    rm -f "$PIDS"
    remove_conf
    log "cluster stopped (logs kept in $STATE_DIR)"
fi
exit "$status"
