#!/usr/bin/env bash
# Replays a real cluster's monitoring: Prometheus scrapes two real libvirt hosts, migsim
# imports what it stored, and a plan built from that trace executes.
#
#   contrib/prometheus/test-scrape.sh [path/to/migsim built with --features libvirt]
#
# The two libvirtd hosts are those of contrib/libvirt/hosts.sh. On host1 run two guests of
# a known CPU load (cpuload.S): "square" spins for 20 s and halts for 20 s, over and over;
# "quiet" halts. Debian's prometheus-libvirt-exporter (one per host), prometheus-node-exporter
# and prometheus run on free loopback ports, scraping every second, for 82 s. While they scrape, the
# test stops host1's libvirt exporter for a while (a gap: Prometheus marks the series stale)
# and restarts "quiet" (its CPU-time counter resets). Then:
#   1. `migsim trace import prometheus --url` imports the range at a 5 s step and saves the
#      answers; the trace must reproduce the square wave (best phase: RMS error at most 0.15,
#      mean within 0.06 of the wave's), "quiet" must stay under 5 % (median: one sample holds
#      its boot after the restart), and the report must
#      show the gap and the reset;
#   2. importing the saved answers again (--files) must give the same trace, byte for byte;
#   3. `migsim inventory --connect … --trace` joins today's domains to the trace by name; a
#      maintenance window on host1 is planned on that scenario and executed for real: both
#      guests must end on host2.
# Needs root. Prints "SKIPPED: why" and exits 0 when it cannot run here (in CI it fails
# instead, unless MIGSIM_ALLOW_SKIP=prometheus: see contrib/skip.sh); exits 1 when a check
# fails. MIGSIM_PROMETHEUS_KEEP=DIR copies the saved answers and the import there.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=contrib/skip.sh
. contrib/skip.sh
skip() { skip_component prometheus "$*"; }
fail() {
  echo "FAILED: prometheus test: $*"
  exit 1
}

# shellcheck source=contrib/libvirt/hosts.sh
. contrib/libvirt/hosts.sh
use_migsim "$@"

if ! command -v prometheus >/dev/null || ! command -v prometheus-libvirt-exporter >/dev/null \
    || ! command -v prometheus-node-exporter >/dev/null || ! command -v as >/dev/null; then
  echo "installing prometheus, its libvirt and node exporters, and binutils"
  pkgs="prometheus prometheus-libvirt-exporter prometheus-node-exporter binutils"
  if ! apt-get install -y -q $pkgs >/tmp/migsim-prometheus-apt.log 2>&1; then
    apt-get update -q >>/tmp/migsim-prometheus-apt.log 2>&1 || true
    apt-get install -y -q $pkgs >>/tmp/migsim-prometheus-apt.log 2>&1 \
      || skip "apt-get install $pkgs failed (log: /tmp/migsim-prometheus-apt.log)"
  fi
fi
# Debian's packages start their services where systemd runs; this test runs its own.
echo "$(prometheus --version 2>&1 | head -1)"

# The guests' boot sector, with BUSY and IDLE (BIOS ticks, 18.2065 per second) patched in.
as --32 -o "$scratch/cpuload.o" contrib/prometheus/cpuload.S
ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$scratch/cpuload.bin" "$scratch/cpuload.o"
image() { # NAME BUSY IDLE
  cp "$scratch/cpuload.bin" "$scratch/$1.img"
  truncate -s 1M "$scratch/$1.img"
  python3 -c 'import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(0x1d0); f.write(struct.pack("<HH", int(sys.argv[2]), int(sys.argv[3])))' "$scratch/$1.img" "$2" "$3"
}
busy_ticks=364 # 20.0 s
image square $busy_ticks $busy_ticks
image quiet 0 0
for name in square quiet; do
  boot_domain 1 "$name" 64 "$scratch/$name.img"
done
echo "guests square (20 s busy, 20 s halted) and quiet (halted) run on host1"

