#include "starling/scenario/timeline.h"

#include <algorithm>
#include <cmath>

#include "starling/assert.h"

namespace starling::scenario {

std::vector<Action> make_timeline(const Scenario& scenario) {
  std::vector<Action> actions;
  for (std::size_t i = 0; i < scenario.events.size(); ++i) {
    const Event& e = scenario.events[i];
    actions.push_back(Action{e.at_seconds, i, false});
    if (e.duration_seconds > 0.0) actions.push_back(Action{e.at_seconds + e.duration_seconds, i, true});
  }
  std::stable_sort(actions.begin(), actions.end(), [](const Action& a, const Action& b) {
    if (a.at_seconds != b.at_seconds) return a.at_seconds < b.at_seconds;
    if (a.undo != b.undo) return a.undo;
    return a.event < b.event;
  });
  return actions;
}

double last_action_seconds(const Scenario& scenario) {
  double last = 0.0;
  for (const Action& action : make_timeline(scenario)) last = std::max(last, action.at_seconds);
  return last;
}

std::vector<int> resolve(const PeerSelector& selector, const std::vector<int>& live, std::mt19937_64& rng) {
  switch (selector.kind) {
    case PeerSelector::Kind::list: return selector.peers;
    case PeerSelector::Kind::all: return live;
    case PeerSelector::Kind::honest:
      STARLING_ASSERT_MSG(false, "events cannot target \"honest\" peers (the parser refuses it)");
      return {};
    case PeerSelector::Kind::fraction: {
      if (live.empty()) return {};
      auto count = static_cast<std::size_t>(std::lround(selector.fraction * static_cast<double>(live.size())));
      count = std::clamp<std::size_t>(count, 1, live.size());
      std::vector<int> pool = live;
      // A partial Fisher-Yates with our own draws: std::shuffle's use of the
      // generator is not specified, and a seed must replay on every library.
      for (std::size_t i = 0; i < count; ++i) {
        const std::size_t j = i + static_cast<std::size_t>(rng() % (pool.size() - i));
        std::swap(pool[i], pool[j]);
      }
      pool.resize(count);
      std::sort(pool.begin(), pool.end());
      return pool;
    }
  }
  return {};
}

}  // namespace starling::scenario
