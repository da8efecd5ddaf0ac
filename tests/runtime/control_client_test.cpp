// ControlClient against a stand-in peer on its own loop thread: controls
// arrive before the status query, in order, on the same connection; failures
// (no listener, a silent listener, another swarm key) come back as errors of
// the right kind within the timeout.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "starling/runtime/control_client.h"
#include "starling/runtime/crypto_security.h"
#include "starling/runtime/event_loop.h"
#include "starling/runtime/uv_transport.h"
#include "starling/wire/codec.h"

namespace starling::runtime {
namespace {

// Answers a StatusQuery with the names of the messages that came before it
// on that connection ("fault_control,training_control"); `silent`: never answers.
class StandInPeer {
 public:
  StandInPeer(crypto::SwarmKey key, bool silent) {
    std::promise<Address> bound;
    auto ready = bound.get_future();
    thread_ = std::thread([this, &bound, key = std::move(key), silent]() mutable {
      EventLoop loop;
      UvTransportOptions options;
      options.security = make_crypto_security(crypto::Identity::generate(), std::move(key));
      auto transport = make_uv_transport(loop, std::move(options));
      std::map<ConnectionId, std::string> seen;
      TransportEvents events;
      events.on_frame = [&](ConnectionId id, ByteSpan frame) {
        auto message = wire::decode(frame);
        if (!message) {
          broken_ = true;  // Catch2 asserts only on the test's thread
          return;
        }
        if (const auto* query = std::get_if<wire::StatusQuery>(&*message)) {
          if (silent) return;
          auto answer = wire::encode(wire::Message{wire::StatusAnswer{query->request_id, seen[id]}});
          if (!answer || !transport->send(id, *answer)) broken_ = true;
          return;
        }
        seen[id] += std::string(seen[id].empty() ? "" : ",") + wire::message_name(*message);
        std::lock_guard lock(mutex_);
        if (const auto* fault = std::get_if<wire::FaultControl>(&*message)) faults_.push_back(*fault);
      };
      transport->set_events(std::move(events));
      auto address = transport->listen(Address{"127.0.0.1", 0});
      loop_ = &loop;
      bound.set_value(address ? *address : Address{});
      loop.run_until([] { return false; }, 60'000);
      transport->shutdown();
      transport.reset();
    });
    address_ = ready.get();
    REQUIRE(address_.port != 0);
  }
  ~StandInPeer() {
    // Only stop(): its mutex orders this call before the loop thread returns
    // and destroys the loop. Setting a flag the loop polls let it exit (and
    // free the loop) while stop() still ran (TSan: data race on ~EventLoop).
    loop_->stop();
    thread_.join();
    CHECK_FALSE(broken_.load());
  }
  const Address& address() const { return address_; }
  std::vector<wire::FaultControl> faults() {
    std::lock_guard lock(mutex_);
    return faults_;
  }

 private:
  std::thread thread_;
  std::atomic<bool> broken_{false};
  EventLoop* loop_ = nullptr;
  Address address_;
  std::mutex mutex_;
  std::vector<wire::FaultControl> faults_;
};

// A listening TCP socket on a free loopback port, named in `address`.
int loopback_listener(Address& address) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(listener >= 0);
  sockaddr_in bound{};
  bound.sin_family = AF_INET;
  bound.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof bound;
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&bound), sizeof bound) == 0);
  REQUIRE(::listen(listener, 4) == 0);
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&bound), &length) == 0);
  address = Address{"127.0.0.1", ntohs(bound.sin_port)};
  return listener;
}

