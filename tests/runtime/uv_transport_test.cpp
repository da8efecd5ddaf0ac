// libuv-only behaviour that the in-memory network has no counterpart for.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace starling;
using namespace starling::runtime;
using namespace starling::node;
using namespace starling::runtime::testing;

TEST_CASE("uv transport: IPv6 loopback works for frames and datagrams", "[runtime][uv]") {
  EventLoop loop;
  auto server = make_uv_transport(loop);
  auto client = make_uv_transport(loop);
  Recorder server_events;
  Recorder client_events;
  server->set_events(recording_events(server_events));
  client->set_events(recording_events(client_events));
  auto address = server->listen(Address{"::1", 0});
  if (!address.ok()) {
    WARN("no IPv6 loopback here: " << address.error().message);
    return;
  }
  auto client_address = client->listen(Address{"::1", 0});
  REQUIRE(client_address.ok());
  CHECK(to_string(*address).front() == '[');
  auto id = client->connect(*address);
  REQUIRE(id.ok());
  REQUIRE(client->send(*id, Bytes{1, 2, 3}).ok());
  REQUIRE(client->send_datagram(*address, Bytes{4}).ok());
  REQUIRE(loop.run_until([&] { return server_events.frame_count() == 1 && server_events.datagrams.size() == 1; },
                         5'000));
  CHECK(server_events.datagrams[0].first == *client_address);
}

TEST_CASE("uv transport: listen errors are values", "[runtime][uv]") {
  EventLoop loop;
  auto first = make_uv_transport(loop);
  auto second = make_uv_transport(loop);
  auto address = first->listen(Address{"127.0.0.1", 0});
  REQUIRE(address.ok());
  auto again = first->listen(Address{"127.0.0.1", 0});
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().kind == ErrorKind::invalid_argument);
  auto taken = second->listen(*address);
  REQUIRE_FALSE(taken.ok());
  CHECK(taken.error().kind == ErrorKind::io);
  auto bad = second->listen(Address{"not-an-ip", 0});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().kind == ErrorKind::invalid_argument);
  auto bad_connect = second->connect(Address{"example.org", 80});
  REQUIRE_FALSE(bad_connect.ok());
  CHECK(bad_connect.error().kind == ErrorKind::invalid_argument);
}

// Out of memory in a handler is not a bug: the connection it was about is
// dropped with a reason that says so, and the peer carries on.
TEST_CASE("uv transport: a handler out of memory drops its connection as out of memory", "[runtime][uv][exceptions]") {
  EventLoop loop;
  auto server = make_uv_transport(loop);
  auto client = make_uv_transport(loop);
  Recorder server_events;
  Recorder client_events;
  TransportEvents events = recording_events(server_events);
  auto record = events.on_frame;
  bool starve = true;
  events.on_frame = [&, record](ConnectionId id, ByteSpan frame) {
    if (starve) throw std::bad_alloc();
    record(id, frame);
  };
  server->set_events(std::move(events));
  client->set_events(recording_events(client_events));
  auto address = server->listen(Address{"127.0.0.1", 0});
  REQUIRE(address.ok());
  auto id = client->connect(*address);
  REQUIRE(id.ok());
  REQUIRE(loop.run_until([&] { return !server_events.connected.empty(); }, 5'000));
  const ConnectionId server_side = server_events.connected.front().id;
  REQUIRE(client->send(*id, Bytes{1, 2, 3}).ok());
  REQUIRE(loop.run_until([&] { return server_events.reason_for(server_side) != nullptr; }, 5'000));
  const Error* reason = server_events.reason_for(server_side);
  CHECK(reason->message.find("out of memory") != std::string::npos);
  CHECK(reason->message.find("a bug") == std::string::npos);

  // The next connection is served.
  starve = false;
  auto again = client->connect(*address);
  REQUIRE(again.ok());
  REQUIRE(client->send(*again, Bytes{4}).ok());
  CHECK(loop.run_until([&] { return server_events.frame_count() == 1; }, 5'000));
}
