#!/usr/bin/env bash
# The systemd unit (packaging/starling.service) passes `systemd-analyze verify`
# in a scratch root that holds the unit where the package puts it, the binary
# at /usr/bin/starling and the host's own units (for the targets it orders
# after); its hardening keeps `systemd-analyze security` at exposure <= 2.0;
# and the directives docs/deploy.md promises are there.
# Usage: systemd_unit.sh UNIT_FILE STARLING_BINARY   (exit 77: skipped)
set -u
unit=${1:?usage: systemd_unit.sh UNIT_FILE STARLING_BINARY}
starling=${2:?usage: systemd_unit.sh UNIT_FILE STARLING_BINARY}
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# The directives the deployment guide relies on, each as one exact line.
for line in 'DynamicUser=yes' 'StateDirectory=starling' 'ProtectSystem=strict' 'ProtectHome=yes' \
            'NoNewPrivileges=yes' 'PrivateTmp=yes' 'CapabilityBoundingSet=' 'Restart=on-failure' \
            'LoadCredential=swarm.key:/etc/starling/swarm.key' 'RuntimeDirectory=starling' 'WantedBy=multi-user.target'; do
  grep -qx -- "$line" "$unit" || fail "unit lacks the line '$line'"
done
grep -qE '^RestartSec=[0-9]+' "$unit" || fail "unit lacks RestartSec="
grep -qx 'ExecStartPre=/usr/bin/install -m 0600 ${CREDENTIALS_DIRECTORY}/swarm.key /run/starling/swarm.key' "$unit" \
  || fail "the swarm key is not copied from the credential: $(grep '^ExecStartPre=' "$unit")"
grep -qx 'ExecStart=/usr/bin/starling peer --config /etc/starling/starling.toml --data-dir /var/lib/starling --swarm-key /run/starling/swarm.key' "$unit" \
  || fail "ExecStart is not the documented command line: $(grep '^ExecStart=' "$unit")"

if ! command -v systemd-analyze >/dev/null; then
  echo "SKIP: systemd-analyze is missing (apt-get install systemd); directive checks only" >&2
  [[ $failures -eq 0 ]] || exit 1
  exit 77
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/starling"
cp -a /lib/systemd/system/. "$root/lib/systemd/system/" 2>/dev/null || true
cp "$starling" "$root/usr/bin/starling"
cp /usr/bin/install "$root/usr/bin/install"
cp "$unit" "$root/lib/systemd/system/starling.service"

if ! out=$(systemd-analyze verify --root="$root" starling.service 2>&1) || [[ -n $out ]]; then
  fail "systemd-analyze verify: $out"
fi
# Exposure is 0.0 (locked down) .. 10.0 (unprotected); --threshold is x10.
if ! out=$(systemd-analyze security --offline=true --threshold=20 --root="$root" starling.service 2>&1); then
  fail "systemd-analyze security: exposure above 2.0: $(grep -i 'overall exposure' <<<"$out")"
fi
echo "$(grep -i 'overall exposure' <<<"$out")"

# The check itself must bite: a unit whose ExecStart points nowhere fails verify.
sed 's|^ExecStart=/usr/bin/starling|ExecStart=/usr/bin/no-such-starling|' "$unit" >"$root/lib/systemd/system/starling.service"
if systemd-analyze verify --root="$root" starling.service >/dev/null 2>&1; then
  fail "verify accepted a unit whose binary does not exist"
fi
exit $((failures > 0))
