#include "top_frame.h"

#include "json_fields.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>

namespace starling::apps {
namespace {

using nlohmann::json;

// The status answer is read defensively (json_fields.h): a field may be
// missing, null (no evaluation yet) or, from an older or odd peer, of
// another type.
std::optional<double> number(const json& object, const char* key) { return number_as<double>(object, key); }

// Everything on the wire one way ("sent" or "received"): the streams and the
// membership datagrams (a bootstrap node's traffic is ~80% datagrams). A peer
// before the datagram counters answers with the streams alone.
std::optional<double> wire_bytes(const json& object, const std::string& way) {
  const std::optional<double> streams = number(object, ("bytes_" + way).c_str());
  if (!streams) return std::nullopt;
  return *streams + number(object, ("datagram_bytes_" + way).c_str()).value_or(0.0);
}

const json& child(const json& object, const char* key) {
  static const json none;
  if (!object.is_object()) return none;
  auto found = object.find(key);
  return found == object.end() ? none : *found;
}

const json& array_of(const json& object, const char* key) {
  static const json empty = json::array();
  const json& found = child(object, key);
  return found.is_array() ? found : empty;
}

std::string short_id(const std::string& hex) { return hex.substr(0, 12); }

std::string or_dash(const std::optional<double>& value, const char* format) {
  return value ? fmt::format(fmt::runtime(format), *value) : std::string("-");
}

std::string percent(const std::optional<double>& fraction) {
  return fraction ? fmt::format("{:.2f}%", 100.0 * *fraction) : std::string("-");
}

std::string rate(const std::optional<double>& bytes_per_second) {
  return bytes_per_second ? format_bytes(*bytes_per_second) + "/s" : std::string("-");
}

std::string clock_text(double unix_seconds) {
  const auto seconds = static_cast<std::time_t>(unix_seconds);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:02}:{:02}:{:02} UTC", utc.tm_hour, utc.tm_min, utc.tm_sec);
}

// Member rows: suspects first (what an operator looks for), then alive, dead,
// left; by address within a state.
int state_rank(const std::string& state) {
  static const std::map<std::string, int> ranks = {{"suspect", 0}, {"alive", 1}, {"dead", 2}, {"left", 3}};
  auto found = ranks.find(state);
  return found == ranks.end() ? 4 : found->second;
}

void header_lines(const TopFrameInput& in, std::vector<std::string>& out) {
  std::string head = in.address;
  if (in.current) {
    const json& s = *in.current;
    head += fmt::format("  node {}  {}  {}  up {}  incarnation {}  health {}", short_id(text_or(s, "node_id", "?")),
                        text_or(s, "state", "?"), flag_or(s, "joined", false) ? "joined" : "not joined yet",
                        format_duration(number(s, "uptime_seconds").value_or(0)),
                        or_dash(number(s, "incarnation"), "{:.0f}"), or_dash(number(s, "health_score"), "{:.0f}"));
  }
  head += "  " + clock_text(in.now_unix_seconds);
  out.push_back(head);
  if (in.error) {
    // The reason last: it is the long part, and what a narrow terminal cuts.
    out.push_back(fmt::format("UNREACHABLE since {} ({} ago), retrying every {:.1f} s{}: {}",
                              clock_text(in.unreachable_since_unix_seconds),
                              format_duration(in.now_unix_seconds - in.unreachable_since_unix_seconds),
                              in.interval_seconds, in.current ? ", showing its last answer" : "", *in.error));
  }
}

void summary_lines(const json& s, const TopRates& rates, std::vector<std::string>& out) {
  const json& t = child(s, "training");
  if (!t.is_object()) {
    out.push_back("training  off (membership only)");
    out.push_back("accuracy  -");
  } else {
    out.push_back(fmt::format("training  {}  step {} ({} epochs)  {} steps/s  {} samples/s  train loss {}",
                              text_or(t, "state", "?"), or_dash(number(t, "step"), "{:.0f}"),
                              or_dash(number(t, "epoch"), "{:.2f}"), or_dash(rates.steps_per_second, "{:.1f}"),
                              or_dash(rates.samples_per_second, "{:.0f}"), or_dash(number(t, "train_loss"), "{:.4f}")));
    out.push_back(fmt::format(
        "accuracy  own {} (step {})  local average {} (step {}, {} neighbour{})  consensus distance {}",
        percent(number(t, "test_accuracy")), or_dash(number(t, "evaluated_at_step"), "{:.0f}"),
        percent(number(t, "local_average_accuracy")), or_dash(number(t, "local_average_at_step"), "{:.0f}"),
        or_dash(number(t, "local_average_neighbours"), "{:.0f}"),
        number(t, "local_average_neighbours").value_or(0) == 1 ? "" : "s",
        or_dash(number(t, "consensus_distance"), "{:.2e}")));
  }
  out.push_back(fmt::format("traffic   in {}  out {}   total in {}  out {}   link resets {}",
                            rate(rates.bytes_in_per_second), rate(rates.bytes_out_per_second),
                            format_bytes(wire_bytes(s, "received").value_or(0)),
                            format_bytes(wire_bytes(s, "sent").value_or(0)),
                            or_dash(number(t, "link_resets"), "{:.0f}")));
  std::map<int, int> counts;
  for (const json& m : array_of(s, "members")) ++counts[state_rank(text_or(m, "state", "?"))];
  ++counts[state_rank(text_or(s, "state", "?"))];  // the peer itself is a member too
  out.push_back(fmt::format("members   {} alive  {} suspect  {} dead  {} left", counts[1], counts[0], counts[2],
                            counts[3]));
}

std::vector<std::string> neighbour_rows(const json& s) {
  std::vector<std::string> rows;
  for (const json& n : array_of(child(s, "training"), "neighbours")) {
    rows.push_back(fmt::format("{:<12}  {:<21}  {:<3}  {:<5}  {:>5}  {:>9}  {:>13}  {:>6}  {:>5}",
                               short_id(text_or(n, "node_id", "?")), text_or(n, "address", "?"), flag_or(n, "outbound", false) ? "out" : "in",
                               flag_or(n, "ready", false) ? "yes" : "no", or_dash(number(n, "link_epoch"), "{:.0f}"),
                               or_dash(number(n, "tracking_error"), "{:.2e}"),
                               or_dash(number(n, "deltas_sent"), "{:.0f}") + "/" +
                                   or_dash(number(n, "deltas_received"), "{:.0f}"),
                               or_dash(number(n, "resets"), "{:.0f}"), or_dash(number(n, "trust"), "{:.2f}")));
  }
  return rows;
}

std::string member_row(const json& m, const std::string& state, const std::string& since) {
  return fmt::format("{:<12}  {:<21}  {:<14}  {:>11}  {:>8}", short_id(text_or(m, "node_id", "?")), text_or(m, "address", "?"), state,
                     or_dash(number(m, "incarnation"), "{:.0f}"), since);
}

std::vector<std::string> member_rows(const json& s) {
  std::vector<const json*> members;
  for (const json& m : array_of(s, "members")) members.push_back(&m);
  std::stable_sort(members.begin(), members.end(), [](const json* a, const json* b) {
    const int ra = state_rank(text_or(*a, "state", "?")), rb = state_rank(text_or(*b, "state", "?"));
    return ra != rb ? ra < rb : text_or(*a, "address", "?") < text_or(*b, "address", "?");
  });
  std::vector<std::string> rows;
  rows.push_back(member_row(s, text_or(s, "state", "?") + " (self)", "-"));
  for (const json* m : members) {
    const auto age = number(*m, "state_age_seconds");
    rows.push_back(member_row(*m, text_or(*m, "state", "?"), age ? format_duration(*age) : "-"));
  }
  return rows;
}

// Up to `budget` of `rows` (budget >= 1); when some are left out, the last
// shown row says how many.
void append_fitted(const std::vector<std::string>& rows, int budget, const char* what, std::vector<std::string>& out) {
  const auto total = static_cast<int>(rows.size());
  if (total <= budget) {
    out.insert(out.end(), rows.begin(), rows.end());
    return;
  }
  out.insert(out.end(), rows.begin(), rows.begin() + (budget - 1));
  out.push_back(fmt::format("... {} more {} (enlarge the terminal)", total - (budget - 1), what));
}

}  // namespace

