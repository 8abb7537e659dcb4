#!/usr/bin/env bash
# pi_check.sh: `make pi-check`. The gateway's code on emulated arm64 (the Raspberry Pi's
# Debian bookworm and Python 3.11) against the same code on this x86 host, window by window.
#
#   scripts/pi_check.sh [HOST_PYTHON]   (default .venv/bin/python; needs root, like arm64_root.sh)
#
# 1. builds the arm64 root, or reuses it (scripts/arm64_root.sh; ~8 min when it is missing);
# 2. builds a wheel of the project and installs it into the root's venv as a gateway installs
#    it: the core dependencies only, no extras (no faust, no broker);
# 3. replays the bundled recording on x86 (in the background) and, in the root: the install-time
#    kernel step with an empty numba cache (cold compile), the gateway's start-up warm-up with
#    that cache (warm start), and the replay (decoders, DSP kernels, TFLite stress model);
# 4. compares every feature window (scripts/pi_check_compare.py gives the tolerances).
# The last stdout line is one JSON object; the exit status is non-zero unless every window is
# equal. docs/pi.md, "arm64 under emulation", says what the figures mean.
set -euo pipefail

PROJECT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOST_PYTHON=${1:-$PROJECT/.venv/bin/python}
ROOT=${VAGUS_ARM64_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/vagus/arm64-root}
IN_ROOT_WHEELS=/var/cache/vagus-pi-check
ARM64="$PROJECT/scripts/arm64_root.sh"

log() { printf '[pi-check] %s\n' "$*" >&2; }
started=$SECONDS
work=$(mktemp -d)
x86_pid=
cleanup() {
    if [[ -n $x86_pid ]]; then kill "$x86_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

log "arm64 root: build or reuse"
"$ARM64" build

log "the core install: a wheel of this tree, into the root's venv"
mkdir -p "$work/src"
tar -C "$PROJECT" -cf - --exclude=__pycache__ pyproject.toml README.md \
    vagus ingest stream dsp closedloop hardware console | tar -C "$work/src" -xf -
"$HOST_PYTHON" -m pip wheel -q --disable-pip-version-check --no-deps -w "$work/wheel" "$work/src"
rm -rf "${ROOT:?}$IN_ROOT_WHEELS"
install -D -m 0644 -t "$ROOT$IN_ROOT_WHEELS" "$work"/wheel/vagus-*.whl
wheel=$IN_ROOT_WHEELS/$(basename "$work"/wheel/vagus-*.whl)
# Dependencies as pinned (aarch64 wheels only), then this tree's vagus over any older one.
"$ARM64" run -- env -u PYTHONPATH pip install -q --only-binary :all: -c constraints.txt "$wheel"
"$ARM64" run -- env -u PYTHONPATH pip install -q --no-deps --force-reinstall "$wheel"
log "installed after $((SECONDS - started)) s"

log "x86 replay (background)"
PYTHONPATH=$PROJECT "$HOST_PYTHON" "$PROJECT/scripts/pi_check.py" windows >"$work/x86.json" &
x86_pid=$!

log "arm64, emulated: cold kernel compile, warm start, replay (the cold compile takes minutes)"
"$ARM64" run -- env -u PYTHONPATH python /vagus/scripts/pi_check.py arm64 >"$work/arm64.json"
wait "$x86_pid"
x86_pid=

log "comparing (total $((SECONDS - started)) s)"
PYTHONPATH=$PROJECT "$HOST_PYTHON" "$PROJECT/scripts/pi_check.py" compare \
    --elapsed-s $((SECONDS - started)) "$work/x86.json" "$work/arm64.json"
