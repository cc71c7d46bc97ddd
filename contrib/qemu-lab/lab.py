#!/usr/bin/env python3
"""Measure one live migration between two local QEMU processes, driven over QMP.

Starts a destination (`-incoming defer`) and a source QEMU, sets the same migration
capabilities and parameters on both, migrates over loopback TCP, polls `query-migrate` every
`--interval` seconds and writes one JSON record (the format of the runs in
`../shared/validation/qemu/runs/`): `config`, `parameters`, `capabilities`, `series`, `final`,
`passes` (MIGRATION_PASS events) and the QEMU version.

The guest has no kernel: its memory is what the run puts there. `--fill random` or
`--fill text` backs the first `--fill-mib` of guest RAM with a file of random
(incompressible) or text-like (compressible) bytes, so those pages are normal pages; the rest
are zero pages, which cost no host memory on either side. Without `--writer-mib` the firmware
idles and the guest dirties almost nothing, so the run measures what the hosts' CPUs and the
stream can do. With it, the guest boots `writer.S` (assembled here with binutils' `as` and
`ld`), which re-writes `--writer-bytes` bytes of every page of a `--writer-mib` working set
from 16 MiB up, pass after pass; the run measures the writer's page rate before migrating
and records it.

Usage: lab.py --name NAME --mem-mib 4096 [--fill random --fill-mib 1024] [--multifd 2]
              [--compress zstd:1] [--xbzrle-mib 512] [--bw-mib 0] [--dl-ms 300]
              [--writer-mib 64 [--writer-bytes 1] [--writer-delay 0]] --out DIR
"""
import argparse
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

WRITER_AT_MIB = 16
WRITER_PARAMS = 0x1D0
WRITER_PASSES = 0x7C00 + 0x1F0


class Qmp:
    """A QMP connection: commands in, replies and events out."""

    def __init__(self, path, timeout=30.0):
        deadline = time.time() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.time() > deadline:
                    raise RuntimeError(f"QMP socket {path} never came up")
                time.sleep(0.05)
        self.buf = b""
        self.events = []
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "event" in r:
                r["t"] = time.time()
                self.events.append(r)
                continue
            if "error" in r:
                raise RuntimeError(f"{name}: {r['error'].get('desc')}")
            return r.get("return")


def status_of(q):
    """The run state of a QEMU, or None if it is gone (a destination exits when the incoming
    migration is cancelled)."""
    if q is None:
        return None
    try:
        return q.cmd("query-status")
    except (OSError, RuntimeError):
        return None


def discard_server():
    """A TCP listener on loopback that reads and drops whatever comes, on every connection:
    the sender-alone sink for multifd, which needs a socket per channel (QEMU refuses `exec:`
    with multifd)."""
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)

    def drain(conn):
        with conn:
            while conn.recv_into(buf_for(conn)):
                pass

    bufs = {}

    def buf_for(conn):
        return bufs.setdefault(conn.fileno(), bytearray(1 << 20))

    def accept():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=drain, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return srv


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fill_file(path, mib, kind):
    """A file of `mib` MiB: random bytes, text-like bytes (words in a random order, which
    zstd level 1 compresses about 4.7x), or `mixed`: random and text-like MiB in turn."""
    words = (b"the quick brown fox jumps over the lazy dog migration page cache dirty "
             b"bitmap round stop copy downtime bandwidth host guest memory kernel socket "
             b"thread channel buffer zero normal header stream switchover").split()
    rng = open("/dev/urandom", "rb")
    blocks = []
    if kind in ("text", "mixed"):
        for _ in range(16):
            seed = rng.read(1 << 18)
            out = b" ".join(words[x % len(words)] for x in seed)
            blocks.append((out * 2)[: 1 << 20])
    with open(path, "wb") as f:
        for i in range(mib):
            rand = kind == "random" or (kind == "mixed" and i % 2 == 0)
            f.write(rng.read(1 << 20) if rand else blocks[i % len(blocks)])


