#include "validate.h"

#include <cmath>

#include "starling/text.h"

namespace starling::wire::detail {
namespace {

using Check = std::optional<Violation>;

Check bad_value(std::string what) { return Violation{false, std::move(what)}; }

Check check_size(std::size_t size, std::size_t limit, const char* field) {
  if (size <= limit) return std::nullopt;
  return bad_value(std::string(field) + " is " + std::to_string(size) + " bytes, limit " + std::to_string(limit));
}

// Human-readable text: bounded and valid UTF-8, so that a log line, a JSON
// document or a terminal that shows it never chokes on it.
Check check_text(const std::string& text, std::size_t limit, const char* field) {
  if (auto v = check_size(text.size(), limit, field)) return v;
  if (!is_valid_utf8(text)) return bad_value(std::string(field) + " is not valid UTF-8");
  return std::nullopt;
}

// An address a member advertises: bounded and HOST:PORT (text.h), or empty
// for "not given" (gossip/ ignores records without one). Peers dial it,
// print it and put it in status JSON; nothing else may pass.
Check check_address(const std::string& address, std::size_t limit, const char* field) {
  if (auto v = check_size(address.size(), limit, field)) return v;
  if (!address.empty() && !is_host_port(address)) return bad_value(std::string(field) + " is not HOST:PORT");
  return std::nullopt;
}

Check check_probability(double p, const char* field) {
  if (std::isfinite(p) && p >= 0.0 && p <= 1.0) return std::nullopt;
  return bad_value(std::string(field) + " must be a probability in [0, 1]");
}

Check check_members(const std::vector<MemberRecord>& members, const Limits& limits, const char* field) {
  if (auto v = check_count(members.size(), limits.max_members, field)) return v;
  for (const auto& member : members) {
    if (auto v = check_address(member.address, limits.max_address_bytes, "member address")) return v;
  }
  return std::nullopt;
}

// source address and updates, common to every membership message.
template <typename Plain>
Check check_membership(const Plain& m, const Limits& limits) {
  if (auto v = check_address(m.source_address, limits.max_address_bytes, "source address")) return v;
  if (auto v = check_count(m.updates.size(), limits.max_members, "updates")) return v;
  for (const auto& update : m.updates) {
    if (auto v = check_address(update.member.address, limits.max_address_bytes, "member address")) return v;
  }
  return std::nullopt;
}

struct Validator {
  const Limits& limits;

  Check operator()(const Ping& m) const { return check_membership(m, limits); }
  Check operator()(const Ack& m) const { return check_membership(m, limits); }
  Check operator()(const IndirectPing& m) const {
    if (auto v = check_address(m.target_address, limits.max_address_bytes, "indirect ping target address")) return v;
    return check_membership(m, limits);
  }
  Check operator()(const Nack& m) const { return check_membership(m, limits); }
  Check operator()(const Gossip& m) const { return check_membership(m, limits); }
  Check operator()(const Join& m) const {
    if (auto v = check_address(m.member.address, limits.max_address_bytes, "join address")) return v;
    return check_membership(m, limits);
  }
  Check operator()(const Leave& m) const { return check_membership(m, limits); }
  Check operator()(const PushPull& m) const {
    if (auto v = check_membership(m, limits)) return v;
    return check_members(m.members, limits, "push-pull members");
  }
  Check operator()(const HandshakeHello&) const { return std::nullopt; }
  Check operator()(const HandshakeReply&) const { return std::nullopt; }
  Check operator()(const HandshakeFinish&) const { return std::nullopt; }
  Check operator()(const SealedDatagram& m) const {
    return check_size(m.ciphertext.size(), limits.max_ciphertext_bytes, "datagram ciphertext");
  }
  Check operator()(const LinkHello& m) const {
    return check_text(m.model_shape, limits.max_shape_bytes, "model shape");
  }
  Check operator()(const SnapshotChunk& m) const {
    bool full = m.precision == Precision::f32;
    if ((full && !m.values_half.empty()) || (!full && !m.values_f32.empty())) {
      return bad_value("snapshot chunk payload does not match its precision");
    }
    if (m.base != 0 && (m.offset != 0 || !m.values_f32.empty() || !m.values_half.empty())) {
      return bad_value("a based snapshot chunk carries values or an offset");
    }
    return std::nullopt;
  }
  Check operator()(const Delta&) const { return std::nullopt; }
  Check operator()(const Digest&) const { return std::nullopt; }
  Check operator()(const PairDecline&) const { return std::nullopt; }
  Check operator()(const Reset& m) const { return check_text(m.detail, limits.max_text_bytes, "reset detail"); }
  Check operator()(const ModelRequest& m) const {
    if (m.precision == Precision::f16) return bad_value("a model download in f16");
    return std::nullopt;
  }
  Check operator()(const ModelChunk& m) const {
    if (m.precision == Precision::f16) return bad_value("a model download in f16");
    return std::nullopt;
  }
  Check operator()(const StatusQuery&) const { return std::nullopt; }
  Check operator()(const StatusAnswer& m) const {
    return check_text(m.json, limits.max_json_bytes, "status answer json");
  }
  Check operator()(const FaultControl& m) const {
    if (auto v = check_probability(m.drop_probability, "drop probability")) return v;
    if (auto v = check_probability(m.duplicate_probability, "duplicate probability")) return v;
    if (auto v = check_probability(m.reorder_probability, "reorder probability")) return v;
    return check_count(m.partitioned_from.size(), limits.max_partition_peers, "partitioned peers");
  }
  Check operator()(const TrainingControl& m) const {
    // A straggler is slowed, never sped up; 1000x is already a stopped peer.
    if (!(std::isfinite(m.slowdown) && m.slowdown >= 1.0 && m.slowdown <= 1000.0)) {
      return bad_value("training slowdown must be in [1, 1000]");
    }
    if (!(std::isfinite(m.byzantine_scale) && std::abs(m.byzantine_scale) <= 1e6)) {
      return bad_value("byzantine scale must be finite and at most 1e6 in magnitude");
    }
    return std::nullopt;
  }
};

}  // namespace

Check check_count(std::size_t count, std::size_t limit, const char* field) {
  if (count <= limit) return std::nullopt;
  return Violation{true, std::string(field) + ": " + std::to_string(count) + " entries, limit " + std::to_string(limit)};
}

Check validate(const Message& message, const Limits& limits) { return std::visit(Validator{limits}, message); }

}  // namespace starling::wire::detail
