#!/usr/bin/env bash
# Start a throw-away single-node SLURM cluster on this machine (CI / developer box).
#
#   bash .ci/slurm/start.sh      # idempotent: a second call with the cluster up is a no-op
#   bash .ci/slurm/stop.sh       # stops exactly the daemons this script started
#
# What it does (Debian 12, run as root; no systemd needed):
#   1. installs slurmctld, slurmd, slurm-client and munge from Debian if missing;
#   2. writes /etc/slurm/slurm.conf (the DEFAULT path on purpose: the executor
#      plugin's job step runs an inner `srun` without SLURM_CONF) describing one
#      node as reported by `slurmd -C`, one partition `debug` (Default=YES),
#      no accounting database, MinJobAge=300, job completion log in a text file;
#   3. starts munged (as user munge), slurmctld and slurmd, records their PIDs in
#      $CIFARFLOW_SLURM_DIR/pids (default /tmp/cifarflow-slurm/pids);
#   4. waits (bounded) until `sinfo` shows the node idle and `srun hostname` works.
#
# Environment knobs: CIFARFLOW_SLURM_DIR (state/log dir), CIFARFLOW_SLURM_PARTITION
# (default debug), CIFARFLOW_SLURM_WAIT (seconds to wait for readiness, default 60).
set -euo pipefail

STATE_DIR=${CIFARFLOW_SLURM_DIR:-/tmp/cifarflow-slurm}
PARTITION=${CIFARFLOW_SLURM_PARTITION:-debug}
WAIT_S=${CIFARFLOW_SLURM_WAIT:-60}
PIDS="$STATE_DIR/pids"
CONF=/etc/slurm/slurm.conf
MARKER="# cifarflow single-node test cluster (written by .ci/slurm/start.sh)"
T0=$(date +%s)

log() { echo "[slurm-start +$(( $(date +%s) - T0 ))s] $*"; }
dump_logs() {
    for f in "$STATE_DIR"/slurmctld.log "$STATE_DIR"/slurmd.log /var/log/munge/munged.log; do
        [ -f "$f" ] || continue
        echo "----- last lines of $f -----" >&2
        tail -n 25 "$f" >&2 || true
    done
}
die() {
    echo "[slurm-start] ERROR: $*" >&2
    dump_logs
    exit 1
}
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
# PID recorded for daemon $1 in the pid file ("name pid" lines)
recorded_pid() { [ -f "$PIDS" ] && awk -v n="$1" '$1 == n {print $2}' "$PIDS" | tail -n 1 || true; }

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo -E bash "$0" "$@"
    fi
    die "must run as root (it installs packages and writes /etc/slurm/slurm.conf)"
fi

# ---------------------------------------------------------------- 1. packages
need_install=0
for b in slurmctld slurmd sinfo srun squeue scontrol munged mungekey munge unmunge; do
    command -v "$b" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$b" >/dev/null 2>&1 || need_install=1
done
export PATH="$PATH:/usr/sbin:/sbin"
if [ "$need_install" = 1 ]; then
    log "installing Debian packages slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -qq || die "apt-get update failed"
    timeout 600 apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge >"${TMPDIR:-/tmp}/cifarflow-slurm-apt.log" 2>&1 \
        || { tail -n 30 "${TMPDIR:-/tmp}/cifarflow-slurm-apt.log" >&2; die "apt-get install failed"; }
    log "packages installed ($(slurmctld -V 2>/dev/null || echo '?'))"
fi

mkdir -p "$STATE_DIR"

# ------------------------------------------------- already up? (idempotence)
cluster_ok() {
    local st
    st=$(timeout 10 sinfo -h -p "$PARTITION" -o '%t' 2>/dev/null | head -n 1) || return 1
    case "$st" in idle*|mix*|alloc*) return 0 ;; *) return 1 ;; esac
}
if alive "$(recorded_pid slurmctld)" && alive "$(recorded_pid slurmd)" && cluster_ok; then
    log "cluster already running (pids: $(tr '\n' ' ' <"$PIDS")); nothing to do"
    exit 0
fi
# Partially up (e.g. a daemon died): stop what we recorded, then start afresh.
if [ -f "$PIDS" ]; then
    log "stale or partial cluster found in $PIDS: stopping it first"
    bash "$(dirname "$0")/stop.sh" || true
fi
for d in slurmctld slurmd; do
    if pgrep -x "$d" >/dev/null 2>&1; then
        die "a $d not started by this script is running (pid $(pgrep -x "$d" | tr '\n' ' ')); stop it first"
    fi
done

