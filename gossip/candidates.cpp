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
  if (candidates_.size() >= max_ && !eviction_victim(told_by)) {
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
  if (candidates_.size() >= max_) {
    const std::optional<NodeId> victim = eviction_victim(told_by);
    if (!victim) return;  // wants() said it fits: nothing changed since
    ++evicted_;
    drop(*victim);
  }
  ++source(told_by, now_ms).pending;
  candidates_.emplace(record.node_id, Candidate{record, told_by, 0, now_ms});
  if (earliest_valid_) earliest_ping_ms_ = earliest_ping_ms_ ? std::min(*earliest_ping_ms_, now_ms) : now_ms;
}

// When the table is full, a fair share: a candidate of the source holding
// the most pending ones makes room for one from a source holding fewer (by
// two or more, so two sources do not evict each other in turn). The join
// reply of a seed we chose is exempt from the per-source quota, so a hostile
// seed's view of made-up members filled the whole table, and every real
// member other members then told us about was refused (`starling simulate
// --random` seed 200445: a peer restarted through a flooding seed never
// listed a member that ran all along). Scans every source and, when one is
// found, candidates up to the first of it: only when full.
std::optional<NodeId> Candidates::eviction_victim(const NodeId& told_by) const {
  const auto own = sources_.find(told_by);
  const std::size_t own_pending = own == sources_.end() ? 0 : own->second.pending;
  const NodeId* largest = nullptr;
  std::size_t largest_pending = 0;
  for (const auto& [id, s] : sources_) {
    if (s.pending > largest_pending) {
      largest = &id;
      largest_pending = s.pending;
    }
  }
  if (largest == nullptr || *largest == told_by || largest_pending < own_pending + 2) return std::nullopt;
  for (const auto& [id, candidate] : candidates_) {
    if (candidate.told_by == *largest) return id;
  }
  return std::nullopt;
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
  // Corroborated candidates first: honest members pass on only members that
  // answered them, so a real member is usually told us by two, while a
  // flood's are not. A hostile seed's join reply can leave a thousand
  // made-up candidates due at once, and in plain order a real one waited
  // behind them for a minute (seed 200445 again).
  std::vector<Candidate*> corroborated, single;
  for (auto it = candidates_.begin(); it != candidates_.end();) {
    Candidate& c = it->second;
    if (c.next_ping_ms > now_ms) {
      ++it;
      continue;
    }
    if (c.pings >= (c.corroborated ? 2 * attempts_ : attempts_)) {
      ++expired_;
      release(c);
      it = candidates_.erase(it);
      continue;
    }
    (c.corroborated ? corroborated : single).push_back(&c);
    ++it;
  }
  for (const std::vector<Candidate*>* group : {&corroborated, &single}) {
    for (Candidate* c : *group) {
      if (out.size() >= count) break;
      out.push_back(c->record);
      ++c->pings;
      c->next_ping_ms = now_ms + retry_ms_;
    }
  }
  std::optional<std::int64_t> next;
  for (const auto& [id, c] : candidates_) {
    if (!next || c.next_ping_ms < *next) next = c.next_ping_ms;
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
