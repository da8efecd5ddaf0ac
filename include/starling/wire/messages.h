// Every message starling peers exchange, as plain C++ values. The schemas in
// src/wire/*.capnp define the bytes; this header is what the rest of the
// project sees, so Cap'n Proto never leaks past src/wire. codec.h turns a
// Message into bytes and back. docs/wire.md lists the messages and limits.
#pragma once

#include <array>
#include <cstddef>
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

// ---- membership (gossip/; src/runtime/gossip_codec maps gossip's structs) ---
//
// Every membership message starts with the same three fields: source (the
// sender's node id), source_address (where it listens, "host:port"; may be
// empty) and the piggybacked updates it disseminates.

enum class MemberState : std::uint8_t { alive, suspect, dead, left };

struct MemberRecord {
  NodeId node_id{};
  std::string address;  // "host:port" the member listens on
  std::uint64_t incarnation = 0;
  MemberState state = MemberState::alive;
  PublicKey32 public_key{};  // the member's identity key
  Signature64 signature{};   // the member's signature of its record statement
  bool outbound_only = false;  // reached only over its own connections (signed)
  bool membership_only = false;  // no model, no training links (`peer --no-train`; signed)
  bool operator==(const MemberRecord&) const = default;
};

// A piggybacked update: a record plus who asserted it. accusation: the
// source's signature for suspect/dead updates (sent only when present).
struct Update {
  MemberRecord member;
  NodeId source{};
  std::optional<Signature64> accusation;
  bool operator==(const Update&) const = default;
};

struct Ping {
  NodeId source{};
  std::string source_address;
  std::vector<Update> updates;
  std::uint64_t seq = 0;
  NodeId target{};  // who the sender believes listens at the address
  bool operator==(const Ping&) const = default;
};

struct Ack {
  NodeId source{};
  std::string source_address;
  std::vector<Update> updates;
  std::uint64_t seq = 0;
  bool operator==(const Ack&) const = default;
};

// "Probe target for me" (SWIM ping-req); always answered with Ack or Nack.
struct IndirectPing {
  NodeId source{};
  std::string source_address;
  std::vector<Update> updates;
  std::uint64_t seq = 0;
  NodeId target{};
  std::string target_address;
  bool operator==(const IndirectPing&) const = default;
};

// Sent by an indirect prober that got no answer from the target (Lifeguard).
struct Nack {
  NodeId source{};
  std::string source_address;
  std::vector<Update> updates;
  std::uint64_t seq = 0;
  bool operator==(const Nack&) const = default;
};

// Only piggybacked updates, no request of its own.
struct Gossip {
  NodeId source{};
  std::string source_address;
  std::vector<Update> updates;
  bool operator==(const Gossip&) const = default;
};

// A new (or restarted) peer asks a seed to let it in (stream).
struct Join {
  NodeId source{};
  std::string source_address;
  std::vector<Update> updates;
  MemberRecord member;  // the joiner's own record
  bool operator==(const Join&) const = default;
};

struct Leave {
  NodeId source{};
  std::string source_address;
  std::vector<Update> updates;
  std::uint64_t incarnation = 0;
  bool operator==(const Leave&) const = default;
};

// Full state exchange (push-pull), over a stream. `reply`: the answer to a
// request; `join_reply`: the answer to a Join.
struct PushPull {
  NodeId source{};
  std::string source_address;
  std::vector<Update> updates;
  bool reply = false;
  bool join_reply = false;
  std::vector<MemberRecord> members;
  bool operator==(const PushPull&) const = default;
};

// ---- handshake and sealed datagrams (src/crypto fills and checks them) ------
//
// Fixed sizes match src/crypto's structs; src/runtime asserts that at compile
// time where it maps one to the other.

inline constexpr std::size_t kSealedIdentityBytes = 32 + 16;             // identity key + tag
inline constexpr std::size_t kSealedIdentityProofBytes = 32 + 64 + 16;   // identity key + signature + tag
inline constexpr std::size_t kSealedSignatureBytes = 64 + 16;            // signature + tag
inline constexpr std::size_t kDatagramNonceBytes = 24;

struct HandshakeHello {
  std::uint32_t version = 0;  // handshake protocol version
  PublicKey32 ephemeral_public_key{};
  std::array<std::uint8_t, kSealedIdentityBytes> sealed_identity{};
  std::uint32_t frame_aeads = 0;  // bit mask of frame AEADs offered (src/crypto checks it)
  bool operator==(const HandshakeHello&) const = default;
};

struct HandshakeReply {
  std::uint32_t version = 0;
  PublicKey32 ephemeral_public_key{};
  std::array<std::uint8_t, kSealedIdentityProofBytes> sealed_identity_proof{};
  std::uint32_t frame_aeads = 0;  // bit mask of frame AEADs offered (src/crypto checks it)
  bool operator==(const HandshakeReply&) const = default;
};

struct HandshakeFinish {
  std::array<std::uint8_t, kSealedSignatureBytes> sealed_signature{};
  bool operator==(const HandshakeFinish&) const = default;
};

// One UDP datagram: an encoded Message sealed by src/crypto.
struct SealedDatagram {
  std::array<std::uint8_t, kDatagramNonceBytes> nonce{};
  NodeId sender{};
  std::uint64_t timestamp_ms = 0;
  std::uint64_t counter = 0;
  std::vector<std::uint8_t> ciphertext;  // at most Limits::max_ciphertext_bytes
  std::array<std::uint8_t, 32> sender_key{};  // Ed25519 public key; `sender` is its hash
  std::array<std::uint8_t, 64> signature{};   // by sender_key over the fields above (src/crypto/datagram)
  bool operator==(const SealedDatagram&) const = default;
};

