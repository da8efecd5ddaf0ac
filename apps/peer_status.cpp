#include "peer_status.h"

namespace starling::apps {

nlohmann::json members_json(const gossip::MembershipView& view, std::int64_t now_ms) {
  nlohmann::json members = nlohmann::json::array();
  for (const auto& member : view.members) {
    members.push_back({{"node_id", gossip::to_hex(member.record.node_id)},
                       {"address", member.record.address},
                       {"state", gossip::to_string(member.record.state)},
                       {"incarnation", member.record.incarnation},
                       {"state_age_seconds", static_cast<double>(now_ms - member.state_since_ms) / 1000.0}});
  }
  return members;
}

nlohmann::json status_json(const node::MembershipDriver& driver, const node::Transport& transport,
                           bool swarm_open) {
  const gossip::MembershipView view = driver.view();
  const node::TransportStats stats = transport.stats();
  return {{"node_id", gossip::to_hex(view.self.node_id)},
          {"address", view.self.address},
          {"state", gossip::to_string(view.self.state)},
          {"incarnation", view.self.incarnation},
          {"uptime_seconds", static_cast<double>(view.uptime_ms) / 1000.0},
          {"joined", driver.membership().joined()},
          {"health_score", view.health_score},
          {"profile", driver.membership().config().profile},
          {"swarm_open", swarm_open},
          {"bytes_sent", stats.bytes_sent},
          {"bytes_received", stats.bytes_received},
          {"datagrams_sent", stats.datagrams_sent},
          {"datagrams_received", stats.datagrams_received},
          {"datagrams_rejected", stats.datagrams_rejected},
          {"membership_messages_sent", driver.traffic().messages_sent},
          {"membership_bytes_sent", driver.traffic().bytes_sent},
          {"membership_messages_received", driver.traffic().messages_received},
          {"membership_bytes_received", driver.traffic().bytes_received},
          {"membership_datagrams_oversize", driver.traffic().datagrams_oversize},
          {"membership_ignored_accusers", view.ignored_accusers},
          {"membership_rejected_records", view.rejected_records},
          {"membership_rejected_accusations", view.rejected_accusations},
          {"membership_dropped_accusations", view.dropped_accusations},
          {"membership_candidates", view.candidates},
          {"membership_candidates_refused", view.candidates_refused},
          {"membership_messages_refused_sender", driver.traffic().messages_refused_sender},
          {"connections_rejected", stats.connections_rejected},
          {"members", members_json(view, static_cast<std::int64_t>(driver.now_ms()))}};
}

}  // namespace starling::apps