// Not a starling peer: a loopback listener that answers its one connection
// with `answer(bytes read so far)` (an HTTP server, random bytes, zeros, an
// echo), then hangs up. Every wait is bounded.
class Impostor {
 public:
  explicit Impostor(std::function<std::string(const std::string&)> answer) {
    listener_ = loopback_listener(address_);
    thread_ = std::thread([this, answer = std::move(answer)] {
      pollfd waiting{listener_, POLLIN, 0};
      if (::poll(&waiting, 1, 5'000) != 1) return;
      const int connection = ::accept(listener_, nullptr, nullptr);
      if (connection < 0) return;
      std::string received;
      pollfd readable{connection, POLLIN, 0};
      char buffer[4096];
      while (received.size() < 64 && ::poll(&readable, 1, 1'000) == 1) {  // the client's hello
        const ssize_t n = ::recv(connection, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        received.append(buffer, std::size_t(n));
      }
      const std::string reply = answer(received);
      (void)::send(connection, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::shutdown(connection, SHUT_WR);
      for (int reads = 0; reads < 100 && ::poll(&readable, 1, 1'000) == 1; ++reads)
        if (::recv(connection, buffer, sizeof buffer, 0) <= 0) break;
      ::close(connection);
    });
  }
  ~Impostor() {
    thread_.join();
    ::close(listener_);
  }
  const Address& address() const { return address_; }

 private:
  int listener_ = -1;
  Address address_;
  std::thread thread_;
};

}  // namespace

// `starling status` against something that is not a starling peer printed
// Cap'n Proto's words ("expected array.size() >= offset + segmentSize") or
// "expected handshake_reply, got handshake_hello", each followed by "does
// --swarm-key match the peer's?". It now says what `starling peer` says.
TEST_CASE("control: bytes that are not starling's handshake are named so, without blaming the swarm key",
          "[runtime][control]") {
  std::string random_bytes(512, '\0');
  std::uint32_t state = 12345;
  for (char& byte : random_bytes) byte = char((state = state * 1103515245u + 12345u) >> 24);
  const std::vector<std::pair<std::string, std::function<std::string(const std::string&)>>> impostors = {
      {"an HTTP server",
       [](const std::string&) { return std::string("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"); }},
      {"random bytes", [&](const std::string&) { return random_bytes; }},
      {"zeros", [](const std::string&) { return std::string(512, '\0'); }},
      {"an echo server", [](const std::string& received) { return received; }},
  };
  ControlClient client(crypto::SwarmKey::generate());
  for (const auto& [name, answer] : impostors) {
    INFO(name);
    Impostor impostor(answer);
    auto status = client.status(impostor.address(), 5'000);
    REQUIRE_FALSE(status.ok());
    const std::string& message = status.error().message;
    INFO(message);
    CHECK(status.error().kind == ErrorKind::corrupt);
    CHECK_THAT(message, Catch::Contains("its bytes are not starling's handshake") &&
                            Catch::Contains("another program listens at that address"));
    CHECK_THAT(message, !Catch::Contains("swarm-key") && !Catch::Contains("segment") &&
                            !Catch::Contains("expected") && !Catch::Contains("handshake_hello"));
  }
}

TEST_CASE("controls arrive in order before the status query, many peers at once", "[runtime][control]") {
  crypto::SwarmKey key = crypto::SwarmKey::generate();
  StandInPeer a(key.clone(), false), b(key.clone(), false);
  ControlClient client(key.clone());

  wire::FaultControl fault;
  fault.drop_probability = 0.25;
  fault.delay_ms = 50;
  wire::TrainingControl training{10.0, wire::ByzantineMode::random_deltas, 1.0};
  auto answers = client.exchange({ControlRequest{a.address(), {fault, training}}, ControlRequest{b.address(), {}}},
                                 5'000);
  REQUIRE(answers.size() == 2);
  REQUIRE(answers[0].ok());
  CHECK(*answers[0] == "fault_control,training_control");
  REQUIRE(answers[1].ok());
  CHECK(*answers[1] == "");
  REQUIRE(a.faults().size() == 1);
  CHECK(a.faults()[0] == fault);
  CHECK(b.faults().empty());

  // The client is reusable.
  auto again = client.status(b.address(), 5'000);
  REQUIRE(again.ok());
}

TEST_CASE("control failures are errors of the right kind, within the timeout", "[runtime][control]") {
  crypto::SwarmKey key = crypto::SwarmKey::generate();
  ControlClient client(key.clone());

  SECTION("nobody listens") {
    // A port that was free a moment ago.
    Address nowhere;
    {
      StandInPeer gone(key.clone(), false);
      nowhere = gone.address();
    }
    auto answer = client.status(nowhere, 5'000);
    REQUIRE_FALSE(answer.ok());
    CHECK(answer.error().kind == ErrorKind::disconnected);
    CHECK(answer.error().message.find("cannot reach") != std::string::npos);
  }
  SECTION("a peer that never answers") {
    StandInPeer silent(key.clone(), true);
    const auto start = std::chrono::steady_clock::now();
    auto answer = client.status(silent.address(), 300);
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(answer.ok());
    CHECK(answer.error().kind == ErrorKind::timeout);
    CHECK(took < std::chrono::seconds(3));
  }
  SECTION("another swarm key") {
    StandInPeer other(crypto::SwarmKey::generate(), false);
    auto answer = client.status(other.address(), 5'000);
    REQUIRE_FALSE(answer.ok());
    CHECK(answer.error().kind == ErrorKind::security);
    CHECK(answer.error().message.find("--swarm-key") != std::string::npos);
  }
  SECTION("a control no peer may send is refused before sending") {
    StandInPeer peer(key.clone(), false);
    wire::FaultControl bad;
    bad.drop_probability = 2.0;
    auto answers = client.exchange({ControlRequest{peer.address(), {bad}}}, 5'000);
    REQUIRE_FALSE(answers[0].ok());
    CHECK(answers[0].error().kind == ErrorKind::invalid_argument);
    CHECK(peer.faults().empty());
  }
}

// Regression: libuv's cached time stood still while the client idled between
// requests, so the next request's watchdog was already due and it timed out
// at once (`starling top` polling a peer every second saw it "unreachable").
TEST_CASE("a client idle for longer than the timeout still waits for the answer", "[runtime][control]") {
  crypto::SwarmKey key = crypto::SwarmKey::generate();
  StandInPeer peer(key.clone(), false);
  ControlClient client(key.clone());
  REQUIRE(client.status(peer.address(), 5'000).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  auto answer = client.status(peer.address(), 500);
  INFO((answer.ok() ? std::string("ok") : answer.error().message));
  CHECK(answer.ok());
}

TEST_CASE("cancel from another thread ends a request to a silent peer at once", "[runtime][control]") {
  crypto::SwarmKey key = crypto::SwarmKey::generate();
  StandInPeer silent(key.clone(), true);
  ControlClient client(key.clone());
  const auto start = std::chrono::steady_clock::now();
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    client.cancel();
  });
  auto answer = client.status(silent.address(), 20'000);
  const auto took = std::chrono::steady_clock::now() - start;
  canceller.join();
  REQUIRE_FALSE(answer.ok());
  CHECK(answer.error().kind == ErrorKind::timeout);
  CHECK(took < std::chrono::seconds(5));
}

// A listener that never speaks (the kernel accepts the connection, nothing
// reads it): the handshake never completes. The transport's 5 s handshake
// deadline ended the request before the caller's longer timeout
// (`starling status --timeout 20` gave up after 5 s).
TEST_CASE("a request to a listener that never handshakes waits the caller's whole timeout", "[runtime][control]") {
  Address address;
  const int listener = loopback_listener(address);

  ControlClient client(crypto::SwarmKey::generate());
  const auto start = std::chrono::steady_clock::now();
  auto answer = client.status(address, 6'500);
  const auto took = std::chrono::steady_clock::now() - start;
  ::close(listener);
  REQUIRE_FALSE(answer.ok());
  INFO(answer.error().message);
  CHECK(answer.error().kind == ErrorKind::timeout);
  CHECK(answer.error().message.find("within 6500 ms") != std::string::npos);
  CHECK(took >= std::chrono::milliseconds(6'400));
  CHECK(took < std::chrono::seconds(10));
}

}  // namespace starling::runtime
