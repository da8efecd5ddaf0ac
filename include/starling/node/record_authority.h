// gossip::RecordAuthority with the peer's Ed25519 identity (src/crypto): a
// member signs its own record and its accusations; a record is accepted only
// when its public key hashes (BLAKE2b-256) to its node id and the signature
// verifies. The signed bytes are canonical Cap'n Proto statements with a
// domain label (wire/statements.h). docs/membership.md, "Lying members".
#pragma once

#include <memory>

#include "starling/crypto/keys.h"
#include "starling/gossip/record_authority.h"
#include "starling/node/verified_statements.h"

namespace starling::node {

// Takes the identity (use crypto::Identity::clone() when the transport's
// security needs it too). Signatures that verified are memoised
// (verified_statements.h): in `verified` when given (the simulator shares
// one among all its peers, so a record is verified once per run), else in a
// memo of the authority's own.
std::shared_ptr<const gossip::RecordAuthority> make_record_authority(
    crypto::Identity identity, std::shared_ptr<VerifiedStatements> verified = nullptr);

// Checking only, for code that never signs (e.g. a fuzz target or a tool);
// its sign_* functions are a bug to call.
std::shared_ptr<const gossip::RecordAuthority> make_record_verifier(
    std::shared_ptr<VerifiedStatements> verified = nullptr);

}  // namespace starling::node
