#!/usr/bin/env bash
# Tests the layer guard itself (scripts/check_layers.sh), so it cannot stop
# working silently: on fixture_bad it must fail and name every planted use at
# its line (and nothing that is only in a comment); on fixture_clean, full of
# near misses in comments, strings and identifiers, it must pass.
#   tests/layers/guard_test.sh bad|clean
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
guard=$here/../../scripts/check_layers.sh
fail() { echo "FAIL: $*" >&2; exit 1; }

case ${1:-} in
  bad)
    rc=0
    out=$(bash "$guard" "$here/fixture_bad" 2>&1) || rc=$?
    echo "$out"
    [[ $rc == 1 ]] || fail "guard exited $rc on fixture_bad, expected 1"
    expected=(
      'src/node/uses_thread.cpp:4: .*<thread>'
      'gossip/uses_random_device.cpp:5: .*random_device'
      'src/sim/uses_uv.cpp:2: .*<uv.h>'
      'src/sim/uses_clocks.cpp:2: .*<chrono>'
      'src/sim/uses_clocks.cpp:3: .*sodium/crypto_box.h'
      'src/sim/uses_clocks.cpp:7: .*system clock call time\(\)'
      'src/sim/uses_clocks.cpp:7: .*global RNG'
      'src/sim/uses_clocks.cpp:8: .*std::chrono'
      'src/sim/uses_clocks.cpp:9: .*gettimeofday'
      'src/sim/uses_clocks.cpp:10: .*this_thread'
      'src/sim/uses_clocks.cpp:11: .*global RNG'
      'include/starling/node/uses_future.h:3: .*<future>'
      'include/starling/gossip/uses_sodium.h:3: .*<sodium.h>'
      'include/starling/gossip/uses_sodium.h:4: .*<time.h>'
      'include/starling/gossip/uses_sodium.h:5: .*<sys/time.h>'
      'include/starling/sim/uses_ctime.h:3: .*<ctime>'
      'include/starling/sim/uses_ctime.h:4: .*clock_gettime'
      'include/starling/sim/uses_ctime.h:4: .*system clock call time\(\)'
    )
    for pattern in "${expected[@]}"; do
      grep -qE "^$pattern" <<<"$out" || fail "guard did not report: $pattern"
    done
    hits=$(grep -c ': forbidden in a sans-I/O layer: ' <<<"$out" || true)
    [[ $hits == "${#expected[@]}" ]] || fail "guard reported $hits uses, expected ${#expected[@]} (a comment counted?)"
    grep -q "18 forbidden use(s)" <<<"$out" || fail "no summary line"
    ;;
  clean)
    rc=0
    out=$(bash "$guard" "$here/fixture_clean" 2>&1) || rc=$?
    echo "$out"
    [[ $rc == 0 ]] || fail "guard exited $rc on fixture_clean, expected 0"
    grep -q "check_layers: OK, 3 files" <<<"$out" || fail "guard did not check the 3 fixture files"
    # A root without any layer directory is an error, not a pass.
    rc=0
    bash "$guard" "$here" >/dev/null 2>&1 || rc=$?
    [[ $rc == 2 ]] || fail "guard exited $rc on a root without layers, expected 2"
    ;;
  *) echo "usage: $0 bad|clean" >&2; exit 2 ;;
esac
echo "guard_test $1: ok"
