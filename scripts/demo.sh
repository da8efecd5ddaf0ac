#!/usr/bin/env bash
# The README's main command: installs what is needed, builds, and runs the
# quickstart scenario — four peers on this machine learn Fashion-MNIST together
# with compressed delta gossip, with live progress (accuracy per peer), and
# stop by themselves after 90 s with a summary and a report
# (scenario-runs/quickstart/report.html). Extra arguments go to
# `starling scenario` (e.g. --speed 2, --out DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
echo "building (first time: a few minutes on 2 cores)..."
"$root/scripts/build.sh"
build=${STARLING_BUILD_DIR:-$root/build}
# The report folder, unless the user names one (a second --out is an error).
out=(--out "$root/scenario-runs/quickstart")
for arg in "$@"; do [[ $arg == --out || $arg == --out=* ]] && out=(); done
# --out refuses a folder that holds a report: the demo's own folder holds the
# previous demo's, which a new demo replaces.
if [ ${#out[@]} -gt 0 ]; then rm -rf -- "${out[1]}"; fi
exec "$build/apps/starling" scenario "$root/scenarios/quickstart.toml" "${out[@]}" "$@"
