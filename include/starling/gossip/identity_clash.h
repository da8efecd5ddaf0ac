// Another process signing membership records with our identity: a copied
// identity file, data dir or machine image. Only our own key signs our
// record, so our record naming another address at our incarnation or above
// is that process's (or, once, a previous life of ours that lost its
// incarnation file and listened elsewhere). The two processes' records
// replace each other at the other members, who reach one of them at our
// name; nothing else tells the operator (docs/membership.md, "One identity,
// two processes").
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace starling::gossip {

class IdentityClash {
 public:
  // Sightings further apart than this do not add up.
  static constexpr std::int64_t kWindowMs = 10 * 60 * 1000;

  // Our own signed record, at our incarnation or above, names `address`
  // (not ours). True when this is the second sighting of that address
  // within kWindowMs (a previous life is seen once: we refute it) and none
  // was reported in the last kWindowMs.
  bool sighted(const std::string& address, std::int64_t now_ms);

  // Addresses seen once and not yet forgotten (bounded by the processes
  // that hold our key).
  std::size_t remembered() const { return last_seen_ms_.size(); }

 private:
  std::map<std::string, std::int64_t> last_seen_ms_;
  std::optional<std::int64_t> reported_ms_;
};

}  // namespace starling::gossip
