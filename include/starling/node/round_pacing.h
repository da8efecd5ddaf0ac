// When a peer's next delta round may start, besides "k SGD steps after the
// last one" (the TrainingDriver's step target): an explicit time floor, a CPU
// budget for the thread that runs the rounds, and the upload budget. The
// driver asks for the host's parameters only once these allow a round, so a
// round that has to wait costs no parameter copy. Sans-I/O: time (ms) comes
// from the Transport, a round's CPU cost (µs) from whoever measures it
// (TrainingDriverOptions::round_cpu_clock_us; the runtime reads the loop
// thread's CPU clock). See docs/learning.md, "When a peer gossips".
//
// Why a CPU rule and no fixed floor: a real peer steps in about 1 ms and a
// round costs its loop thread 0.1-5 ms (compression, framing, sealing, copy
// updates) depending on the compressor and the links. A fixed 50 ms floor
// made a fast peer gossip every ~50 steps whatever a round cost; the CPU rule
// lets it gossip every k steps while rounds are cheap and spaces them out
// when they are not, so rounds take at most cpu_share of wall time.
//
// The CPU rule is a token bucket of wall time in µs: a round that cost c µs
// of CPU is paid as c / cpu_share µs of wall time; the bucket refills with
// wall time up to cpu_burst_us. A round may start while the bucket is not in
// debt. Over any long window rounds take at most cpu_share of the thread's
// wall time, whatever the clock's resolution (ms) and however costs vary.
#pragma once

#include <cstdint>
#include <string_view>

#include "starling/node/upload_budget.h"

namespace starling::node {

struct RoundPacingConfig {
  // Share of wall time a round's own CPU may take (0: no CPU rule; the rule is
  // also off while no cost is measured).
  double cpu_share = 0.25;
  // How much unused CPU time (as wall time) may be saved up for a burst of rounds.
  std::uint64_t cpu_burst_us = 20'000;
  // An explicit least time between round starts (`--round-floor`; 0: none).
  std::uint64_t floor_ms = 0;
};

// What holds the next round back. steps: only the k steps (no time rule
// binds); the others: that rule's wait is the longest.
enum class RoundWait : std::uint8_t { steps, floor, cpu, upload };
std::string_view to_string(RoundWait wait);

struct RoundPause {
  std::uint64_t wait_ms = 0;  // from now until the next round may start
  RoundWait reason = RoundWait::steps;
};

class RoundPacer {
 public:
  RoundPacer() : RoundPacer(RoundPacingConfig{}) {}
  explicit RoundPacer(RoundPacingConfig config);

  // A round started at start_ms and cost cost_us of CPU (0: not measured).
  // Steps: the host's step count at the round (negative: none).
  void on_round(std::uint64_t start_ms, std::uint64_t cost_us, std::int64_t step);

  // How long from now_ms until the next round may start and why. The upload
  // rule waits until the budget's tokens cover round_bytes (a full round's
  // deltas; 0: unknown, no wait), at most the bucket's size.
  RoundPause pause(std::uint64_t now_ms, const UploadBudget& budget, std::uint64_t round_bytes) const;

  bool cpu_rule() const { return config_.cpu_share > 0.0; }
  double cpu_share() const { return config_.cpu_share; }
  std::uint64_t floor_ms() const { return config_.floor_ms; }
  // Smoothed (EWMA, weight 1/8) CPU cost of a round, µs; 0 before the first.
  double round_cost_us() const { return cost_us_; }
  // Smoothed time between round starts (ms) and SGD steps between rounds.
  double round_interval_ms() const { return interval_ms_; }
  double steps_per_round() const { return steps_per_round_; }
  // Smoothed share of wall time spent in rounds: cost over interval.
  double cpu_share_used() const { return interval_ms_ > 0.0 ? cost_us_ / (interval_ms_ * 1000.0) : 0.0; }
  // The CPU bucket at now_ms (µs of wall time; negative: in debt).
  std::int64_t cpu_credit_us(std::uint64_t now_ms) const;

 private:
  RoundPacingConfig config_;
  bool started_ = false;
  std::uint64_t last_start_ms_ = 0;
  std::int64_t last_step_ = -1;
  std::int64_t credit_us_ = 0;  // at last_start_ms_, after paying that round
  double cost_us_ = 0.0;
  double interval_ms_ = 0.0;
  double steps_per_round_ = 0.0;
};

}  // namespace starling::node
