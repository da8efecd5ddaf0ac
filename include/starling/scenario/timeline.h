// A scenario's events as the runner executes them: each event at its time,
// and for events with a duration (pause, timed faults) the undo at its end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "starling/scenario/scenario.h"

namespace starling::scenario {

struct Action {
  double at_seconds = 0.0;
  std::size_t event = 0;  // index into Scenario::events
  bool undo = false;      // the end of the event's duration
};

// Sorted by time; at equal times undos come first (a fault that ends at t
// does not cancel one that starts at t), then events in file order.
std::vector<Action> make_timeline(const Scenario& scenario);

// When the last action happens (0 without events): membership_converged
// counts from there.
double last_action_seconds(const Scenario& scenario);

// The peers a selector means now. `live`: indices of running peers, sorted.
// A fraction takes round(fraction * live), at least one, drawn with `rng`;
// a list keeps only listed peers (live or not: a restart targets dead ones).
std::vector<int> resolve(const PeerSelector& selector, const std::vector<int>& live, std::mt19937_64& rng);

}  // namespace starling::scenario
