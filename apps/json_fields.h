// Fields of JSON another process wrote (a peer's status answer), read so that
// no value a hostile or broken peer sends can throw or cast unchecked.
//
// Numbers: nlohmann's
// get<int>() of 1e300 or -1 into an unsigned is an unchecked cast (1e300 into
// an int is undefined behaviour), so a hostile or broken peer could make
// `starling status` print garbage or worse. number_as<T> gives nullopt unless
// the key holds a number T can hold: for an integer type, a whole number in
// its range; for a floating type, a finite one.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace starling::apps {

template <typename T>
std::optional<T> number_as(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return std::nullopt;
  const auto found = object.find(key);
  if (found == object.end() || !found->is_number()) return std::nullopt;
  if constexpr (std::is_floating_point_v<T>) {
    const double value = found->get<double>();
    if (!std::isfinite(value) || std::fabs(value) > double(std::numeric_limits<T>::max())) return std::nullopt;
    return T(value);
  } else {
    if (found->is_number_unsigned()) {
      const std::uint64_t value = found->get<std::uint64_t>();
      if (!std::in_range<T>(value)) return std::nullopt;
      return T(value);
    }
    if (found->is_number_integer()) {
      const std::int64_t value = found->get<std::int64_t>();
      if (!std::in_range<T>(value)) return std::nullopt;
      return T(value);
    }
    const double value = found->get<double>();
    if (!std::isfinite(value) || value != std::floor(value)) return std::nullopt;
    if (value >= 0.0) {
      if (value >= 0x1p64) return std::nullopt;
      const auto whole = static_cast<std::uint64_t>(value);
      if (!std::in_range<T>(whole)) return std::nullopt;
      return T(whole);
    }
    if (value < -0x1p63) return std::nullopt;
    const auto whole = static_cast<std::int64_t>(value);
    if (!std::in_range<T>(whole)) return std::nullopt;
    return T(whole);
  }
}

// The string at key, or fallback when it is missing or not a string
// (nlohmann's value() throws on a wrong type).
inline std::string text_or(const nlohmann::json& object, const char* key, const char* fallback) {
  if (!object.is_object()) return fallback;
  const auto found = object.find(key);
  if (found == object.end() || !found->is_string()) return fallback;
  return found->get<std::string>();
}

// The boolean at key, or fallback when it is missing or not a boolean.
inline bool flag_or(const nlohmann::json& object, const char* key, bool fallback) {
  if (!object.is_object()) return fallback;
  const auto found = object.find(key);
  if (found == object.end() || !found->is_boolean()) return fallback;
  return found->get<bool>();
}

// Text a peer sent, made safe for a terminal: anything but printable ASCII
// becomes '?', so an escape sequence cannot move the cursor or retitle the
// window, and one byte is one column.
inline std::string printable(std::string line) {
  for (char& c : line) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f) c = '?';
  }
  return line;
}

}  // namespace starling::apps
