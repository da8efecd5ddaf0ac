// The one way apps/ turn JSON into text. nlohmann's plain dump() throws on a
// string that is not valid UTF-8; a status answer is written inside a libuv
// callback and may quote what other members told us, so a throwing writer
// would let one member crash every peer asked for its status. This writer
// replaces invalid bytes with U+FFFD instead and never throws.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace starling::apps {

// Compact JSON text (indent < 0) or pretty-printed with `indent` spaces.
inline std::string to_json_text(const nlohmann::json& value, int indent = -1) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace starling::apps
