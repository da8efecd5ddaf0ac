#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>

#include "json_fields.h"

using nlohmann::json;
using starling::apps::number_as;

TEST_CASE("number_as: only numbers the type can hold", "[apps][json]") {
  const json status = json::parse(R"({"health": 3, "huge": 1e300, "negative": -1, "half": 2.5, "whole": 7.0,
    "big": 18446744073709551615, "text": "5", "nan": null, "uptime": 12.5})");
  CHECK(number_as<int>(status, "health") == std::optional<int>(3));
  CHECK_FALSE(number_as<int>(status, "huge"));  // was a float-to-int cast out of range
  CHECK_FALSE(number_as<std::uint64_t>(status, "huge"));
  CHECK_FALSE(number_as<std::uint64_t>(status, "negative"));
  CHECK(number_as<int>(status, "negative") == std::optional<int>(-1));
  CHECK_FALSE(number_as<int>(status, "half"));
  CHECK(number_as<int>(status, "whole") == std::optional<int>(7));
  CHECK(number_as<std::uint64_t>(status, "big") == std::optional<std::uint64_t>(18446744073709551615ULL));
  CHECK_FALSE(number_as<int>(status, "big"));
  CHECK_FALSE(number_as<int>(status, "text"));
  CHECK_FALSE(number_as<double>(status, "nan"));
  CHECK_FALSE(number_as<int>(status, "missing"));
  CHECK(number_as<double>(status, "uptime") == std::optional<double>(12.5));
  CHECK_FALSE(number_as<float>(status, "huge"));
  CHECK_FALSE(number_as<int>(json::array({1, 2}), "health"));  // not an object
}
