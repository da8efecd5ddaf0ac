// ConnectionRouter: one owner for a Transport's events. See connection_router.h.
#include "starling/node/connection_router.h"

#include <utility>
#include <variant>

#include "starling/node/gossip_codec.h"
#include "starling/wire/codec.h"

namespace starling::node {

const char* to_string(Route route) {
  switch (route) {
    case Route::membership: return "membership";
    case Route::training: return "training";
    case Route::control: return "control";
  }
  return "unknown";
}

std::optional<Route> route_of_first(const wire::Message& first) {
  if (is_membership_message(first)) return Route::membership;
  if (std::holds_alternative<wire::StatusQuery>(first) || std::holds_alternative<wire::FaultControl>(first) ||
      std::holds_alternative<wire::TrainingControl>(first))
    return Route::control;
  // A training link starts with its hello (docs/learning.md, "Links").
  if (std::holds_alternative<wire::LinkHello>(first)) return Route::training;
  return std::nullopt;
}

ConnectionRouter::ConnectionRouter(Transport& transport, ConnectionRouterOptions options)
    : transport_(transport), options_(std::move(options)) {
  TransportEvents events;
  events.on_connected = [this](const ConnectionInfo& info) { on_connected(info); };
  events.on_frame = [this](ConnectionId id, ByteSpan frame) { on_frame(id, frame); };
  events.on_disconnected = [this](ConnectionId id, const Error& reason) { on_disconnected(id, reason); };
  events.on_send_ready = [this](ConnectionId id) { on_send_ready(id); };
  events.on_datagram = [this](const Address& from, ByteSpan datagram, const Bytes& sender) {
    if (on_datagram_) on_datagram_(from, datagram, sender);
  };
  transport_.set_events(std::move(events));
}

ConnectionRouter::~ConnectionRouter() {
  for (auto& [id, pending] : pending_) {
    transport_.cancel_timer(pending.timer);
    transport_.close(id);
  }
  // The routes close their own connections (transport shutdown does it at
  // the latest); their events stop here.
  transport_.set_events({});
}

void ConnectionRouter::set_handler(Route route, RouteHandler route_handler) {
  handler(route) = std::move(route_handler);
}

void ConnectionRouter::clear_handler(Route route) { handler(route) = RouteHandler{}; }

void ConnectionRouter::set_datagram_handler(std::function<void(const Address&, ByteSpan, const Bytes&)> handler_) {
  on_datagram_ = std::move(handler_);
}

Result<ConnectionId> ConnectionRouter::connect(Route route, const Address& remote) {
  auto id = transport_.connect(remote);
  if (id) routes_[*id] = route;
  return id;
}

void ConnectionRouter::close(ConnectionId id) {
  const bool routed = routes_.erase(id) > 0;
  auto pending = pending_.find(id);
  if (pending != pending_.end()) {
    transport_.cancel_timer(pending->second.timer);
    pending_.erase(pending);
  } else if (!routed) {
    return;  // already closed: close() twice is harmless
  }
  transport_.close(id);
}

std::optional<Route> ConnectionRouter::route_of(ConnectionId id) const {
  auto found = routes_.find(id);
  if (found == routes_.end()) return std::nullopt;
  return found->second;
}

void ConnectionRouter::on_connected(const ConnectionInfo& info) {
  if (auto found = routes_.find(info.id); found != routes_.end()) {
    const RouteHandler& h = handler(found->second);
    if (h.on_connected) h.on_connected(info);
    return;
  }
  // Inbound: held until its first frame says what it is for. Bound its wait.
  Pending pending;
  pending.info = info;
  pending.timer = transport_.start_timer(options_.first_frame_timeout_ms, [this, id = info.id] {
    auto found = pending_.find(id);
    if (found == pending_.end()) return;
    found->second.timer = 0;
    pending_.erase(found);
    ++stats_.first_frame_timeouts;
    transport_.close(id);
  });
  pending_[info.id] = std::move(pending);
}

void ConnectionRouter::on_frame(ConnectionId id, ByteSpan frame) {
  if (auto found = routes_.find(id); found != routes_.end()) {
    const RouteHandler& h = handler(found->second);
    if (h.on_frame) h.on_frame(id, frame);
    return;
  }
  if (pending_.count(id)) route_first(id, frame);
}

void ConnectionRouter::route_first(ConnectionId id, ByteSpan frame) {
  auto pending = pending_.find(id);
  const ConnectionInfo info = pending->second.info;
  transport_.cancel_timer(pending->second.timer);
  pending_.erase(pending);

  auto message = wire::decode(frame);
  if (!message) {
    refuse(id, stats_.refused_unknown_first_frame,
           "closing a connection from " + to_string(info.remote) + " whose first frame is bad: " +
               message.error().message);
    return;
  }
  const std::optional<Route> route = route_of_first(*message);
  if (!route) {
    refuse(id, stats_.refused_unknown_first_frame,
           std::string("closing a connection from ") + to_string(info.remote) + " that opened with " +
               wire::message_name(*message) + " (no route starts with it)");
    return;
  }
  RouteHandler& h = handler(*route);
  if (!h.on_inbound) {
    refuse(id, stats_.refused_no_handler,
           std::string("closing a ") + to_string(*route) + " connection from " + to_string(info.remote) +
               ": this peer does not serve that route");
    return;
  }
  // Routed before the handler runs, so it can send on or close it at once.
  routes_[id] = *route;
  ++stats_.inbound_routed[static_cast<std::size_t>(*route)];
  if (h.on_inbound(info, frame)) return;
  ++stats_.refused_by_handler;
  if (routes_.erase(id) > 0) transport_.close(id);
}

void ConnectionRouter::refuse(ConnectionId id, std::uint64_t& counter, const std::string& why) {
  ++counter;
  transport_.close(id);
  const std::uint64_t refused = stats_.refused_unknown_first_frame + stats_.refused_no_handler;
  if (options_.on_refused && refused % 100 == 1) options_.on_refused(why);
}

void ConnectionRouter::on_disconnected(ConnectionId id, const Error& reason) {
  if (auto pending = pending_.find(id); pending != pending_.end()) {
    transport_.cancel_timer(pending->second.timer);
    pending_.erase(pending);
    return;
  }
  auto found = routes_.find(id);
  if (found == routes_.end()) return;
  const Route route = found->second;
  routes_.erase(found);
  const RouteHandler& h = handler(route);
  if (h.on_disconnected) h.on_disconnected(id, reason);
}

void ConnectionRouter::on_send_ready(ConnectionId id) {
  auto found = routes_.find(id);
  if (found == routes_.end()) return;
  const RouteHandler& h = handler(found->second);
  if (h.on_send_ready) h.on_send_ready(id);
}

}  // namespace starling::node
