#include "starling/gossip/candidates.h"

#include <algorithm>

namespace starling::gossip {

Candidates::Candidates(const Config& config)
    : max_(static_cast<std::size_t>(config.candidates_max)),
      per_source_max_(static_cast<std::size_t>(config.candidates_per_source_max)),
      tokens_per_ms_(static_cast<double>(config.members_learned_per_source_per_minute) / 60000.0),
      burst_(static_cast<double>(config.candidates_per_source_max)),
      attempts_(config.candidate_ping_attempts),
      retry_ms_(config.probe_interval_ms) {}

Candidates::Source& Candidates::source(const NodeId& id, std::int64_t now_ms) {
  auto [it, inserted] = sources_.try_emplace(id);
  Source& s = it->second;
  if (inserted) {
    s.tokens = burst_;
    s.refilled_ms = now_ms;
  } else if (now_ms > s.refilled_ms) {
    s.tokens = std::min(burst_, s.tokens + static_cast<double>(now_ms - s.refilled_ms) * tokens_per_ms_);
    s.refilled_ms = now_ms;
  }
  return s;
}

bool Candidates::wants(const MemberRecord& record, const NodeId& told_by, bool exempt, std::int64_t now_ms) {
  const auto known = candidates_.find(record.node_id);
  if (known != candidates_.end()) {
    // A second member passing on the same signed record: honest members pass
    // on only members that answered them, so it is likely real, and worth
    // more pings. (The same signature as the verified one we hold: no
    // signature check needed.)
    if (told_by != known->second.told_by && record.incarnation == known->second.record.incarnation &&
        record.signature == known->second.record.signature) {
      known->second.corroborated = true;
    }
    return record.incarnation > known->second.record.incarnation;
  }
  if (candidates_.size() >= max_) {
    ++refused_;
    return false;
  }
  if (exempt) return true;
  Source& s = source(told_by, now_ms);
  if (s.pending >= per_source_max_ || s.tokens < 1.0) {
    ++refused_;
    return false;
  }
  s.tokens -= 1.0;
  return true;
}

void Candidates::add(const MemberRecord& record, const NodeId& told_by, std::int64_t now_ms) {
  const auto known = candidates_.find(record.node_id);
  if (known != candidates_.end()) {
    known->second.record = record;  // it moved (a higher signed incarnation)
    return;
  }
  ++source(told_by, now_ms).pending;
  candidates_.emplace(record.node_id, Candidate{record, told_by, 0, now_ms});
  if (earliest_valid_) earliest_ping_ms_ = earliest_ping_ms_ ? std::min(*earliest_ping_ms_, now_ms) : now_ms;
}

void Candidates::removed(const Candidate& candidate) {
  if (earliest_valid_ && earliest_ping_ms_ && candidate.next_ping_ms <= *earliest_ping_ms_) earliest_valid_ = false;
}

void Candidates::release(const Candidate& candidate) {
  const auto it = sources_.find(candidate.told_by);
  if (it != sources_.end() && it->second.pending > 0) --it->second.pending;
}

std::optional<MemberRecord> Candidates::confirm(const NodeId& node_id, std::int64_t now_ms) {
  const auto it = candidates_.find(node_id);
  if (it == candidates_.end()) return std::nullopt;
  MemberRecord record = std::move(it->second.record);
  Source& s = source(it->second.told_by, now_ms);
  s.tokens = std::min(burst_, s.tokens + 1.0);  // it was real: no charge
  release(it->second);
  removed(it->second);
  candidates_.erase(it);
  return record;
}

void Candidates::drop(const NodeId& node_id) {
  const auto it = candidates_.find(node_id);
  if (it == candidates_.end()) return;
  release(it->second);
  removed(it->second);
  candidates_.erase(it);
}

std::vector<MemberRecord> Candidates::due(std::int64_t now_ms, std::size_t count) {
  std::vector<MemberRecord> out;
  // Nothing due: nothing to ping or expire. (Skipping the source pruning
  // below changes nothing: a pruned source and a kept one with nothing
  // pending and a full bucket behave the same.)
  const std::optional<std::int64_t> earliest = next_ping_ms();
  if (!earliest || *earliest > now_ms) return out;
  std::optional<std::int64_t> next;
  for (auto it = candidates_.begin(); it != candidates_.end();) {
    Candidate& c = it->second;
    if (c.next_ping_ms > now_ms) {
      if (!next || c.next_ping_ms < *next) next = c.next_ping_ms;
      ++it;
      continue;
    }
    if (c.pings >= (c.corroborated ? 2 * attempts_ : attempts_)) {
      ++expired_;
      release(c);
      it = candidates_.erase(it);
      continue;
    }
    if (out.size() < count) {
      out.push_back(c.record);
      ++c.pings;
      c.next_ping_ms = now_ms + retry_ms_;
    }
    if (!next || c.next_ping_ms < *next) next = c.next_ping_ms;
    ++it;
  }
  earliest_ping_ms_ = next;
  earliest_valid_ = true;
  std::erase_if(sources_, [&](const auto& kv) {
    return kv.second.pending == 0 &&
           kv.second.tokens + static_cast<double>(now_ms - kv.second.refilled_ms) * tokens_per_ms_ >= burst_;
  });
  return out;
}

std::optional<std::int64_t> Candidates::next_ping_ms() const {
  if (earliest_valid_) return earliest_ping_ms_;
  std::optional<std::int64_t> next;
  for (const auto& [id, c] : candidates_) {
    if (!next || c.next_ping_ms < *next) next = c.next_ping_ms;
  }
  earliest_ping_ms_ = next;
  earliest_valid_ = true;
  return next;
}

}  // namespace starling::gossip
