#!/usr/bin/env python3
"""Makes scenarios/replay/: a week of a three-host KVM cluster as a real Prometheus serves it.

    contrib/prometheus/week.py [--shared ../shared] [--out scenarios/replay]

Seven PlanetLab days (CoMon, 2011, as shipped in ../shared/traces/planetlab) of twelve VMs
that appear on all seven become a week of what Debian's prometheus-libvirt-exporter and
prometheus-node-exporter would have exported, scraped every 60 s: each VM's CPU-time counter
grows by its PlanetLab utilisation times its two vCPUs, each host's idle counters by what
its VMs leave. The week also holds what a real week holds: vm-12 is created on Wednesday,
vm-11 deleted on Friday, vm-04 migrates from kvm-1 to kvm-2 on Thursday (its counter starts
afresh there), vm-07 reboots on Tuesday (a counter reset), and kvm-3's libvirt exporter is
down on Saturday from 10:00 to 11:30 (a gap).

The samples are written in OpenMetrics text, loaded into a fresh TSDB with `promtool tsdb
create-blocks-from openmetrics`, and served by `prometheus` on a free loopback port; then
`migsim trace import prometheus --url … --save OUT/answers` asks it for the week at a 5-minute
step. OUT/answers is what the README's worked example replays. OUT/virsh holds the saved
`virsh nodeinfo` and `virsh domstats --raw` of the cluster at the end of the week, and
OUT/vms.csv which PlanetLab file drives each VM. Needs Debian's prometheus (promtool) and a
built migsim (target/release/migsim).
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

DAYS = ["20110303", "20110306", "20110309", "20110322", "20110325", "20110403", "20110409"]
START = 1795392000  # 2026-11-23T00:00:00Z, a Monday
SCRAPE = 60
HOSTS = ["kvm-1", "kvm-2", "kvm-3"]
HOST_CPUS = 8
HOST_MEMORY = 64 << 30
VCPUS = 2
DAY = 86400


def at(day, hour, minute=0):
    return START + day * DAY + hour * 3600 + minute * 60


# The week's events, in seconds from START (see the docstring).
CREATED = {"vm-12": at(2, 9)}
DELETED = {"vm-11": at(4, 15)}
MOVED = {"vm-04": (at(3, 2), "kvm-2")}
REBOOTED = {"vm-07": at(1, 6)}
EXPORTER_DOWN = ("kvm-3", at(5, 10), at(5, 11, 30))


def load(shared):
    root = os.path.join(shared, "traces", "planetlab")
    common = None
    for d in DAYS:
        names = set(os.listdir(os.path.join(root, d)))
        common = names if common is None else common & names
    week = {}
    for name in sorted(common):
        vals = []
        for d in DAYS:
            with open(os.path.join(root, d, name)) as f:
                vals += [int(x) for x in f.read().split()][:288]
        week[name] = vals
    # Twelve VMs spread over the range of weekly means, lowest first.
    ranked = sorted(week, key=lambda n: (sum(week[n]) / len(week[n]), n))
    picks = [ranked[round(i * (len(ranked) - 1) / 11)] for i in range(12)]
    return [(f"vm-{i + 1:02d}", p, week[p]) for i, p in enumerate(picks)]


def util(vals, t):
    i = min(int((t - START) // 300), len(vals) - 1)
    return vals[i] / 100.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default="../shared")
    ap.add_argument("--out", default="scenarios/replay")
    ap.add_argument("--migsim", default="target/release/migsim")
    a = ap.parse_args()
    vms = load(a.shared)
    end = START + 7 * DAY
    home = {name: HOSTS[i % 3] for i, (name, _, _) in enumerate(vms)}
    ram = {name: (4 << 30) if i % 2 == 0 else (8 << 30) for i, (name, _, _) in enumerate(vms)}
    tmp = tempfile.mkdtemp(prefix="migsim-week.")
    om = os.path.join(tmp, "week.om")
    host_load = {h: [0.0] * (7 * DAY // SCRAPE + 1) for h in HOSTS}
    with open(om, "w") as f:
        cpu_lines, vcpu_lines, mem_lines = [], [], []
        for name, _, vals in vms:
            first = CREATED.get(name, START)
            last = DELETED.get(name, end)
            # Series: (host, from, to); a move ends one and starts another.
            spans = [(home[name], first, last)]
            if name in MOVED:
                t, dest = MOVED[name]
                spans = [(home[name], first, t), (dest, t, last)]
            for host, s, e in spans:
                labels = f'domain="{name}",host="{host}",instance="{host}:9177",job="libvirt"'
                counter = 0.0 if (host, s) != (home[name], START) else 3600.0 * util(vals, START)
                t = s - s % SCRAPE
                while t <= e:
                    down = host == EXPORTER_DOWN[0] and EXPORTER_DOWN[1] <= t < EXPORTER_DOWN[2]
                    if name in REBOOTED and REBOOTED[name] <= t < REBOOTED[name] + SCRAPE:
                        counter = 2.0  # its firmware's and kernel's first seconds
                    if not down:
                        cpu_lines.append(f"libvirt_domain_info_cpu_time_seconds_total{{{labels}}} {counter:.3f} {t}")
                        vcpu_lines.append(f"libvirt_domain_info_virtual_cpus{{{labels}}} {VCPUS} {t}")
                        mem_lines.append(f"libvirt_domain_info_memory_usage_bytes{{{labels}}} {ram[name]} {t}")
                    u = util(vals, t)
                    counter += u * VCPUS * SCRAPE
                    host_load[host][(t - START) // SCRAPE] += u * VCPUS
                    t += SCRAPE
        for lines in (cpu_lines, vcpu_lines, mem_lines):
            f.write("\n".join(lines) + "\n")
        idle_lines, memtotal = [], []
        for host in HOSTS:
            idle = [0.0] * HOST_CPUS
            for k, load_now in enumerate(host_load[host]):
                t = START + k * SCRAPE
                if t > end:
                    break
                busy = min(HOST_CPUS, load_now + 0.02 * HOST_CPUS)  # 2 % of its own
                for c in range(HOST_CPUS):
                    idle_lines.append(
                        f'node_cpu_seconds_total{{cpu="{c}",host="{host}",instance="{host}:9100",job="node",mode="idle"}} {idle[c]:.3f} {t}')
                    idle[c] += (1 - busy / HOST_CPUS) * SCRAPE
                memtotal.append(f'node_memory_MemTotal_bytes{{host="{host}",instance="{host}:9100",job="node"}} {HOST_MEMORY} {t}')
        # promtool wants each series' samples together and in time order.
        idle_lines.sort(key=lambda l: (l.split(" ")[0], int(l.split(" ")[2])))
        f.write("\n".join(idle_lines) + "\n" + "\n".join(memtotal) + "\n# EOF\n")
    db = os.path.join(tmp, "tsdb")
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", om, db], check=True,
                   stdout=subprocess.DEVNULL)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cfg = os.path.join(tmp, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1m\nscrape_configs: []\n")
    prom = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={db}",
                             "--storage.tsdb.retention.time=100y",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/-/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        answers = os.path.join(a.out, "answers")
        shutil.rmtree(answers, ignore_errors=True)
        subprocess.run([a.migsim, "trace", "import", "prometheus", "--url", url,
                        "--from", "2026-11-23T00:00:00Z", "--until", "2026-11-30T00:00:00Z",
                        "--step", "5min", "--save", answers, "--out", os.path.join(tmp, "imported")],
                       check=True)
    finally:
        prom.terminate()
        prom.wait()
    # The cluster at the end of the week, as virsh shows it.
    where = {}
    for name, _, _ in vms:
        if name in DELETED:
            continue
        where.setdefault(MOVED.get(name, (0, home[name]))[1], []).append(name)
    for host in HOSTS:
        d = os.path.join(a.out, "virsh", host)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "nodeinfo.txt"), "w") as f:
            f.write(f"CPU model:           x86_64\nCPU(s):              {HOST_CPUS}\n"
                    "CPU frequency:       2400 MHz\nCPU socket(s):       1\n"
                    f"Core(s) per socket:  {HOST_CPUS}\nThread(s) per core:  1\n"
                    f"NUMA cell(s):        1\nMemory size:         {HOST_MEMORY // 1024} KiB\n")
        with open(os.path.join(d, "domstats.txt"), "w") as f:
            for name in sorted(where.get(host, [])):
                kib = ram[name] // 1024
                f.write(f"Domain: '{name}'\n  state.state=1\n  state.reason=1\n"
                        f"  balloon.current={kib}\n  balloon.maximum={kib}\n"
                        f"  vcpu.current={VCPUS}\n  vcpu.maximum={VCPUS}\n\n")
    with open(os.path.join(a.out, "vms.csv"), "w") as f:
        f.write("vm,planetlab_file,days\n")
        for name, p, _ in vms:
            f.write(f"{name},{p},{' '.join(DAYS)}\n")
    shutil.rmtree(tmp)
    print(f"wrote {answers}, {os.path.join(a.out, 'virsh')} and vms.csv")


if __name__ == "__main__":
    sys.exit(main())
