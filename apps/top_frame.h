// `starling top`'s screen as a pure function: a peer's status answers (the
// JSON `starling status --json` prints) in, the lines of one frame out. No
// terminal, clock or socket here, so every frame can be tested from JSON.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace starling::apps {

// Rates between two status answers of the same peer, over the peer's own
// uptime (both counters and uptime are read on the peer in one go, so the
// network's latency does not blur them). Unset when they cannot be known:
// no earlier answer, another node, a restarted peer, no time between them.
struct TopRates {
  std::optional<double> bytes_in_per_second;
  std::optional<double> bytes_out_per_second;
  std::optional<double> steps_per_second;
  std::optional<double> samples_per_second;
};

TopRates top_rates(const nlohmann::json* previous, const nlohmann::json& current);

struct TopFrameInput {
  std::string address;                         // the peer the user asked for
  const nlohmann::json* current = nullptr;     // its last answer (an object), if it ever answered
  const nlohmann::json* previous = nullptr;    // the answer before that, for rates
  std::optional<std::string> error;            // set while the peer does not answer: why
  double unreachable_since_unix_seconds = 0;   // when it stopped answering (with error)
  double last_answer_unix_seconds = 0;         // when `current` arrived
  double now_unix_seconds = 0;
  double interval_seconds = 1;
  int width = 80;   // columns: no line is longer
  int height = 24;  // rows: no more lines than this
  bool live = true;  // the live view ends with a footer (keys, refresh); --once has none
};

// The frame, top to bottom: a header (node, uptime, state), training,
// accuracy and consensus, traffic, member counts, the neighbours' table and
// the members' table (self first), and (live) a footer. Lines are plain printable
// ASCII (whatever other members told the peer is sanitized, so a hostile
// address cannot move the cursor), at most `width` long, at most `height` of
// them; a table that does not fit says how many rows it left out.
std::vector<std::string> render_top_frame(const TopFrameInput& input);

// "12.3 KiB/s"-style sizes (1024-based) and "1h02m"-style durations, shared
// with the tests.
std::string format_bytes(double bytes);
std::string format_duration(double seconds);

}  // namespace starling::apps
