// Plain structs -> Cap'n Proto stream bytes.
#include <string>

#include <capnp/serialize.h>

#include "capnp_support.h"
#include "message.capnp.h"
#include "starling/wire/codec.h"
#include "validate.h"

namespace starling::wire {
namespace {

namespace s = schema;
using detail::fill_list;

template <std::size_t N>
kj::ArrayPtr<const kj::byte> bytes_of(const std::array<std::uint8_t, N>& array) {
  return kj::arrayPtr(array.data(), array.size());
}
kj::ArrayPtr<const kj::byte> bytes_of(const std::vector<std::uint8_t>& bytes) {
  return kj::arrayPtr(bytes.data(), bytes.size());
}
capnp::Text::Reader text_of(const std::string& text) { return capnp::Text::Reader(text.data(), text.size()); }

// ---- enums (plain -> schema); a value outside the plain enum is a bug -------

s::MemberState to_schema(MemberState state) {
  switch (state) {
    case MemberState::alive: return s::MemberState::ALIVE;
    case MemberState::suspect: return s::MemberState::SUSPECT;
    case MemberState::dead: return s::MemberState::DEAD;
    case MemberState::left: return s::MemberState::LEFT;
  }
  STARLING_ASSERT_MSG(false, "unknown MemberState");
}
s::Precision to_schema(Precision precision) {
  switch (precision) {
    case Precision::f32: return s::Precision::F32;
    case Precision::bf16: return s::Precision::BF16;
    case Precision::f16: return s::Precision::F16;
  }
  STARLING_ASSERT_MSG(false, "unknown Precision");
}
s::CompressorKind to_schema(CompressorKind kind) {
  switch (kind) {
    case CompressorKind::none: return s::CompressorKind::NONE;
    case CompressorKind::topk: return s::CompressorKind::TOPK;
    case CompressorKind::randk: return s::CompressorKind::RANDK;
    case CompressorKind::int8: return s::CompressorKind::INT8;
    case CompressorKind::sign: return s::CompressorKind::SIGN;
    case CompressorKind::sign2: return s::CompressorKind::SIGN2;
  }
  STARLING_ASSERT_MSG(false, "unknown CompressorKind");
}
s::ResetReason to_schema(ResetReason reason) {
  switch (reason) {
    case ResetReason::unspecified: return s::ResetReason::UNSPECIFIED;
    case ResetReason::sequence_gap: return s::ResetReason::SEQUENCE_GAP;
    case ResetReason::digest_mismatch: return s::ResetReason::DIGEST_MISMATCH;
    case ResetReason::reconnect: return s::ResetReason::RECONNECT;
    case ResetReason::model_mismatch: return s::ResetReason::MODEL_MISMATCH;
    case ResetReason::shutdown: return s::ResetReason::SHUTDOWN;
  }
  STARLING_ASSERT_MSG(false, "unknown ResetReason");
}
s::FaultDirection to_schema(FaultDirection direction) {
  switch (direction) {
    case FaultDirection::both: return s::FaultDirection::BOTH;
    case FaultDirection::inbound: return s::FaultDirection::INBOUND;
    case FaultDirection::outbound: return s::FaultDirection::OUTBOUND;
  }
  STARLING_ASSERT_MSG(false, "unknown FaultDirection");
}
s::ByzantineMode to_schema(ByzantineMode mode) {
  switch (mode) {
    case ByzantineMode::none: return s::ByzantineMode::NONE;
    case ByzantineMode::random_deltas: return s::ByzantineMode::RANDOM_DELTAS;
    case ByzantineMode::scaled_deltas: return s::ByzantineMode::SCALED_DELTAS;
    case ByzantineMode::garbage_frames: return s::ByzantineMode::GARBAGE_FRAMES;
    case ByzantineMode::membership_lies: return s::ByzantineMode::MEMBERSHIP_LIES;
    case ByzantineMode::membership_flood: return s::ByzantineMode::MEMBERSHIP_FLOOD;
    case ByzantineMode::drift_deltas: return s::ByzantineMode::DRIFT_DELTAS;
  }
  STARLING_ASSERT_MSG(false, "unknown ByzantineMode");
}

void fill_member(s::MemberRecord::Builder out, const MemberRecord& in) {
  out.setNodeId(bytes_of(in.node_id));
  out.setAddress(text_of(in.address));
  out.setIncarnation(in.incarnation);
  out.setState(to_schema(in.state));
  out.setPublicKey(bytes_of(in.public_key));
  out.setSignature(bytes_of(in.signature));
  out.setOutboundOnly(in.outbound_only);
  out.setMembershipOnly(in.membership_only);
}

void fill_members(capnp::List<s::MemberRecord>::Builder out, const std::vector<MemberRecord>& in) {
  for (unsigned i = 0; i < in.size(); ++i) fill_member(out[i], in[i]);
}

// The three fields every membership message starts with.
template <typename Builder, typename Plain>
void fill_membership_header(Builder out, const Plain& in) {
  out.setSource(bytes_of(in.source));
  out.setSourceAddress(text_of(in.source_address));
  auto updates = out.initUpdates(static_cast<unsigned>(in.updates.size()));
  for (unsigned i = 0; i < in.updates.size(); ++i) {
    fill_member(updates[i].initMember(), in.updates[i].member);
    updates[i].setSource(bytes_of(in.updates[i].source));
    if (in.updates[i].accusation) updates[i].setAccusation(bytes_of(*in.updates[i].accusation));
  }
}

// Fills the envelope's union with one message.
struct BodyWriter {
  s::Message::Body::Builder body;

