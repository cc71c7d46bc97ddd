#!/usr/bin/env bash
# Closes the loop on two real libvirt hosts: measured dirty rates in, measured migrations
# back, a model calibrated to the cluster, and a second plan that predicts better.
#
#   contrib/libvirt/test-calibrate.sh [path/to/migsim built with --features libvirt]
#
# The hosts are those of contrib/libvirt/hosts.sh. Four guests on host1 boot a paced writer
# (paced-writer.S), each re-writing its memory at its own rate with its vCPU mostly halted;
# the rate each really writes is read from the writer's own page counter (QEMU's monitor,
# before and after libvirt measures). The migrations run one at a time (planned so, and
# executed so). Then:
#   1. `migsim inventory --connect … --dirty-calc 2 --dirty-calc-mode dirty-bitmap` measures
#      every guest's dirty rate through libvirt; each must be within 35 % (or the 1 MiB/s
#      libvirt resolves) of the known rate;
#   2. plan 1 drains host1 and is executed (the uncalibrated model: the inventory assumes a
#      1 Gbit/s NIC, QEMU's default switchover, no setup);
#   3. `migsim calibrate plan1` fits the host type's stream rate, switchover and setup, with
#      its error before, after and held out;
#   4. plan 2, from a fresh inventory and the calibration, drains host2 and is executed.
#      Its predicted total time (the migrations' times summed) must be within 25 % of the
#      measured (or the difference between the two runs' sums, when larger: the run-to-run
#      spread), every migration's bytes within 25 %, every downtime within the spread of
#      the downtimes measured in both runs, and its mean error on time below plan 1's (bytes
#      no worse). Downtimes are printed beside plan 1's but not required to improve: on two
#      shared cores they vary between repeats by more than the model's error.
# Needs root. Prints "SKIPPED: why" and exits 0 when it cannot run here (in CI it fails
# instead, unless MIGSIM_ALLOW_SKIP=calibrate: see contrib/skip.sh); exits 1 when a check
# fails. MIGSIM_CALIBRATE_KEEP=DIR keeps the plans, executions and calibration there.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=contrib/skip.sh
. contrib/skip.sh
skip() { skip_component calibrate "$*"; }
fail() {
  echo "FAILED: calibration test: $*"
  exit 1
}

# shellcheck source=contrib/libvirt/hosts.sh
. contrib/libvirt/hosts.sh
use_migsim "$@"
command -v as >/dev/null || skip "binutils (as, ld) is missing: it assembles the writer guests"

# The paced writer (paced-writer.S), parameters at 0x1d0: start, end, bytes per page, pages
# per 10 ms tick.
as --32 -o "$scratch/writer.o" contrib/libvirt/paced-writer.S
ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$scratch/writer.bin" "$scratch/writer.o"
# name RAM(MiB) pages-per-tick: each guest re-writes all of its RAM from 1 MiB to 2 MiB short
# of the top (where the firmware keeps its tables), so that its memory is not zero pages, as
# the model assumes when it is not told otherwise: 16, 24, 40 and 48 MiB/s, with its vCPU
# halted between ticks (libvirt reports whole MiB/s).
guests=("wr-a 128 41" "wr-b 192 61" "wr-c 256 102" "wr-d 320 123")
for g in "${guests[@]}"; do
  read -r name ram pages <<<"$g"
  cp "$scratch/writer.bin" "$scratch/$name.img"
  python3 -c 'import struct, sys
start, end = 1 << 20, (int(sys.argv[2]) - 2) << 20
with open(sys.argv[1], "r+b") as f:
    f.seek(0x1d0)
    f.write(struct.pack("<4I", start, end, 8, int(sys.argv[3])))' \
    "$scratch/$name.img" "$ram" "$pages"
  truncate -s 1M "$scratch/$name.img"
  boot_domain 1 "$name" "$ram" "$scratch/$name.img"
done
echo "four writer guests run on host1"

