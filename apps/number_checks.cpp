#include "number_checks.h"

#include <algorithm>
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "starling/text.h"

namespace starling::apps {

std::string check_integer_text(std::string& text, bool is_unsigned, const std::string& range) {
  std::string_view digits = text;
  bool negative = false;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return quoted_text(text) + " is not a whole decimal number";
  const std::size_t first = digits.find_first_not_of('0');
  const std::string plain = first == std::string_view::npos ? "0" : std::string(digits.substr(first));
  const bool zero = plain == "0";
  if (negative && is_unsigned && !zero) return quoted_text(text) + " is negative (want 0 or more)";
  const std::string signed_plain = (negative && !zero ? "-" : "") + plain;
  const char* end = signed_plain.data() + signed_plain.size();
  std::from_chars_result parsed{};
  if (is_unsigned) {
    std::uint64_t value = 0;
    parsed = std::from_chars(signed_plain.data(), end, value);
  } else {
    std::int64_t value = 0;
    parsed = std::from_chars(signed_plain.data(), end, value);
  }
  if (parsed.ec != std::errc() || parsed.ptr != end) {
    const std::string want = !range.empty() ? range
                             : is_unsigned  ? "0 to " + std::to_string(UINT64_MAX)
                                            : std::to_string(INT64_MIN) + " to " + std::to_string(INT64_MAX);
    return quoted_text(text) + " is out of range (want " + want + ")";
  }
  text = signed_plain;
  return {};
}

std::string check_float_text(std::string& text) {
  // from_chars, not strtod: strtod also reads hexadecimal floats (0x1p-4),
  // "infinity" and leading spaces, which --print-config could not write back
  // as a TOML number. A leading '+' (which from_chars refuses) is dropped.
  std::string_view digits = text;
  if (digits.size() > 1 && digits.front() == '+' && digits[1] != '-' && digits[1] != '+') digits.remove_prefix(1);
  double value = 0;
  const char* end = digits.data() + digits.size();
  const auto [stop, ec] = std::from_chars(digits.data(), end, value);
  if (digits.empty() || stop != end || (ec != std::errc() && ec != std::errc::result_out_of_range))
    return quoted_text(text) + " is not a plain decimal number";
  if (ec == std::errc::result_out_of_range) return quoted_text(text) + " is out of range for a double";
  if (!std::isfinite(value)) return quoted_text(text) + " is not a finite number";
  text = std::string(digits);
  return {};
}

CLI::Validator zero_or_range(double min, double max, const std::string& zero_means) {
  const std::string range = "0 (" + zero_means + ") or " + fmt::format("{}", min) + " to " + fmt::format("{}", max);
  return CLI::Validator(
      [min, max, range](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size()) return quoted_text(text) + " is not a number";
        if (value == 0.0 || (value >= min && value <= max)) return {};
        return quoted_text(text) + " is out of range: give " + range;
      },
      range, "");
}

CLI::Validator positive_seconds(const std::string& longest) {
  const std::string wanted = "a number of seconds above 0, e.g. 5 (a longer wait than " + longest + " is cut to it)";
  return CLI::Validator(
      [wanted](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size()) return quoted_text(text) + " is not a number";
        if (value > 0.0) return {};
        return quoted_text(text) + " is out of range: give " + wanted;
      },
      "SECONDS above 0", "");
}

namespace {

// The kind of number an option reads, from its type name: "INT", "UINT" or
// "FLOAT" first, or after a ':' (a custom name such as "FACTOR" followed by
// its CLI::Range's description "FLOAT in [0.01 - 100]"). "" for the rest.
std::string number_kind(const std::string& type_name) {
  std::size_t start = 0;
  while (start <= type_name.size()) {
    const std::size_t end = std::min(type_name.find(':', start), type_name.size());
    const std::string token = type_name.substr(start, end - start);
    const std::string word = token.substr(0, token.find_first_of(" ="));
    if (word == "INT" || word == "UINT" || word == "FLOAT") return word;
    start = end + 1;
  }
  return "";
}

// The option's own CLI::Range from its type name ("INT:INT in [1 - 256]"):
// "1 to 256", or "" without one.
std::string range_of(const std::string& type_name) {
  const std::size_t open = type_name.find("in [");
  const std::size_t dash = type_name.find(" - ", open);
  const std::size_t close = type_name.find(']', dash);
  if (open == std::string::npos || dash == std::string::npos || close == std::string::npos) return "";
  return type_name.substr(open + 4, dash - open - 4) + " to " + type_name.substr(dash + 3, close - dash - 3);
}

void check_option(CLI::Option& option) {
  const std::string kind = number_kind(option.get_type_name());
  if (kind == "INT" || kind == "UINT") {
    const bool is_unsigned = kind == "UINT";
    const std::string range = range_of(option.get_type_name());
    option.transform(CLI::Validator(
        [is_unsigned, range](std::string& text) { return check_integer_text(text, is_unsigned, range); }, "",
        "plain integer"));
  } else if (kind == "FLOAT") {
    option.transform(CLI::Validator([](std::string& text) { return check_float_text(text); }, "", "finite number"));
  }
}

}  // namespace

void check_numbers(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) check_option(*option);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) check_numbers(*sub);
}

}  // namespace starling::apps
