#!/usr/bin/env bash
# The lab's migration matrix: idle guests of 1-16 GiB, guests with 1-4 GiB of random or
# text-like memory, uncapped and capped, legacy and multifd, compressed, a guest that keeps
# re-writing its memory with and without XBZRLE, and the sender alone (to /dev/null). Each run is one JSON file in OUT (default: validation/qemu-lab/runs). Run it on an
# otherwise idle machine: the figures are CPU-bound, and anything else running shows in them.
#
# Usage: contrib/qemu-lab/matrix.sh [OUT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../validation/qemu-lab/runs}
lab() { python3 "$here/lab.py" --out "$out" "$@"; }
ring=(--dirty-ring 4096)

# Zero pages: what scanning memory costs. KVM's dirty ring above 2 GiB: with its dirty bitmap
# (manual protect, initially set) QEMU 10.0.2 re-sent the 3 GiB low-memory slot at the second
# sync in most runs of guests of 4 GiB and more; the ring runs avoid that.
lab --name idle-1g --mem-mib 1024
lab --name idle-2g --mem-mib 2048
lab --name idle-4g-ring --mem-mib 4096 "${ring[@]}"
lab --name idle-8g-ring --mem-mib 8192 "${ring[@]}"
lab --name idle-16g-ring --mem-mib 16384 "${ring[@]}"
lab --name idle-16g-bitmap --mem-mib 16384

# Normal pages: what sending costs.
# Repeats: on two shared cores the same run varies by 10-20 %; the checks use the median.
lab --name rand-1g-of-2g --mem-mib 2048 --fill random --fill-mib 1024
for r in r2 r3; do lab --name rand-1g-of-2g-$r --mem-mib 2048 --fill random --fill-mib 1024; done
lab --name rand-2g-of-4g-ring --mem-mib 4096 --fill random --fill-mib 2048 "${ring[@]}"
lab --name rand-4g-of-8g-ring --mem-mib 8192 --fill random --fill-mib 4096 "${ring[@]}"
lab --name text-1g-of-2g --mem-mib 2048 --fill text --fill-mib 1024
for r in r2 r3 r4 r5; do lab --name text-1g-of-2g-$r --mem-mib 2048 --fill text --fill-mib 1024; done
# All memory non-zero: the final copy is a full threshold, bandwidth × downtime-limit.
lab --name rand-4g-of-4g --mem-mib 4096 --fill random --fill-mib 4096
lab --name rand-4g-of-4g-r2 --mem-mib 4096 --fill random --fill-mib 4096

# A cap below and above what the CPU can do.
lab --name rand-1g-of-2g-bw128 --mem-mib 2048 --fill random --fill-mib 1024 --bw-mib 128
lab --name rand-1g-of-2g-bw1024 --mem-mib 2048 --fill random --fill-mib 1024 --bw-mib 1024

# Multifd, and zstd on compressible and incompressible memory.
lab --name rand-1g-of-2g-mfd1 --mem-mib 2048 --fill random --fill-mib 1024 --multifd 1
lab --name rand-1g-of-2g-mfd2 --mem-mib 2048 --fill random --fill-mib 1024 --multifd 2
lab --name idle-16g-ring-mfd2 --mem-mib 16384 --multifd 2 "${ring[@]}"
lab --name text-1g-of-2g-mfd2-zstd1 --mem-mib 2048 --fill text --fill-mib 1024 --multifd 2 --compress zstd:1
lab --name rand-1g-of-2g-mfd2-zstd1 --mem-mib 2048 --fill random --fill-mib 1024 --multifd 2 --compress zstd:1

