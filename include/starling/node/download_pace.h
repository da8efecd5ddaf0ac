// Joining over a slow path (docs/learning.md, "Joining over a slow, lossy
// path"): how many bytes of the model a joiner asks for per ModelRequest, and
// how long it waits for the answer before it asks again.
//
// A fixed 1 MB chunk made a 470 kB model one chunk: on a path TCP carries at
// 40 kB/s (150 ms each way, 2% loss) that chunk took 12 s, the joiner saw no
// progress, asked again every 3 s (each time queueing the whole model once
// more behind the first) and gave up at 20 s. So a joiner sizes its requests
// to the rate it measures, as TCP's slow start does its window: the first
// ask is small, each answer that came back fast doubles the next, and the
// size settles where one answer takes about kTargetMs. One request is open
// at a time, so a round trip per answer goes unused: kTargetMs is long
// enough that on a 400 ms round trip that is a sixth of the time. The wait for an
// answer follows the same measurement, and backs off (doubles) while
// answers stay away, so a slow server is not asked for the same bytes over
// and over.
//
// Pure logic, no clock of its own: callers pass byte counts and times in ms.
#pragma once

#include <cstdint>
#include <optional>

namespace starling::node {

class DownloadPace {
 public:
  static constexpr std::uint32_t kFirstBytes = 64u << 10;
  static constexpr std::uint32_t kMinBytes = 8u << 10;
  static constexpr std::uint64_t kTargetMs = 2'000;
  // Bounds of the wait for an answer: the shortest is what a joiner waited
  // before (a lost request on a fast path is asked again soon); the longest
  // is how long a server that went quiet can hold one request.
  static constexpr std::uint64_t kMinWaitMs = 3'000;
  static constexpr std::uint64_t kMaxWaitMs = 30'000;

  // `largest`: the biggest chunk a joiner may ask for (the server's cap too).
  explicit DownloadPace(std::uint32_t largest);

  // What to ask for next.
  std::uint32_t ask_bytes() const { return ask_; }
  // How long to wait for the answer to a request of ask_bytes().
  std::uint64_t wait_ms() const;
  // The answer to our request: `bytes` of it, `elapsed_ms` after we asked.
  // `full`: it held all we asked for (or the model's last bytes); a short
  // chunk says nothing about the path and only counts as an answer.
  void on_answer(std::uint64_t bytes, std::uint64_t elapsed_ms, bool full);
  // No answer within wait_ms(): ask for less, and wait longer.
  void on_silence();
  // The measured rate (bytes per ms, an answer's bytes over its time from
  // request to arrival, so a round trip included); nullopt before the first.
  std::optional<double> rate_bytes_per_ms() const { return rate_; }

 private:
  std::uint32_t largest_;
  std::uint32_t ask_;
  std::optional<double> rate_;
  unsigned silences_ = 0;  // unanswered in a row: the wait doubles per each
};

}  // namespace starling::node
