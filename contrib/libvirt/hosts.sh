# Sourced by the tests that need a pair of real libvirt hosts (contrib/libvirt/test-two-hosts.sh,
# contrib/prometheus/test-scrape.sh): installs libvirt and QEMU when missing, then starts two
# libvirtd instances on this machine, each in its own mount and UTS namespace (own hostname,
# own /run/libvirt, /var/lib/libvirt and config), listening on free ports of 127.0.0.1 with
# different host UUIDs.
#
# The caller defines skip() and fail() first. Afterwards it has: $scratch (a folder removed
# on exit), $domtype (kvm or qemu), uri N (host N's connection URI), where DOMAIN (the hosts a
# domain runs on), free_port, use_migsim and boot_domain (below), and the pids array, whose
# processes are stopped on exit beside the daemons and every QEMU they started.

[ "$(id -u)" -eq 0 ] || skip "needs root to start libvirtd"
command -v unshare >/dev/null || skip "unshare (util-linux) is missing"
command -v ss >/dev/null || skip "ss (iproute2) is missing: it finds free ports"

if ! command -v libvirtd >/dev/null || ! command -v virsh >/dev/null \
    || ! command -v qemu-system-x86_64 >/dev/null || ! pkg-config --exists libvirt 2>/dev/null; then
  command -v apt-get >/dev/null || skip "libvirt and QEMU are missing and there is no apt-get"
  echo "installing libvirt, its headers and QEMU"
  export DEBIAN_FRONTEND=noninteractive
  pkgs="libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev pkg-config qemu-system-x86"
  if ! apt-get install -y -q $pkgs >/tmp/migsim-libvirt-apt.log 2>&1; then
    apt-get update -q >>/tmp/migsim-libvirt-apt.log 2>&1 || true
    apt-get install -y -q $pkgs >>/tmp/migsim-libvirt-apt.log 2>&1 \
      || skip "apt-get install $pkgs failed (log: /tmp/migsim-libvirt-apt.log)"
  fi
fi
# QEMU 7.2 (bookworm's) loses dirty pages when it migrates under TCG; the validation data was
# measured with QEMU 10.0.2 from bookworm-backports, so that is the QEMU the test runs.
qemu_major=$(qemu-system-x86_64 --version | sed -n 's/^QEMU emulator version \([0-9]*\).*/\1/p')
if [ "${qemu_major:-0}" -lt 9 ]; then
  . /etc/os-release
  [ "${VERSION_CODENAME:-}" = bookworm ] || skip "QEMU $qemu_major is too old and no backports source is known for ${VERSION_CODENAME:-this system}"
  echo "installing QEMU from bookworm-backports (QEMU $qemu_major is too old)"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    >/etc/apt/sources.list.d/migsim-backports.sources
  { apt-get update -q && apt-get install -y -q -t bookworm-backports qemu-system-x86; } \
    >>/tmp/migsim-libvirt-apt.log 2>&1 \
    || skip "apt-get install -t bookworm-backports qemu-system-x86 failed (log: /tmp/migsim-libvirt-apt.log)"
  qemu_major=$(qemu-system-x86_64 --version | sed -n 's/^QEMU emulator version \([0-9]*\).*/\1/p')
  [ "${qemu_major:-0}" -ge 9 ] || fail "QEMU is still $qemu_major after the backports install"
fi
echo "QEMU $(qemu-system-x86_64 --version | head -1 | sed 's/^QEMU emulator version //')"

# The QEMU driver looks its default user and group up even when qemu.conf says root.
getent group kvm >/dev/null || groupadd -r kvm
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd -r -g libvirt-qemu -G kvm -s /usr/sbin/nologin libvirt-qemu

domtype=qemu
[ -w /dev/kvm ] && domtype=kvm

scratch=$(mktemp -d /tmp/migsim-libvirt.XXXXXX)
pids=()
# Ports of this run, so that two runs on one machine do not collide: a free TCP port per
# libvirtd, and ten free migration ports per host (QEMU's incoming streams).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
free_range() {
  local base
  for _ in $(seq 200); do
    base=$(( 20000 + RANDOM % 30000 ))
    if ! ss -Htln "sport >= :$base and sport <= :$((base + 9))" | grep -q .; then
      echo "$base"
      return
    fi
  done
  fail "no ten free TCP ports in a row"
}
declare -A port mig_port
for n in 1 2; do
  port[$n]=$(free_port)
  mig_port[$n]=$(free_range)