# Exporters and Prometheus on free loopback ports.
declare -A exp_port
exporter() { # N: host N's libvirt exporter
  prometheus-libvirt-exporter --web.listen-address="127.0.0.1:${exp_port[$1]}" \
    --libvirt.uri="$(uri "$1")" >"$scratch/exporter$1.log" 2>&1 &
  exporter_pid[$1]=$!
  pids+=($!)
}
declare -A exporter_pid
for n in 1 2; do
  exp_port[$n]=$(free_port)
  exporter "$n"
done
node_port=$(free_port)
prometheus-node-exporter --web.listen-address="127.0.0.1:$node_port" --collector.disable-defaults \
  --collector.cpu --collector.meminfo >"$scratch/node.log" 2>&1 &
pids+=($!)
prom_port=$(free_port)
cat >"$scratch/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: libvirt
    static_configs:
      - targets: ["127.0.0.1:${exp_port[1]}"]
        labels: {host: host1}
      - targets: ["127.0.0.1:${exp_port[2]}"]
        labels: {host: host2}
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:$node_port"]
        labels: {host: host1}
  - job_name: node-host2
    static_configs:
      - targets: ["127.0.0.1:$node_port"]
        labels: {host: host2}
YML
prometheus --config.file="$scratch/prometheus.yml" --storage.tsdb.path="$scratch/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$scratch/prometheus.log" 2>&1 &
pids+=($!)
url="http://127.0.0.1:$prom_port"
ready=""
for _ in $(seq 100); do
  if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/-/ready", timeout=1)' "$url" 2>/dev/null; then
    ready=1; break
  fi
  sleep 0.3
done
[ -n "$ready" ] || { tail -5 "$scratch/prometheus.log"; fail "prometheus did not become ready at $url"; }
targets_up() {
  python3 -c 'import json, sys, urllib.request
r = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/query?query=up", timeout=2))
print(sum(1 for s in r["data"]["result"] if s["value"][1] == "1"))' "$url"
}
for _ in $(seq 60); do [ "$(targets_up)" = 4 ] && break; sleep 0.5; done
[ "$(targets_up)" = 4 ] || { tail -5 "$scratch/exporter1.log"; fail "not every exporter is up in Prometheus"; }
from=$(date +%s)
echo "prometheus at $url scrapes 2 libvirt exporters and the node exporter every second"

# Scraping, 82 s: two periods of the wave. At 30 s host1's exporter stops for 12 s; at 52 s
# "quiet" restarts.
sleep 30
kill "${exporter_pid[1]}"
wait "${exporter_pid[1]}" 2>/dev/null || true
sleep 12
exporter 1
sleep 10
virsh -c "$(uri 1)" destroy quiet >/dev/null
sleep 3
virsh -c "$(uri 1)" start quiet >/dev/null
sleep 27
until=$(date +%s)

# 1. Import from the server.
"$migsim" trace import prometheus --url "$url" --from "$from" --until "$until" --step 5s \
  --save "$scratch/answers" --out "$scratch/imported" | tee "$scratch/import.txt"
python3 - "$scratch/imported" $busy_ticks <<'PY' || fail "the imported trace does not show the guests' known load"
import csv, json, sys
out, ticks = sys.argv[1], int(sys.argv[2])
half = ticks / (1193182 / 65536)  # seconds busy, then halted
period = 2 * half
rows = {}
for r in csv.DictReader(open(f"{out}/trace.csv")):
    rows.setdefault(r["vm"], []).append((float(r["time"]), float(r["cpu"])))
step = json.load(open(f"{out}/import.json"))["step_s"]

def busy_share(t0, t1, phase):
    """Share of (t0, t1] the square wave spends busy, busy on [phase + k·period, + half)."""
    n = 200
    return sum(((t0 + (i + 0.5) * (t1 - t0) / n - phase) % period) < half for i in range(n)) / n

