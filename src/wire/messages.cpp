#include "starling/wire/messages.h"

namespace starling::wire {
namespace {

struct Name {
  const char* operator()(const Ping&) const { return "ping"; }
  const char* operator()(const Ack&) const { return "ack"; }
  const char* operator()(const IndirectPing&) const { return "indirect_ping"; }
  const char* operator()(const Nack&) const { return "nack"; }
  const char* operator()(const Gossip&) const { return "gossip"; }
  const char* operator()(const Join&) const { return "join"; }
  const char* operator()(const Leave&) const { return "leave"; }
  const char* operator()(const PushPull&) const { return "push_pull"; }
  const char* operator()(const HandshakeHello&) const { return "handshake_hello"; }
  const char* operator()(const HandshakeReply&) const { return "handshake_reply"; }
  const char* operator()(const HandshakeFinish&) const { return "handshake_finish"; }
  const char* operator()(const SealedDatagram&) const { return "sealed_datagram"; }
  const char* operator()(const LinkHello&) const { return "link_hello"; }
  const char* operator()(const SnapshotChunk&) const { return "snapshot_chunk"; }
  const char* operator()(const Delta&) const { return "delta"; }
  const char* operator()(const Digest&) const { return "digest"; }
  const char* operator()(const PairDecline&) const { return "pair_decline"; }
  const char* operator()(const Reset&) const { return "reset"; }
  const char* operator()(const ModelRequest&) const { return "model_request"; }
  const char* operator()(const ModelChunk&) const { return "model_chunk"; }
  const char* operator()(const StatusQuery&) const { return "status_query"; }
  const char* operator()(const StatusAnswer&) const { return "status_answer"; }
  const char* operator()(const FaultControl&) const { return "fault_control"; }
  const char* operator()(const TrainingControl&) const { return "training_control"; }
};

}  // namespace

const char* message_name(const Message& message) { return std::visit(Name{}, message); }

}  // namespace starling::wire
