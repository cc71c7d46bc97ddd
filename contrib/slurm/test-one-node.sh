#!/usr/bin/env bash
# Runs a migsim sweep as a job array on a real one-node Slurm cluster started here, collects
# the shards and checks the merged results are byte-identical to the same sweep run locally.
#
#   contrib/slurm/test-one-node.sh [path/to/migsim]
#
# Needs root (it starts munged, slurmctld and slurmd) and Debian's slurm-wlm and munge; it
# installs them with apt-get when they are missing. It exits 0 after printing "SKIPPED: why"
# when it cannot run here (in CI it fails instead, unless MIGSIM_ALLOW_SKIP=slurm: see
# contrib/skip.sh), 1 when the check fails. Every daemon it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
migsim=${1:-$root/target/release/migsim}

# shellcheck source=contrib/skip.sh
. contrib/skip.sh
skip() { skip_component slurm "$*"; }

[ "$(id -u)" -eq 0 ] || skip "needs root to start munged, slurmctld and slurmd"
[ -x "$migsim" ] || { echo "no migsim binary at $migsim; build it with cargo build --release" >&2; exit 2; }
# Job scripts run in another folder: the path must be absolute.
migsim=$(realpath "$migsim")

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || skip "slurm-wlm and munge are missing and there is no apt-get"
  echo "installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q slurm-wlm munge >/tmp/migsim-slurm-apt.log 2>&1; then
    apt-get update -q >>/tmp/migsim-slurm-apt.log 2>&1 || true
    apt-get install -y -q slurm-wlm munge >>/tmp/migsim-slurm-apt.log 2>&1 \
      || skip "apt-get install slurm-wlm munge failed (log: /tmp/migsim-slurm-apt.log)"
  fi
fi
[ -s /etc/munge/munge.key ] || skip "/etc/munge/munge.key is missing (the munge package makes it)"

scratch=$(mktemp -d /tmp/migsim-slurm.XXXXXX)
chmod 755 "$scratch"
pids=()
cleanup() {
  local code=$?
  # Stop slurmd, slurmctld, then munged (by its own pid file: runuser only waits for it).
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
  [ -s "$scratch/munge/munged.pid" ] && kill "$(cat "$scratch/munge/munged.pid")" 2>/dev/null || true
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if [ "$code" -ne 0 ] && [ -d "$scratch" ]; then
    echo "--- slurmctld.log"; tail -20 "$scratch/slurmctld.log" 2>/dev/null || true
    echo "--- slurmd.log"; tail -20 "$scratch/slurmd.log" 2>/dev/null || true
  fi
  rm -rf "$scratch"
  exit "$code"
}
trap cleanup EXIT

# munge: its own socket, pid and log under the scratch folder, run as the munge user.
mkdir -p "$scratch/munge"
chown munge:munge "$scratch/munge"
socket="$scratch/munge/munge.socket"
runuser -u munge -- /usr/sbin/munged --foreground --socket="$socket" \
  --pid-file="$scratch/munge/munged.pid" --log-file="$scratch/munge/munged.log" \
  --seed-file="$scratch/munge/munged.seed" >"$scratch/munge/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$socket" ] && break; sleep 0.1; done
[ -S "$socket" ] || skip "munged did not start (see $scratch/munge/munged.log)"

# slurm.conf for one node on loopback: the node line is what slurmd detects on this machine.
node=$(slurmd -C | head -1)
name=$(hostname -s)
mkdir -p "$scratch/state" "$scratch/spool"
cat >"$scratch/slurm.conf" <<CONF
ClusterName=migsim-test
SlurmctldHost=$name(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
StateSaveLocation=$scratch/state
SlurmdSpoolDir=$scratch/spool
SlurmctldPidFile=$scratch/slurmctld.pid
SlurmdPidFile=$scratch/slurmd.pid
SlurmctldLogFile=$scratch/slurmctld.log
SlurmdLogFile=$scratch/slurmd.log
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$scratch/slurm.conf"

slurmctld -D -i -f "$SLURM_CONF" >"$scratch/slurmctld.out" 2>&1 &
pids+=($!)
sleep 1
slurmd -D -f "$SLURM_CONF" >"$scratch/slurmd.out" 2>&1 &
pids+=($!)
ready=""
for _ in $(seq 60); do
  if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then ready=1; break; fi
  sleep 0.5
done
[ -n "$ready" ] || { echo "the Slurm node never became idle: $(sinfo 2>&1)"; exit 1; }
echo "one-node Slurm up: $(sinfo -h -o '%P %D %t %c CPUs')"

# The sweep: 2 policies x 2 load levels x 3 seeds = 12 runs, on the built-in scenario.
args=(--set policy.name=none,thr-mmt-0.8 --set workload.cpu_scale=1,1.25 --set horizon=6h --seeds 1..3)
"$migsim" sweep --quiet --jobs 2 --out "$scratch/local" "${args[@]}"

mkdir -p "$scratch/array" "$scratch/logs"
job=$(MIGSIM="$migsim" sbatch --parsable --wait --array=0-3%2 \
  --output="$scratch/logs/%A_%a.out" --chdir="$scratch" \
  contrib/slurm/sweep.sbatch --out "$scratch/array" "${args[@]}") || {
  echo "the job array failed:"; cat "$scratch"/logs/*.out 2>/dev/null || true; exit 1; }
echo "job array $job finished: $(ls "$scratch/array" | tr '\n' ' ')"
[ "$(ls "$scratch"/array/shard-*-of-4.json | wc -l)" -eq 4 ] || { echo "expected 4 shard files"; exit 1; }

"$migsim" collect --quiet "$scratch/array" --out "$scratch/merged"
for f in results.csv summary.csv; do
  if ! cmp "$scratch/local/$f" "$scratch/merged/$f"; then
    echo "FAILED: $f from the Slurm array differs from the local sweep's"
    diff "$scratch/local/$f" "$scratch/merged/$f" | head -20
    exit 1
  fi
done
echo "ok: a 4-task Slurm job array gave results.csv and summary.csv byte-identical to the local sweep ($(($(wc -l <"$scratch/merged/results.csv") - 1)) runs)"
