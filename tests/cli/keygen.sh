#!/usr/bin/env bash
# End-to-end test of `starling keygen`: file modes, refusal to overwrite, and
# clear errors on bad key files. Usage: keygen.sh /path/to/starling
set -u
starling=${1:?usage: keygen.sh STARLING_BINARY}
source "$(dirname "$0")/lib/checks.sh"

# A swarm key: mode 0600, checkable.
expect_ok "keygen --swarm" "$starling" keygen --swarm "$work/swarm.key"
[[ $(mode_of "$work/swarm.key") == 600 ]] || fail "swarm key mode is $(mode_of "$work/swarm.key"), want 600"
head -1 "$work/swarm.key" | grep -qx 'starling-swarm-key v1' || fail "swarm key header"
expect_ok "check swarm key" "$starling" keygen --check "$work/swarm.key"
grep -q "swarm key" <<<"$out" || fail "check does not name a swarm key: $out"

# An identity: mode 0600 even under a permissive umask; prints the node id.
(umask 000 && "$starling" keygen --identity "$work/id.key" >"$work/id.out" 2>&1) || fail "keygen --identity: $(cat "$work/id.out")"
[[ $(mode_of "$work/id.key") == 600 ]] || fail "identity mode is $(mode_of "$work/id.key"), want 600"
node_id=$(sed -n 's/^node id: \([0-9a-f]\{64\}\)$/\1/p' "$work/id.out")
[[ -n $node_id ]] || fail "no node id printed: $(cat "$work/id.out")"
expect_ok "check identity" "$starling" keygen --check "$work/id.key"
grep -q "$node_id" <<<"$out" || fail "check prints another node id: $out"

# Refusal to overwrite; --force replaces.
before=$(cat "$work/swarm.key")
expect_error "overwrite swarm key" "already exists.*--force" "$starling" keygen --swarm "$work/swarm.key"
[[ $(cat "$work/swarm.key") == "$before" ]] || fail "refused overwrite still changed the file"
expect_error "overwrite identity" "already exists" "$starling" keygen --identity "$work/id.key"
expect_ok "keygen --swarm --force" "$starling" keygen --swarm "$work/swarm.key" --force
[[ $(cat "$work/swarm.key") != "$before" ]] || fail "--force did not replace the key"
[[ $(mode_of "$work/swarm.key") == 600 ]] || fail "forced key mode is $(mode_of "$work/swarm.key")"
# --force through a symlink writes the file it names and keeps the link, as
# every file starling writes does (the rename used to replace the link).
ln -s "$work/swarm.key" "$work/linked.key"
before=$(cat "$work/swarm.key")
expect_ok "keygen --swarm --force through a symlink" "$starling" keygen --swarm "$work/linked.key" --force
[[ -L "$work/linked.key" ]] || fail "--force replaced the symlink with a file"
[[ $(cat "$work/swarm.key") != "$before" ]] || fail "--force through a symlink did not replace the key it names"
[[ $(ls "$work" | grep -c tmp) == 0 ]] || fail "temporary files left behind: $(ls "$work")"

# A folder is no key file: no "--force" hint that --force would only refuse.
mkdir -p "$work/folder"
for kind in --swarm --identity; do
  expect_error "keygen $kind onto a folder" "folder is a folder, not a key file" "$starling" keygen $kind "$work/folder"
  out=$("$starling" keygen $kind "$work/folder" 2>&1)
  grep -q -- "--force" <<<"$out" && fail "keygen $kind onto a folder hints --force: $out"
done

# Bad files give clear errors.
chmod 644 "$work/swarm.key"
expect_error "world-readable key" "security.*chmod 600" "$starling" keygen --check "$work/swarm.key"
printf 'starling-swarm-key v1\nabcd\n' >"$work/short.key" && chmod 600 "$work/short.key"
expect_error "short key" "corrupt.*64 hex" "$starling" keygen --check "$work/short.key"
head -c 32 /dev/urandom >"$work/raw.key" && chmod 600 "$work/raw.key"
expect_error "raw bytes" "corrupt" "$starling" keygen --check "$work/raw.key"
expect_error "missing file" "not found|does not exist" "$starling" keygen --check "$work/nope.key"
expect_error "no action" "required" "$starling" keygen
expect_error "two actions" "" "$starling" keygen --swarm "$work/a" --identity "$work/b"

finish keygen.sh