# Compression costs, the sender alone (one channel to a discarding socket), and their test on
# mixed memory and two channels; and on loopback, where the destination decompresses. KVM's
# dirty bitmap re-sent 2 GiB guests in some runs; the later runs use the ring.
n1=(--mem-mib 2048 --fill-mib 1024 --multifd 1 --sink null)
lab --name null-rand-1g-of-2g-mfd1 "${n1[@]}" --fill random
lab --name null-rand-1g-of-2g-mfd1-r2 "${n1[@]}" --fill random "${ring[@]}"
lab --name null-text-1g-of-2g-mfd1 "${n1[@]}" --fill text
lab --name null-text-1g-of-2g-mfd1-r2 "${n1[@]}" --fill text "${ring[@]}"
lab --name null-rand-1g-of-2g-mfd1-zstd1 "${n1[@]}" --fill random --compress zstd:1
lab --name null-text-1g-of-2g-mfd1-zstd1 "${n1[@]}" --fill text --compress zstd:1
lab --name null-text-1g-of-2g-mfd1-zstd1-r2 "${n1[@]}" --fill text --compress zstd:1 "${ring[@]}"
lab --name null-rand-1g-of-2g-mfd1-zstd3 "${n1[@]}" --fill random --compress zstd:3 "${ring[@]}"
lab --name null-text-1g-of-2g-mfd1-zstd3 "${n1[@]}" --fill text --compress zstd:3
lab --name null-rand-1g-of-2g-mfd1-zlib1 "${n1[@]}" --fill random --compress zlib:1
lab --name null-text-1g-of-2g-mfd1-zlib1 "${n1[@]}" --fill text --compress zlib:1 "${ring[@]}"
lab --name null-mixed-1g-of-2g-mfd1-zstd1 "${n1[@]}" --fill mixed --compress zstd:1
lab --name null-mixed-1g-of-2g-mfd1-zstd3 "${n1[@]}" --fill mixed --compress zstd:3 "${ring[@]}"
lab --name null-mixed-1g-of-2g-mfd1-zlib1 "${n1[@]}" --fill mixed --compress zlib:1 "${ring[@]}"
lab --name null-text-1g-of-2g-mfd2-zstd1 --mem-mib 2048 --fill text --fill-mib 1024 --multifd 2 --compress zstd:1 --sink null "${ring[@]}"
for c in zstd:1 zlib:1; do
  lab --name text-1g-of-2g-mfd1-${c/:/} --mem-mib 2048 --fill text --fill-mib 1024 --multifd 1 --compress $c
  lab --name rand-1g-of-2g-mfd1-${c/:/} --mem-mib 2048 --fill random --fill-mib 1024 --multifd 1 --compress $c
done
lab --name text-1g-of-2g-mfd1 --mem-mib 2048 --fill text --fill-mib 1024 --multifd 1 "${ring[@]}"

# A guest that keeps re-writing 256 MiB (writer.S, KVM's dirty bitmap): capped so that plain
# pre-copy cannot converge, with and without XBZRLE; and unthrottled.
w=(--mem-mib 1024 --writer-mib 256 --timeout 20)
lab --name wr256-1g-bw64 "${w[@]}" --writer-delay 180 --bw-mib 64
lab --name wr256-1g-bw64-xbzrle512 "${w[@]}" --writer-delay 180 --bw-mib 64 --xbzrle-mib 512
lab --name wr256-1g-bw64-xbzrle512-r2 "${w[@]}" --writer-delay 180 --bw-mib 64 --xbzrle-mib 512
lab --name wr256-1g-bw64-xbzrle128 "${w[@]}" --writer-delay 180 --bw-mib 64 --xbzrle-mib 128
lab --name wr256-1g-bw64-xbzrle512-b64 "${w[@]}" --writer-delay 180 --bw-mib 64 --xbzrle-mib 512 --writer-bytes 64
lab --name wr256-1g-fast "${w[@]}"
lab --name wr256-1g-fast-xbzrle512 "${w[@]}" --xbzrle-mib 512

# The sender alone: the stream goes to `cat > /dev/null`.
lab --name null-idle-16g-ring --mem-mib 16384 --sink null "${ring[@]}"
lab --name null-rand-2g-of-4g-ring --mem-mib 4096 --fill random --fill-mib 2048 --sink null "${ring[@]}"

# How long a dirty-bitmap sync takes (QEMU's migration_bitmap_sync_* trace points).
for m in 1 4 16; do
  lab --name idle-${m}g-ring-syncs --mem-mib $((m * 1024)) "${ring[@]}" --trace-syncs
  lab --name idle-${m}g-syncs --mem-mib $((m * 1024)) --trace-syncs
done