# The rate each writer really writes: its pass count and current page (0x7df0, 0x7df4),
# read through QEMU's monitor before and after libvirt measures.
counters() { # DOMAIN HOST → "passes current"
  virsh -c "$(uri "$2")" qemu-monitor-command "$1" --hmp 'xp /2wx 0x7df0' \
    | sed -n 's/^[0-9a-f]*: *\(0x[0-9a-f]*\) *\(0x[0-9a-f]*\).*/\1 \2/p'
}
snapshot() { # HOST → lines "name working-set-MiB passes current time"
  for g in "${guests[@]}"; do
    read -r name ram _ <<<"$g"
    echo "$name $((ram - 3)) $(counters "$name" "$1") $(date +%s.%N)"
  done
}
rates_between() { # SNAPSHOT1 SNAPSHOT2 → lines "name bytes-per-second"
  python3 -c 'import sys
one = {l.split()[0]: l.split() for l in open(sys.argv[1])}
for l in open(sys.argv[2]):
    name, ws, p2, c2, t2 = l.split()
    _, _, p1, c1, t1 = one[name]
    pages = (int(p2, 16) - int(p1, 16)) * ((int(ws) << 20) // 4096) + (int(c2, 16) - int(c1, 16)) // 4096
    print(name, round(pages * 4096 / (float(t2) - float(t1))))' "$1" "$2"
}
sleep 14 # every writer has written its memory once

inventory() { # OUT.toml: a live inventory with measured dirty rates
  "$migsim" inventory --connect "host1=$(uri 1)" --connect "host2=$(uri 2)" \
    --dirty-calc 2 --dirty-calc-mode dirty-bitmap --out "$1" --name two-hosts \
    --nic 1Gbit/s --wws 64MiB --cpu-util 0.1 --horizon 2h
}
# 1. Measured dirty rates, checked against the writers' own counters over the same time.
snapshot 1 >"$scratch/snap1.txt"
inventory "$scratch/cluster1.toml"
snapshot 1 >"$scratch/snap2.txt"
rates_between "$scratch/snap1.txt" "$scratch/snap2.txt" | tee "$scratch/known1.txt"
python3 - "$scratch/cluster1.toml" "$scratch/known1.txt" <<'PY' || fail "libvirt's dirty rates are not the writers' rates"
import re, sys
text = open(sys.argv[1]).read()
known = dict(l.split() for l in open(sys.argv[2]))
bad = 0
for block in text.split("[[vms]]")[1:]:
    name = re.search(r'name = "([^"]*)"', block).group(1)
    if "measured by libvirt" not in block:
        print(f"  {name}: no measured dirty rate"); bad += 1; continue
    rate = float(re.search(r'rate = "([0-9.]+)MiB/s"', block).group(1)) * 1048576
    k = float(known[name])
    # libvirt truncates to whole MiB/s: 35 %, or 1 MiB/s for the slowest.
    ok = abs(rate - k) <= max(0.35 * k, 1048576)
    bad += not ok
    print(f"  {name}: libvirt {rate / 1048576:.1f} MiB/s, writer {k / 1048576:.1f} MiB/s {'ok' if ok else 'OUT OF TOLERANCE'}")
sys.exit(1 if bad else 0)
PY
echo "ok: libvirt's dirty-rate measurements match the writers' rates within 35 % (or 1 MiB/s)"

drain() { # NAME HOST INCLUDES... → plan folder $scratch/NAME
  local name=$1 host=$2
  shift 2
  local inc
  inc=$(printf '"%s", ' "$@")
  cat >"$scratch/$name.toml" <<TOML
include = [${inc%, }]
name = "$name"
# Only the drain: no consolidation policy moves anything back after the window.
[policy]
name = "none"
[migration]
max_concurrent_per_host = 1
[[maintenance]]
hosts = ["$host"]
at = "40min"
duration = "20min"
lead = "30min"
TOML
  "$migsim" plan "$scratch/$name.toml" --policy none --out "$scratch/$name" -q
}
connect=(--connect "host1=$(uri 1)" --connect "host2=$(uri 2)" --migrate-uri tcp://127.0.0.1)
execute() { # plan folder, expected host of every guest afterwards
  "$migsim" execute "$scratch/$1/plan.json" "${connect[@]}" --yes --skip-waits --parallel 1 | tail -4
  for g in "${guests[@]}"; do
    read -r name _ _ <<<"$g"
    [ "$(where "$name")" = "$2 " ] || fail "$name is on '$(where "$name")', expected $2"
  done
}

# 2. Plan 1, uncalibrated, executed.
drain plan1 host1 cluster1.toml
execute plan1 host2

# 3. Calibration.
"$migsim" calibrate "$scratch/plan1" --out "$scratch/calibration.toml" | tee "$scratch/calibrate.txt"
grep -q '^\[calibration.host_type' "$scratch/calibration.toml" || fail "no calibration was written"

# 4. Plan 2: a fresh inventory (the guests are on host2 now) with the calibration.
inventory "$scratch/cluster2.toml"
drain plan2 host2 cluster2.toml calibration.toml
execute plan2 host1
if [ -n "${MIGSIM_CALIBRATE_KEEP:-}" ]; then
  mkdir -p "$MIGSIM_CALIBRATE_KEEP"
  cp -r "$scratch/plan1" "$scratch/plan2" "$scratch/calibration.toml" "$scratch/cluster1.toml" \
    "$scratch/cluster2.toml" "$scratch/known1.txt" "$MIGSIM_CALIBRATE_KEEP/"
fi
python3 - "$scratch/plan1/execution.csv" "$scratch/plan2/execution.csv" <<'PY' || fail "the calibrated plan is not within the stated tolerances, or not better"
import csv, sys
def rows(p):
    return {r["vm"]: r for r in csv.DictReader(open(p)) if r["type"] == "migrate" and r["status"] == "succeeded"}
one, two = rows(sys.argv[1]), rows(sys.argv[2])
if len(one) != 4 or len(two) != 4:
    print(f"  {len(one)} and {len(two)} migrations succeeded; expected 4 and 4"); sys.exit(1)
f = lambda r, k: float(r[k])
def errors(rs):
    t = sum(abs(f(r, "predicted_time_s") / f(r, "measured_time_s") - 1) for r in rs.values()) / len(rs)
    b = sum(abs(f(r, "predicted_bytes") / f(r, "measured_bytes") - 1) for r in rs.values()) / len(rs)
    d = sum(abs(f(r, "predicted_downtime_ms") - f(r, "measured_downtime_ms")) for r in rs.values()) / len(rs)
    return t, b, d
bad = 0
# Downtime varies from run to run more than the model can know (the stop-and-copy shares two
# cores with the other guests and both hosts' daemons): the spread of repeats is the range of
# every downtime measured in both runs.
downs = [f(r, "measured_downtime_ms") for r in list(one.values()) + list(two.values())]
lo, hi = min(downs), max(downs)
print(f"  vm     time s (pred/meas)   MiB (pred/meas)   downtime ms (pred/meas; runs spread {lo:.0f}-{hi:.0f})")
for vm, r in sorted(two.items()):
    pt, mt = f(r, "predicted_time_s"), f(r, "measured_time_s")
    pb, mb = f(r, "predicted_bytes"), f(r, "measured_bytes")
    pd, md = f(r, "predicted_downtime_ms"), f(r, "measured_downtime_ms")
    ok = abs(pb / mb - 1) <= 0.25 and lo <= pd <= hi
    bad += not ok
    print(f"  {vm}  {pt:6.2f} / {mt:6.2f}      {pb / 2**20:6.1f} / {mb / 2**20:6.1f}     {pd:6.1f} / {md:6.1f}  {'ok' if ok else 'OUT OF TOLERANCE'}")
# One migration's time varies by a quarter between repeats here; the plan's, summed, is
# what the tolerance is stated on: 25 %, or how far the two runs' sums differ (the same four
# guests, moved back), when that is more.
pt = sum(f(r, "predicted_time_s") for r in two.values())
mt = sum(f(r, "measured_time_s") for r in two.values())
m1 = sum(f(r, "measured_time_s") for r in one.values())
allowed = max(0.25, abs(mt / m1 - 1))
ok = abs(pt / mt - 1) <= allowed
bad += not ok
print(f"  plan 2's migrations took {mt:.2f} s (plan 1's {m1:.2f} s), predicted {pt:.2f} s "
      f"({pt / mt - 1:+.0%}, allowed ±{allowed:.0%}) {'ok' if ok else 'OUT OF TOLERANCE'}")
e1, e2 = errors(one), errors(two)
print(f"  mean errors, plan 1 (uncalibrated): time {e1[0]:.0%}, bytes {e1[1]:.0%}, downtime {e1[2]:.1f} ms")
print(f"  mean errors, plan 2 (calibrated):   time {e2[0]:.0%}, bytes {e2[1]:.0%}, downtime {e2[2]:.1f} ms")
# Better: on total time and bytes, which the calibration fits. A downtime here is mostly the
# scheduling of the stop-and-copy on two shared cores (the runs' spread above), so it is held
# to that spread, not to an improvement that noise would decide.
better = e2[0] < e1[0] and e2[1] <= e1[1] + 0.02
if not better:
    print("  plan 2 is not better than plan 1 on time and bytes")
sys.exit(1 if bad or not better else 0)
PY
echo "ok: the calibrated plan predicted every migration within the stated tolerances, and better than the first"
