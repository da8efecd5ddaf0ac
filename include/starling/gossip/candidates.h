// Probation for members learned second-hand (docs/membership.md, "Floods").
// A member another member told us about (a piggybacked update, a push-pull,
// a join reply) is a candidate: not listed, never probed as a member, never a
// neighbour, until it proves it runs by sending us an authenticated message
// itself (its ack to our ping, or anything else). We ping candidates a few
// per round, and a member announcing thousands of made-up (validly
// self-signed) members fills only its own small quota:
//   - at most `candidates_max` candidates in all, `candidates_per_source_max`
//     from any one source (the authenticated sender that told us); when all
//     are taken, the source holding the most gives one up to a source
//     holding fewer (a fair share, so an exempt seed cannot take them all);
//   - each source has a token bucket of new members per minute; a candidate
//     that turns out real gives its token back, so honest news is not slowed;
//   - a candidate unanswered after `candidate_ping_attempts` pings is dropped;
//     one that a second source also told us about gets twice as many (under
//     loss, three pings and their acks can all be lost, and then a real
//     member waits for a push-pull; a lone flooder cannot corroborate itself).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "starling/gossip/config.h"
#include "starling/gossip/messages.h"

namespace starling::gossip {

class Candidates {
 public:
  explicit Candidates(const Config& config);

  // Before checking the signature of an alive record of a member we do not
  // list: true when it is news (a new candidate, or a higher incarnation of
  // one) that fits the bounds. A new candidate costs `told_by` a token here,
  // whether or not its signature then verifies. `exempt`: skip the per-source
  // limits (the join reply of a seed we chose).
  bool wants(const MemberRecord& record, const NodeId& told_by, bool exempt, std::int64_t now_ms);
  // The record wants() accepted, now verified.
  void add(const MemberRecord& record, const NodeId& told_by, std::int64_t now_ms);
  // The candidate proved it runs: removes it, gives its source's token back.
  std::optional<MemberRecord> confirm(const NodeId& node_id, std::int64_t now_ms);
  // It left, or was found to be someone else: removes it without refund.
  void drop(const NodeId& node_id);
  bool contains(const NodeId& node_id) const { return candidates_.count(node_id) > 0; }

  // Up to `count` candidates to ping now (each pinged at most attempts times,
  // twice that when corroborated, retry_ms apart); candidates out of attempts
  // are dropped.
  std::vector<MemberRecord> due(std::int64_t now_ms, std::size_t count);
  std::optional<std::int64_t> next_ping_ms() const;

  std::size_t size() const { return candidates_.size(); }
  std::uint64_t refused() const { return refused_; }
  std::uint64_t expired() const { return expired_; }
  std::uint64_t evicted() const { return evicted_; }

 private:
  struct Candidate {
    MemberRecord record;
    NodeId told_by{};
    int pings = 0;
    std::int64_t next_ping_ms = 0;
    bool corroborated = false;  // another source told us too
  };
  struct Source {
    std::size_t pending = 0;
    double tokens = 0;
    std::int64_t refilled_ms = 0;
  };
  Source& source(const NodeId& id, std::int64_t now_ms);
  void release(const Candidate& candidate);
  std::optional<NodeId> eviction_victim(const NodeId& told_by) const;

  std::size_t max_;
  std::size_t per_source_max_;
  double tokens_per_ms_;
  double burst_;
  int attempts_;
  std::int64_t retry_ms_;
  std::map<NodeId, Candidate, NodeIdLess> candidates_;
  std::map<NodeId, Source, NodeIdLess> sources_;  // pruned once a source has nothing pending and a full bucket
  std::uint64_t refused_ = 0;
  std::uint64_t expired_ = 0;
  std::uint64_t evicted_ = 0;
  // The earliest next_ping_ms (nullopt: no candidate), kept while valid:
  // next_ping_ms() runs after every message (the driver re-arms its timer),
  // and a full scan of up to candidates_max entries there dominated 1024-peer
  // runs. Exact: recomputed by a scan whenever a removal may have raised it.
  mutable std::optional<std::int64_t> earliest_ping_ms_;
  mutable bool earliest_valid_ = true;
  void removed(const Candidate& candidate);
};

}  // namespace starling::gossip
