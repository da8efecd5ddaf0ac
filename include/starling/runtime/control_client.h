// The client side of a peer's control channel: `starling status` and the
// scenario runner. Each request opens one secure connection (an ephemeral
// identity, the swarm key), sends its control messages (wire::FaultControl,
// wire::TrainingControl) and then a StatusQuery on that same connection; the
// peer handles frames in order, so its StatusAnswer also confirms that the
// controls took effect. Many requests run at once, so one stopped or paused
// peer costs one timeout, not one per peer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "starling/crypto/keys.h"
#include "starling/runtime/transport.h"
#include "starling/status.h"
#include "starling/wire/messages.h"

namespace starling::runtime {

struct ControlRequest {
  Address address;
  std::vector<wire::Message> controls;  // sent before the StatusQuery; may be empty
};

// A resource: owns its own event loop and transport; use it from one thread.
class ControlClient {
 public:
  // An ephemeral identity: fine for status queries. Peers apply fault
  // injection only from the identity they were told (`starling peer
  // --fault-control-from`, node::PeerOptions::fault_control_from): the
  // scenario runner passes its own.
  explicit ControlClient(crypto::SwarmKey swarm_key);
  ControlClient(crypto::SwarmKey swarm_key, crypto::Identity identity);
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  // The longest exchange() waits (a day): a larger timeout_ms is cut to it.
  static constexpr std::uint64_t kMaxExchangeTimeoutMs = 24ull * 3600 * 1000;

  // Runs every request concurrently and waits at most timeout_ms in all.
  // One result per request, in order: the peer's status JSON, or why not
  // (timeout: no answer in time; security: the handshake failed, most likely
  // another swarm key; disconnected: nobody listens or the peer hung up).
  std::vector<Result<std::string>> exchange(const std::vector<ControlRequest>& requests, std::uint64_t timeout_ms);

  // One request without controls.
  Result<std::string> status(const Address& address, std::uint64_t timeout_ms);

  // Any thread: makes the exchange() running now (or the next one, if none
  // runs) return at once; what had no answer yet ends as a timeout. For a
  // caller that must not wait out a silent peer's timeout (`starling top`'s
  // quit key).
  void cancel();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace starling::runtime
