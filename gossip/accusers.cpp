#include "starling/gossip/accusers.h"

#include <algorithm>

namespace starling::gossip {

AccuserLimits::AccuserLimits(const Config& config)
    : strike_limit_(config.accuser_strike_limit),
      strike_window_ms_(config.accuser_strike_window_ms),
      ignore_ms_(config.accuser_ignore_ms),
      tokens_per_ms_(static_cast<double>(config.accusations_per_minute) / 60000.0),
      burst_(static_cast<double>(config.accusation_burst)) {}

AccuserLimits::Entry& AccuserLimits::entry(const NodeId& accuser, std::int64_t now_ms) {
  auto [it, inserted] = entries_.try_emplace(accuser);
  if (inserted) {
    it->second.tokens = burst_;
    it->second.refilled_ms = now_ms;
  }
  return it->second;
}

bool AccuserLimits::ignored(const NodeId& accuser, std::int64_t now_ms) const {
  const auto it = entries_.find(accuser);
  return it != entries_.end() && now_ms < it->second.ignored_until_ms;
}

bool AccuserLimits::admit(const NodeId& accuser, std::int64_t now_ms) {
  Entry& e = entry(accuser, now_ms);
  if (now_ms < e.ignored_until_ms) {
    ++dropped_total_;
    return false;
  }
  if (now_ms > e.refilled_ms) {
    e.tokens = std::min(burst_, e.tokens + static_cast<double>(now_ms - e.refilled_ms) * tokens_per_ms_);
    e.refilled_ms = now_ms;
  }
  if (e.tokens < 1.0) {
    ++dropped_total_;
    return false;
  }
  e.tokens -= 1.0;
  return true;
}

void AccuserLimits::strike(const NodeId& accuser, std::int64_t now_ms) {
  Entry& e = entry(accuser, now_ms);
  ++strikes_total_;
  e.strikes_ms.push_back(now_ms);
  while (!e.strikes_ms.empty() && e.strikes_ms.front() <= now_ms - strike_window_ms_) e.strikes_ms.pop_front();
  if (static_cast<int>(e.strikes_ms.size()) >= strike_limit_) {
    e.ignored_until_ms = now_ms + ignore_ms_;
    e.strikes_ms.clear();  // a fresh start after the cool-down
  }
}

std::size_t AccuserLimits::ignored_count(std::int64_t now_ms) const {
  return static_cast<std::size_t>(std::count_if(entries_.begin(), entries_.end(), [&](const auto& kv) {
    return now_ms < kv.second.ignored_until_ms;
  }));
}

}  // namespace starling::gossip