done
[ "${port[1]}" != "${port[2]}" ] || port[2]=$(free_port)
uri() { echo "qemu+tcp://127.0.0.1:${port[$1]}/system"; }
cleanup() {
  local code=$?
  for n in 1 2; do
    for d in $(virsh -c "$(uri $n)" list --all --name 2>/dev/null); do
      virsh -c "$(uri $n)" destroy "$d" >/dev/null 2>&1 || true
    done
  done
  # The QEMUs this run's libvirtds started, by libvirt's pid files in their own /run (seen
  # through /proc/PID/root): a QEMU left waiting for an incoming migration outlives its
  # daemon. Nothing else on the machine is touched.
  local qemus=()
  for n in 1 2; do
    local lp
    lp=$(cat "$scratch/h$n/libvirtd.pid" 2>/dev/null) || continue
    for f in /proc/"$lp"/root/run/libvirt/qemu/*.pid; do
      [ -s "$f" ] && qemus+=("$(cat "$f")")
    done
  done
  # libvirtd is unshare's child: stop it by its own pid file, then unshare ends.
  for n in 1 2; do
    [ -s "$scratch/h$n/libvirtd.pid" ] && kill "$(cat "$scratch/h$n/libvirtd.pid")" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  for q in "${qemus[@]}"; do kill -9 "$q" 2>/dev/null || true; done
  if [ "$code" -ne 0 ]; then
    for n in 1 2; do
      echo "--- libvirtd $n log (tail)"; tail -15 "$scratch/h$n/log/libvirtd.log" 2>/dev/null || true
    done
  fi
  rm -rf "$scratch"
  exit "$code"
}
trap cleanup EXIT

for n in 1 2; do
  h=$scratch/h$n
  mkdir -p "$h/etc" "$h/log"
  cat >"$h/etc/libvirtd.conf" <<CONF
listen_tls = 0
listen_tcp = 1
listen_addr = "127.0.0.1"
tcp_port = "${port[$n]}"
auth_tcp = "none"
host_uuid = "6f1c7a34-3c1d-4c55-9a2e-00000000000$n"
log_outputs = "3:file:$h/log/libvirtd.log"
CONF
  cat >"$h/etc/qemu.conf" <<CONF
user = "root"
group = "root"
security_driver = "none"
cgroup_controllers = [ ]
stdio_handler = "file"
namespaces = [ ]
migration_port_min = ${mig_port[$n]}
migration_port_max = $(( ${mig_port[$n]} + 9 ))
CONF
  # Own hostname, own runtime and state folders, own configuration.
  unshare --mount --uts --fork --kill-child=SIGTERM bash -c "
    set -e
    hostname host$n
    mount --make-rprivate /
    for d in /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do
      mkdir -p \$d; mount -t tmpfs tmpfs \$d
    done
    mount --bind '$h/etc' /etc/libvirt
    exec libvirtd --listen --pid-file '$h/libvirtd.pid'
  " >"$h/log/stdout.log" 2>&1 &
  pids+=($!)
done
for n in 1 2; do
  ok=""
  for _ in $(seq 100); do
    if virsh -c "$(uri $n)" version >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.2
  done
  # libvirtd's own log, or what unshare said (without CAP_SYS_ADMIN it fails before libvirtd).
  [ -n "$ok" ] || skip "libvirtd $n did not start: $(grep -h ': error : ' "$scratch/h$n/log/libvirtd.log" 2>/dev/null | tail -2; tail -3 "$scratch/h$n/log/stdout.log" 2>/dev/null)"
done
echo "two libvirt hosts up: $(uri 1) and $(uri 2) (domains under $domtype)"

where() { # prints the hosts a domain is running on
  for n in 1 2; do
    if [ "$(virsh -c "$(uri $n)" domstate "$1" 2>/dev/null | head -1)" = running ]; then echo -n "host$n "; fi
  done
}

# Sets $migsim to the binary a test was given as its argument (made absolute) or, with none,
# to a release build with the libvirt feature made here (target/libvirt).
use_migsim() {
  if [ $# -eq 0 ]; then
    echo "building migsim with the libvirt feature (target/libvirt)"
    CARGO_TARGET_DIR=target/libvirt cargo build --release --quiet --features libvirt
    migsim=target/libvirt/release/migsim
  else
    migsim=$1
  fi
  [ -x "$migsim" ] || { echo "no migsim at $migsim; build it with cargo build --release --features libvirt" >&2; exit 2; }
  migsim=$(realpath "$migsim")
}

# Defines and starts on host N a one-vCPU domain of MIB MiB that boots IMAGE, a raw boot
# sector image, as a read-only virtio disk: libvirt lets a domain whose only disk is
# read-only migrate without copying storage (both hosts see the same file here).
boot_domain() { # N NAME MIB IMAGE
  cat >"$scratch/$2.xml" <<XML
<domain type='$domtype'>
  <name>$2</name>
  <memory unit='MiB'>$3</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$4'/>
      <target dev='vda' bus='virtio'/>
      <readonly/>
    </disk>
    <memballoon model='none'/>
  </devices>
</domain>
XML
  virsh -c "$(uri "$1")" define "$scratch/$2.xml" >/dev/null || fail "could not define $2"
  virsh -c "$(uri "$1")" start "$2" >/dev/null || fail "could not start $2"
}
