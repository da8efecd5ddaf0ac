// Network and training faults of the peer processes: the backend keeps each
// peer's whole fault state and sends it as one control message, confirmed by
// the status answer that follows on the same connection. A peer that is not
// running gets it again when it runs (ProcessBackend::sample resends).
#include <cmath>
#include <cstdio>

#include "process_backend.h"

namespace starling::apps {
namespace {

constexpr std::uint64_t kControlTimeoutMs = 1'500;
constexpr int kControlAttempts = 4;

std::optional<wire::NodeId> node_id_from_hex(const std::string& hex) {
  if (hex.size() != 64) return std::nullopt;
  wire::NodeId out{};
  for (std::size_t i = 0; i < 32; ++i) {
    unsigned value = 0;
    if (std::sscanf(hex.c_str() + 2 * i, "%2x", &value) != 1) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(value);
  }
  return out;
}

wire::ByzantineMode to_wire(scenario::ByzantineMode mode) {
  switch (mode) {
    case scenario::ByzantineMode::none: return wire::ByzantineMode::none;
    case scenario::ByzantineMode::random_deltas: return wire::ByzantineMode::random_deltas;
    case scenario::ByzantineMode::scaled_deltas: return wire::ByzantineMode::scaled_deltas;
    case scenario::ByzantineMode::garbage_frames: return wire::ByzantineMode::garbage_frames;
    case scenario::ByzantineMode::membership_lies: return wire::ByzantineMode::membership_lies;
    case scenario::ByzantineMode::membership_flood: return wire::ByzantineMode::membership_flood;
    case scenario::ByzantineMode::drift_deltas: return wire::ByzantineMode::drift_deltas;
  }
  return wire::ByzantineMode::none;
}

}  // namespace

using scenario::Problem;
using scenario::Problems;

wire::FaultControl ProcessBackend::fault_control(const Slot& s) const {
  wire::FaultControl control;
  control.drop_probability = s.drop;
  control.duplicate_probability = s.duplicate;
  control.delay_ms = s.delay_ms;
  control.jitter_ms = s.jitter_ms;
  control.bandwidth_bytes_per_second = s.bandwidth;
  for (int p : s.blocked) {
    if (auto id = node_id_from_hex(slots_[static_cast<std::size_t>(p)].node_id)) control.partitioned_from.push_back(*id);
  }
  return control;
}

wire::TrainingControl ProcessBackend::training_control(const Slot& s) const {
  return wire::TrainingControl{s.slowdown, to_wire(s.byzantine), s.byzantine_scale};
}

// Sends each target its whole fault state. Peers not running get it when they run again.
Problems ProcessBackend::send_controls(const std::vector<int>& targets, bool training) {
  std::vector<runtime::ControlRequest> requests;
  std::vector<int> order;
  for (int p : targets) {
    Slot& s = slot(p);
    if (s.phase != scenario::PeerPhase::running) {
      s.resend_controls = true;
      continue;
    }
    auto parsed = runtime::parse_address(address(s));
    wire::Message control = training ? wire::Message{training_control(s)} : wire::Message{fault_control(s)};
    requests.push_back(runtime::ControlRequest{*parsed, {std::move(control)}});
    order.push_back(p);
  }
  // A lossy peer may lose its own answer (faults apply to all it sends); the
  // control is still applied, and sending the whole state again is harmless,
  // so unconfirmed ones are retried.
  Problems problems;
  for (int attempt = 1; !requests.empty(); ++attempt) {
    auto answers = client_->exchange(requests, kControlTimeoutMs);
    std::vector<runtime::ControlRequest> retry;
    std::vector<int> retry_order;
    for (std::size_t i = 0; i < answers.size(); ++i) {
      if (answers[i]) continue;
      if (attempt < kControlAttempts && answers[i].error().kind == ErrorKind::timeout) {
        retry.push_back(requests[i]);
        retry_order.push_back(order[i]);
        continue;
      }
      problems.push_back(Problem{order[i], "peer " + std::to_string(order[i]) + " did not confirm after " +
                                               std::to_string(attempt) + " attempts: " + answers[i].error().message});
    }
    requests = std::move(retry);
    order = std::move(retry_order);
  }
  return problems;
}

Problems ProcessBackend::partition(const std::vector<std::vector<int>>& groups, bool one_way) {
  std::vector<int> targets;
  for (const auto& group : groups) targets.insert(targets.end(), group.begin(), group.end());
  if (one_way) {
    for (int p : groups[0]) slot(p).blocked.insert(groups[1].begin(), groups[1].end());
  } else {
    for (std::size_t g = 0; g < groups.size(); ++g) {
      for (int p : groups[g]) {
        for (std::size_t h = 0; h < groups.size(); ++h) {
          if (h != g) slot(p).blocked.insert(groups[h].begin(), groups[h].end());
        }
      }
    }
  }
  return send_controls(targets, false);
}

Problems ProcessBackend::heal(const std::vector<int>& peers) {
  for (int p : peers) slot(p).blocked.clear();
  return send_controls(peers, false);
}

Problems ProcessBackend::set_loss(const std::vector<int>& peers, double fraction) {
  for (int p : peers) slot(p).drop = fraction;
  return send_controls(peers, false);
}

Problems ProcessBackend::set_duplicate(const std::vector<int>& peers, double fraction) {
  for (int p : peers) slot(p).duplicate = fraction;
  return send_controls(peers, false);
}

Problems ProcessBackend::set_delay(const std::vector<int>& peers, double delay_ms, double jitter_ms) {
  for (int p : peers) {
    slot(p).delay_ms = static_cast<std::uint32_t>(std::lround(delay_ms));
    slot(p).jitter_ms = static_cast<std::uint32_t>(std::lround(jitter_ms));
  }
  return send_controls(peers, false);
}

Problems ProcessBackend::set_bandwidth(const std::vector<int>& peers, std::uint64_t bytes_per_second) {
  for (int p : peers) slot(p).bandwidth = bytes_per_second;
  return send_controls(peers, false);
}

Problems ProcessBackend::clear_faults(const std::vector<int>& peers) {
  for (int p : peers) {
    Slot& s = slot(p);
    s.drop = s.duplicate = 0.0;
    s.delay_ms = s.jitter_ms = 0;
    s.bandwidth = 0;
    s.blocked.clear();
  }
  return send_controls(peers, false);
}

Problems ProcessBackend::set_straggler(const std::vector<int>& peers, double factor) {
  for (int p : peers) slot(p).slowdown = factor;
  return send_controls(peers, true);
}

Problems ProcessBackend::set_byzantine(const std::vector<int>& peers, scenario::ByzantineMode mode, double scale) {
  for (int p : peers) {
    slot(p).byzantine = mode;
    slot(p).byzantine_scale = scale;
  }
  return send_controls(peers, true);
}

}  // namespace starling::apps
