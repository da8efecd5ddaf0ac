#!/bin/sh
# Entry point of the starling container image (packaging/Containerfile):
# `starling peer` with the container's own address, its swarm key and seeds
# found by name. Arguments are passed on to `starling peer` (e.g.
# --config /etc/starling/starling.toml --metrics 0.0.0.0:9464).
#
# Environment:
#   STARLING_ADDRESS          address to listen on and advertise (default: POD_IP,
#                             else the first IPv4 address of the container's hostname)
#   STARLING_PORT             swarm port, TCP and UDP (default 7946)
#   STARLING_SWARM_KEY_FILE   mounted swarm key (a compose or Kubernetes secret)
#   STARLING_SEEDS            names (or addresses) of other peers, space-separated;
#                             each name's IPv4 addresses become --seed ADDRESS:PORT
#                             (`starling peer` takes numeric addresses only)
set -eu
port=${STARLING_PORT:-7946}
address=${STARLING_ADDRESS:-${POD_IP:-}}
if [ -z "$address" ]; then
  address=$(getent ahostsv4 "$(cat /proc/sys/kernel/hostname)" | awk 'NR == 1 {print $1}')
fi
[ -n "$address" ] || { echo "entrypoint: no address for this container (set STARLING_ADDRESS)" >&2; exit 1; }
set -- --listen "$address:$port" --data-dir /var/lib/starling "$@"
if [ -n "${STARLING_SWARM_KEY_FILE:-}" ]; then
  # Secrets are mounted group- or world-readable; starling wants 0600.
  install -m 0600 "$STARLING_SWARM_KEY_FILE" /run/starling/swarm.key
  set -- "$@" --swarm-key /run/starling/swarm.key
fi
for name in ${STARLING_SEEDS:-}; do
  for ip in $(getent ahostsv4 "$name" | awk '{print $1}' | sort -u); do
    [ "$ip" = "$address" ] || set -- "$@" --seed "$ip:$port"
  done
done
exec /usr/bin/starling peer "$@"
