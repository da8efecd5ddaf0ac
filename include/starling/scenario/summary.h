// The one JSON object `starling scenario --json` and `starling simulate
// --json` end their stdout with, for scripts and CI:
//   {"seed":7,"peers":4,"virtual_seconds":30.0,"wall_seconds":41.2,
//    "passed":false,"interrupted":false,"trace_hash":null,
//    "expectations":[{"kind":"no_crash","ok":true,"measured":"none",...}]}
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "starling/scenario/expectations.h"

namespace starling::scenario {

struct RunFigures {
  std::uint64_t seed = 0;
  int peers = 0;                 // started at t = 0 (after --peers)
  double virtual_seconds = 0.0;  // scenario time the run covered (processes: its real run time)
  double wall_seconds = 0.0;     // start-up, run and report
  bool passed = false;
  bool interrupted = false;
  std::optional<std::string> trace_hash;  // the simulator's event-trace hash; null for processes
};

// One line of compact JSON (no newline). Outcomes keep their order; runner
// problems appear as kind "runner".
std::string summary_json(const RunFigures& figures, const std::vector<Outcome>& outcomes);

}  // namespace starling::scenario
