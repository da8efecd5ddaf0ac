// The real network: TCP connections with length-prefixed frames and one UDP
// socket, on a libuv EventLoop. See transport.h for the contract and
// docs/runtime.md for threading and limits.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "starling/runtime/event_loop.h"
#include "starling/runtime/transport.h"
#include "starling/runtime/security.h"

namespace starling::runtime {

struct UvTransportOptions {
  TransportLimits limits;
  // nullptr: plain (no handshake, nothing sealed).
  std::shared_ptr<Security> security;
  // nullptr: no faults. Applied to what this transport sends (frames before
  // sealing, datagrams), so a sealed stream stays intact while frames vanish.
  std::shared_ptr<FaultPolicy> faults;
  // This peer's name for the fault layer; empty: its listen address.
  std::string name;
  // Conditions the transport survives but an operator must hear of (accept()
  // out of file descriptors, rate-limited: AcceptFailureNotice). On the loop
  // thread; empty: not said.
  std::function<void(const std::string&)> on_warning;
};

// The transport must be destroyed on the loop thread, before the loop.
std::unique_ptr<Transport> make_uv_transport(EventLoop& loop, UvTransportOptions options = {});

}  // namespace starling::runtime