std::string format_bytes(double bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (std::fabs(bytes) >= 1024.0 && unit < 4) {
    bytes /= 1024.0;
    ++unit;
  }
  return unit == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[unit]);
}

std::string format_duration(double seconds) {
  if (!(seconds >= 0)) seconds = 0;  // also NaN
  // A status answer is another process's word: an uptime past any long
  // long (1e300, infinity) made the cast below undefined. Shown as the
  // largest it can be instead, about 31,700 years.
  constexpr double kLongestSeconds = 1e12;
  const auto whole = static_cast<long long>(std::min(seconds, kLongestSeconds));
  if (whole < 60) return fmt::format("{}s", whole);
  if (whole < 3600) return fmt::format("{}m{:02}s", whole / 60, whole % 60);
  if (whole < 86400) return fmt::format("{}h{:02}m", whole / 3600, whole % 3600 / 60);
  return fmt::format("{}d{:02}h", whole / 86400, whole % 86400 / 3600);
}

TopRates top_rates(const json* previous, const json& current) {
  TopRates rates;
  if (!previous || text_or(*previous, "node_id", "") != text_or(current, "node_id", "") ||
      text_or(current, "node_id", "").empty())
    return rates;
  const auto t0 = number(*previous, "uptime_seconds"), t1 = number(current, "uptime_seconds");
  if (!t0 || !t1 || !(*t1 > *t0)) return rates;  // a restarted peer counts from zero again
  const double seconds = *t1 - *t0;
  // A counter that went down belongs to another run: no rate rather than a
  // negative one.
  auto per_second = [seconds](std::optional<double> before, std::optional<double> after) -> std::optional<double> {
    if (!before || !after || *after < *before) return std::nullopt;
    return (*after - *before) / seconds;
  };
  rates.bytes_in_per_second = per_second(wire_bytes(*previous, "received"), wire_bytes(current, "received"));
  rates.bytes_out_per_second = per_second(wire_bytes(*previous, "sent"), wire_bytes(current, "sent"));
  const json& t0_training = child(*previous, "training");
  const json& t1_training = child(current, "training");
  rates.steps_per_second = per_second(number(t0_training, "step"), number(t1_training, "step"));
  rates.samples_per_second = per_second(number(t0_training, "samples"), number(t1_training, "samples"));
  return rates;
}

