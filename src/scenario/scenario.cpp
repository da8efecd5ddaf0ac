#include "starling/scenario/scenario.h"

#include "starling/assert.h"

namespace starling::scenario {

const char* to_string(EventKind kind) {
  switch (kind) {
    case EventKind::kill: return "kill";
    case EventKind::stop: return "stop";
    case EventKind::restart: return "restart";
    case EventKind::join: return "join";
    case EventKind::partition: return "partition";
    case EventKind::heal: return "heal";
    case EventKind::loss: return "loss";
    case EventKind::delay: return "delay";
    case EventKind::duplicate: return "duplicate";
    case EventKind::bandwidth: return "bandwidth";
    case EventKind::clear_faults: return "clear_faults";
    case EventKind::pause: return "pause";
    case EventKind::straggler: return "straggler";
    case EventKind::byzantine: return "byzantine";
    case EventKind::seed_down: return "seed_down";
  }
  return "?";
}

const char* to_string(ExpectKind kind) {
  switch (kind) {
    case ExpectKind::min_accuracy: return "min_accuracy";
    case ExpectKind::mean_accuracy: return "mean_accuracy";
    case ExpectKind::max_accuracy_spread: return "max_accuracy_spread";
    case ExpectKind::peer_accuracy: return "peer_accuracy";
    case ExpectKind::keeps_improving: return "keeps_improving";
    case ExpectKind::catch_up: return "catch_up";
    case ExpectKind::max_consensus_distance: return "max_consensus_distance";
    case ExpectKind::membership_converged: return "membership_converged";
    case ExpectKind::never_dead: return "never_dead";
    case ExpectKind::addresses_stable: return "addresses_stable";
    case ExpectKind::true_alive_count: return "true_alive_count";
    case ExpectKind::no_crash: return "no_crash";
    case ExpectKind::max_bytes_per_peer: return "max_bytes_per_peer";
  }
  return "?";
}

const char* to_string(ByzantineMode mode) {
  switch (mode) {
    case ByzantineMode::none: return "none";
    case ByzantineMode::random_deltas: return "random";
    case ByzantineMode::scaled_deltas: return "scaled";
    case ByzantineMode::garbage_frames: return "garbage";
    case ByzantineMode::membership_lies: return "membership_lies";
    case ByzantineMode::membership_flood: return "membership_flood";
    case ByzantineMode::drift_deltas: return "drift";
  }
  return "?";
}

bool takes_scale(ByzantineMode mode) {
  return mode == ByzantineMode::random_deltas || mode == ByzantineMode::scaled_deltas ||
         mode == ByzantineMode::drift_deltas;
}

int Scenario::peers_started_by(double t, std::size_t before_event) const {
  int count = swarm.peers;
  for (std::size_t i = 0; i < events.size() && i < before_event; ++i) {
    if (events[i].kind == EventKind::join && events[i].at_seconds <= t) count += events[i].count;
  }
  return count;
}

int Scenario::total_peers() const { return peers_started_by(duration_seconds, events.size()); }

Scenario scaled(Scenario s, double speed) {
  STARLING_ASSERT(speed > 0.0);
  s.duration_seconds /= speed;
  s.poll_interval_seconds = std::max(0.1, s.poll_interval_seconds / speed);
  for (Event& e : s.events) {
    e.at_seconds /= speed;
    e.duration_seconds /= speed;
  }
  for (Expectation& x : s.expectations) {
    if (x.at_seconds) *x.at_seconds /= speed;
    x.after_seconds /= speed;
    x.window_seconds /= speed;
    x.within_seconds /= speed;
    // max_seconds stays: it is a protocol time (a suspicion timeout), and
    // protocol timeouts do not scale with --speed.
  }
  return s;
}

}  // namespace starling::scenario
