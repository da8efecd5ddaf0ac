// The JSON a peer answers `starling status` with (membership part). Built on
// the loop thread inside a transport callback, so nothing here may throw on
// what other members told us (see json_text.h).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "starling/gossip/membership.h"
#include "starling/node/peer.h"

namespace starling::apps {

// One entry per member of view, ages relative to now_ms.
nlohmann::json members_json(const gossip::MembershipView& view, std::int64_t now_ms);

// The membership part of a peer's status (node::Peer::status()).
nlohmann::json status_json(const node::PeerStatus& status, bool swarm_open);

}  // namespace starling::apps