  void operator()(const Ping& m) {
    auto out = body.initPing();
    fill_membership_header(out, m);
    out.setSeq(m.seq);
    out.setTarget(bytes_of(m.target));
  }
  void operator()(const Ack& m) {
    auto out = body.initAck();
    fill_membership_header(out, m);
    out.setSeq(m.seq);
  }
  void operator()(const IndirectPing& m) {
    auto out = body.initIndirectPing();
    fill_membership_header(out, m);
    out.setSeq(m.seq);
    out.setTarget(bytes_of(m.target));
    out.setTargetAddress(text_of(m.target_address));
  }
  void operator()(const Nack& m) {
    auto out = body.initNack();
    fill_membership_header(out, m);
    out.setSeq(m.seq);
  }
  void operator()(const Gossip& m) { fill_membership_header(body.initGossip(), m); }
  void operator()(const Join& m) {
    auto out = body.initJoin();
    fill_membership_header(out, m);
    fill_member(out.initMember(), m.member);
  }
  void operator()(const Leave& m) {
    auto out = body.initLeave();
    fill_membership_header(out, m);
    out.setIncarnation(m.incarnation);
  }
  void operator()(const PushPull& m) {
    auto out = body.initPushPull();
    fill_membership_header(out, m);
    out.setReply(m.reply);
    out.setJoinReply(m.join_reply);
    fill_members(out.initMembers(static_cast<unsigned>(m.members.size())), m.members);
  }
  void operator()(const HandshakeHello& m) {
    auto out = body.initHandshakeHello();
    out.setVersion(m.version);
    out.setEphemeralPublicKey(bytes_of(m.ephemeral_public_key));
    out.setSealedIdentity(bytes_of(m.sealed_identity));
    out.setFrameAeads(m.frame_aeads);
  }
  void operator()(const HandshakeReply& m) {
    auto out = body.initHandshakeReply();
    out.setVersion(m.version);
    out.setEphemeralPublicKey(bytes_of(m.ephemeral_public_key));
    out.setSealedIdentityProof(bytes_of(m.sealed_identity_proof));
    out.setFrameAeads(m.frame_aeads);
  }
  void operator()(const HandshakeFinish& m) {
    body.initHandshakeFinish().setSealedSignature(bytes_of(m.sealed_signature));
  }
  void operator()(const SealedDatagram& m) {
    auto out = body.initSealedDatagram();
    out.setNonce(bytes_of(m.nonce));
    out.setSender(bytes_of(m.sender));
    out.setTimestampMs(m.timestamp_ms);
    out.setCounter(m.counter);
    out.setCiphertext(bytes_of(m.ciphertext));
    out.setSenderKey(bytes_of(m.sender_key));
    out.setSignature(bytes_of(m.signature));
  }
  void operator()(const LinkHello& m) {
    auto out = body.initLinkHello();
    out.setLinkEpoch(m.link_epoch);
    out.setParameterCount(m.parameter_count);
    out.setModelHash(bytes_of(m.model_hash));
    out.setSnapshotPrecision(to_schema(m.snapshot_precision));
    out.setPairDeclines(m.pair_declines);
    out.setBasedSnapshots(m.based_snapshots);
    out.setJoining(m.joining);
    out.setRoundDeltas(m.round_deltas);
    out.setModelShape(text_of(m.model_shape));
  }
  void operator()(const SnapshotChunk& m) {
    auto out = body.initSnapshotChunk();
    out.setEpoch(m.epoch);
    out.setOffset(m.offset);
    out.setTotal(m.total);
    out.setBase(m.base);
    auto values = out.getValues();
    auto half_count = static_cast<unsigned>(m.values_half.size());
    switch (m.precision) {
      case Precision::f32:
        fill_list<float>(values.initF32(static_cast<unsigned>(m.values_f32.size())), m.values_f32);
        break;
      case Precision::bf16: fill_list<std::uint16_t>(values.initBf16(half_count), m.values_half); break;
      case Precision::f16: fill_list<std::uint16_t>(values.initF16(half_count), m.values_half); break;
    }
  }
  void operator()(const Delta& m) {
    auto out = body.initDelta();
    out.setEpoch(m.epoch);
    out.setSeq(m.seq);
    out.setCompressor(to_schema(m.compressor));
    out.setDimension(m.dimension);
    out.setSeed(m.seed);
    if (!m.indices.empty()) {
      fill_list<std::uint32_t>(out.initIndices(static_cast<unsigned>(m.indices.size())), m.indices);
    }
    if (!m.values.empty()) fill_list<float>(out.initValues(static_cast<unsigned>(m.values.size())), m.values);
    if (!m.codes.empty()) out.setCodes(bytes_of(m.codes));
    if (!m.scales.empty()) fill_list<float>(out.initScales(static_cast<unsigned>(m.scales.size())), m.scales);
    out.setDegree(m.degree);
    out.setPair(m.pair);
  }
  void operator()(const Digest& m) {
    auto out = body.initDigest();
    out.setEpoch(m.epoch);
    out.setSeq(m.seq);
    out.setHash(bytes_of(m.hash));
  }
  void operator()(const PairDecline& m) {
    auto out = body.initPairDecline();
    out.setEpoch(m.epoch);
    out.setSeq(m.seq);
    out.setRetryAfterMs(m.retry_after_ms);
  }
  void operator()(const Reset& m) {
    auto out = body.initReset();
    out.setEpoch(m.epoch);
    out.setReason(to_schema(m.reason));
    out.setDetail(text_of(m.detail));
  }
  void operator()(const ModelRequest& m) {
    auto out = body.initModelRequest();
    out.setSnapshotId(m.snapshot_id);
    out.setOffset(m.offset);
    out.setMaxBytes(m.max_bytes);
    out.setPrecision(to_schema(m.precision));
    out.setRequestId(m.request_id);
  }
  void operator()(const ModelChunk& m) {
    auto out = body.initModelChunk();
    out.setSnapshotId(m.snapshot_id);
    out.setOffset(m.offset);
    out.setTotal(m.total);
    out.setData(bytes_of(m.data));
    out.setPrecision(to_schema(m.precision));
    out.setBusy(m.busy);
    out.setRequestId(m.request_id);
  }
  void operator()(const StatusQuery& m) { body.initStatusQuery().setRequestId(m.request_id); }
  void operator()(const StatusAnswer& m) {
    auto out = body.initStatusAnswer();
    out.setRequestId(m.request_id);
    out.setJson(text_of(m.json));
  }
  void operator()(const FaultControl& m) {
    auto out = body.initFaultControl();
    if (m.peer) out.setPeer(bytes_of(*m.peer));
    out.setDirection(to_schema(m.direction));
    out.setDropProbability(m.drop_probability);
    out.setDelayMs(m.delay_ms);
    out.setJitterMs(m.jitter_ms);
    out.setDuplicateProbability(m.duplicate_probability);
    out.setReorderProbability(m.reorder_probability);
    out.setBandwidthBytesPerSecond(m.bandwidth_bytes_per_second);
    auto peers = out.initPartitionedFrom(static_cast<unsigned>(m.partitioned_from.size()));
    for (unsigned i = 0; i < m.partitioned_from.size(); ++i) peers.set(i, bytes_of(m.partitioned_from[i]));
  }
  void operator()(const TrainingControl& m) {
    auto out = body.initTrainingControl();
    out.setSlowdown(m.slowdown);
    out.setByzantine(to_schema(m.byzantine));
    out.setByzantineScale(m.byzantine_scale);
  }
};

// An upper estimate of the encoded size, so the whole message lands in one
// in-place segment. An underestimate only costs one extra copy.
struct SizeEstimate {
  static std::size_t members(const std::vector<MemberRecord>& records) {
    std::size_t bytes = 0;
    for (const auto& r : records) bytes += 176 + r.address.size();
    return bytes;
  }
  // source, address and updates (each update: a member record plus a source).
  template <typename Plain>
  static std::size_t header(const Plain& m) {
    std::size_t bytes = 48 + m.source_address.size();
    for (const auto& u : m.updates) bytes += 320 + u.member.address.size();
    return bytes;
  }
  std::size_t operator()(const Ping& m) const { return header(m); }
  std::size_t operator()(const Ack& m) const { return header(m); }
  std::size_t operator()(const IndirectPing& m) const { return header(m) + m.target_address.size(); }
  std::size_t operator()(const Nack& m) const { return header(m); }
  std::size_t operator()(const Gossip& m) const { return header(m); }
  std::size_t operator()(const Join& m) const { return header(m) + m.member.address.size(); }
  std::size_t operator()(const Leave& m) const { return header(m); }
  std::size_t operator()(const PushPull& m) const { return header(m) + members(m.members); }
  std::size_t operator()(const HandshakeHello&) const { return 0; }
  std::size_t operator()(const HandshakeReply&) const { return kSealedIdentityProofBytes; }
  std::size_t operator()(const HandshakeFinish&) const { return 0; }
  std::size_t operator()(const SealedDatagram& m) const { return m.ciphertext.size(); }
  std::size_t operator()(const LinkHello& m) const { return m.model_shape.size(); }
  std::size_t operator()(const SnapshotChunk& m) const { return m.values_f32.size() * 4 + m.values_half.size() * 2; }
  std::size_t operator()(const Delta& m) const {
    return (m.indices.size() + m.values.size() + m.scales.size()) * 4 + m.codes.size();
  }
  std::size_t operator()(const Digest&) const { return 0; }
  std::size_t operator()(const PairDecline&) const { return 0; }
  std::size_t operator()(const Reset& m) const { return m.detail.size(); }
  std::size_t operator()(const ModelRequest&) const { return 0; }
  std::size_t operator()(const ModelChunk& m) const { return m.data.size(); }
  std::size_t operator()(const StatusQuery&) const { return 0; }
  std::size_t operator()(const StatusAnswer& m) const { return m.json.size(); }
  std::size_t operator()(const FaultControl& m) const { return m.partitioned_from.size() * 48; }
  std::size_t operator()(const TrainingControl&) const { return 0; }
};

constexpr std::size_t kFixedOverheadBytes = 512;  // envelope, pointers, padding of every list

}  // namespace

Status encode_into(const Message& message, std::vector<std::uint8_t>& out, const Limits& limits) {
  out.clear();
  if (auto violation = detail::validate(message, limits)) {
    return make_error(ErrorKind::invalid_argument, std::string("cannot encode ") + message_name(message) + ": " +
                                                       violation->what);
  }
  std::size_t estimate = std::visit(SizeEstimate{}, message) + kFixedOverheadBytes;
  if (estimate > limits.max_message_bytes + kFixedOverheadBytes) {
    return make_error(ErrorKind::overloaded, std::string(message_name(message)) + " message of about " +
                                                 std::to_string(estimate) + " bytes exceeds the limit of " +
                                                 std::to_string(limits.max_message_bytes));
  }
  try {
    detail::InPlaceMessageBuilder builder(out, estimate / sizeof(capnp::word) + 1);
    auto root = builder.initRoot<s::Message>();
    root.setVersion(kWireVersion);
    std::visit(BodyWriter{root.getBody()}, message);
    builder.serialize();
  } catch (const kj::Exception& exception) {
    // Only reachable with limits far above Cap'n Proto's own (2^29 list elements).
    out.clear();
    return detail::error_from_kj(exception, ErrorKind::invalid_argument);
  }
  if (out.size() > limits.max_message_bytes) {
    std::size_t size = out.size();
    out.clear();
    return make_error(ErrorKind::overloaded, std::string(message_name(message)) + " message of " +
                                                 std::to_string(size) + " bytes exceeds the limit of " +
                                                 std::to_string(limits.max_message_bytes));
  }
  return ok_status();
}

Result<std::vector<std::uint8_t>> encode(const Message& message, const Limits& limits) {
  std::vector<std::uint8_t> out;
  auto status = encode_into(message, out, limits);
  if (!status) return status.error();
  return out;
}

}  // namespace starling::wire
