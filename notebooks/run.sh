#!/usr/bin/env bash
# Produces every output the notebooks read, then executes each notebook top to bottom.
#
#   notebooks/run.sh [path/to/migsim]
#
# The notebooks' Python packages go into a virtual environment (default
# ~/.cache/migsim/notebook-venv; set NOTEBOOK_VENV to move it), installed from
# notebooks/requirements.txt. Executed copies go to output/notebooks/. It exits 0 after
# printing "SKIPPED: why" when Python or PyPI is not available (in CI it fails instead, unless
# MIGSIM_ALLOW_SKIP=notebooks: see contrib/skip.sh), 1 when a notebook fails.
set -euo pipefail
cd "$(dirname "$0")/.."
migsim=${1:-target/release/migsim}
[ -x "$migsim" ] || { echo "no migsim binary at $migsim; build it with cargo build --release" >&2; exit 2; }

# shellcheck source=contrib/skip.sh
. contrib/skip.sh
skip() { skip_component notebooks "$*"; }

out=${MIGSIM_OUTPUT:-$(pwd)/output}
export MIGSIM_OUTPUT=$out
echo "writing the notebooks' inputs under $out"
"$migsim" compare scenarios/whatif/day.toml -p none,thr-mmt-0.8,lr-mmt-1.2,ulm,offhours \
  --out "$out/compare-day" --quiet
"$migsim" sweep --set policy.name=none,thr-mmt-0.8 \
  --set workload.cpu_scale=1,1.25,1.5 --seeds 1..10 --out "$out/sweep-quickstart" --quiet
"$migsim" reproduce clark2005 --out "$out/clark2005" >/dev/null

command -v python3 >/dev/null || skip "python3 is not installed"
venv=${NOTEBOOK_VENV:-$HOME/.cache/migsim/notebook-venv}
if [ ! -x "$venv/bin/jupyter" ] || ! cmp -s notebooks/requirements.txt "$venv/requirements.txt"; then
  echo "installing the notebook environment into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || skip "python3 -m venv failed (is python3-venv installed?)"
  if ! "$venv/bin/pip" install --quiet --disable-pip-version-check -r notebooks/requirements.txt \
      >"$venv.log" 2>&1; then
    tail -5 "$venv.log"
    rm -rf "$venv"
    skip "pip could not install notebooks/requirements.txt (log: $venv.log)"
  fi
  cp notebooks/requirements.txt "$venv/requirements.txt"
fi

mkdir -p "$out/notebooks"
status=0
for nb in notebooks/*.ipynb; do
  name=$(basename "$nb")
  if "$venv/bin/jupyter" nbconvert --to notebook --execute \
      --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.kernel_name=python3 \
      --output-dir "$out/notebooks" "$nb" >"$out/notebooks/$name.log" 2>&1; then
    echo "ok: $name"
  else
    echo "FAILED: $name"
    tail -30 "$out/notebooks/$name.log"
    status=1
  fi
done
exit $status
