// The simulator's connection security: every connection learns who the
// other end is, as the real (Noise) handshake proves it, without its cost.
// Each side sends its node id as its one handshake frame; nothing is sealed.
// Without an identity the training driver cannot tell that an inbound link
// comes from a member it already dialled, so every pair that dialled each
// other kept two links (twice the delta bytes; docs/simulator.md).
#pragma once

#include <memory>

#include "starling/gossip/messages.h"
#include "starling/runtime/security.h"

namespace starling::sim {

std::shared_ptr<runtime::Security> make_claimed_identity_security(const gossip::NodeId& self);

}  // namespace starling::sim
