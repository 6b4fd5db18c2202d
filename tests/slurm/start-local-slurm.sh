#!/usr/bin/env bash
# Start a one-node Slurm on this machine for the `slurm`-marked tests (and by hand).
#
# Run as root (CI's .ci/run does, before the test command). Idempotent: a second run finds the
# daemons up and the node idle and returns at once; a config change restarts them.
#
#   bash tests/slurm/start-local-slurm.sh          # install if missing, configure, start, wait
#   HW2_SLURM_WAIT_S=120 bash tests/slurm/...      # how long to wait for the node (default 60)
#
# What it sets up: munged (Debian's key), /etc/slurm/slurm.conf for this host (CPUs from nproc,
# RealMemory from `free -m` minus a margin), ProctrackType=proctrack/linuxproc, TaskPlugin=task/none,
# SelectType=select/cons_tres, no accounting database (AccountingStorageType=accounting_storage/none:
# a finished job is kept by slurmctld for MinJobAge seconds, for `scontrol show job`, and its end is
# appended to the job-completion log JobCompLoc), a partition `debug` (Default=YES), short timeouts
# (KillWait, SlurmdTimeout, ReturnToService=2) so the tests' cancel / time-limit / lost-node cases
# end in seconds rather than minutes, and a requeued job starts again within seconds
# (AuthInfo=cred_expire=10: Slurm holds a requeued job for cred_expire + 1 s, 121 s by default;
# sched_interval/bf_interval=5: the scheduler looks every 5 s, not every 30-60 s).
set -euo pipefail

start=$(date +%s.%N)
say() { echo "start-local-slurm: $*"; }
die() { echo "start-local-slurm: error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts munged, slurmctld, slurmd)"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurm-wlm munge >/dev/null
fi

host=$(hostname -s)
cpus=$(nproc)
mem_total=$(free -m | awk '/^Mem:/ {print $2}')
real_mem=$(( mem_total > 2048 ? mem_total - 1024 : mem_total / 2 ))
state=/var/spool/hw2-slurm
logs=/var/log/hw2-slurm
mkdir -p "$state/ctld" "$state/d" "$logs" /etc/slurm /run/munge
chown munge:munge /run/munge 2>/dev/null || true

# ---------------------------------------------------------------- munge
if [ ! -s /etc/munge/munge.key ]; then
    say "creating a munge key"
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged || /usr/sbin/munged --force
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n | unmunge >/dev/null || die "munged does not answer (see /var/log/munge/munged.log)"
fi

# ---------------------------------------------------------------- slurm.conf
conf=$(cat <<EOF
# Written by tests/slurm/start-local-slurm.sh for a one-node test cluster on $host.
ClusterName=hw2local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$logs/slurmctld.log
SlurmdLogFile=$logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$logs/jobcomp.log
MpiDefault=none
ReturnToService=2
MinJobAge=120
KillWait=5
SlurmdTimeout=10
SlurmctldTimeout=10
InactiveLimit=0
Waittime=0
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=5,bf_interval=5
AuthInfo=cred_expire=10
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
)
changed=0
if [ ! -f /etc/slurm/slurm.conf ] || [ "$(cat /etc/slurm/slurm.conf)" != "$conf" ]; then
    printf '%s\n' "$conf" > /etc/slurm/slurm.conf
    changed=1
    say "wrote /etc/slurm/slurm.conf ($cpus CPUs, RealMemory=$real_mem MB)"
fi

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop() {  # pid file
    if running "$1"; then
        kill "$(cat "$1")"
        for _ in $(seq 100); do running "$1" || break; sleep 0.1; done
    fi
}
if [ "$changed" = 1 ]; then
    stop "$state/slurmd.pid"
    stop "$state/slurmctld.pid"
fi
if ! running "$state/slurmctld.pid"; then
    say "starting slurmctld"
    slurmctld -i   # -i: ignore state that no longer fits this config
fi
if ! running "$state/slurmd.pid"; then
    say "starting slurmd"
    slurmd
fi

# ---------------------------------------------------------------- wait for the node
wait_s=${HW2_SLURM_WAIT_S:-60}
deadline=$(( $(date +%s) + wait_s ))
node_state=""
while [ "$(date +%s)" -lt "$deadline" ]; do
    node_state=$(sinfo -h -n "$host" -o %T 2>/dev/null | head -1 || true)
    case "$node_state" in
        idle|mixed|allocated) break ;;
        down*|drain*) scontrol update NodeName="$host" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 0.5
done
case "$node_state" in
    idle|mixed|allocated) ;;
    *) die "node $host is '${node_state:-unknown}' after ${wait_s}s (see $logs/slurmctld.log and $logs/slurmd.log)" ;;
esac
end=$(date +%s.%N)
say "node $host is $node_state; took $(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}') s"
