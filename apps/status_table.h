// `starling status`'s readable form of a peer's status answer: who answered,
// then one line per member. The answer comes from another process, perhaps a
// hostile one, so no field's type or content can throw or reach the terminal
// as a control sequence.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace starling::apps {

// The table, lines ending in '\n'. Missing or mistyped fields read as "?" or
// 0; members that are not objects are left out.
std::string status_table(const nlohmann::json& status);

// The answer for `starling status --json`: the peer's JSON written again by
// us (key order kept, control characters and non-ASCII escaped), or an empty
// string when the answer is no JSON object or nests deeper than 32 levels.
std::string status_json(const std::string& answer);

}  // namespace starling::apps
