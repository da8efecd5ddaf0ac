// The flags `starling scenario` gives each training peer for the optional
// [swarm] keys of its file (docs/scenarios.md). A key the file leaves unset
// keeps the meaning it has in the simulator, which is not always the peer's
// own default: no upload budget (--max-upload 0) where a bare `starling peer`
// keeps 1 MB/s, and neighbourhood mixing where it mixes pairwise.
#pragma once

#include <string>
#include <vector>

#include "starling/scenario/scenario.h"

namespace starling::apps {

void append_swarm_flags(const scenario::SwarmSpec& swarm, std::vector<std::string>& args);

}  // namespace starling::apps
