#include "status_table.h"

#include <fmt/format.h>

#include <cstdint>

#include "json_fields.h"

namespace starling::apps {
namespace {

std::string text(const nlohmann::json& object, const char* key) { return printable(text_or(object, key, "?")); }

std::string short_id(const std::string& hex) { return hex.substr(0, 12); }

std::string percent(const nlohmann::json& object, const char* key) {
  const auto value = number_as<double>(object, key);
  return value ? fmt::format("{:.2f}%", 100.0 * *value) : std::string("-");
}

// The training questions (is it learning, with whom, within its budget?) in
// three lines; `status --json` has every field.
std::string training_lines(const nlohmann::json& t) {
  std::size_t links = 0;
  std::size_t ready = 0;
  if (const auto neighbours = t.find("neighbours"); neighbours != t.end() && neighbours->is_array()) {
    for (const auto& n : *neighbours) {
      if (!n.is_object()) continue;
      ++links;
      ready += flag_or(n, "ready", false) ? 1 : 0;
    }
  }
  const auto loss = number_as<double>(t, "train_loss");
  const auto average_of = number_as<std::uint64_t>(t, "local_average_neighbours");
  std::string out = fmt::format("training  {}   step {}   train loss {}   links {}/{} ready\n", text(t, "state"),
                                number_as<std::uint64_t>(t, "step").value_or(0),
                                loss ? fmt::format("{:.4f}", *loss) : std::string("-"), ready, links);
  out += fmt::format("accuracy  own {} (step {})   local average {} ({} neighbour{})\n", percent(t, "test_accuracy"),
                     number_as<std::uint64_t>(t, "evaluated_at_step").value_or(0),
                     percent(t, "local_average_accuracy"), average_of.value_or(0),
                     average_of.value_or(0) == 1 ? "" : "s");
  const auto budget = number_as<double>(t, "upload_budget_bytes_per_second");
  out += fmt::format("upload    {:.0f} B/s of {}\n", number_as<double>(t, "upload_bytes_per_second").value_or(0.0),
                     budget && *budget > 0 ? fmt::format("a {:.0f} B/s budget", *budget) : std::string("no budget"));
  return out;
}

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
  if (const auto training = status.find("training");
      status.is_object() && training != status.end() && training->is_object()) {
    out += training_lines(*training);
  }
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
