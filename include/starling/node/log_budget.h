// A budget for log lines that other machines can trigger. A member (or a
// stranger with the swarm key) opening links with fresh identities and
// resetting them made a peer write ~9 MB of log a second: every link up,
// reset, refusal and bad control frame is one line. Each kind of line gets a
// burst, then a steady rate; the lines past it are counted, and the next
// line of that kind that is written says how many were left out.
// Sans-I/O: the caller passes the time.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace starling::node {

class LogBudget {
 public:
  // `burst` lines at once, then one every `interval_ms` (per kind).
  LogBudget(int burst, std::uint64_t interval_ms) : burst_(burst), interval_ms_(interval_ms) {}

  // Whether a line of `kind` may be written at `now_ms`. When it may and
  // lines of its kind were left out since the last one written, `*left_out`
  // is their count (else 0). Kinds are our own event names: a fixed set.
  bool allow(std::string_view kind, std::uint64_t now_ms, std::uint64_t* left_out);

  // Lines left out in all, for status.
  std::uint64_t left_out_total() const { return left_out_total_; }

 private:
  struct Kind {
    double tokens = 0;
    std::uint64_t refilled_ms = 0;
    std::uint64_t left_out = 0;
    bool seen = false;
  };
  int burst_;
  std::uint64_t interval_ms_;
  std::map<std::string, Kind, std::less<>> kinds_;
  std::uint64_t left_out_total_ = 0;
};

// Text a remote machine chose (a neighbour's reset reason, a refusal), as we
// put it in a log line or status: at most `max_bytes` (cut on a UTF-8
// boundary), then "... (N bytes)". The wire allows 4 kB per text.
std::string remote_text(std::string_view text, std::size_t max_bytes = 200);

}  // namespace starling::node
