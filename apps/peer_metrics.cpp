#include "peer_metrics.h"

#include "peer_status.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace starling::apps {
namespace {

void add_kinds(std::vector<runtime::MessageKindMetrics>& out, const char* channel, const node::TrafficByKind& kinds) {
  for (const auto& [kind, traffic] : kinds) {
    runtime::MessageKindMetrics m;
    m.channel = channel;
    m.kind = kind;
    // gossip/ spells two kinds with a hyphen ("push-pull"); labels use the
    // wire's spelling ("push_pull"), like the training kinds.
    std::replace(m.kind.begin(), m.kind.end(), '-', '_');
    m.messages_sent = traffic.messages_sent;
    m.bytes_sent = traffic.bytes_sent;
    m.messages_received = traffic.messages_received;
    m.bytes_received = traffic.bytes_received;
    out.push_back(std::move(m));
  }
}

std::optional<double> known(bool known, double value) {
  if (!known || !std::isfinite(value)) return std::nullopt;
  return value;
}

runtime::TrainingMetrics training_metrics(const node::PeerStatus& status, const PeerTraining& training) {
  const node::TrainingDriverStatus d = status.training ? *status.training : node::TrainingDriverStatus{};
  const runtime::TrainingProgress p = training.progress();
  runtime::TrainingMetrics t;
  t.state = training.state(status);  // as the status JSON says it (it said "idle" while status said "starting")
  t.steps = p.step;
  t.steps_per_second = p.steps_per_second;
  t.samples_per_second = p.steps_per_second * training.batch_size();
  t.train_loss = known(true, p.train_loss);
  t.test_accuracy = known(p.evaluated, p.test_accuracy);
  t.local_average_accuracy = known(p.local_average_evaluated, p.local_average_accuracy);
  t.local_average_neighbours = known(p.local_average_evaluated, double(p.local_average_neighbours));
  t.consensus_distance = d.consensus_distance;
  for (const node::NeighbourStatus& n : d.neighbours) {
    ++(n.outbound ? t.neighbours_outbound : t.neighbours_inbound);
    ++(n.ready ? t.links_ready : n.connected ? t.links_syncing : t.links_connecting);
  }
  t.links_distrusted = d.links_distrusted;
  t.rounds = d.rounds;
  t.deltas_sent = d.deltas_sent;
  t.deltas_received = d.deltas_received;
  t.deltas_skipped_queue = d.deltas_skipped_queue;
  t.deltas_skipped_budget = d.deltas_skipped_budget;
  t.link_resets = d.link_resets;
  t.digest_mismatches = d.digest_mismatches;
  t.corrections_clipped = d.corrections_clipped;
  t.corrections_applied = static_cast<std::uint64_t>(p.corrections_applied);
  t.upload_budget_bytes_per_second = d.upload_budget_bytes_per_second;
  t.upload_bytes_per_second = d.upload_bytes_per_second;
  t.checkpoints_written = static_cast<std::uint64_t>(p.checkpoints_written);
  return t;
}

}  // namespace

runtime::PeerMetrics collect_peer_metrics(const node::PeerStatus& status, const PeerTraining* training) {
  const gossip::MembershipView& view = status.view;
  runtime::PeerMetrics m;
  m.node_id = gossip::to_hex(view.self.node_id);
  m.address = view.self.address;
  m.profile = status.profile;
  m.version = STARLING_VERSION;
  m.incarnation = view.self.incarnation;
  m.uptime_seconds = static_cast<double>(view.uptime_ms) / 1000.0;
  m.joined = status.joined;
  m.health_score = view.health_score;

  std::uint64_t by_state[4] = {0, 0, 0, 0};
  for (const auto& member : view.members) {
    const auto index = static_cast<std::size_t>(member.record.state);
    if (index < 4) ++by_state[index];
  }
  for (gossip::MemberState state : {gossip::MemberState::alive, gossip::MemberState::suspect,
                                    gossip::MemberState::dead, gossip::MemberState::left}) {
    m.members_by_state.push_back({gossip::to_string(state), by_state[static_cast<std::size_t>(state)]});
  }

  for (const auto& [name, count] : membership_event_counts(status.membership_events))
    m.membership_events.push_back({name, count});

  const node::TransportStats& s = status.transport;
  m.handshake_failures = {{"security", s.handshake_failures.security},
                          {"timeout", s.handshake_failures.timeout},
                          {"closed", s.handshake_failures.closed},
                          {"protocol", s.handshake_failures.protocol},
                          {"own_identity", s.handshake_failures.own_identity}};
  add_kinds(m.messages, "membership", status.membership_traffic.by_kind);
  if (status.training) add_kinds(m.messages, "training", status.training->traffic_by_kind);
  m.stream_bytes_sent = s.bytes_sent;
  m.stream_bytes_received = s.bytes_received;
  m.datagrams_sent = s.datagrams_sent;
  m.datagram_bytes_sent = s.datagram_bytes_sent;
  m.datagrams_received = s.datagrams_received;
  m.datagram_bytes_received = s.datagram_bytes_received;
  m.datagrams_rejected = s.datagrams_rejected;
  m.connections_rejected = s.connections_rejected;
  m.connections_dropped = s.connections_dropped;
  m.inbound_buffer_bytes = s.inbound_buffer_bytes;
  if (training) m.training = training_metrics(status, *training);
  return m;
}

Result<std::unique_ptr<runtime::MetricsServer>> serve_peer_metrics(runtime::EventLoop& loop, const std::string& listen,
                                                                   const node::Peer& peer,
                                                                   const PeerTraining* training) {
  auto address = node::parse_address(listen);
  if (!address) return make_error(ErrorKind::invalid_argument, address.error().message);
  runtime::MetricsServerOptions options;
  options.listen = *address;
  return runtime::MetricsServer::start(loop, std::move(options), [&peer, training] {
    return runtime::render_prometheus(collect_peer_metrics(peer.status(), training));
  });
}

}  // namespace starling::apps
