#!/usr/bin/env bash
# Real QEMU: measures three fresh migrations with lab.py (an idle 1 GiB guest, 256 MiB of
# random memory in a 512 MiB guest, and a guest re-writing 64 MiB under a 16 MiB/s cap with
# XBZRLE) and checks that `migsim reproduce qemu` predicts them with the lab's constants. A
# single fresh run on shared cores varies by 10-20 %, so the bound here is ±35 % on total time
# and ±5 % on bytes; the committed set's medians are held to ±15 % by tests/lab.rs. Times are
# checked only on the CPU model the lab's constants were measured on (the committed runs');
# elsewhere the test says they were not checked.
#
# Usage: contrib/qemu-lab/test-lab.sh MIGSIM_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../skip.sh"
bin=$(realpath "$1")

command -v qemu-system-x86_64 >/dev/null || skip_component qemu-lab "qemu-system-x86_64 is not installed"
command -v python3 >/dev/null || skip_component qemu-lab "python3 is not installed"
major=$(qemu-system-x86_64 --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
[ "${major:-0}" -ge 9 ] || skip_component qemu-lab "QEMU $major is older than 9 (the lab needs QEMU 9 or later)"
for tool in as ld; do
  command -v $tool >/dev/null || skip_component qemu-lab "$tool (binutils) is not installed: the writer guest cannot be assembled"
done

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 "$here/lab.py" --name idle-1g --mem-mib 1024 --out "$out/runs"
python3 "$here/lab.py" --name rand-256m-of-512m --mem-mib 512 --fill random --fill-mib 256 --out "$out/runs"
python3 "$here/lab.py" --name wr64-512m-bw16-xbzrle128 --mem-mib 512 --writer-mib 64 --writer-delay 180 \
  --bw-mib 16 --xbzrle-mib 128 --timeout 30 --out "$out/runs"
"$bin" reproduce qemu --data "${MIGSIM_SHARED:-$here/../../../shared}/validation/qemu" \
  --lab "$out/runs" --out "$out/report" --json > "$out/report.json"
python3 - "$out/report.json" "$out/runs" "$here/../../validation/qemu-lab/runs" <<'PY'
import glob, json, sys
lab = json.load(open(sys.argv[1]))["lab"]
assert len(lab) == 3, f"expected 3 lab rows, got {len(lab)}"
model = lambda d: {json.load(open(f))["host"]["model"] for f in glob.glob(f"{d}/*.json")}
here, lab_cpu = model(sys.argv[2]), model(sys.argv[3])
# The lab's CPU constants (scan and send rates per thread) were measured on the committed
# runs' CPU; on another CPU model the times they predict are not expected to hold, and are
# reported, not checked. Bytes do not depend on the CPU and are always checked.
check_time = here <= lab_cpu
if not check_time:
    print(f"NOT CHECKED: total times; this host's CPU ({', '.join(sorted(here))}) is not the one the "
          f"lab's constants were measured on ({', '.join(sorted(lab_cpu))})")
bad = []
for r in lab:
    t = r["predicted_total_s"] / r["measured_total_s"] - 1
    b = r["predicted_mib"] / r["measured_mib"] - 1
    print(f'{r["name"]}: total {r["measured_total_s"]:.3f} s measured, {r["predicted_total_s"]:.3f} s predicted ({t:+.1%}); '
          f'{r["measured_mib"]:.1f} MiB measured, {r["predicted_mib"]:.1f} MiB predicted ({b:+.1%}); bound by {r["bound_by"]}')
    if (check_time and abs(t) > 0.35) or abs(b) > 0.05 or r["held"] != "yes":
        bad.append(r["name"])
if bad:
    sys.exit(f"FAILED: predictions off for {bad}")
print("ok: fresh QEMU runs predicted within bounds" + ("" if check_time else " (bytes only)"))
PY
