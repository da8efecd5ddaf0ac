#!/usr/bin/env bash
# Slow: the .deb in a fresh Debian and the container image (docs/deploy.md).
#  1. mmdebstrap makes a minimal bookworm from Debian's archive (cached in
#     BUILD/package-test/rootfs.tar for a day); `podman import` makes it a base
#     image.
#  2. `podman build` (chroot isolation: no OCI runtime needed) runs
#     packaging/Containerfile on it: apt installs the .deb and resolves its
#     Depends from the archive, so a missing dependency fails here.
#  3. In the image: `starling --version` is this version, no library is
#     missing, `starling init` writes a config, a swarm key and an identity
#  4. Three peers run from the image's entry point as uid 10001, with a
#     world-readable mounted swarm key (as compose and Kubernetes mount
#     secrets) and seeds given by address; each must list the two others
#     alive and train. With `podman run` if the OCI runtime works here, else
#     (said why) in chroots of the image's containers (`podman create` +
#     `podman mount`), one mount namespace each.
# Usage: container.sh BUILD_DIR PACKAGING_DIR   (exit 77: skipped)
set -u
build=$(cd "${1:?usage: container.sh BUILD_DIR PACKAGING_DIR}" && pwd)
packaging=$(cd "${2:?usage: container.sh BUILD_DIR PACKAGING_DIR}" && pwd)
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
skip() { echo "SKIP: $*" >&2; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root (mmdebstrap, podman, chroot)"
for tool in mmdebstrap podman cpack unshare chroot; do
  command -v $tool >/dev/null || skip "$tool is missing (apt-get install mmdebstrap podman)"
done

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
arch=$(dpkg --print-architecture)
deb=starling_${version}_${arch}.deb
(cd "$build" && cpack -G DEB >"$build/cpack.log" 2>&1) || { echo "FAIL: cpack: $(tail "$build/cpack.log")" >&2; exit 1; }

cache=$build/package-test
mkdir -p "$cache"
rootfs=$cache/rootfs.tar
if [[ ! -s $rootfs || -n $(find "$rootfs" -mmin +1440) ]]; then
  rm -f "$rootfs"
  # bookworm main only: the image needs nothing else, and a mirror caught
  # mid-sync on bookworm-updates ("not signed") then cannot fail the test.
  if ! mmdebstrap --variant=minbase bookworm "$rootfs" "deb http://deb.debian.org/debian bookworm main" \
         >"$cache/mmdebstrap.log" 2>&1; then
    rm -f "$rootfs"
    grep -qiE 'could not resolve|failed to fetch|temporary failure|network is unreachable' "$cache/mmdebstrap.log" \
      && skip "no Debian archive reachable: $(grep -iE 'resolve|fetch|unreachable' "$cache/mmdebstrap.log" | head -2)"
    echo "FAIL: mmdebstrap: $(tail -5 "$cache/mmdebstrap.log")" >&2
    exit 1
  fi
fi
base=localhost/starling-test-base:bookworm
image=localhost/starling:$version-test
podman import "$rootfs" "$base" >/dev/null 2>"$cache/import.log" || { echo "FAIL: podman import: $(cat "$cache/import.log")" >&2; exit 1; }

work=$(mktemp -d)
containers=()
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  for c in "${containers[@]}"; do podman umount "$c" >/dev/null 2>&1; podman rm -f "$c" >/dev/null 2>&1; done
  # The images are rebuilt each run: leave none behind (only the rootfs is cached).
  podman rmi -f "$image" "$base" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# The build context holds only what the Containerfile copies.
mkdir -p "$work/ctx/build" "$work/ctx/packaging/container"
cp "$build/$deb" "$work/ctx/build/"
cp "$packaging/container/entrypoint.sh" "$work/ctx/packaging/container/"
if ! podman build --isolation=chroot --build-arg BASE="$base" --build-arg DEB="build/$deb" \
       -f "$packaging/Containerfile" -t "$image" "$work/ctx" >"$cache/build.log" 2>&1; then
  echo "FAIL: podman build: $(tail -20 "$cache/build.log")" >&2
  exit 1
fi
echo "built $image ($(podman image inspect -f '{{.Size}}' "$image") bytes) from $deb on a fresh bookworm"

# A writable root of the image: a container's file system, for chroot
# (sets new_root_path; no subshell, so the cleanup sees every container).
new_root() {
  local c
  c=$(podman create "$image") || return 1
  containers+=("$c")
  new_root_path=$(podman mount "$c")
}
new_root || { echo "FAIL: podman create/mount" >&2; exit 1; }
root=$new_root_path
out=$(chroot "$root" /usr/bin/starling --version 2>&1)
[[ $out == "starling $version" ]] || fail "starling --version in the image: '$out', want 'starling $version'"
missing=$(chroot "$root" ldd /usr/bin/starling 2>&1 | grep 'not found')
[[ -z $missing ]] || fail "libraries missing in the image: $missing"
{
  chroot --userspec=10001:10001 "$root" /usr/bin/starling init /var/lib/starling/init >"$work/init.log" 2>&1 \
    || fail "starling init in the image: $(cat "$work/init.log")"
  [[ -s $root/var/lib/starling/init/starling.toml ]] || fail "init wrote no starling.toml: $(ls -la "$root/var/lib/starling/init" 2>&1)"
  kinds=""
  for f in "$root"/var/lib/starling/init/*; do
    kinds+=" $(chroot "$root" /usr/bin/starling keygen --check "/var/lib/starling/init/$(basename "$f")" 2>/dev/null | sed -n 's/^[^:]*: \(swarm key\|identity\).*/\1/p' | tr ' ' _)"
  done
  [[ $kinds == *swarm_key* && $kinds == *identity* ]] || fail "init wrote no swarm key and identity: $(ls -la "$root/var/lib/starling/init")"
}

# Three peers from the entry point. The secret is world-readable, as mounted
# secrets are; the entry point must make the 0600 copy starling accepts.
chroot "$root" /usr/bin/starling keygen --swarm /tmp/swarm.key >/dev/null || fail "keygen in the image"
cp "$root/tmp/swarm.key" "$work/swarm.key"
chmod 0444 "$work/swarm.key"
port=$((20000 + RANDOM % 20000))
addresses=(127.0.0.2 127.0.0.3 127.0.0.4)
# podman run as is, then with limits this sandbox may refuse to raise and
# without cgroups; the first that starts the image runs the peers.
mode=chroot
run_errors=""
for extra in "" "--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --cgroups=disabled"; do
  # shellcheck disable=SC2086
  if err=$(timeout 60 podman run --rm --network host $extra "$image" --help 2>&1 >/dev/null); then
    mode=podman
    run_extra=$extra
    break
  fi
  run_errors+="${run_errors:+; then }$(tail -1 <<<"$err")${extra:+ (with $extra)}"
done
[[ $mode == chroot ]] && echo "NOTE: podman run does not work here: $run_errors. The peers run in chroots of the image instead."
for i in 0 1 2; do
  seeds=""
  [[ $i -gt 0 ]] && seeds=${addresses[0]}
  [[ $i -gt 1 ]] && seeds="$seeds ${addresses[1]}"
  env_args=(STARLING_ADDRESS="${addresses[$i]}" STARLING_PORT="$port" STARLING_SWARM_KEY_FILE=/run/secrets/swarm_key STARLING_SEEDS="$seeds")
  peer_args=(--model mlp:64 --eval-every 200 --checkpoint-every 0)
  if [[ $mode == podman ]]; then
    # shellcheck disable=SC2086
    podman run --rm --network host $run_extra -v "$work/swarm.key:/run/secrets/swarm_key:ro" \
      $(printf -- '-e %s ' "${env_args[@]}") "$image" "${peer_args[@]}" >"$work/peer-$i.log" 2>&1 &
  else
    new_root || { fail "podman create/mount for peer $i"; continue; }
    r=$new_root_path
    mkdir -p "$r/run/secrets" && cp -p "$work/swarm.key" "$r/run/secrets/swarm_key"
    unshare -m sh -c 'mount -t proc proc "$1/proc" && shift && exec "$@"' sh "$r" \
      chroot --userspec=10001:10001 "$r" env -i PATH=/usr/bin:/bin "${env_args[@]}" \
      /usr/local/bin/starling-entrypoint "${peer_args[@]}" >"$work/peer-$i.log" 2>&1 &
  fi
  pids+=($!)
  sleep 2
done

# Wait (at most 60 s) until every peer lists the two others alive and trains.
ok=0
for attempt in $(seq 1 30); do
  sleep 2
  ok=1
  for i in 0 1 2; do
    chroot "$root" /usr/bin/starling status "${addresses[$i]}:$port" --json --swarm-key /tmp/swarm.key --timeout 3 \
      >"$work/status-$i.json" 2>/dev/null </dev/null
    /usr/bin/python3 - "$work/status-$i.json" <<'PY' || ok=0
import json, sys
try:
    s = json.load(open(sys.argv[1]))
except Exception:
    sys.exit(1)
alive = [m for m in s.get("members", []) if m.get("state") == "alive"]
sys.exit(0 if len(alive) >= 2 and s.get("training", {}).get("step", 0) > 0 else 1)
PY
  done
  [[ $ok -eq 1 ]] && break
done
if [[ $ok -eq 1 ]]; then
  echo "3 peers from the image ($mode): each lists the 2 others alive and trains (after about $((attempt * 2)) s)"
else
  fail "the 3 peers did not form a training swarm within 60 s ($mode)"
  for i in 0 1 2; do echo "--- peer $i:" >&2; tail -5 "$work/peer-$i.log" >&2; head -c 400 "$work/status-$i.json" >&2; echo >&2; done
fi
grep -l 'has permissions' "$work"/peer-*.log >/dev/null 2>&1 && fail "a peer refused the swarm key's mode"
exit $((failures > 0))
