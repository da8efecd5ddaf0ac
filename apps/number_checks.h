// Plain decimal numbers only, for every numeric option of a CLI11 app.
//
// CLI11 2.1 reads numbers with strtoll/strtoull/strtod in base 0, so on its own
// `--batch 010` is octal 8, `--random-seed -1` wraps to 2^64-1, 2^64
// saturates silently, and `nan` passes every CLI::Range (each comparison with
// NaN is false). check_numbers puts a transform in front of each INT, UINT and
// FLOAT option's own checks (also a custom type name followed by such a
// range, "FACTOR:FLOAT in [...]") that lets only a finite decimal number through
// (leading zeros are dropped: 010 is 10) and names the option otherwise.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace starling::apps {

// 0, which turns a periodic thing off, or a value in [min, max]: for an
// interval whose tiny positive values (1e-300 seconds) would mean "all the
// time". `zero_means` says what 0 does ("only at stop").
CLI::Validator zero_or_range(double min, double max, const std::string& zero_means);

// A wait in seconds above 0 (`status --timeout`): CLI::PositiveNumber said
// "Value 0 not in range 0.000000 to 1797693134862315708145..." (DBL_MAX, 309
// digits). `longest` (e.g. "24 hours") says where a longer wait is cut.
CLI::Validator positive_seconds(const std::string& longest);

// For the app and all its subcommands; call once, after every option exists.
void check_numbers(CLI::App& app);

// The checks themselves (tests): empty when `text` is fine (it may be
// rewritten to its plain form), else the reason. `range` ("1 to 256", the
// option's own) is what an out-of-range message asks for; "" for the type's.
std::string check_integer_text(std::string& text, bool is_unsigned, const std::string& range = "");
std::string check_float_text(std::string& text);

}  // namespace starling::apps