sq = rows["square"]
# Each sample is the CPU time since the step the counter was last seen at: one step, or the
# whole gap after the exporter's outage.
since = [t - step if i == 0 else sq[i - 1][0] for i, (t, _) in enumerate(sq)]
best = None
for p10 in range(int(period * 10)):
    phase = p10 / 10
    err = [(u - busy_share(t0, t, phase)) ** 2 for t0, (t, u) in zip(since, sq)]
    rms = (sum(err) / len(err)) ** 0.5
    if best is None or rms < best[0]:
        best = (rms, phase)
rms, phase = best
mean = sum(u for _, u in sq) / len(sq)
want = sum(busy_share(t0, t, phase) for t0, (t, _) in zip(since, sq)) / len(sq)
# "quiet" halts but for booting again after its restart, which one sample holds: its median.
qs = sorted(u for _, u in rows["quiet"])
quiet = qs[len(qs) // 2]
print(f"square: {len(sq)} samples, RMS error {rms:.3f} against the 20 s/20 s wave (phase {phase:.1f} s), mean {mean:.3f} (wave {want:.3f})")
print(f"quiet: median {quiet:.3f}, mean {sum(qs) / len(qs):.3f} (its boot after the restart included)")
rep = {v["name"]: v for v in json.load(open(f"{out}/import.json"))["vms"]}
print(f"report: square gaps {rep['square']['gaps']}, quiet gaps {rep['quiet']['gaps']}, quiet resets {rep['quiet']['resets']}")
ok = rms <= 0.15 and abs(mean - want) <= 0.06 and quiet <= 0.05
ok = ok and rep["square"]["gaps"] >= 1 and rep["quiet"]["resets"] >= 1
sys.exit(0 if ok else 1)
PY
grep -q "counter reset" "$scratch/import.txt" || fail "the import did not report the reset"
grep -q "missing (interpolated)" "$scratch/import.txt" || fail "the import did not report the gap"
echo "ok: the imported trace reproduces the known load, and reports the gap and the reset"

# 2. The saved answers replay to the same trace.
"$migsim" trace import prometheus --files "$scratch/answers" --out "$scratch/replayed" >/dev/null
if [ -n "${MIGSIM_PROMETHEUS_KEEP:-}" ]; then
  mkdir -p "$MIGSIM_PROMETHEUS_KEEP"
  cp -r "$scratch/answers" "$scratch/imported" "$MIGSIM_PROMETHEUS_KEEP/"
fi
for f in trace.csv hosts.csv; do
  cmp -s "$scratch/imported/$f" "$scratch/replayed/$f" || fail "$f from the saved answers differs from the server's"
done
# The report names its source (the server, or the folder); the rest must be the same.
python3 - "$scratch/imported/import.json" "$scratch/replayed/import.json" <<'PY' || fail "import.json from the saved answers differs from the server's"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
a.pop("source"); b.pop("source")
sys.exit(0 if a == b else 1)
PY
echo "ok: the saved answers replay to the same trace, hosts and report"

# 3. Today's domains joined to the trace; a plan on that scenario, executed.
"$migsim" inventory --connect "host1=$(uri 1)" --connect "host2=$(uri 2)" \
  --trace "$scratch/imported" --out "$scratch/cluster.toml" --name scraped --nic 1Gbit/s --horizon 2h
grep -q 'model = "trace"' "$scratch/cluster.toml" || fail "the inventory did not attach the trace"
cat >"$scratch/drain.toml" <<TOML
include = "cluster.toml"
name = "drain-host1"
[policy]
name = "thr-mmt-0.8"
[[maintenance]]
hosts = ["host1"]
at = "40min"
duration = "20min"
lead = "30min"
TOML
"$migsim" plan "$scratch/drain.toml" --out "$scratch/plan" -q
connect=(--connect "host1=$(uri 1)" --connect "host2=$(uri 2)" --migrate-uri tcp://127.0.0.1)
"$migsim" execute "$scratch/plan/plan.json" "${connect[@]}" --yes --skip-waits | tail -3
for name in square quiet; do
  [ "$(where "$name")" = "host2 " ] || fail "$name is on '$(where "$name")', expected host2"
done
echo "ok: the plan made from the imported trace moved both guests to host2"
