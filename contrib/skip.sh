# Sourced by the real-component tests (libvirt, calibrate, Prometheus, Slurm, notebooks,
# qemu-lab): what to do when a test cannot run on this machine.
#
#   skip_component NAME WHY...
#
# Outside CI it prints "SKIPPED: NAME: WHY" and exits 0, so a developer without root or
# without the packages is told what did not run. In CI (CI=true) a test that did not run is a
# failure, unless MIGSIM_ALLOW_SKIP names the component (a comma-separated list, or "all"):
# then it prints the skip and that it was allowed.
skip_component() {
  local name=$1
  shift
  local why="$*"
  [ -n "$why" ] || why="(no reason was given)"
  if [ "${CI:-}" = "true" ]; then
    case ",${MIGSIM_ALLOW_SKIP:-}," in
      *",all,"* | *",$name,"*)
        echo "SKIPPED: $name: $why (allowed in CI by MIGSIM_ALLOW_SKIP=${MIGSIM_ALLOW_SKIP})"
        exit 0
        ;;
    esac
    echo "FAILED: $name could not run in CI: $why"
    echo "  (set MIGSIM_ALLOW_SKIP=$name to accept that on a machine that cannot run it)"
    exit 1
  fi
  echo "SKIPPED: $name: $why"
  exit 0
}
