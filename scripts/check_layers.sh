#!/usr/bin/env bash
# Layer guard (docs/architecture.md, "Layers"): the sans-I/O layers must not
# reach for threads, clocks, global randomness, libuv or libsodium. Time comes
# in as an argument or from the Transport, randomness from a seeded generator;
# that is what lets src/sim run the very same code deterministically.
#
#   scripts/check_layers.sh [ROOT]    # ROOT defaults to the repository
#
# Checks every C++ file under ROOT/{src/node, gossip, src/sim,
# include/starling/{node,gossip,sim}} (directories that do not exist yet are
# skipped). Comments and string literals are blanked before matching, so a
# comment that names <thread> is no hit. Prints FILE:LINE: what, and exits
# 1 on any hit, 0 when clean, 2 when there was nothing to check (a wrong ROOT
# must not pass silently).
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
[[ -d "$root" ]] || { echo "check_layers: no such directory: $root" >&2; exit 2; }

layers=(src/node gossip src/sim include/starling/node include/starling/gossip include/starling/sim)

# label|extended regex, matched against code with comments and strings blanked.
rules=(
  'header <thread>, <future>, a clock header, libuv or libsodium|^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](thread|future|chrono|ctime|time\.h|sys/time\.h|uv\.h|uv/[^>"]*|sodium\.h|sodium/[^>"]*)[>"]'
  'std::random_device (seed a generator instead)|(^|[^[:alnum:]_])random_device([^[:alnum:]_]|$)'
  'std::this_thread / std::chrono (time is passed in)|(^|[^[:alnum:]_])std[[:space:]]*::[[:space:]]*(this_thread|chrono)([^[:alnum:]_]|$)|(^|[^[:alnum:]_:])(this_thread|chrono)[[:space:]]*::'
  'system clock call (clock_gettime, gettimeofday)|(^|[^[:alnum:]_])(clock_gettime|gettimeofday)([^[:alnum:]_]|$)'
  'system clock call time()|(^|[^[:alnum:]_])(std[[:space:]]*::|::)[[:space:]]*time[[:space:]]*\(|(^|[^[:alnum:]_.>:])time[[:space:]]*\([[:space:]]*(nullptr|NULL|0|&)'
  'global RNG rand()/srand()|(^|[^[:alnum:]_.>:])(std[[:space:]]*::[[:space:]]*|::[[:space:]]*)?s?rand[[:space:]]*\('
)

# Blanks // and /* */ comments and "..." / '...' literals, one output line per
# input line so line numbers stay right. #include lines keep their "file.h".
strip_code() {
  awk '
  {
    line = $0; out = ""; n = length(line); i = 1; in_str = 0
    is_include = (line ~ /^[ \t]*#[ \t]*include/)
    while (i <= n) {
      c = substr(line, i, 1); c2 = substr(line, i, 2)
      if (in_block) { if (c2 == "*/") { in_block = 0; out = out " "; i += 2 } else i++; continue }
      if (in_str) {
        if (c == "\\") { i += 2; continue }
        if (c == quote) { in_str = 0; out = out c }
        i++; continue
      }
      if (c2 == "//") break
      if (c2 == "/*") { in_block = 1; i += 2; continue }
      # A quote after a digit or letter is a digit separator (1'\''000), not a literal.
      if (!is_include && (c == "\"" || (c == "'\''" && substr(line, i - 1, 1) !~ /[[:alnum:]_]/))) {
        in_str = 1; quote = c; out = out c; i++; continue
      }
      out = out c; i++
    }
    print out
  }' "$1"
}

checked=0
hits=0
for layer in "${layers[@]}"; do
  [[ -d "$root/$layer" ]] || continue
  while IFS= read -r -d '' file; do
    checked=$((checked + 1))
    stripped=$(strip_code "$file")
    for rule in "${rules[@]}"; do
      label=${rule%%|*}
      regex=${rule#*|}
      while IFS=: read -r lineno _; do
        [[ -n "$lineno" ]] || continue
        hits=$((hits + 1))
        text=$(sed -n "${lineno}p" "$file" | sed 's/^[[:space:]]*//')
        echo "${file#"$root"/}:$lineno: forbidden in a sans-I/O layer: $label: $text"
      done < <(grep -nE "$regex" <<<"$stripped" || true)
    done
  done < <(find "$root/$layer" -type f \( -name '*.h' -o -name '*.hpp' -o -name '*.cpp' -o -name '*.cc' \
             -o -name '*.cxx' -o -name '*.ipp' -o -name '*.inl' -o -name '*.tcc' \) -print0 | sort -z)
done

if ((checked == 0)); then
  echo "check_layers: no C++ file under any of ${layers[*]} in $root" >&2
  exit 2
fi
if ((hits > 0)); then
  echo "check_layers: $hits forbidden use(s) in $checked files (see docs/architecture.md, \"Layers\")" >&2
  exit 1
fi
echo "check_layers: OK, $checked files in ${layers[*]} use no thread, clock, global RNG, libuv or libsodium"