def writer_image(work, a):
    """The writer boot sector with this run's working set, bytes per page and delay."""
    here = os.path.dirname(os.path.abspath(__file__))
    obj, img = os.path.join(work, "writer.o"), os.path.join(work, "writer.img")
    subprocess.run(["as", "--32", "-o", obj, os.path.join(here, "writer.S")], check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-Ttext", "0x7c00", "--oformat", "binary",
                    "-o", img, obj], check=True)
    with open(img, "r+b") as f:
        sector = bytearray(f.read())
        start = WRITER_AT_MIB << 20
        end = start + (a.writer_mib << 20)
        sector[WRITER_PARAMS:WRITER_PARAMS + 20] = struct.pack(
            "<5I", start, end, a.writer_bytes, a.writer_delay, a.writer_passes)
        f.seek(0)
        f.write(sector)
    return img


def writer_position(q, a):
    """Pages the writer has written since it started, read from guest memory: its pass count
    and the page it is at."""
    out = q.cmd("human-monitor-command", **{"command-line": f"xp /2wx {WRITER_PASSES:#x}"})
    passes, current = (int(w, 16) for w in out.split(":")[1].split())
    pages = a.writer_mib * 256
    done = max(current - (WRITER_AT_MIB << 20), 0) // 4096 if current else 0
    return max(passes - 1, 0) * pages + done, passes


def writer_rate(q, a, secs=2.0):
    """Pages the writer dirties per second, measured over `secs`."""
    (p0, _), t0 = writer_position(q, a), time.time()
    time.sleep(secs)
    (p1, _), t1 = writer_position(q, a), time.time()
    return (p1 - p0) / (t1 - t0)


def writer_warm(q, a, timeout=60.0):
    """Waits until the writer has written its whole working set once (its pages are normal
    pages from the start of the migration on)."""
    deadline = time.time() + timeout
    def warm():
        pages, passes = writer_position(q, a)
        if a.writer_passes:
            return pages >= a.writer_passes * a.writer_mib * 256
        return passes >= 2

    while not warm():
        if time.time() > deadline:
            sys.exit("the writer never finished its first pass")
        time.sleep(0.1)


