// What `starling peer --metrics` exposes, as a plain struct, and its
// rendering as Prometheus text exposition (version 0.0.4). Filled on the loop
// thread from node::PeerStatus and the training progress (apps/peer_metrics),
// rendered there too; the HTTP server (metrics_server.h) only carries text.
// docs/metrics.md lists every metric.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace starling::runtime {

// The content type of the text exposition format.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

struct LabelledCount {
  std::string label;  // the value of the family's one label
  std::uint64_t value = 0;
};

// Messages of one kind on one channel ("membership" or "training"), encoded
// bytes before framing and sealing.
struct MessageKindMetrics {
  std::string channel;
  std::string kind;
  std::uint64_t messages_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t messages_received = 0;
  std::uint64_t bytes_received = 0;
};

struct TrainingMetrics {
  std::string state;  // "starting", "downloading", "training", "stopped", "failed"
  std::int64_t steps = 0;
  double steps_per_second = 0.0;
  double samples_per_second = 0.0;
  std::optional<double> train_loss;               // unset until a step reported one
  std::optional<double> test_accuracy;            // own model, 0..1; unset until evaluated
  std::optional<double> local_average_accuracy;   // the local average's, 0..1
  std::optional<double> local_average_neighbours;  // neighbour copies in it (0: it was the own model)
  std::optional<double> consensus_distance;       // unset without a ready link
  std::uint64_t neighbours_outbound = 0;
  std::uint64_t neighbours_inbound = 0;
  std::uint64_t links_connecting = 0;  // dialled, connection not up yet
  std::uint64_t links_syncing = 0;     // up, snapshots not exchanged both ways yet
  std::uint64_t links_ready = 0;       // deltas flow
  std::uint64_t links_distrusted = 0;
  std::uint64_t rounds = 0;
  std::uint64_t deltas_sent = 0;
  std::uint64_t deltas_received = 0;
  std::uint64_t deltas_skipped_queue = 0;
  std::uint64_t deltas_skipped_budget = 0;
  std::uint64_t link_resets = 0;
  std::uint64_t digest_mismatches = 0;
  std::uint64_t corrections_clipped = 0;
  std::uint64_t corrections_applied = 0;
  std::uint64_t upload_budget_bytes_per_second = 0;  // 0: no budget
  double upload_bytes_per_second = 0.0;              // training traffic over the last 10 s
  std::uint64_t checkpoints_written = 0;
};

struct PeerMetrics {
  std::string node_id;  // hex
  std::string address;
  std::string profile;
  std::string version;  // starling's release (starling --version)
  std::uint64_t incarnation = 0;
  double uptime_seconds = 0.0;
  bool joined = false;
  int health_score = 0;
  // Every state, zeros included ("alive", "suspect", "dead", "left"); self not counted.
  std::vector<LabelledCount> members_by_state;
  // By the log's event names (member_suspected, member_dead, self_refuted, ...).
  std::vector<LabelledCount> membership_events;
  // By reason: security, timeout, closed, protocol.
  std::vector<LabelledCount> handshake_failures;
  std::vector<MessageKindMetrics> messages;
  // Wire bytes on streams (framing and sealing included) and datagrams.
  std::uint64_t stream_bytes_sent = 0;
  std::uint64_t stream_bytes_received = 0;
  std::uint64_t datagrams_sent = 0;
  std::uint64_t datagram_bytes_sent = 0;
  std::uint64_t datagrams_received = 0;
  std::uint64_t datagram_bytes_received = 0;
  std::uint64_t datagrams_rejected = 0;
  std::uint64_t connections_rejected = 0;
  std::uint64_t connections_dropped = 0;
  std::uint64_t inbound_buffer_bytes = 0;  // readers' memory for inbound frames now
  // Unset: membership only (--no-train).
  std::optional<TrainingMetrics> training;
};

// The exposition: HELP and TYPE per family, names with the starling_ prefix,
// counters ending in _total, label values escaped. Families whose value is
// unknown (no evaluation yet, no training) are left out, not shown as NaN.
std::string render_prometheus(const PeerMetrics& metrics);

}  // namespace starling::runtime
