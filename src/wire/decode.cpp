// Cap'n Proto stream bytes from an untrusted peer -> plain structs.
//
// Every check lives here or in validate.cpp; Cap'n Proto adds its own bounds
// checks and reports them as kj::Exception. Both kinds of failure are caught
// in decode() and returned as an Error: no exception leaves this file.
#include <algorithm>
#include <new>
#include <string>

#include <capnp/serialize.h>

#include "capnp_support.h"
#include "message.capnp.h"
#include "starling/wire/codec.h"
#include "validate.h"

namespace starling::wire {
namespace {

namespace s = schema;

// Unwinds out of the nested readers to decode(); never escapes it.
struct DecodeFailure {
  Error error;
};

[[noreturn]] void fail(ErrorKind kind, std::string message) { throw DecodeFailure{make_error(kind, std::move(message))}; }

[[noreturn]] void unknown_enum(const char* type, unsigned value) {
  fail(ErrorKind::unsupported, std::string("unknown ") + type + " value " + std::to_string(value));
}

MemberState from_schema(s::MemberState state) {
  switch (state) {
    case s::MemberState::ALIVE: return MemberState::alive;
    case s::MemberState::SUSPECT: return MemberState::suspect;
    case s::MemberState::DEAD: return MemberState::dead;
    case s::MemberState::LEFT: return MemberState::left;
  }
  unknown_enum("member state", static_cast<unsigned>(state));
}
Precision from_schema(s::Precision precision) {
  switch (precision) {
    case s::Precision::F32: return Precision::f32;
    case s::Precision::BF16: return Precision::bf16;
    case s::Precision::F16: return Precision::f16;
  }
  unknown_enum("precision", static_cast<unsigned>(precision));
}
CompressorKind from_schema(s::CompressorKind kind) {
  switch (kind) {
    case s::CompressorKind::NONE: return CompressorKind::none;
    case s::CompressorKind::TOPK: return CompressorKind::topk;
    case s::CompressorKind::RANDK: return CompressorKind::randk;
    case s::CompressorKind::INT8: return CompressorKind::int8;
    case s::CompressorKind::SIGN: return CompressorKind::sign;
    case s::CompressorKind::SIGN2: return CompressorKind::sign2;
  }
  unknown_enum("compressor kind", static_cast<unsigned>(kind));
}
ResetReason from_schema(s::ResetReason reason) {
  switch (reason) {
    case s::ResetReason::UNSPECIFIED: return ResetReason::unspecified;
    case s::ResetReason::SEQUENCE_GAP: return ResetReason::sequence_gap;
    case s::ResetReason::DIGEST_MISMATCH: return ResetReason::digest_mismatch;
    case s::ResetReason::RECONNECT: return ResetReason::reconnect;
    case s::ResetReason::MODEL_MISMATCH: return ResetReason::model_mismatch;
    case s::ResetReason::SHUTDOWN: return ResetReason::shutdown;
  }
  unknown_enum("reset reason", static_cast<unsigned>(reason));
}
FaultDirection from_schema(s::FaultDirection direction) {
  switch (direction) {
    case s::FaultDirection::BOTH: return FaultDirection::both;
    case s::FaultDirection::INBOUND: return FaultDirection::inbound;
    case s::FaultDirection::OUTBOUND: return FaultDirection::outbound;
  }
  unknown_enum("fault direction", static_cast<unsigned>(direction));
}
ByzantineMode from_schema(s::ByzantineMode mode) {
  switch (mode) {
    case s::ByzantineMode::NONE: return ByzantineMode::none;
    case s::ByzantineMode::RANDOM_DELTAS: return ByzantineMode::random_deltas;
    case s::ByzantineMode::SCALED_DELTAS: return ByzantineMode::scaled_deltas;
    case s::ByzantineMode::GARBAGE_FRAMES: return ByzantineMode::garbage_frames;
    case s::ByzantineMode::MEMBERSHIP_LIES: return ByzantineMode::membership_lies;
    case s::ByzantineMode::MEMBERSHIP_FLOOD: return ByzantineMode::membership_flood;
    case s::ByzantineMode::DRIFT_DELTAS: return ByzantineMode::drift_deltas;
  }
  unknown_enum("byzantine mode", static_cast<unsigned>(mode));
}

// Reads the body of the envelope. Each getX() of a pointer field is called
// once, so the traversal limit (about the message size) is never spent twice.
class BodyReader {
 public:
  explicit BodyReader(const Limits& limits) : limits_(limits) {}

