// TrainingDriver, neighbours: dial a sample of live members, accept links
// from others up to the cap, drop links to dead or rotated-out members and
// stalled ones. See training_driver.h.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <utility>

#include "starling/assert.h"
#include "starling/wire/codec.h"

#include "training_internal.h"

namespace starling::node {
using namespace training_detail;

// ---- neighbours ----------------------------------------------------------------

std::size_t TrainingDriver::live_link_count() const { return links_.size(); }

void TrainingDriver::on_neighbour_check() {
  // A joiner waiting for its first link checks often: its first check runs
  // before membership has the seed's record (a few ms later), and waiting
  // out neighbour_check_ms then held its download and first step back by up
  // to that long. Only while it has no link at all, so no other link forms
  // off the usual cadence (docs/learning.md, "When links form").
  const bool waiting_for_first_link = download_ && links_.empty();
  const std::uint64_t next_ms = waiting_for_first_link
                                    ? std::min(kJoinerNeighbourCheckMs, options_.neighbour_check_ms)
                                    : options_.neighbour_check_ms;
  neighbour_timer_ = transport_.start_timer(next_ms, [this] { on_neighbour_check(); });
  if (!membership_.started() || !active()) return;
  const gossip::Membership& members = membership_.membership();

  // Links to members that died or left go; their contributions stay applied.
  std::vector<ConnectionId> gone;
  for (const auto& [id, link] : links_) {
    const gossip::MemberRecord* record = members.find(link->node_id);
    if (record && !is_live(record->state)) gone.push_back(id);
  }
  for (ConnectionId id : gone) drop_link(id, "member is no longer alive");

  const std::uint64_t now = transport_.now_ms();
  forget_old_dial_records(now);
  std::vector<ConnectionId> stalled;
  std::vector<ConnectionId> unanswered;
  std::vector<ConnectionId> never_opened;
  for (const auto& [id, link] : links_) {
    if (!link->hello_done()) {
      // A dial still connecting, in its handshake or awaiting the hello: only
      // the stall ends it. (It fell through to the rule below, whose clock
      // has not started before the hello, so every dial slower than one
      // neighbour check, 0.5 s, was dropped and dialled again: over a
      // 200 ms path no link ever formed.)
      if (now > link->created_ms + kHandshakeStallMs) stalled.push_back(id);
    } else if (!link->start_epoch && !link->state.sending() && !link->state.receiving()) {
      // The neighbour opens this epoch (its snapshot first) and has not: a
      // member that says hello and then only keeps the connection alive held
      // the link, and eight of them every --max-links slot, for ever. A
      // joiner opens once it trains, after its download.
      const std::uint64_t stall = link->peer_joining ? kJoinerAnswerMs : kHandshakeStallMs;
      if (now > std::max(link->opening_awaited_ms, link->last_activity_ms) + stall) never_opened.push_back(id);
    } else if (link->state.sending() && !link->state.receiving()) {
      // The neighbour's snapshot is due. On a slow link it takes as long as
      // the link needs (a bf16 MLP snapshot is ~5 s at 100 kB/s, behind
      // whatever was queued before it), so the timer follows progress, not
      // a fixed clock: our own bytes still leaving, snapshot chunks or the
      // neighbour's older traffic arriving (training_link_setup.cpp).
      // A neighbour still joining answers once it trains (its download's
      // limit): sending our snapshot again every 5 s meanwhile only queued
      // copies of it in front of its download.
      if (transport_.pending_outbound_bytes(id) > 0) link->last_activity_ms = now;
      const std::uint64_t stall = link->peer_joining ? kJoinerAnswerMs : kHandshakeStallMs;
      if (now > std::max(link->epoch_started_ms, link->last_activity_ms) + stall) unanswered.push_back(id);
    }
  }
  for (const auto& [id, link] : links_) {
    if (link->hello_done() && now >= link->last_sent_ms + kLinkKeepaliveMs && transport_.pending_outbound_bytes(id) == 0)
      send(*link, wire::Message{wire::Digest{}});
  }
  for (ConnectionId id : stalled) drop_link(id, "link hello did not complete");
  for (ConnectionId id : never_opened) drop_link(id, "the neighbour never sent the snapshot that opens the link");
  for (ConnectionId id : unanswered) {
    if (auto found = links_.find(id); found != links_.end())
      reset_link(*found->second, wire::ResetReason::unspecified, "no snapshot from the neighbour");
  }
  if (download_ && download_->from != 0 && now > download_->requested_ms + download_->pace.wait_ms()) {
    // Asked again below, from where the download stands, for less (a late
    // answer from the same server still counts: on_model_chunk).
    download_->pace.on_silence();
    if (auto silent = links_.find(download_->from); silent != links_.end() && ++silent->second->model_silences >= 2)
      silent->second->model_retry_at_ms = now + kServedModelLifetimeMs;
    download_->from = 0;
  }

  const std::vector<gossip::MemberRecord> sample = membership_.sample_neighbours(options_.neighbours);
  // Dialled links to members that rotated out of the sample are closed.
  std::vector<ConnectionId> rotated;
  for (const auto& [id, link] : links_) {
    if (!link->outbound) continue;
    // A copy, not the binding: clang 14 (the fuzz build) cannot capture structured bindings.
    const gossip::NodeId node_id = link->node_id;
    const bool wanted = std::any_of(sample.begin(), sample.end(),
                                    [&](const gossip::MemberRecord& m) { return m.node_id == node_id; });
    if (!wanted) rotated.push_back(id);
  }
  for (ConnectionId id : rotated) drop_link(id, "neighbour rotated out of the sample");

  for (const gossip::MemberRecord& member : sample) {
    if (live_link_count() >= options_.max_links) break;
    const bool linked = std::any_of(links_.begin(), links_.end(),
                                    [&](const auto& entry) { return entry.second->node_id == member.node_id; });
    if (linked) continue;
    dial(member);
  }
  if (download_) request_model();
}

void TrainingDriver::dial(const gossip::MemberRecord& member) {
  const std::uint64_t now = transport_.now_ms();
  if (reset_banned(member.node_id)) return;
  auto backoff = dial_backoff_until_.find(member.address);
  if (backoff != dial_backoff_until_.end() && backoff->second > now) return;
  auto address = parse_address(member.address);
  if (!address) return;
  auto id = router_.connect(Route::training, *address);
  if (!id) {
    dial_backoff_until_[member.address] = now + kDialBackoffMs;
    log(DriverLogLevel::info, "cannot dial " + member.address + ": " + id.error().message, "link.dial_failed",
        {{"peer", member.address}, {"reason", id.error().message}});
    return;
  }
  auto link = std::make_unique<Link>(*id, true, member.node_id, member.address, options_, random_());
  link->created_ms = now;
  links_[*id] = std::move(link);
}

bool TrainingDriver::on_inbound(const ConnectionInfo& info, ByteSpan first_frame) {
  auto first = wire::decode(first_frame);
  if (!first) return false;
  const char* kind = wire::message_name(*first);
  if (!claim(info, *first)) return false;
  count_received(counters_.traffic_by_kind, kind, first_frame.size());
  return true;
}

bool TrainingDriver::claim(const ConnectionInfo& info, const wire::Message& first) {
  if (!active() || !std::holds_alternative<wire::LinkHello>(first)) return false;
  const gossip::NodeId node = identity_of(info);
  std::string address = to_string(info.remote);
  if (membership_.started()) {
    if (const gossip::MemberRecord* record = membership_.membership().find(node)) address = record->address;
  }
  // Both ends dialled each other: keep the link dialled by the smaller node id.
  for (auto it = links_.begin(); it != links_.end(); ++it) {
    if (it->second->node_id != node) continue;
    const bool ours_wins = membership_.started() && membership_.membership().self().node_id < node;
    if (it->second->outbound && ours_wins) return false;
    if (it->second->outbound) {
      drop_link(it->first, "duplicate link (the neighbour's dial wins)");
      break;
    }
    return false;  // a second inbound link from the same node
  }
  // A member we list as dead or left: the next neighbour check would drop
  // the link ("no longer alive") after our hello, and the dialler, seeing a
  // hello, would dial again at once (twice a second for 10 minutes after a
  // restart that lost its incarnation). Refused before the hello, it backs off.
  if (membership_.started()) {
    if (const gossip::MemberRecord* record = membership_.membership().find(node); record && !is_live(record->state)) {
      log(DriverLogLevel::debug, "refusing a link from " + address + ": we list it as " + to_string(record->state),
          "link.refused", {{"peer", address}, {"reason", "not alive"}});
      return false;
    }
  }
  if (reset_banned(node)) {
    log(DriverLogLevel::debug, "refusing a link from " + address + ": its last link was reset too often",
        "link.refused", {{"peer", address}, {"reason", "reset too often"}});
    return false;
  }
  if (live_link_count() >= options_.max_links) {
    log(DriverLogLevel::info, "refusing a link from " + address + ": already at --max-links", "link.refused",
        {{"peer", address}, {"reason", "max-links"}});
    return false;
  }
  auto link = std::make_unique<Link>(info.id, false, node, address, options_, random_());
  link->connected = true;
  link->created_ms = transport_.now_ms();
  transport_.set_peer_label(info.id, address);  // the fault layer names peers by listen address
  Link& ref = *link;
  links_[info.id] = std::move(link);
  handle(ref, first);
  return true;
}

void TrainingDriver::on_connected(const ConnectionInfo& info) {
  auto found = links_.find(info.id);
  if (found == links_.end()) return;
  Link& link = *found->second;
  if (info.remote_identity.size() == link.node_id.size() &&
      !std::equal(info.remote_identity.begin(), info.remote_identity.end(), link.node_id.begin())) {
    drop_link(info.id, "the peer at " + link.address + " is not the member we dialled");
    return;
  }
  link.connected = true;
  send_hello(link);
}

void TrainingDriver::on_frame(ConnectionId id, ByteSpan frame) {
  auto found = links_.find(id);
  if (found == links_.end()) return;
  auto message = wire::decode(frame);
  if (!message) {
    drop_link(id, "undecodable frame (" + message.error().message + ")");
    return;
  }
  count_received(counters_.traffic_by_kind, wire::message_name(*message), frame.size());
  handle(*found->second, std::move(*message));
}

void TrainingDriver::on_disconnected(ConnectionId id, const Error& reason) {
  auto found = links_.find(id);
  if (found == links_.end()) return;
  Link& link = *found->second;
  if (!link.connected) dial_backoff_until_[link.address] = transport_.now_ms() + kDialBackoffMs;
  if (link.outbound && !link.hello_done()) {
    if (link.connected) back_off_refused_dial(link);  // it closed the link before its hello: refused
    resample_neighbour(link);
  }
  log(DriverLogLevel::info, "link to " + found->second->address + " closed (" + reason.message + ")", "link.down",
      {{"peer", found->second->address}, {"by", "connection"}, {"reason", reason.message}});
  links_.erase(found);
  if (download_ && download_->source_link == id) download_->source_link = 0;
  if (download_ && download_->from == id) {
    download_->from = 0;
    request_model();  // resume from another neighbour (or this one, once back)
  }
}

void TrainingDriver::forget_old_dial_records(std::uint64_t now_ms) {
  std::erase_if(dial_backoff_until_, [&](const auto& entry) {
    if (entry.second + kForgetDialRecordMs > now_ms) return false;
    dial_refusals_.erase(entry.first);
    return true;
  });
  // Every refusal sets a back-off; a count without one is left over.
  std::erase_if(dial_refusals_, [&](const auto& entry) { return dial_backoff_until_.count(entry.first) == 0; });
}

void TrainingDriver::back_off_refused_dial(const Link& link) {
  // Not again at every neighbour check: a withdrawn peer refuses every link
  // for as long as it stays a member, one with another model for good (found
  // on real peers: a redial and a handshake every 0.5 s from each neighbour).
  unsigned& refusals = dial_refusals_[link.address];
  refusals = std::min(refusals + 1, 16u);
  const std::uint64_t backoff = std::min(kMaxRefusalBackoffMs, kDialBackoffMs << std::min(refusals - 1, 8u));
  dial_backoff_until_[link.address] = transport_.now_ms() + backoff;
}

void TrainingDriver::resample_neighbour(const Link& link) {
  // Another member takes its place in our sample now (most often it refused
  // for being at --max-links); waiting for the sample to rotate left late
  // joiners of a large swarm without a single link (bench/consensus_scale.sh,
  // 1000 peers).
  if (membership_.started() && membership_.replace_neighbour(link.node_id)) {
    log(DriverLogLevel::debug, "neighbour " + link.address + " refused the link: sampling another member",
        "link.resampled", {{"peer", link.address}});
  }
}

bool TrainingDriver::count_reset(Link& link) {
  ++link.resets;
  ++counters_.link_resets;
  const std::uint64_t now = transport_.now_ms();
  if (link.resets_in_window == 0 || now >= link.reset_window_ms + kResetWindowMs) {
    link.reset_window_ms = now;
    link.resets_in_window = 0;
  }
  if (++link.resets_in_window < kMaxLinkResets) return false;
  // A record outlives its ban by kMaxResetBanMs, so a repeat offender's ban
  // doubles; then it is forgotten. At the bound, the record whose ban ends
  // first makes room.
  std::erase_if(reset_bans_, [&](const auto& entry) { return entry.second.until_ms + kMaxResetBanMs <= now; });
  if (reset_bans_.size() >= kMaxResetBans && !reset_bans_.count(link.node_id)) {
    reset_bans_.erase(std::min_element(reset_bans_.begin(), reset_bans_.end(), [](const auto& a, const auto& b) {
      return a.second.until_ms < b.second.until_ms;
    }));
  }
  ResetBan& ban = reset_bans_[link.node_id];
  const std::uint64_t ban_ms = std::min(kMaxResetBanMs, kResetBanMs << std::min(ban.bans, 5u));
  ban.bans = std::min(ban.bans + 1, 16u);
  ban.until_ms = now + ban_ms;
  const std::string why = "reset " + std::to_string(link.resets_in_window) + " times within " +
                          std::to_string(kResetWindowMs / 1000) + " s (each reset costs a whole snapshot each way)";
  log(DriverLogLevel::warning,
      "link to " + link.address + " " + why + ": closing it; no link with this neighbour for " +
          std::to_string(ban_ms / 1000) + " s",
      "link.banned", {{"peer", link.address}, {"reason", why}, {"ban_ms", std::to_string(ban_ms)}});
  close_link(link, "the link was " + why);
  return true;
}

void TrainingDriver::close_link(Link& link, const std::string& why) {
  wire::Reset out;
  out.epoch = link.state.epoch();
  out.reason = wire::ResetReason::shutdown;
  out.detail = why.substr(0, 1024);
  send(link, wire::Message{out});
  const ConnectionId id = link.id;
  if (link.outbound) resample_neighbour(link);
  drop_link(id, why);
}

bool TrainingDriver::reset_banned(const gossip::NodeId& node) const {
  const auto found = reset_bans_.find(node);
  return found != reset_bans_.end() && found->second.until_ms > transport_.now_ms();
}

void TrainingDriver::drop_link(ConnectionId id, const std::string& why) {
  auto found = links_.find(id);
  if (found == links_.end()) return;
  log(DriverLogLevel::info, "closing link to " + found->second->address + ": " + why, "link.down",
      {{"peer", found->second->address}, {"by", "self"}, {"reason", why}});
  links_.erase(found);
  router_.close(id);
  if (download_ && download_->source_link == id) download_->source_link = 0;
  if (download_ && download_->from == id) {
    download_->from = 0;
    request_model();
  }
}

}  // namespace starling::node