// ---- training links and model download (src/node) --------------------------

enum class Precision : std::uint8_t { f32, bf16, f16 };
enum class CompressorKind : std::uint8_t { none, topk, randk, int8, sign, sign2 };
enum class ResetReason : std::uint8_t {
  unspecified, sequence_gap, digest_mismatch, reconnect, model_mismatch, shutdown
};

struct LinkHello {
  std::uint64_t link_epoch = 0;
  std::uint64_t parameter_count = 0;
  Hash32 model_hash{};  // hash of the model description: both ends must agree
  Precision snapshot_precision = Precision::bf16;
  bool pair_declines = false;  // the sender understands PairDecline
  // The model for people, e.g. "mlp:16 over 784 inputs and 10 classes", so a
  // refusal can name both shapes; at most Limits::max_shape_bytes (empty: not said).
  std::string model_shape;
  bool based_snapshots = false;  // the sender understands SnapshotChunk::base
  // The sender is still downloading the swarm's model. A trained dialler
  // then leaves the first epoch to it (it opens once it trains): a snapshot
  // sent to a joiner waits unanswered behind its download.
  bool joining = false;
  // The sender mixes by rounds (neighbourhood, on-delta), not pairwise: it
  // sends a delta on the link every round, and never asks to pair. A pairwise
  // end must not take such a delta for the reply to its request (false from
  // peers before session 36, pairwise or not).
  bool round_deltas = false;
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
  // Nonzero: a based snapshot. It carries no values: the sender's copy for
  // this epoch starts at the model served under this snapshot id
  // (ModelChunk::snapshot_id), which both ends hold in f32.
  std::uint64_t base = 0;
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
  // The sender's ready links when it sent this (0: not said): both ends of a
  // link weigh it 1/(1 + max(degrees)) (Metropolis-Hastings, docs/learning.md).
  std::uint16_t degree = 0;
  // Pairwise mixing: the sender pulled towards the receiver this round; the
  // receiver applies the mirrored pull from its copies before this delta.
  bool pair = false;
  bool operator==(const Delta&) const = default;
};

// Pairwise mixing: a pair request (a Delta with `pair`) the receiver does not
// answer now, for its upload budget or the link's queue. Neither end pulls
// for it; the request's delta has moved the copies as any delta does.
struct PairDecline {
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;             // the declined request's sequence number
  std::uint32_t retry_after_ms = 0;  // a hint: pair on this link no sooner
  bool operator==(const PairDecline&) const = default;
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
  std::string detail;  // human-readable, at most Limits::max_text_bytes
  bool operator==(const Reset&) const = default;
};

struct ModelRequest {
  std::uint64_t snapshot_id = 0;  // 0: the latest; else resume that snapshot
  std::uint64_t offset = 0;       // byte offset to resume from
  std::uint32_t max_bytes = 0;    // largest chunk accepted; 0: sender's choice
  Precision precision = Precision::f32;  // bf16: a bf16 model will do (half the bytes); never f16
  // Echoed in the answer: a joiner that asked one server twice (the first
  // answer was late) tells the answer to its latest request from the others.
  std::uint64_t request_id = 0;
  bool operator==(const ModelRequest&) const = default;
};

struct ModelChunk {
  std::uint64_t snapshot_id = 0;
  std::uint64_t offset = 0;
  std::uint64_t total = 0;
  std::vector<std::uint8_t> data;
  Precision precision = Precision::f32;  // data holds little-endian f32 values, or bf16 bit patterns; never f16
  // With total 0: the sender has a model but serves other joiners now (ask
  // again soon); without it, it has none to serve (it is joining too).
  bool busy = false;
  std::uint64_t request_id = 0;  // the ModelRequest's it answers
  bool operator==(const ModelChunk&) const = default;
};

// ---- status and fault control ----------------------------------------------

struct StatusQuery {
  std::uint64_t request_id = 0;
  bool operator==(const StatusQuery&) const = default;
};

struct StatusAnswer {
  std::uint64_t request_id = 0;
  std::string json;  // one JSON object, at most Limits::max_json_bytes
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

// The first three act on training links; the membership ones on the
// membership messages it sends (runtime/hostile_membership.h), while it keeps
// training normally.
enum class ByzantineMode : std::uint8_t {
  none,
  random_deltas,
  scaled_deltas,
  garbage_frames,
  membership_lies,
  membership_flood,
  drift_deltas,
};

// Replaces the receiving peer's training behaviour (scenario runner): a
// straggler factor and what, if anything, it does wrong on purpose.
struct TrainingControl {
  double slowdown = 1.0;  // 1: normal; F > 1: each training step takes F times as long
  ByzantineMode byzantine = ByzantineMode::none;
  double byzantine_scale = 1.0;  // scaled_deltas: factor on its corrections; random_deltas, drift_deltas: their size
  bool operator==(const TrainingControl&) const = default;
};

// The order of alternatives is not the wire format (the schema's union
// ordinals are), so it may change; match with std::get_if / std::visit.
using Message = std::variant<Ping, Ack, IndirectPing, Nack, Gossip, Join, Leave, PushPull, HandshakeHello,
                             HandshakeReply, HandshakeFinish, SealedDatagram, LinkHello, SnapshotChunk, Delta,
                             Digest, Reset, ModelRequest, ModelChunk, StatusQuery, StatusAnswer, FaultControl,
                             TrainingControl, PairDecline>;

// Short stable name of the message kind ("ping", "delta", ...) for logs and metrics.
const char* message_name(const Message& message);

}  // namespace starling::wire
