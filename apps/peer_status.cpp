#include "peer_status.h"

#include <fmt/format.h>

#include <utility>

#include "top_frame.h"

namespace starling::apps {

nlohmann::json members_json(const gossip::MembershipView& view, std::int64_t now_ms) {
  nlohmann::json members = nlohmann::json::array();
  for (const auto& member : view.members) {
    members.push_back({{"node_id", gossip::to_hex(member.record.node_id)},
                       {"address", member.record.address},
                       {"state", gossip::to_string(member.record.state)},
                       {"incarnation", member.record.incarnation},
                       {"outbound_only", member.record.outbound_only},
                       {"membership_only", member.record.membership_only},
                       {"state_age_seconds", static_cast<double>(now_ms - member.state_since_ms) / 1000.0}});
  }
  return members;
}

std::vector<std::pair<std::string, std::uint64_t>> membership_event_counts(const node::MembershipEventCounts& e) {
  return {{"member_joined", e.member_joined}, {"member_suspected", e.member_suspected},
          {"member_recovered", e.member_recovered}, {"member_dead", e.member_dead},
          {"member_left", e.member_left}, {"member_reaped", e.member_reaped},
          {"self_refuted", e.self_refuted}, {"join_retry", e.join_retry},
          {"identity_in_use", e.identity_in_use}};
}

nlohmann::json status_json(const node::PeerStatus& status, bool swarm_open) {
  const gossip::MembershipView& view = status.view;
  const node::TransportStats& stats = status.transport;
  const node::MembershipTraffic& traffic = status.membership_traffic;
  nlohmann::json out = {{"node_id", gossip::to_hex(view.self.node_id)},
          {"address", view.self.address},
          {"state", gossip::to_string(view.self.state)},
          {"incarnation", view.self.incarnation},
          {"outbound_only", view.self.outbound_only},
          {"membership_only", view.self.membership_only},
          {"uptime_seconds", static_cast<double>(view.uptime_ms) / 1000.0},
          {"joined", status.joined},
          {"health_score", view.health_score},
          {"profile", status.profile},
          {"swarm_open", swarm_open},
          {"bytes_sent", stats.bytes_sent},
          {"bytes_received", stats.bytes_received},
          {"datagrams_sent", stats.datagrams_sent},
          {"datagrams_received", stats.datagrams_received},
          {"datagram_bytes_sent", stats.datagram_bytes_sent},
          {"datagram_bytes_received", stats.datagram_bytes_received},
          {"datagrams_rejected", stats.datagrams_rejected},
          {"membership_messages_sent", traffic.messages_sent},
          {"membership_bytes_sent", traffic.bytes_sent},
          {"membership_messages_received", traffic.messages_received},
          {"membership_bytes_received", traffic.bytes_received},
          {"membership_datagrams_oversize", traffic.datagrams_oversize},
          {"membership_links", status.membership_links},
          {"membership_ignored_accusers", view.ignored_accusers},
          {"membership_rejected_records", view.rejected_records},
          {"membership_rejected_accusations", view.rejected_accusations},
          {"membership_dropped_accusations", view.dropped_accusations},
          {"membership_candidates", view.candidates},
          {"membership_candidates_refused", view.candidates_refused},
          {"membership_messages_refused_sender", traffic.messages_refused_sender},
          {"connections_rejected", stats.connections_rejected},
          {"connections_refused_first_frame", status.router.refused_unknown_first_frame + status.router.refused_no_handler},
          {"members", members_json(view, static_cast<std::int64_t>(status.now_ms))}};
  nlohmann::json events = nlohmann::json::object();
  for (const auto& [name, count] : membership_event_counts(status.membership_events)) events[name] = count;
  out["membership_events"] = std::move(events);
  if (status.membership_fault != node::HostileMembershipMode::none)
    out["membership_fault"] = node::to_string(status.membership_fault);
  return out;
}

std::string members_text(const gossip::MembershipView& view) {
  std::size_t live = 1;  // this peer
  std::size_t suspect = 0;
  for (const auto& member : view.members) {
    const gossip::MemberState state = member.record.state;
    if (state != gossip::MemberState::alive && state != gossip::MemberState::suspect) continue;
    ++live;
    if (state == gossip::MemberState::suspect) ++suspect;
  }
  return fmt::format("members {} ({} suspect)", live, suspect);
}

std::string membership_progress_line(const node::PeerStatus& status) {
  return fmt::format("{}{} | up {}", members_text(status.view), status.joined ? "" : " | not joined yet",
                     format_duration(static_cast<double>(status.view.uptime_ms) / 1000.0));
}

}  // namespace starling::apps
