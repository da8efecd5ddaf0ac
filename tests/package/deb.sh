#!/usr/bin/env bash
# The Debian package: `cpack -G DEB` in the build folder makes
# starling_VERSION_ARCH.deb whose control fields, conffiles and contents are
# what docs/deploy.md says; every shared library the binary needs is covered
# by Depends; dpkg installs it into a scratch root (its own dpkg database),
# keeps an edited /etc/starling/starling.toml on reinstall (a conffile), and
# the installed binary runs `--version` (the project() version) and `init`;
# with the Python module built, the package holds it under
# /usr/lib/python3/dist-packages and /usr/bin/python3 imports it from there.
# Usage: deb.sh BUILD_DIR STARLING_BINARY   (exit 77: skipped)
set -u
build=$(cd "${1:?usage: deb.sh BUILD_DIR STARLING_BINARY}" && pwd)
starling=${2:?usage: deb.sh BUILD_DIR STARLING_BINARY}
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
for tool in cpack dpkg dpkg-deb dpkg-query; do
  command -v $tool >/dev/null || { echo "SKIP: $tool is missing" >&2; exit 77; }
done

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
arch=$(dpkg --print-architecture)
[[ -n $version ]] || { echo "FAIL: no CMAKE_PROJECT_VERSION in $build/CMakeCache.txt" >&2; exit 1; }
deb=$build/starling_${version}_${arch}.deb
rm -f "$deb"
(cd "$build" && cpack -G DEB >"$build/cpack.log" 2>&1) || { echo "FAIL: cpack: $(tail -20 "$build/cpack.log")" >&2; exit 1; }
[[ -f $deb ]] || { echo "FAIL: cpack made no $deb: $(ls "$build"/*.deb 2>&1)" >&2; exit 1; }
echo "built $deb ($(stat -c %s "$deb") bytes)"

field() { dpkg-deb -f "$deb" "$1"; }
[[ $(field Package) == starling ]] || fail "Package: $(field Package)"
[[ $(field Version) == "$version" ]] || fail "Version: $(field Version), want $version"
[[ $(field Architecture) == "$arch" ]] || fail "Architecture: $(field Architecture)"
depends=$(field Depends)
# Package names in Depends, without versions, alternatives split.
depend_names=$(sed 's/([^)]*)//g; s/[,|]/ /g' <<<"$depends")
# Every library the binary loads must come from a package in Depends (the
# dynamic loader and libc's own pieces come with libc6).
while read -r soname; do
  path=$(ldconfig -p | awk -v s="$soname" '$1 == s && /x86-64|x86_64|64bit/ {print $NF; exit}')
  [[ -n $path ]] || path=$(ldconfig -p | awk -v s="$soname" '$1 == s {print $NF; exit}')
  [[ -n $path ]] || { fail "cannot locate $soname on this machine"; continue; }
  owner=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
  [[ -n $owner ]] || owner=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
  [[ -n $owner ]] || { fail "no package owns $path ($soname)"; continue; }
  # The owner satisfies Depends by its name or a name it Provides (libspdlog1.10
  # provides libspdlog1.10-fmt9); libopenblas0 by any of its flavours.
  names=" $owner $(dpkg-query -W -f='${Provides}' "$owner" 2>/dev/null | sed 's/([^)]*)//g; s/,/ /g') "
  [[ $owner == libopenblas0-* ]] && names+=" libopenblas0 "
  found=0
  for dep in $depend_names; do [[ $names == *" $dep "* ]] && found=1; done
  [[ $found -eq 1 ]] || fail "$soname comes from $owner, which Depends lacks: $depends"
done < <(objdump -p "$starling" | awk '$1 == "NEEDED" {print $2}')

