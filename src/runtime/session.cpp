#include "session.h"

#include <cstring>
#include <string>

namespace starling::runtime {

Session::Session(Security& security, bool initiator, const TransportLimits& limits, std::uint64_t now_ms)
    : limits_(limits),
      handshake_(security.new_handshake(initiator)),
      opened_ms_(now_ms),
      last_receive_ms_(now_ms) {}

Result<Session::Output> Session::start() {
  Output output;
  if (!handshake_) {
    established_ = true;
    output.established_now = true;
    return output;
  }
  auto step = handshake_->start();
  if (!step) return step.error();
  if (auto status = apply(std::move(step.value()), output); !status) return status.error();
  return output;
}

Status Session::apply(HandshakeStep step, Output& output) {
  output.handshake_frames = std::move(step.frames_to_send);
  if (step.complete) {
    cipher_ = handshake_->take_cipher();
    STARLING_ASSERT_MSG(cipher_ != nullptr, "a complete handshake must yield a cipher");
    overhead_ = cipher_->overhead();
    STARLING_ASSERT(overhead_ <= kMaxSealOverheadBytes);
    remote_identity_ = handshake_->remote_identity();
    handshake_.reset();
    established_ = true;
    output.established_now = true;
  }
  return ok_status();
}

Result<Session::Output> Session::receive(std::span<std::uint8_t> wire_frame, std::uint64_t now_ms) {
  Output output;
  last_receive_ms_ = now_ms;
  if (!established_) {
    STARLING_ASSERT(handshake_ != nullptr);
    auto step = handshake_->receive(wire_frame);
    if (!step) return step.error();
    if (auto status = apply(std::move(step.value()), output); !status) return status.error();
    return output;
  }
  if (!cipher_) {
    if (wire_frame.size() > limits_.max_frame_bytes)
      return make_error(ErrorKind::overloaded, "frame of " + std::to_string(wire_frame.size()) + " bytes exceeds the limit");
    output.frame = wire_frame;
    return output;
  }
  auto opened = cipher_->open(wire_frame);
  if (!opened) return opened.error();
  if (opened->size() > limits_.max_frame_bytes)
    return make_error(ErrorKind::overloaded, "frame of " + std::to_string(opened->size()) + " bytes exceeds the limit");
  output.frame = *opened;
  return output;
}

Status Session::seal(ByteSpan plaintext, std::span<std::uint8_t> out) {
  STARLING_ASSERT(established_);
  STARLING_ASSERT(out.size() == sealed_size(plaintext.size()));
  if (!cipher_) {
    if (!plaintext.empty()) std::memcpy(out.data(), plaintext.data(), plaintext.size());
    return ok_status();
  }
  return cipher_->seal(plaintext, out);
}

std::size_t Session::max_incoming_wire_bytes() const {
  if (!established_) return kMaxHandshakeFrameBytes;
  return limits_.max_frame_bytes + overhead_;
}

std::uint64_t Session::deadline_ms() const {
  if (!established_) return opened_ms_ + limits_.handshake_timeout_ms;
  if (limits_.idle_timeout_ms == 0) return std::numeric_limits<std::uint64_t>::max();
  return last_receive_ms_ + limits_.idle_timeout_ms;
}

Error Session::deadline_error() const {
  if (!established_)
    return make_error(ErrorKind::timeout, "handshake not completed within " +
                                              std::to_string(limits_.handshake_timeout_ms) + " ms");
  return make_error(ErrorKind::timeout,
                    "nothing received for " + std::to_string(limits_.idle_timeout_ms) + " ms (idle timeout)");
}

Error with_drop_reason(const ConnectionCore& connection, Error reason) {
  // Our own responder refused this dial (it proves our identity) and hung up:
  // the address is ours, which no retry changes.
  if (!connection.session.established() && connection.session.reached_itself())
    return make_error(ErrorKind::invalid_argument,
                      "the address dialled is this peer's own: the connection reached this very process",
                      Reason::own_address);
  // A hang-up during the handshake is a failed handshake, not an ending.
  if (reason.reason == Reason::closed_by_peer && !connection.session.established()) reason.reason = Reason::none;
  if (reason.reason != Reason::none) return reason;
  if (reason.kind == ErrorKind::timeout) {
    reason.reason = Reason::timeout;
  } else if (!connection.opened) {
    reason.reason = Reason::connect_refused;
  } else if (!connection.session.established()) {
    reason.reason = Reason::handshake_failed;
  }
  return reason;
}

void count_handshake_failure(const ConnectionCore& connection, const Error& reason, node::TransportStats& stats) {
  if (!connection.opened || connection.session.established()) return;
  // Both ends of a dial to one of our own addresses: no other party failed.
  if (reason.reason == Reason::own_address) return;
  node::HandshakeFailures& failures = stats.handshake_failures;
  if (reason.reason == Reason::own_identity) {
    ++failures.own_identity;
    failures.own_identity_last_from = connection.peer_label;
    return;
  }
  switch (reason.kind) {
    case ErrorKind::security: ++failures.security; return;
    case ErrorKind::timeout: ++failures.timeout; return;
    case ErrorKind::disconnected:
    case ErrorKind::io: ++failures.closed; return;
    default: ++failures.protocol; return;
  }
}

}  // namespace starling::runtime
