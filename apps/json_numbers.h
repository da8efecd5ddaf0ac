// Numbers from JSON another process wrote (a peer's status answer). nlohmann's
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

}  // namespace starling::apps