ctrl=$(mktemp -d)
root=$(mktemp -d)
work=$(mktemp -d)
trap 'rm -rf "$ctrl" "$root" "$work"' EXIT
dpkg-deb -e "$deb" "$ctrl"
grep -qx /etc/starling/starling.toml "$ctrl/conffiles" 2>/dev/null || fail "conffiles lacks /etc/starling/starling.toml"
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/starling ./lib/systemd/system/starling.service ./etc/starling/starling.toml \
         ./usr/share/doc/starling/README.md ./usr/share/doc/starling/deploy.md ./usr/share/doc/starling/checkpoints.md; do
  grep -qx -- "$f" <<<"$contents" || fail "package lacks $f"
done

# The Python module, when this build made it (STARLING_PYTHON and pybind11):
# the package starling/ under Debian's dist-packages, and Depends on the
# python3 it was built for. Skipped, with a line saying so, in a build
# without it.
python_built=$(sed -n 's/^STARLING_PYTHON_BUILT:INTERNAL=//p' "$build/CMakeCache.txt")
python_version=$(sed -n 's/^STARLING_PYTHON_VERSION:INTERNAL=//p' "$build/CMakeCache.txt")
python_module=
if [[ $python_built == ON ]] && grep -q '^STARLING_PYTHON:BOOL=ON' "$build/CMakeCache.txt"; then
  pydir=./usr/lib/python3/dist-packages/starling
  for f in $pydir/__init__.py $pydir/_arguments.py $pydir/torch.py; do
    grep -qx -- "$f" <<<"$contents" || fail "package lacks $f"
  done
  python_module=$(grep -x -- "$pydir/_starling\.cpython-.*\.so" <<<"$contents" | head -1)
  [[ -n $python_module ]] || fail "package lacks the extension $pydir/_starling.cpython-*.so: $(grep python3 <<<"$contents")"
  next_minor=$(( ${python_version#*.} + 1 ))
  grep -qF "python3 (>= $python_version~)" <<<"$depends" || fail "Depends lacks python3 (>= $python_version~): $depends"
  grep -qF "python3 (<< ${python_version%%.*}.$next_minor)" <<<"$depends" \
    || fail "Depends lacks python3 (<< ${python_version%%.*}.$next_minor): $depends"
  grep -q 'python3-numpy' <<<"$(field Recommends)" || fail "Recommends lacks python3-numpy: $(field Recommends)"
  grep -q 'python3-torch' <<<"$(field Suggests)" || fail "Suggests lacks python3-torch: $(field Suggests)"
else
  echo "the build has no Python module (STARLING_PYTHON off or pybind11 missing): not checked in the package"
fi

# Install into a scratch root with its own dpkg database. The root has none of
# the dependencies (dpkg would refuse: --force-depends); the libraries come
# from this machine when the binary runs. container.sh (slow) installs the
# package with apt into a fresh Debian instead.
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
# The maintainer scripts run outside the root (it has no shell); they do
# nothing when DPKG_ROOT is set, as dpkg sets it here.
for script in postinst postrm; do
  [[ -x $ctrl/$script ]] || { fail "the package has no executable $script"; continue; }
  sh -n "$ctrl/$script" || fail "$script is not valid sh"
done
install_deb() {
  dpkg --root="$root" --force-depends --force-not-root --force-script-chrootless -i "$deb" >"$work/dpkg.log" 2>&1
}
install_deb || fail "dpkg -i: $(cat "$work/dpkg.log")"
status=$(dpkg-query --root="$root" -W -f='${Status} ${Version}' starling 2>&1)
[[ $status == "install ok installed $version" ]] || fail "dpkg-query: $status"
dpkg-query --root="$root" -W -f='${Conffiles}\n' starling | grep -q '/etc/starling/starling.toml [0-9a-f]\{32\}' \
  || fail "dpkg did not register the conffile: $(dpkg-query --root="$root" -W -f='${Conffiles}' starling)"
[[ -x $root/usr/bin/starling ]] || fail "no executable /usr/bin/starling in the scratch root"

# A conffile keeps the operator's edits when the package is installed again.
echo '# edited by the operator' >>"$root/etc/starling/starling.toml"
install_deb || fail "dpkg -i again: $(cat "$work/dpkg.log")"
tail -1 "$root/etc/starling/starling.toml" | grep -qx '# edited by the operator' \
  || fail "reinstalling replaced the edited /etc/starling/starling.toml"

out=$("$root/usr/bin/starling" --version 2>&1)
[[ $out == "starling $version" ]] || fail "installed starling --version says '$out', want 'starling $version'"

# Debian's python3 imports the installed module from the scratch root (the
# libraries come from this machine) and a Peer starts a swarm and leaves.
if [[ -n $python_module ]]; then
  if [[ -x /usr/bin/python3 ]]; then
    out=$(cd "$work" && PYTHONPATH="$root/usr/lib/python3/dist-packages" /usr/bin/python3 - "$root" 2>&1 <<'PY'
import os, sys
import starling
root = sys.argv[1]
assert os.path.realpath(starling.__file__).startswith(os.path.realpath(root)), starling.__file__
import array
values = array.array("f", [0.0] * 6)
with starling.Peer(listen="127.0.0.1:0", data_dir=os.path.join(os.getcwd(), "pystate")) as peer:
    peer.attach(values, shapes=[[2, 3]])
    peer.join()
    peer.after_step()
    status = peer.status()
    assert status["state"] == "training", status
print("imported", starling.__file__, "state", status["state"])
PY
    ) || fail "/usr/bin/python3 cannot use the installed module: $out"
    echo "$out" | tail -1
  else
    echo "no /usr/bin/python3: the installed module's import not checked"
  fi
fi

# Removing keeps the conffile (only a purge deletes it) and runs postrm.
cp -a "$root/usr/bin/starling" "$work/starling"
if dpkg --root="$root" --force-not-root --force-script-chrootless -r starling >"$work/dpkg-r.log" 2>&1; then
  [[ ! -e $root/usr/bin/starling ]] || fail "dpkg -r left /usr/bin/starling"
  [[ -f $root/etc/starling/starling.toml ]] || fail "dpkg -r deleted the conffile /etc/starling/starling.toml"
else
  fail "dpkg -r: $(cat "$work/dpkg-r.log")"
fi
mkdir -p "$root/usr/bin" && cp -a "$work/starling" "$root/usr/bin/starling"

# The packaged default config is one `starling peer --config` accepts.
"$root/usr/bin/starling" peer --config "$root/etc/starling/starling.toml" --print-config >"$work/print.toml" 2>&1 \
  || fail "starling peer --config /etc/starling/starling.toml --print-config: $(cat "$work/print.toml")"

# `starling init DIR` writes a config, a swarm key and an identity.
{
  node=$work/node
  "$root/usr/bin/starling" init "$node" >"$work/init.log" 2>&1 || fail "starling init: $(cat "$work/init.log")"
  [[ -s $node/starling.toml ]] || fail "init wrote no $node/starling.toml: $(ls -la "$node" 2>&1)"
  swarm_keys=0 identities=0
  for f in "$node"/*; do
    checked=$("$root/usr/bin/starling" keygen --check "$f" 2>/dev/null) || continue
    grep -q ': swarm key' <<<"$checked" && swarm_keys=$((swarm_keys + 1))
    grep -q ': identity' <<<"$checked" && identities=$((identities + 1))
  done
  [[ $swarm_keys -eq 1 ]] || fail "init wrote $swarm_keys swarm keys: $(ls -la "$node")"
  [[ $identities -eq 1 ]] || fail "init wrote $identities identities: $(ls -la "$node")"
  "$root/usr/bin/starling" peer --config "$node/starling.toml" --print-config >"$work/init-print.toml" 2>&1 \
    || fail "the config init wrote is refused: $(cat "$work/init-print.toml")"
}
exit $((failures > 0))
