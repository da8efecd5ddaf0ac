#include "starling/gossip/identity_clash.h"

namespace starling::gossip {

bool IdentityClash::sighted(const std::string& address, std::int64_t now_ms) {
  std::erase_if(last_seen_ms_, [&](const auto& entry) { return now_ms >= entry.second + kWindowMs; });
  const bool again = last_seen_ms_.contains(address);
  last_seen_ms_[address] = now_ms;
  if (!again || (reported_ms_ && now_ms < *reported_ms_ + kWindowMs)) return false;
  reported_ms_ = now_ms;
  return true;
}

}  // namespace starling::gossip
