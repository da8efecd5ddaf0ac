// Every message starling peers exchange, as plain C++ values. The schemas in
// src/wire/*.capnp define the bytes; this header is what the rest of the
// project sees, so Cap'n Proto never leaks past src/wire. codec.h turns a
// Message into bytes and back. docs/wire.md lists the messages and limits.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace starling::wire {

// Wire version written into every message envelope. Additive schema changes
// (new fields, new message kinds) keep it; a change in meaning bumps it.
inline constexpr std::uint16_t kWireVersion = 1;

using NodeId = std::array<std::uint8_t, 32>;      // hash of the identity public key
using Hash32 = std::array<std::uint8_t, 32>;
using PublicKey32 = std::array<std::uint8_t, 32>;
using Signature64 = std::array<std::uint8_t, 64>;

// ---- membership (gossip/) --------------------------------------------------

enum class MemberState : std::uint8_t { alive, suspect, dead, left };

struct MemberRecord {
  NodeId node_id{};
  std::string address;  // "host:port" the member listens on
  std::uint64_t incarnation = 0;
  MemberState state = MemberState::alive;
  bool operator==(const MemberRecord&) const = default;
};

struct Ping {
  std::uint64_t seq = 0;
  NodeId source{};
  std::string source_address;  // may be empty: answer to the datagram's source
  NodeId target{};
  std::vector<MemberRecord> updates;  // piggybacked dissemination
  bool operator==(const Ping&) const = default;
};

struct Ack {
  std::uint64_t seq = 0;
  NodeId source{};
  std::vector<MemberRecord> updates;
  bool operator==(const Ack&) const = default;
};

// "Probe target for me" (SWIM ping-req).
struct IndirectPing {
  std::uint64_t seq = 0;
  NodeId source{};
  NodeId target{};
  std::string target_address;
  std::vector<MemberRecord> updates;
  bool operator==(const IndirectPing&) const = default;
};

// Sent by an indirect prober that got no answer from the target (Lifeguard).
struct Nack {
  std::uint64_t seq = 0;
  NodeId source{};
  NodeId target{};
  bool operator==(const Nack&) const = default;
};

struct Join {
  MemberRecord member;
  bool operator==(const Join&) const = default;
};

struct Leave {
  NodeId node_id{};
  std::uint64_t incarnation = 0;
  bool operator==(const Leave&) const = default;
};

// Full state exchange (push-pull), over TCP.
struct PushPull {
  bool join = false;
  std::vector<MemberRecord> members;
  bool operator==(const PushPull&) const = default;
};

// ---- handshake (src/crypto maps these to its own structs) -------------------

enum class HandshakeRole : std::uint8_t { unspecified, initiator, responder };

struct HandshakeHello {
  std::uint16_t protocol_version = 0;
  PublicKey32 ephemeral_public_key{};
  PublicKey32 identity_public_key{};
  Signature64 signature{};
  std::vector<std::uint8_t> nonce;  // optional, at most DecodeLimits::max_nonce_bytes
  HandshakeRole role = HandshakeRole::unspecified;
  bool operator==(const HandshakeHello&) const = default;
};

// ---- training links and model download (src/node) --------------------------

enum class Precision : std::uint8_t { f32, bf16, f16 };
enum class CompressorKind : std::uint8_t { none, topk, randk, int8, sign };
enum class ResetReason : std::uint8_t {
  unspecified, sequence_gap, digest_mismatch, reconnect, model_mismatch, shutdown
};

struct LinkHello {
  std::uint64_t link_epoch = 0;
  std::uint64_t parameter_count = 0;
  Hash32 model_hash{};  // hash of the model description: both ends must agree
  Precision snapshot_precision = Precision::bf16;
  bool operator==(const LinkHello&) const = default;
};

// A slice [offset, offset + size) of a link snapshot. `precision` says which
// payload vector is used: values_f32 for f32, values_half (raw bit patterns)
// for bf16/f16; the other one must be empty.
struct SnapshotChunk {
  std::uint64_t epoch = 0;
  std::uint64_t offset = 0;
  std::uint64_t total = 0;
  Precision precision = Precision::f32;
  std::vector<float> values_f32;
  std::vector<std::uint16_t> values_half;
  bool operator==(const SnapshotChunk&) const = default;
};

// A compressed correction q = C(x - x̂). Which vectors are filled depends on
// the compressor (src/compress): indices+values for top-k, values+seed for
// random-k, codes+scales for int8/sign, values alone for none.
struct Delta {
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
  CompressorKind compressor = CompressorKind::none;
  std::uint64_t dimension = 0;
  std::uint64_t seed = 0;
  std::vector<std::uint32_t> indices;
  std::vector<float> values;
  std::vector<std::uint8_t> codes;
  std::vector<float> scales;
  bool operator==(const Delta&) const = default;
};

struct Digest {
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
  Hash32 hash{};
  bool operator==(const Digest&) const = default;
};

struct Reset {
  std::uint64_t epoch = 0;
  ResetReason reason = ResetReason::unspecified;
  std::string detail;  // human-readable, at most DecodeLimits::max_text_bytes
  bool operator==(const Reset&) const = default;
};

struct ModelRequest {
  std::uint64_t snapshot_id = 0;  // 0: the latest; else resume that snapshot
  std::uint64_t offset = 0;       // byte offset to resume from
  std::uint32_t max_bytes = 0;    // largest chunk accepted; 0: sender's choice
  bool operator==(const ModelRequest&) const = default;
};

struct ModelChunk {
  std::uint64_t snapshot_id = 0;
  std::uint64_t offset = 0;
  std::uint64_t total = 0;
  std::vector<std::uint8_t> data;
  bool operator==(const ModelChunk&) const = default;
};

// ---- status and fault control ----------------------------------------------

struct StatusQuery {
  std::uint64_t request_id = 0;
  bool operator==(const StatusQuery&) const = default;
};

struct StatusAnswer {
  std::uint64_t request_id = 0;
  std::string json;  // one JSON object, at most DecodeLimits::max_json_bytes
  bool operator==(const StatusAnswer&) const = default;
};

enum class FaultDirection : std::uint8_t { both, inbound, outbound };

// Replaces the receiving peer's fault settings (scenario runner). Probabilities
// are in [0, 1]; zero everywhere means no fault.
struct FaultControl {
  std::optional<NodeId> peer;  // nullopt: applies to every peer
  FaultDirection direction = FaultDirection::both;
  double drop_probability = 0.0;
  std::uint32_t delay_ms = 0;
  std::uint32_t jitter_ms = 0;
  double duplicate_probability = 0.0;
  double reorder_probability = 0.0;
  std::uint64_t bandwidth_bytes_per_second = 0;  // 0: unlimited
  std::vector<NodeId> partitioned_from;          // peers this peer must not reach
  bool operator==(const FaultControl&) const = default;
};

// The order of alternatives is not the wire format (the schema's union
// ordinals are), so it may change; match with std::get_if / std::visit.
using Message = std::variant<Ping, Ack, IndirectPing, Nack, Join, Leave, PushPull, HandshakeHello,
                             LinkHello, SnapshotChunk, Delta, Digest, Reset, ModelRequest, ModelChunk,
                             StatusQuery, StatusAnswer, FaultControl>;

// Short stable name of the message kind ("ping", "delta", ...) for logs and metrics.
const char* message_name(const Message& message);

}  // namespace starling::wire