  Message read(s::Message::Body::Reader body) const {
    switch (body.which()) {
      case s::Message::Body::PING: return read_ping(body.getPing());
      case s::Message::Body::ACK: return read_ack(body.getAck());
      case s::Message::Body::INDIRECT_PING: return read_indirect_ping(body.getIndirectPing());
      case s::Message::Body::NACK: return read_nack(body.getNack());
      case s::Message::Body::GOSSIP: return read_gossip(body.getGossip());
      case s::Message::Body::JOIN: return read_join(body.getJoin());
      case s::Message::Body::LEAVE: return read_leave(body.getLeave());
      case s::Message::Body::PUSH_PULL: return read_push_pull(body.getPushPull());
      case s::Message::Body::HANDSHAKE_HELLO: return read_handshake_hello(body.getHandshakeHello());
      case s::Message::Body::HANDSHAKE_REPLY: return read_handshake_reply(body.getHandshakeReply());
      case s::Message::Body::HANDSHAKE_FINISH:
        return HandshakeFinish{fixed<kSealedSignatureBytes>(body.getHandshakeFinish().getSealedSignature(),
                                                            "handshake sealed signature")};
      case s::Message::Body::SEALED_DATAGRAM: return read_sealed_datagram(body.getSealedDatagram());
      case s::Message::Body::LINK_HELLO: return read_link_hello(body.getLinkHello());
      case s::Message::Body::SNAPSHOT_CHUNK: return read_snapshot_chunk(body.getSnapshotChunk());
      case s::Message::Body::DELTA: return read_delta(body.getDelta());
      case s::Message::Body::DIGEST: return read_digest(body.getDigest());
      case s::Message::Body::PAIR_DECLINE: {
        auto in = body.getPairDecline();
        return PairDecline{in.getEpoch(), in.getSeq(), in.getRetryAfterMs()};
      }
      case s::Message::Body::RESET: return read_reset(body.getReset());
      case s::Message::Body::MODEL_REQUEST: return read_model_request(body.getModelRequest());
      case s::Message::Body::MODEL_CHUNK: return read_model_chunk(body.getModelChunk());
      case s::Message::Body::STATUS_QUERY: return StatusQuery{body.getStatusQuery().getRequestId()};
      case s::Message::Body::STATUS_ANSWER: return read_status_answer(body.getStatusAnswer());
      case s::Message::Body::FAULT_CONTROL: return read_fault_control(body.getFaultControl());
      case s::Message::Body::TRAINING_CONTROL: return read_training_control(body.getTrainingControl());
    }
    fail(ErrorKind::unsupported, "unknown message kind " + std::to_string(static_cast<unsigned>(body.which())));
  }

 private:
  template <std::size_t N>
  static std::array<std::uint8_t, N> fixed(capnp::Data::Reader data, const char* field) {
    if (data.size() != N) {
      fail(ErrorKind::corrupt,
           std::string(field) + " must be " + std::to_string(N) + " bytes, got " + std::to_string(data.size()));
    }
    std::array<std::uint8_t, N> out;
    std::copy(data.begin(), data.end(), out.begin());
    return out;
  }

  static std::string text(capnp::Text::Reader reader, std::size_t limit, const char* field) {
    if (reader.size() > limit) {
      fail(ErrorKind::corrupt, std::string(field) + " is " + std::to_string(reader.size()) + " bytes, limit " +
                                   std::to_string(limit));
    }
    return std::string(reader.cStr(), reader.size());
  }

  static void check_count(std::size_t count, std::size_t limit, const char* field) {
    if (auto violation = detail::check_count(count, limit, field)) fail(ErrorKind::overloaded, violation->what);
  }

  MemberRecord member(s::MemberRecord::Reader in) const {
    MemberRecord out;
    out.node_id = fixed<32>(in.getNodeId(), "member node id");
    out.address = text(in.getAddress(), limits_.max_address_bytes, "member address");
    out.incarnation = in.getIncarnation();
    out.state = from_schema(in.getState());
    out.public_key = fixed<32>(in.getPublicKey(), "member public key");
    out.signature = fixed<64>(in.getSignature(), "member signature");
    out.outbound_only = in.getOutboundOnly();
    out.membership_only = in.getMembershipOnly();
    return out;
  }