def qemu_cmd(a, qmp_path, role, backing, boot=None):
    mem = f"{a.mem_mib}M"
    if role == "src" and backing:
        # prealloc: every page is faulted in before the migration starts. Without it, some
        # kernels (seen on a nested AMD EPYC guest) count the pages QEMU's own first pass
        # faults in from the file as dirtied, and the whole of RAM is sent twice.
        obj = f"memory-backend-file,id=ram0,size={mem},mem-path={backing},share=off,prealloc=on"
    else:
        obj = f"memory-backend-ram,id=ram0,size={mem}"
    accel = a.accel
    if a.accel == "kvm" and a.dirty_ring:
        accel = f"kvm,dirty-ring-size={a.dirty_ring}"
    cmd = [a.qemu, "-machine", f"pc,memory-backend=ram0", "-accel", accel, "-m", mem,
           "-object", obj, "-smp", str(a.smp), "-nodefaults", "-display", "none",
           "-monitor", "none", "-serial", "none", "-qmp", f"unix:{qmp_path},server=on,wait=off"]
    if a.accel == "kvm":
        # The host's CPU, without IA32_ARCH_CAPABILITIES: some nested KVMs (seen on an AMD
        # EPYC guest kernel) refuse to set that MSR and QEMU aborts; a boot-sector guest never
        # reads it.
        cmd += ["-cpu", "host,-arch-capabilities"]
    if boot:
        # snapshot=on: each side writes to its own throw-away overlay (IDE cannot be
        # read-only); the guest never reads its disk after booting.
        cmd += ["-drive", f"file={boot},format=raw,if=ide,snapshot=on"]
    if role == "dst":
        cmd += ["-incoming", "defer"]
    if role == "src" and a.trace_syncs:
        # QEMU's trace points around each dirty-bitmap sync, with timestamps, to stderr.
        cmd += ["-trace", "migration_bitmap_sync_*", "-msg", "timestamp=on"]
    return cmd


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--name", required=True)
    p.add_argument("--mem-mib", type=int, required=True)
    p.add_argument("--fill", choices=["none", "random", "text", "mixed"], default="none")
    p.add_argument("--fill-mib", type=int, default=0)
    p.add_argument("--multifd", type=int, default=0, help="channels; 0 = multifd off")
    p.add_argument("--compress", default="none", help="none, zstd:LEVEL or zlib:LEVEL")
    p.add_argument("--xbzrle-mib", type=int, default=0)
    p.add_argument("--bw-mib", type=float, default=0.0, help="max-bandwidth, 0 = unlimited")
    p.add_argument("--dl-ms", type=int, default=300)
    p.add_argument("--accel", default="kvm" if os.access("/dev/kvm", os.W_OK) else "tcg")
    p.add_argument("--smp", type=int, default=1)
    p.add_argument("--dirty-ring", type=int, default=0,
                   help="KVM dirty ring entries per vCPU; 0 = KVM's dirty bitmap")
    p.add_argument("--interval", type=float, default=0.05)
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--sink", choices=["qemu", "null"], default="qemu",
                   help="qemu: a destination QEMU on loopback; null: the stream goes to "
                        "`cat > /dev/null` (multifd: to a discarding TCP listener), to "
                        "measure what the sender alone can produce")
    p.add_argument("--trace-syncs", action="store_true",
                   help="record how long each dirty-bitmap sync took (QEMU trace points)")
    p.add_argument("--writer-mib", type=int, default=0,
                   help="boot writer.S, re-writing a working set of this many MiB; 0 = idle")
    p.add_argument("--writer-bytes", type=int, default=1, help="bytes written per page")
    p.add_argument("--writer-delay", type=int, default=0,
                   help="`pause` instructions after each page (lowers the rate)")
    p.add_argument("--writer-passes", type=int, default=0,
                   help="stop writing after this many passes (0: never): a guest whose "
                        "working set is anonymous memory with non-zero pages that it no "
                        "longer dirties")
    p.add_argument("--qemu", default="qemu-system-x86_64")
    p.add_argument("--out", required=True)
    a = p.parse_args()

    work = tempfile.mkdtemp(prefix="qemu-lab-")
    procs = []
    try:
        backing = None
        if a.fill != "none" and a.fill_mib > 0:
            backing = os.path.join(work, "ram.bin")
            fill_file(backing, a.fill_mib, a.fill)
            with open(backing, "r+b") as f:
                f.truncate(a.mem_mib << 20)
        boot = None
        if a.writer_mib:
            if a.fill != "none":
                sys.exit("--writer-mib and --fill do not go together")
            if a.mem_mib < WRITER_AT_MIB + a.writer_mib:
                sys.exit(f"--mem-mib must hold {WRITER_AT_MIB} MiB plus the working set")
            boot = writer_image(work, a)
        src_sock, dst_sock = os.path.join(work, "src.qmp"), os.path.join(work, "dst.qmp")
        roles = (("dst", dst_sock), ("src", src_sock)) if a.sink == "qemu" else (("src", src_sock),)
        for role, path in roles:
            log = open(os.path.join(work, f"{role}.log"), "w")
            procs.append(subprocess.Popen(qemu_cmd(a, path, role, backing, boot), stdout=log,
                                          stderr=subprocess.STDOUT))
        dst = Qmp(dst_sock) if a.sink == "qemu" else None
        src = Qmp(src_sock)
        if backing:
            # Source pages come from the file as the guest first touches them; read them all
            # in now so that page faults are not part of the measured stream.
            subprocess.run(["cat", backing], stdout=subprocess.DEVNULL, check=True)
        caps = [{"capability": "events", "state": True}]
        if a.multifd:
            caps.append({"capability": "multifd", "state": True})
        if a.xbzrle_mib:
            caps.append({"capability": "xbzrle", "state": True})
        params = {"max-bandwidth": int(a.bw_mib * 1048576), "downtime-limit": a.dl_ms}
        if a.multifd:
            params["multifd-channels"] = a.multifd
        if a.compress != "none":
            method, level = a.compress.split(":")
            params["multifd-compression"] = method
            params[f"multifd-{method}-level"] = int(level)
        if a.xbzrle_mib:
            params["xbzrle-cache-size"] = a.xbzrle_mib << 20
        for q in (dst, src):
            if q is None:
                continue
            q.cmd("migrate-set-capabilities", capabilities=caps)
            q.cmd("migrate-set-parameters", **params)
        if dst is not None:
            uri = f"tcp:127.0.0.1:{free_port()}"
            dst.cmd("migrate-incoming", uri=uri)
            time.sleep(0.2)
        elif a.multifd:
            sink = discard_server()
            uri = f"tcp:127.0.0.1:{sink.getsockname()[1]}"
        else:
            uri = "exec:cat > /dev/null"
        writer = None
        if boot:
            writer_warm(src, a)
            writer = {"ws_mib": a.writer_mib, "at_mib": WRITER_AT_MIB, "bytes": a.writer_bytes,
                      "delay": a.writer_delay, "passes": a.writer_passes,
                      "pages_per_s": round(writer_rate(src, a), 1)}
        t0 = time.time()
        src.cmd("migrate", uri=uri)
        series = []
        final = None
        while time.time() - t0 < a.timeout:
            r = src.cmd("query-migrate")
            r["t"] = round(time.time() - t0, 3)
            series.append(r)
            if r.get("status") in ("completed", "failed", "cancelled"):
                final = r
                break
            time.sleep(a.interval)
        if final is None:
            src.cmd("migrate_cancel")
            final = src.cmd("query-migrate")
            final["t"] = round(time.time() - t0, 3)
        time.sleep(0.3)
        passes = [[round(e["t"] - t0, 3), e["data"]["pass"]] for e in src.events
                  if e["event"] == "MIGRATION_PASS"]
        record = {
            "name": a.name,
            "config": {k: v for k, v in vars(a).items() if k not in ("out", "qemu")},
            "qemu_version": src.cmd("query-version"),
            "host": {"cpus": os.cpu_count(), "model": cpu_model()},
            "parameters": src.cmd("query-migrate-parameters"),
            "capabilities": src.cmd("query-migrate-capabilities"),
            "final": final,
            "series": series,
            "passes": passes,
            "dst_status_after": status_of(dst),
        }
        if writer:
            if dst is not None and final.get("status") == "completed":
                # The writer must go on where it stopped, on the destination.
                writer["dst_pages_per_s"] = round(writer_rate(dst, a, 1.0), 1)
            record["writer"] = writer
        if a.trace_syncs:
            record["syncs"] = sync_times(os.path.join(work, "src.log"))
        os.makedirs(a.out, exist_ok=True)
        tmp = os.path.join(a.out, f".{a.name}.json.tmp")
        with open(tmp, "w") as f:
            json.dump(record, f, indent=1)
        os.replace(tmp, os.path.join(a.out, f"{a.name}.json"))
        ram = final.get("ram", {})
        print(f"{a.name}: {final.get('status')} total {final.get('total-time')} ms, downtime "
              f"{final.get('downtime')} ms, {ram.get('transferred', 0) / 1048576:.1f} MiB, "
              f"{ram.get('normal', 0)} normal + {ram.get('duplicate', 0)} zero pages, "
              f"syncs {ram.get('dirty-sync-count')}")
        return 0 if final.get("status") == "completed" else 1
    finally:
        for pr in procs:
            pr.kill()
            pr.wait()
        shutil.rmtree(work, ignore_errors=True)


def sync_times(log):
    """Each dirty-bitmap sync from the trace lines in the source's log (`PID@EPOCH:event`):
    its duration in ms and the dirty pages it found."""
    import re
    out, start = [], None
    for line in open(log, errors="replace"):
        m = re.match(r"\d+@([\d.]+):migration_bitmap_sync_(start|end)(?: dirty_pages (\d+))?", line)
        if not m:
            continue
        t = float(m.group(1))
        if m.group(2) == "start":
            start = t
        elif start is not None:
            out.append({"ms": round((t - start) * 1e3, 3), "dirty_pages": int(m.group(3) or 0)})
            start = None
    return out


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
