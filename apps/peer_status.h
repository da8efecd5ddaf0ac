// The JSON a peer answers `starling status` with (membership part), and the
// membership part of the peer's 5-second progress line in the log. Built on
// the loop thread inside a transport callback, so nothing here may throw on
// what other members told us (see json_text.h).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "starling/gossip/membership.h"
#include "starling/node/peer.h"

namespace starling::apps {

// One entry per member of view, ages relative to now_ms.
nlohmann::json members_json(const gossip::MembershipView& view, std::int64_t now_ms);

// The membership event counters by their log event names (member_suspected,
// member_dead, self_refuted, ...): `status --json`'s membership_events object
// and /metrics' starling_membership_events_total{event=...}.
std::vector<std::pair<std::string, std::uint64_t>> membership_event_counts(const node::MembershipEventCounts& counts);

// The membership part of a peer's status (node::Peer::status()).
nlohmann::json status_json(const node::PeerStatus& status, bool swarm_open);

// "members 8 (1 suspect)": the swarm as this peer sees it, itself included
// as `starling top` counts it: the members alive or suspect (dead and left
// ones are gone), and how many of them are suspect. Part of every progress line.
std::string members_text(const gossip::MembershipView& view);

// The progress line of a membership-only peer (--no-train), logged every 5 s
// like a training peer's, so a quiet bootstrap node still shows it is alive:
// "members 8 (0 suspect) | up 3m05s", with "not joined yet" before it joined.
std::string membership_progress_line(const node::PeerStatus& status);

}  // namespace starling::apps