  static std::optional<Signature64> accusation(capnp::Data::Reader data) {
    if (data.size() == 0) return std::nullopt;
    return fixed<64>(data, "update accusation");
  }

  std::vector<MemberRecord> members(capnp::List<s::MemberRecord>::Reader list, const char* field) const {
    check_count(list.size(), limits_.max_members, field);
    std::vector<MemberRecord> out;
    out.reserve(list.size());
    for (auto record : list) out.push_back(member(record));
    return out;
  }

  // The three fields every membership message starts with. `kind` names the
  // message in errors.
  template <typename Plain, typename Reader>
  Plain membership(Reader in, const char* kind) const {
    Plain out;
    out.source = fixed<32>(in.getSource(), kind);
    out.source_address = text(in.getSourceAddress(), limits_.max_address_bytes, "source address");
    auto list = in.getUpdates();
    check_count(list.size(), limits_.max_members, "updates");
    out.updates.reserve(list.size());
    for (auto update : list) {
      out.updates.push_back(Update{member(update.getMember()), fixed<32>(update.getSource(), "update source"),
                                   accusation(update.getAccusation())});
    }
    return out;
  }

  Ping read_ping(s::Ping::Reader in) const {
    auto out = membership<Ping>(in, "ping source");
    out.seq = in.getSeq();
    out.target = fixed<32>(in.getTarget(), "ping target");
    return out;
  }
  Ack read_ack(s::Ack::Reader in) const {
    auto out = membership<Ack>(in, "ack source");
    out.seq = in.getSeq();
    return out;
  }
  IndirectPing read_indirect_ping(s::IndirectPing::Reader in) const {
    auto out = membership<IndirectPing>(in, "indirect ping source");
    out.seq = in.getSeq();
    out.target = fixed<32>(in.getTarget(), "indirect ping target");
    out.target_address = text(in.getTargetAddress(), limits_.max_address_bytes, "indirect ping target address");
    return out;
  }
  Nack read_nack(s::Nack::Reader in) const {
    auto out = membership<Nack>(in, "nack source");
    out.seq = in.getSeq();
    return out;
  }
  Gossip read_gossip(s::Gossip::Reader in) const { return membership<Gossip>(in, "gossip source"); }
  Join read_join(s::Join::Reader in) const {
    auto out = membership<Join>(in, "join source");
    out.member = member(in.getMember());
    return out;
  }
  Leave read_leave(s::Leave::Reader in) const {
    auto out = membership<Leave>(in, "leave source");
    out.incarnation = in.getIncarnation();
    return out;
  }
  PushPull read_push_pull(s::PushPull::Reader in) const {
    auto out = membership<PushPull>(in, "push-pull source");
    out.reply = in.getReply();
    out.join_reply = in.getJoinReply();
    out.members = members(in.getMembers(), "push-pull members");
    return out;
  }
  HandshakeHello read_handshake_hello(s::HandshakeHello::Reader in) const {
    HandshakeHello out;
    out.version = in.getVersion();
    out.ephemeral_public_key = fixed<32>(in.getEphemeralPublicKey(), "hello ephemeral public key");
    out.sealed_identity = fixed<kSealedIdentityBytes>(in.getSealedIdentity(), "hello sealed identity");
    out.frame_aeads = in.getFrameAeads();
    return out;
  }
  HandshakeReply read_handshake_reply(s::HandshakeReply::Reader in) const {
    HandshakeReply out;
    out.version = in.getVersion();
    out.ephemeral_public_key = fixed<32>(in.getEphemeralPublicKey(), "reply ephemeral public key");
    out.sealed_identity_proof = fixed<kSealedIdentityProofBytes>(in.getSealedIdentityProof(), "reply sealed identity proof");
    out.frame_aeads = in.getFrameAeads();
    return out;
  }
  SealedDatagram read_sealed_datagram(s::SealedDatagram::Reader in) const {
    SealedDatagram out;
    out.nonce = fixed<kDatagramNonceBytes>(in.getNonce(), "datagram nonce");
    out.sender = fixed<32>(in.getSender(), "datagram sender");
    out.timestamp_ms = in.getTimestampMs();
    out.counter = in.getCounter();
    auto ciphertext = in.getCiphertext();
    if (ciphertext.size() > limits_.max_ciphertext_bytes) {
      fail(ErrorKind::corrupt, "datagram ciphertext is " + std::to_string(ciphertext.size()) + " bytes, limit " +
                                   std::to_string(limits_.max_ciphertext_bytes));
    }
    out.ciphertext.assign(ciphertext.begin(), ciphertext.end());
    out.sender_key = fixed<32>(in.getSenderKey(), "datagram sender key");
    out.signature = fixed<64>(in.getSignature(), "datagram signature");
    return out;
  }
  LinkHello read_link_hello(s::LinkHello::Reader in) const {
    LinkHello out;
    out.link_epoch = in.getLinkEpoch();
    out.parameter_count = in.getParameterCount();
    out.model_hash = fixed<32>(in.getModelHash(), "model hash");
    out.snapshot_precision = from_schema(in.getSnapshotPrecision());
    out.pair_declines = in.getPairDeclines();
    out.based_snapshots = in.getBasedSnapshots();
    out.joining = in.getJoining();
    out.round_deltas = in.getRoundDeltas();
    out.model_shape = text(in.getModelShape(), limits_.max_shape_bytes, "model shape");
    return out;
  }
  SnapshotChunk read_snapshot_chunk(s::SnapshotChunk::Reader in) const {
    SnapshotChunk out;
    out.epoch = in.getEpoch();
    out.offset = in.getOffset();
    out.total = in.getTotal();
    out.base = in.getBase();
    auto values = in.getValues();
    switch (values.which()) {
      case s::SnapshotChunk::Values::F32:
        out.precision = Precision::f32;
        detail::copy_list<float>(values.getF32(), out.values_f32);
        return out;
      case s::SnapshotChunk::Values::BF16:
        out.precision = Precision::bf16;
        detail::copy_list<std::uint16_t>(values.getBf16(), out.values_half);
        return out;
      case s::SnapshotChunk::Values::F16:
        out.precision = Precision::f16;
        detail::copy_list<std::uint16_t>(values.getF16(), out.values_half);
        return out;
    }
    unknown_enum("snapshot payload kind", static_cast<unsigned>(values.which()));
  }
  Delta read_delta(s::Delta::Reader in) const {
    Delta out;
    out.epoch = in.getEpoch();
    out.seq = in.getSeq();
    out.compressor = from_schema(in.getCompressor());
    out.dimension = in.getDimension();
    out.seed = in.getSeed();
    detail::copy_list<std::uint32_t>(in.getIndices(), out.indices);
    detail::copy_list<float>(in.getValues(), out.values);
    auto codes = in.getCodes();
    out.codes.assign(codes.begin(), codes.end());
    detail::copy_list<float>(in.getScales(), out.scales);
    out.degree = in.getDegree();
    out.pair = in.getPair();
    return out;
  }
  Digest read_digest(s::Digest::Reader in) const {
    return Digest{in.getEpoch(), in.getSeq(), fixed<32>(in.getHash(), "digest hash")};
  }
  Reset read_reset(s::Reset::Reader in) const {
    Reset out;
    out.epoch = in.getEpoch();
    out.reason = from_schema(in.getReason());
    out.detail = text(in.getDetail(), limits_.max_text_bytes, "reset detail");
    return out;
  }
  ModelRequest read_model_request(s::ModelRequest::Reader in) const {
    return ModelRequest{in.getSnapshotId(), in.getOffset(), in.getMaxBytes(), from_schema(in.getPrecision()),
                        in.getRequestId()};
  }
  ModelChunk read_model_chunk(s::ModelChunk::Reader in) const {
    ModelChunk out;
    out.snapshot_id = in.getSnapshotId();
    out.offset = in.getOffset();
    out.total = in.getTotal();
    auto data = in.getData();
    out.data.assign(data.begin(), data.end());
    out.precision = from_schema(in.getPrecision());
    out.busy = in.getBusy();
    out.request_id = in.getRequestId();
    return out;
  }
  StatusAnswer read_status_answer(s::StatusAnswer::Reader in) const {
    StatusAnswer out;
    out.request_id = in.getRequestId();
    out.json = text(in.getJson(), limits_.max_json_bytes, "status answer json");
    return out;
  }
  FaultControl read_fault_control(s::FaultControl::Reader in) const {
    FaultControl out;
    auto peer = in.getPeer();
    if (peer.size() != 0) out.peer = fixed<32>(peer, "fault peer");
    out.direction = from_schema(in.getDirection());
    out.drop_probability = in.getDropProbability();
    out.delay_ms = in.getDelayMs();
    out.jitter_ms = in.getJitterMs();
    out.duplicate_probability = in.getDuplicateProbability();
    out.reorder_probability = in.getReorderProbability();
    out.bandwidth_bytes_per_second = in.getBandwidthBytesPerSecond();
    auto peers = in.getPartitionedFrom();
    check_count(peers.size(), limits_.max_partition_peers, "partitioned peers");
    out.partitioned_from.reserve(peers.size());
    for (auto id : peers) out.partitioned_from.push_back(fixed<32>(id, "partitioned peer"));
    return out;
  }
  static TrainingControl read_training_control(s::TrainingControl::Reader in) {
    TrainingControl out;
    out.slowdown = in.getSlowdown();
    out.byzantine = from_schema(in.getByzantine());
    out.byzantine_scale = in.getByzantineScale();
    return out;
  }

