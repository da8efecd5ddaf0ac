#include "status_table.h"

#include <fmt/format.h>

#include <cstdint>

#include "json_fields.h"

namespace starling::apps {
namespace {

std::string text(const nlohmann::json& object, const char* key) { return printable(text_or(object, key, "?")); }

std::string short_id(const std::string& hex) { return hex.substr(0, 12); }

}  // namespace

std::string status_table(const nlohmann::json& status) {
  std::string out;
  out += fmt::format("node      {}\n", text(status, "node_id"));
  out += fmt::format("address   {}\n", text(status, "address"));
  out += fmt::format("uptime    {:.1f} s   incarnation {}   health {}   {}\n",
                     number_as<double>(status, "uptime_seconds").value_or(0.0),
                     number_as<std::uint64_t>(status, "incarnation").value_or(0),
                     number_as<int>(status, "health_score").value_or(0),
                     flag_or(status, "joined", false) ? "joined" : "not joined yet");
  out += fmt::format("traffic   {} bytes sent, {} received, {} datagrams rejected\n",
                     number_as<std::uint64_t>(status, "bytes_sent").value_or(0),
                     number_as<std::uint64_t>(status, "bytes_received").value_or(0),
                     number_as<std::uint64_t>(status, "datagrams_rejected").value_or(0));
  out += fmt::format("\n{:<14} {:<24} {:<8} {:>11} {:>9}\n", "MEMBER", "ADDRESS", "STATE", "INCARNATION", "SINCE(s)");
  std::size_t listed = 0;
  if (const auto members = status.find("members"); status.is_object() && members != status.end() &&
                                                    members->is_array()) {
    for (const auto& member : *members) {
      if (!member.is_object()) continue;
      ++listed;
      out += fmt::format("{:<14} {:<24} {:<8} {:>11} {:>9.1f}\n", short_id(text(member, "node_id")),
                         text(member, "address"), text(member, "state"),
                         number_as<std::uint64_t>(member, "incarnation").value_or(0),
                         number_as<double>(member, "state_age_seconds").value_or(0.0));
    }
  }
  out += fmt::format("({} other member{})\n", listed, listed == 1 ? "" : "s");
  return out;
}

std::string status_json(const std::string& answer) {
  // A peer's answer nests four levels; nlohmann parses any depth without
  // recursion, but writes recursively, so a million '[' would overflow the
  // stack in dump(). Deeper than this is refused, not written.
  constexpr int kMaxDepth = 32;
  bool too_deep = false;
  const nlohmann::ordered_json::parser_callback_t depth_guard = [&too_deep](int depth, auto, auto&) {
    if (depth > kMaxDepth) too_deep = true;
    return !too_deep;
  };
  const auto parsed = nlohmann::ordered_json::parse(answer, depth_guard, /*allow_exceptions=*/false);
  if (too_deep || parsed.is_discarded() || !parsed.is_object()) return {};
  return parsed.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace starling::apps
