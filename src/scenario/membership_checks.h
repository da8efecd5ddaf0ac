// The expectations about what honest peers believe of each other's
// membership (never_dead, addresses_stable, true_alive_count), kept apart from
// expectations.cpp. Private to src/scenario.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "starling/scenario/expectations.h"

namespace starling::scenario::detail {

// The peers a selector names among those ever started; unset selects every
// started peer, or with default_unfaulted only those no event targeted.
std::vector<int> selected(const std::optional<PeerSelector>& selector, const Observations& obs, bool default_unfaulted);

// "1,4,7": peer numbers for a requirement's text.
std::string names(const std::vector<int>& peers);

// The sample of `peer` in a round, or nullptr.
const Sample* sample_of(const Round& round, int peer);

// Whether every answering peer's view was read this round (rounds without
// views are skipped by the membership expectations, not judged empty).
bool members_listed(const Round& round);

// Live peers of a round that no byzantine event targeted: whose view counts.
std::vector<const Sample*> honest_viewers(const Round& round, const Observations& obs);

Outcome check_never_dead(const Expectation& x, const Observations& obs);
Outcome check_addresses_stable(const Expectation& x, const Observations& obs);
Outcome check_true_alive_count(const Expectation& x, const Observations& obs);

}  // namespace starling::scenario::detail
