#!/usr/bin/env bash
# The README's main command: installs what is needed, builds, and runs the main
# job. Until the swarm exists this is one replica learning Fashion-MNIST with
# live progress; extra arguments go to `starling train`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
echo "building (first time: a few minutes on 2 cores)..."
"$root/scripts/build.sh"
build=${STARLING_BUILD_DIR:-$root/build}
exec "$build/apps/starling" train --data fashion-mnist --model mlp:256,128 --epochs 10 --batch 64 --lr 0.02 "$@"
