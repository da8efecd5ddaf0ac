// The one owner of a Transport's events inside a peer. Membership, the
// training links and the control channel (status queries, scenario controls)
// share one transport; the router hands each connection to one of them:
// - an outbound connection belongs to whoever dialled it (connect(route, ...));
// - an inbound connection is held until its first frame, which names its
//   route: a membership message -> membership, StatusQuery / FaultControl /
//   TrainingControl -> control, LinkHello -> training. A frame that decodes
//   to nothing, or to anything else, or a route nobody serves, closes the
//   connection (counted in RouterStats). So is a connection silent past
//   first_frame_timeout_ms.
// - datagrams are membership's.
// The handler that gets an inbound connection may still refuse it (its
// on_inbound returns false: the router closes it).
// Sans-I/O like the rest of src/node: time and timers come from the Transport.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "starling/node/transport.h"
#include "starling/status.h"
#include "starling/wire/messages.h"

namespace starling::node {

enum class Route : std::uint8_t { membership, training, control };
inline constexpr std::size_t kRouteCount = 3;

const char* to_string(Route route);

// The route an inbound connection's first message asks for; nullopt: none
// (the connection is closed).
std::optional<Route> route_of_first(const wire::Message& first);

struct RouteHandler {
  // An inbound connection whose first frame (given, whole) named this route.
  // Return false to refuse it: the router closes it, no callback follows.
  std::function<bool(const ConnectionInfo& info, ByteSpan first_frame)> on_inbound;
  // An outbound connection of this route is ready.
  std::function<void(const ConnectionInfo& info)> on_connected;
  // Later frames of a connection of this route.
  std::function<void(ConnectionId id, ByteSpan frame)> on_frame;
  std::function<void(ConnectionId id, const Error& reason)> on_disconnected;
  std::function<void(ConnectionId id)> on_send_ready;
};

struct ConnectionRouterOptions {
  // An inbound connection that sent no frame by then is closed.
  std::uint64_t first_frame_timeout_ms = 10'000;
  // Refused connections are reported here now and then (unset: silent).
  std::function<void(const std::string& message)> on_refused;
};

struct RouterStats {
  std::uint64_t inbound_routed[kRouteCount] = {0, 0, 0};
  std::uint64_t refused_unknown_first_frame = 0;  // bad bytes or a message no route starts with
  std::uint64_t refused_no_handler = 0;           // e.g. a LinkHello to a membership-only peer
  std::uint64_t refused_by_handler = 0;           // on_inbound said no
  std::uint64_t first_frame_timeouts = 0;
};

class ConnectionRouter {
 public:
  // Takes over the transport's events (call before transport.listen()).
  ConnectionRouter(Transport& transport, ConnectionRouterOptions options = {});
  // Closes what it still holds pending and gives the transport's events back (none).
  ~ConnectionRouter();
  ConnectionRouter(const ConnectionRouter&) = delete;
  ConnectionRouter& operator=(const ConnectionRouter&) = delete;

  void set_handler(Route route, RouteHandler handler);
  void clear_handler(Route route);
  void set_datagram_handler(std::function<void(const Address&, ByteSpan, const Bytes&)> handler);

  // Dials for `route`: the connection's events go to its handler from the start.
  Result<ConnectionId> connect(Route route, const Address& remote);
  // Closes a connection (any route, or pending); no callback follows.
  void close(ConnectionId id);
  // The route a connection belongs to (nullopt: pending or unknown).
  std::optional<Route> route_of(ConnectionId id) const;

  Transport& transport() { return transport_; }
  const RouterStats& stats() const { return stats_; }

 private:
  struct Pending {
    ConnectionInfo info;
    TimerId timer = 0;
  };
  void on_connected(const ConnectionInfo& info);
  void on_frame(ConnectionId id, ByteSpan frame);
  void on_disconnected(ConnectionId id, const Error& reason);
  void on_send_ready(ConnectionId id);
  void route_first(ConnectionId id, ByteSpan frame);
  void refuse(ConnectionId id, std::uint64_t& counter, const std::string& why);
  RouteHandler& handler(Route route) { return handlers_[static_cast<std::size_t>(route)]; }

  Transport& transport_;
  ConnectionRouterOptions options_;
  std::array<RouteHandler, kRouteCount> handlers_;
  std::function<void(const Address&, ByteSpan, const Bytes&)> on_datagram_;
  std::map<ConnectionId, Route> routes_;
  std::map<ConnectionId, Pending> pending_;
  RouterStats stats_;
};

}  // namespace starling::node