  const Limits& limits_;
};

Message decode_words(kj::ArrayPtr<const capnp::word> words, const Limits& limits) {
  // The segment table says how long the message is; it must fill the input exactly.
  std::size_t expected_words = capnp::expectedSizeInWordsFromPrefix(words);
  if (expected_words > words.size()) {
    // A frame arrives whole, so this is a cut message or one that never was
    // (random bytes read as a segment table claim any size).
    fail(ErrorKind::corrupt, "truncated message: " + std::to_string(words.size() * 8) + " bytes where its header says " +
                                 std::to_string(expected_words * 8) + " (a cut message, or not a starling message)");
  }
  if (expected_words < words.size()) {
    fail(ErrorKind::corrupt, std::to_string((words.size() - expected_words) * 8) + " bytes after the message");
  }
  capnp::ReaderOptions options;
  options.traversalLimitInWords = std::min<std::uint64_t>(limits.traversal_limit_words, 2 * words.size() + 1024);
  options.nestingLimit = limits.nesting_limit;
  capnp::FlatArrayMessageReader reader(words, options);
  auto root = reader.getRoot<s::Message>();
  auto version = root.getVersion();
  if (version == 0) fail(ErrorKind::corrupt, "message carries no wire version");
  if (version > kWireVersion) {
    fail(ErrorKind::unsupported, "wire version " + std::to_string(version) + " is newer than this build's " +
                                     std::to_string(kWireVersion));
  }
  Message message = BodyReader(limits).read(root.getBody());
  if (auto violation = detail::validate(message, limits)) {
    fail(violation->over_limit ? ErrorKind::overloaded : ErrorKind::corrupt,
         std::string(message_name(message)) + ": " + violation->what);
  }
  return message;
}

}  // namespace

Result<Message> decode(std::span<const std::uint8_t> bytes, const Limits& limits) {
  if (bytes.size() > limits.max_message_bytes) {
    return make_error(ErrorKind::overloaded, "message of " + std::to_string(bytes.size()) +
                                                 " bytes exceeds the limit of " +
                                                 std::to_string(limits.max_message_bytes));
  }
  if (bytes.size() < sizeof(capnp::word) || bytes.size() % sizeof(capnp::word) != 0) {
    return make_error(ErrorKind::corrupt,
                      "message of " + std::to_string(bytes.size()) + " bytes is not a whole number of words");
  }
  try {
    std::vector<std::uint64_t> scratch;
    return decode_words(detail::as_words(bytes, scratch), limits);
  } catch (const DecodeFailure& failure) {
    return failure.error;
  } catch (const kj::Exception& exception) {
    return detail::error_from_kj(exception);
  } catch (const std::bad_alloc&) {
    return make_error(ErrorKind::overloaded, "out of memory while decoding a message");
  }
}

}  // namespace starling::wire
