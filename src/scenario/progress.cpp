// The live progress line both `starling scenario` and `starling simulate` print.
#include <algorithm>
#include <cstdio>

#include "starling/scenario/expectations.h"
#include "starling/scenario/timeline_runner.h"

namespace starling::scenario {
namespace {

std::string fmt(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

}  // namespace

std::string progress_line(const Scenario& scenario, const Progress& progress) {
  if (progress.round == nullptr) return {};
  const Round& round = *progress.round;
  const auto accuracy = summarize_accuracy(round);
  const auto consensus = mean_consensus_distance(round);
  std::string line = fmt("t %6.1f", round.t) + fmt("/%.0f s", scenario.duration_seconds);
  line += progress.next_action.empty() ? " | no more events" : " | next: " + progress.next_action;
  line += " | peers " + std::to_string(accuracy.live) + " answering, " + std::to_string(progress.running) + " running";
  if (progress.paused > 0) line += ", " + std::to_string(progress.paused) + " paused";
  if (accuracy.reporting > 0) {
    line += fmt(" | acc min %.3f", accuracy.min) + fmt(" mean %.3f", accuracy.mean) + " [";
    // Each answering peer up to kMaxPeersListed, then how many more: at
    // 1,000 peers the line was 8 kB, dozens of terminal rows per redraw.
    constexpr int kMaxPeersListed = 16;
    std::string per_peer;
    int listed = 0;
    int more = 0;
    for (const auto& sample : round.samples) {
      if (!sample.answered) continue;
      if (listed == kMaxPeersListed) {
        ++more;
        continue;
      }
      const std::string shown = !sample.accuracy               ? std::string("-")
                                : holds_evaluated_model(sample) ? fmt("%.2f", *sample.accuracy)
                                                                : sample.training_state;
      per_peer += (per_peer.empty() ? "" : " ") + std::to_string(sample.peer) + ":" + shown;
      ++listed;
    }
    if (more > 0) per_peer += " +" + std::to_string(more) + " more";
    line += per_peer + "]";
  } else if (scenario.swarm.train) {
    line += " | acc -";
  }
  if (consensus) line += fmt(" | consensus %.2e", *consensus);
  int min_alive = 1 << 30, max_alive = 0;
  for (const auto* sample : live_samples(round)) {
    if (!sample->members_listed) continue;
    int alive = 0;
    for (const auto& m : sample->members) alive += m.state == "alive";
    min_alive = std::min(min_alive, alive);
    max_alive = std::max(max_alive, alive);
  }
  if (!scenario.swarm.train && min_alive != (1 << 30)) line += " | fewest members seen alive " + std::to_string(min_alive);
  // More than there are peers: made-up members (a flood) got in.
  if (max_alive > progress.running + progress.paused - 1) line += " | most members seen alive " + std::to_string(max_alive);
  return line;
}

}  // namespace starling::scenario