std::vector<std::string> render_top_frame(const TopFrameInput& in) {
  std::vector<std::string> lines;
  header_lines(in, lines);
  const std::string footer =
      in.current ? fmt::format("q quit   refresh every {:.1f} s   last answer {:.1f} s ago", in.interval_seconds,
                               std::max(0.0, in.now_unix_seconds - in.last_answer_unix_seconds))
                 : fmt::format("q quit   refresh every {:.1f} s   no answer yet", in.interval_seconds);
  if (in.current) {
    const json& s = *in.current;
    TopRates rates = top_rates(in.previous, s);
    // Before a second answer, the peer's own recent step rate beats nothing.
    if (!rates.steps_per_second) rates.steps_per_second = number(child(s, "training"), "steps_per_second");
    summary_lines(s, rates, lines);

    std::vector<std::string> neighbours = neighbour_rows(s);
    if (neighbours.empty())
      neighbours.push_back(child(s, "training").is_object() ? "(no neighbours yet)" : "(not training: no neighbours)");
    const std::vector<std::string> members = member_rows(s);
    const auto needed_neighbours = static_cast<int>(neighbours.size());
    const auto needed_members = static_cast<int>(members.size());
    // Rows left for the two tables after the lines so far, their two headers
    // and the footer. Blank separators only when everything fits; neighbours
    // (few) first, but members keep two rows (self and one more) if they can.
    const int table_rows = in.height - static_cast<int>(lines.size()) - 2 - (in.live ? 1 : 0);
    const bool blanks = table_rows >= needed_neighbours + needed_members + 2;
    const int rows = table_rows - (blanks ? 2 : 0);
    const int neighbour_budget =
        std::clamp(needed_neighbours, 1, std::max(1, rows - std::min(2, needed_members)));
    if (blanks) lines.emplace_back();
    lines.push_back(fmt::format("{:<12}  {:<21}  {:<3}  {:<5}  {:>5}  {:>9}  {:>13}  {:>6}  {:>5}", "NEIGHBOUR",
                                "ADDRESS", "DIR", "READY", "EPOCH", "TRACK.ERR", "DELTAS OUT/IN", "RESETS", "TRUST"));
    append_fitted(neighbours, neighbour_budget, "neighbours", lines);
    if (blanks) lines.emplace_back();
    lines.push_back(fmt::format("{:<12}  {:<21}  {:<14}  {:>11}  {:>8}", "MEMBER", "ADDRESS", "STATE", "INCARNATION",
                                "SINCE"));
    append_fitted(members, std::max(1, rows - std::min(neighbour_budget, needed_neighbours)), "members", lines);
  }
  // A terminal too small for even the fixed part keeps the top of the frame
  // and the footer (how to quit).
  const auto height = static_cast<std::size_t>(std::max(1, in.height));
  if (in.live) {
    if (lines.size() + 1 > height) lines.resize(height - 1);
    lines.push_back(footer);
  } else if (lines.size() > height) {
    lines.resize(height);
  }
  const auto width = static_cast<std::size_t>(std::max(1, in.width));
  for (std::string& line : lines) {
    line = printable(std::move(line));
    if (line.size() > width) line.resize(width);
  }
  return lines;
}

}  // namespace starling::apps
