#!/usr/bin/env bash
# Installs everything starling needs from Debian's archive. Idempotent: when all
# packages are present it changes nothing and does not touch the network.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libuv1-dev capnproto libcapnp-dev libeigen3-dev libsodium-dev libcli11-dev
  catch2 zlib1g-dev nlohmann-json3-dev libspdlog-dev libtomlplusplus-dev
  libbenchmark-dev libopenblas-serial-dev libcpp-httplib-dev
  dataset-fashion-mnist
  libonnx-dev libprotobuf-dev  # `starling export --onnx` (protobuf 3.21, as libonnx-dev was generated with)
  python3-onnx python3-numpy   # tests only: onnx.checker and the numpy evaluator of an exported graph
  python3-yaml yamllint
  tmux  # tests/cli/top.sh runs `starling top` in a real terminal
  prometheus curl jq  # tests/cli/metrics_prometheus.sh scrapes a swarm with a real server (see below)
  iproute2 nftables  # tests: the netns swarm (tests/netns)
)
# Optional extras: reference benchmarks (PyTorch) and fuzzing (clang + libFuzzer).
if [[ "${STARLING_WITH_BENCH:-0}" == 1 ]]; then
  packages+=(python3-torch libopenblas0 python3-matplotlib)
fi
# The slow packaging test (tests/package/container.sh): a fresh Debian and an image.
if [[ "${STARLING_WITH_CONTAINER:-0}" == 1 ]]; then
  packages+=(mmdebstrap podman)
fi
# The Python module (docs/embedding.md): without these it is not built; its
# tests use PyTorch (Debian's python3-torch) and skip with a message without it.
if [[ "${STARLING_WITH_PYTHON:-1}" == 1 ]]; then
  packages+=(pybind11-dev python3-dev python3-numpy python3-torch)
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
# Debian's prometheus package starts a server on :9090 where systemd runs; the
# tests start their own on loopback, so one installed here for them is stopped.
if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