# ------------------------------------------------------------ 2. slurm.conf
NODE_LINE=$(slurmd -C 2>/dev/null | grep '^NodeName=' | head -n 1) || true
[ -n "$NODE_LINE" ] || die "'slurmd -C' printed no NodeName line"
NODE=$(sed -E 's/^NodeName=([^ ]+).*/\1/' <<<"$NODE_LINE")
REAL_MEM=$(sed -nE 's/.*RealMemory=([0-9]+).*/\1/p' <<<"$NODE_LINE")
[ -n "$REAL_MEM" ] || die "no RealMemory in: $NODE_LINE"
# advertise a bit less memory than the machine has (slurmd drains a node whose
# configured RealMemory exceeds the real one)
MEM=$(( REAL_MEM * 90 / 100 ))
NODE_LINE=$(sed -E "s/RealMemory=[0-9]+/RealMemory=$MEM/" <<<"$NODE_LINE")
[ "$(hostname -s)" = "$NODE" ] || log "warning: hostname -s ($(hostname -s)) differs from slurmd -C NodeName ($NODE)"

NEW_CONF=$(cat <<EOF
$MARKER
ClusterName=cifarflow
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE_DIR/ctld-state
SlurmdSpoolDir=$STATE_DIR/slurmd-spool
SlurmctldPidFile=$STATE_DIR/slurmctld.pid
SlurmdPidFile=$STATE_DIR/slurmd.pid
SlurmctldLogFile=$STATE_DIR/slurmctld.log
SlurmdLogFile=$STATE_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups in the CI sandbox
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# no slurmdbd: sacct does not work here, hence --slurm-status-command squeue in
# the profile. Finished jobs stay visible to squeue/scontrol for MinJobAge s
# (the plugin requires MinJobAge >= 3 x its first status-check delay).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=300
# one line per finished job (id, name, state, exit code) = evidence for CI
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE_DIR/jobcomp.log
ReturnToService=2
InactiveLimit=0
KillWait=5
Waittime=0
DefMemPerCPU=1000
$NODE_LINE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
)
mkdir -p /etc/slurm "$STATE_DIR/ctld-state" "$STATE_DIR/slurmd-spool"
if [ -f "$CONF" ] && ! grep -qxF "$MARKER" "$CONF"; then
    cp -p "$CONF" "$CONF.before-cifarflow"
    log "kept the existing $CONF as $CONF.before-cifarflow"
fi
printf '%s\n' "$NEW_CONF" >"$CONF"
chmod 644 "$CONF"
log "wrote $CONF: $NODE_LINE, partition $PARTITION"

# ----------------------------------------------------------------- 3. munge
: >"$PIDS"
if timeout 5 munge -n 2>/dev/null | timeout 5 unmunge >/dev/null 2>&1; then
    log "munged already running and working: reusing it"
else
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        mungekey --create --keyfile=/etc/munge/munge.key || die "mungekey failed"
        log "created /etc/munge/munge.key"
    fi
    chown munge:munge /etc/munge /etc/munge/munge.key
    chmod 700 /etc/munge
    chmod 600 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 755 /run/munge
    rm -f /run/munge/munged.pid
    # munged forks into the background itself and writes its pid file
    setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --force \
        </dev/null >>"$STATE_DIR/munged.out" 2>&1 || die "munged failed to start"
    for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
    MUNGE_PID=$(cat /run/munge/munged.pid 2>/dev/null || true)
    alive "$MUNGE_PID" || die "munged did not stay up"
    echo "munged $MUNGE_PID" >>"$PIDS"
    timeout 5 munge -n 2>/dev/null | timeout 5 unmunge >/dev/null 2>&1 || die "munge -n | unmunge fails"
    log "munged started (pid $MUNGE_PID)"
fi

# ------------------------------------------------------- slurmctld, slurmd
start_daemon() {  # name pidfile args...
    local name=$1 pidfile=$2 pid=""
    shift 2
    rm -f "$pidfile"
    # the daemons fork into the background themselves (slurmctld -c: no old job state)
    "$@" </dev/null >>"$STATE_DIR/$name.out" 2>&1 || die "$name failed to start (see $STATE_DIR/$name.out)"
    for _ in $(seq 100); do
        pid=$(cat "$pidfile" 2>/dev/null || true)
        alive "$pid" && break
        sleep 0.1
    done
    alive "$pid" || { cat "$STATE_DIR/$name.out" >&2 || true; die "$name did not stay up"; }
    echo "$name $pid" >>"$PIDS"
    log "$name started (pid $pid)"
}
start_daemon slurmctld "$STATE_DIR/slurmctld.pid" slurmctld -c
start_daemon slurmd "$STATE_DIR/slurmd.pid" slurmd

# ------------------------------------------------------- 4. wait until usable
deadline=$(( $(date +%s) + WAIT_S ))
until cluster_ok; do
    [ "$(date +%s)" -lt "$deadline" ] || {
        sinfo -N -l >&2 || true
        die "node not idle within ${WAIT_S}s"
    }
    alive "$(recorded_pid slurmctld)" || die "slurmctld died"
    alive "$(recorded_pid slurmd)" || die "slurmd died"
    sleep 0.5
done
log "sinfo: $(sinfo -h -o '%P %a %D %t %c cpus %m MB' | tr '\n' ';')"
out=$(timeout 60 srun -N1 -n1 -t 1 hostname 2>&1) || die "srun hostname failed: $out"
log "srun hostname -> $out"
log "cluster ready in $(( $(date +%s) - T0 ))s; pids in $PIDS, logs in $STATE_DIR"
