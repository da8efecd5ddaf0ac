#include "starling/scenario/summary.h"

#include <nlohmann/json.hpp>

namespace starling::scenario {

std::string summary_json(const RunFigures& figures, const std::vector<Outcome>& outcomes) {
  using nlohmann::json;
  json expectations = json::array();
  for (const Outcome& o : outcomes) {
    expectations.push_back(
        json{{"kind", o.name}, {"ok", o.passed}, {"measured", o.measured}, {"requirement", o.requirement}, {"line", o.line}});
  }
  const json summary{{"seed", figures.seed},
                     {"peers", figures.peers},
                     {"virtual_seconds", figures.virtual_seconds},
                     {"wall_seconds", figures.wall_seconds},
                     {"passed", figures.passed},
                     {"interrupted", figures.interrupted},
                     {"trace_hash", figures.trace_hash ? json(*figures.trace_hash) : json(nullptr)},
                     {"expectations", std::move(expectations)}};
  // Never throws: `measured` may quote what a peer reported.
  return summary.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace starling::scenario
