#!/usr/bin/env bash
# Installs everything starling needs from Debian's archive. Idempotent: when all
# packages are present it changes nothing and does not touch the network.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libuv1-dev capnproto libcapnp-dev libeigen3-dev libsodium-dev libcli11-dev
  catch2 zlib1g-dev nlohmann-json3-dev libspdlog-dev libtomlplusplus-dev
  libbenchmark-dev libopenblas-serial-dev
  dataset-fashion-mnist
  iproute2 nftables jq  # tests: the netns swarm (tests/netns) and the CLI tests' status checks
)
# Optional extras: reference benchmarks (PyTorch) and fuzzing (clang + libFuzzer).
if [[ "${STARLING_WITH_BENCH:-0}" == 1 ]]; then
  packages+=(python3-torch libopenblas0 python3-matplotlib)
fi
if [[ "${STARLING_WITH_FUZZ:-0}" == 1 ]]; then
  packages+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
