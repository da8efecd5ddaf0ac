// Prometheus text exposition of PeerMetrics. See starling/runtime/metrics.h
// and docs/metrics.md (keep the list there in step with the families here).
#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <cmath>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "starling/runtime/metrics.h"

namespace starling::runtime {
namespace {

struct Label {
  std::string_view name;
  std::string_view value;
};

// Writes one family at a time: HELP and TYPE once, then its samples.
class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    name_ = name;
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    append_help(help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  void sample(double value, std::initializer_list<Label> labels = {}) {
    append_name_and_labels(labels);
    append_number(value);
    out_ += '\n';
  }
  // Integers are printed exactly (a double loses counts above 2^53).
  void sample(std::uint64_t value, std::initializer_list<Label> labels = {}) {
    append_name_and_labels(labels);
    out_ += std::to_string(value);
    out_ += '\n';
  }

  // A family with one unlabelled sample.
  void gauge(std::string_view name, std::string_view help, double value) {
    family(name, "gauge", help);
    sample(value);
  }
  void gauge(std::string_view name, std::string_view help, std::uint64_t value) {
    family(name, "gauge", help);
    sample(value);
  }
  void counter(std::string_view name, std::string_view help, std::uint64_t value) {
    family(name, "counter", help);
    sample(value);
  }
  // A family with one label, one sample per entry.
  void labelled(std::string_view name, std::string_view type, std::string_view help, std::string_view label_name,
                const std::vector<LabelledCount>& values) {
    family(name, type, help);
    for (const LabelledCount& entry : values) sample(entry.value, {{label_name, entry.label}});
  }

  std::string take() { return std::move(out_); }

 private:
  void append_name_and_labels(std::initializer_list<Label> labels) {
    out_ += name_;
    if (labels.size() > 0) {
      out_ += '{';
      bool first = true;
      for (const Label& label : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += label.name;
        out_ += "=\"";
        append_label_value(label.value);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
  }
  // The format's escapes: in HELP text backslash and newline; in label
  // values also the double quote.
  void append_help(std::string_view text) {
    for (char c : text) {
      if (c == '\\') out_ += "\\\\";
      else if (c == '\n') out_ += "\\n";
      else out_ += c;
    }
  }
  void append_label_value(std::string_view text) {
    for (char c : text) {
      if (c == '\\') out_ += "\\\\";
      else if (c == '\n') out_ += "\\n";
      else if (c == '"') out_ += "\\\"";
      else out_ += c;
    }
  }
  void append_number(double value) {
    if (std::isnan(value)) {
      out_ += "NaN";
      return;
    }
    if (std::isinf(value)) {
      out_ += value > 0 ? "+Inf" : "-Inf";
      return;
    }
    char buffer[64];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);  // shortest exact form
    if (ec != std::errc{}) {
      out_ += "NaN";
      return;
    }
    out_.append(buffer, end);
  }

  std::string out_;
  std::string_view name_;
};

void render_training(Exposition& out, const TrainingMetrics& t) {
  out.family("starling_training_state", "gauge", "The training state: 1 for the current one.");
  out.sample(1.0, {{"state", t.state}});
  out.counter("starling_training_steps_total", "SGD steps taken by this replica (restored from a checkpoint on resume).",
              static_cast<std::uint64_t>(t.steps < 0 ? 0 : t.steps));
  out.gauge("starling_training_steps_per_second", "SGD steps per second, over the last half second.",
            t.steps_per_second);
  out.gauge("starling_training_samples_per_second", "Training samples per second (steps per second times the batch).",
            t.samples_per_second);
  if (t.train_loss)
    out.gauge("starling_train_loss", "Mean training loss over the last 50 steps.", *t.train_loss);
  if (t.test_accuracy || t.local_average_accuracy) {
    out.family("starling_test_accuracy_ratio", "gauge",
               "Test accuracy (0..1) at the last evaluation: model=\"own\" is this replica, model=\"local_average\" "
               "its average with the neighbours' copies.");
    if (t.test_accuracy) out.sample(*t.test_accuracy, {{"model", "own"}});
    if (t.local_average_accuracy) out.sample(*t.local_average_accuracy, {{"model", "local_average"}});
  }
  if (t.local_average_neighbours)
    out.gauge("starling_local_average_neighbours",
              "Neighbour copies in the last evaluated local average (0: it was the own model alone).",
              *t.local_average_neighbours);
  if (t.consensus_distance)
    out.gauge("starling_consensus_distance",
              "Relative squared distance of this replica to the mean of it and its neighbours' copies.",
              *t.consensus_distance);
  out.family("starling_neighbours", "gauge", "Delta-gossip neighbours (training links), by who dialled.");
  out.sample(t.neighbours_outbound, {{"direction", "outbound"}});
  out.sample(t.neighbours_inbound, {{"direction", "inbound"}});
  out.family("starling_links", "gauge", "Training links by state.");
  out.sample(t.links_connecting, {{"state", "connecting"}});
  out.sample(t.links_syncing, {{"state", "syncing"}});
  out.sample(t.links_ready, {{"state", "ready"}});
  out.gauge("starling_links_distrusted", "Links weighed at less than full trust (clipped gossip).",
            t.links_distrusted);
  out.counter("starling_gossip_rounds_total", "Gossip rounds run.", t.rounds);
  out.counter("starling_deltas_sent_total", "Compressed deltas sent to neighbours.", t.deltas_sent);
  out.counter("starling_deltas_received_total", "Compressed deltas received from neighbours.", t.deltas_received);
  out.family("starling_deltas_skipped_total", "counter",
             "Link-rounds without a delta: the link's queue was full, or the upload budget had no room.");
  out.sample(t.deltas_skipped_queue, {{"reason", "queue"}});
  out.sample(t.deltas_skipped_budget, {{"reason", "budget"}});
  out.counter("starling_link_resets_total", "Training links reset (sequence gap, digest mismatch, restart).",
              t.link_resets);
  out.counter("starling_digest_mismatches_total", "Link digests that did not match our copy.", t.digest_mismatches);
  out.counter("starling_corrections_clipped_total", "Neighbour corrections clipped by robust gossip.",
              t.corrections_clipped);
  out.counter("starling_corrections_applied_total", "Consensus corrections applied to the replica.",
              t.corrections_applied);
  out.gauge("starling_upload_budget_bytes_per_second", "Upload budget for gossip traffic (0: none).",
            t.upload_budget_bytes_per_second);
  out.gauge("starling_upload_rate_bytes_per_second", "Gossip bytes sent per second over the last 10 s.",
            t.upload_bytes_per_second);
  out.counter("starling_checkpoints_written_total", "Checkpoints written.", t.checkpoints_written);
}

}  // namespace

std::string render_prometheus(const PeerMetrics& m) {
  Exposition out;
  out.family("starling_peer_info", "gauge", "This peer: node id, listen address, membership profile, starling version.");
  out.sample(1.0, {{"node_id", m.node_id}, {"address", m.address}, {"profile", m.profile}, {"version", m.version}});
  out.gauge("starling_uptime_seconds", "Seconds since membership started.", m.uptime_seconds);
  out.gauge("starling_incarnation", "Our membership incarnation (grows on restarts and refutations).", m.incarnation);
  out.gauge("starling_joined", "1 once a seed answered (or we started the swarm).", std::uint64_t(m.joined ? 1 : 0));
  out.gauge("starling_health_score", "Lifeguard awareness score (0: healthy; higher: slower probing).",
            static_cast<double>(m.health_score));
  out.labelled("starling_members", "gauge", "Other members in our view, by state.", "state", m.members_by_state);
  out.labelled("starling_membership_events_total", "counter",
               "Membership events seen (member_suspected: suspicions, member_dead: deaths, self_refuted: our "
               "refutations, member_recovered: others' refutations).",
               "event", m.membership_events);
  out.labelled("starling_handshake_failures_total", "counter",
               "Connections whose secure handshake failed, by reason (security: other swarm key or bad proof; "
               "timeout; closed: the other side hung up; protocol: malformed; own_identity: the other end holds this "
               "peer's identity).",
               "reason", m.handshake_failures);

  struct Direction {
    const char* name;
    const char* help;
    std::uint64_t MessageKindMetrics::*field;
  };
  const Direction directions[] = {
      {"starling_messages_sent_total", "Protocol messages sent, by channel and kind.", &MessageKindMetrics::messages_sent},
      {"starling_bytes_sent_total", "Encoded message bytes sent (before framing and sealing), by channel and kind.",
       &MessageKindMetrics::bytes_sent},
      {"starling_messages_received_total", "Protocol messages received, by channel and kind.",
       &MessageKindMetrics::messages_received},
      {"starling_bytes_received_total", "Encoded message bytes received, by channel and kind.",
       &MessageKindMetrics::bytes_received},
  };
  for (const Direction& d : directions) {
    out.family(d.name, "counter", d.help);
    for (const MessageKindMetrics& k : m.messages) out.sample(k.*d.field, {{"channel", k.channel}, {"kind", k.kind}});
  }
  out.counter("starling_stream_bytes_sent_total", "Wire bytes sent on connections (framing and sealing included).",
              m.stream_bytes_sent);
  out.counter("starling_stream_bytes_received_total", "Wire bytes received on connections.", m.stream_bytes_received);
  out.counter("starling_datagrams_sent_total", "UDP datagrams sent.", m.datagrams_sent);
  out.counter("starling_datagram_bytes_sent_total", "Wire bytes of the UDP datagrams sent.", m.datagram_bytes_sent);
  out.counter("starling_datagrams_received_total", "UDP datagrams received.", m.datagrams_received);
  out.counter("starling_datagram_bytes_received_total", "Wire bytes of the UDP datagrams received.",
              m.datagram_bytes_received);
  out.counter("starling_datagrams_rejected_total", "UDP datagrams refused (failed to open, oversized, malformed).",
              m.datagrams_rejected);
  out.counter("starling_connections_rejected_total", "Inbound connections refused or evicted over a "
              "connection limit (per address, per identity, handshaking, inbound).", m.connections_rejected);
  out.counter("starling_connections_dropped_total", "Connections dropped for an error (timeouts, bad frames, ...).",
              m.connections_dropped);
  out.gauge("starling_inbound_buffer_bytes", "Memory the connections' readers hold now for inbound frames "
            "(bounded by the transport's max_inbound_buffer_bytes).", m.inbound_buffer_bytes);
  if (m.training) render_training(out, *m.training);
  return out.take();
}

}  // namespace starling::runtime
