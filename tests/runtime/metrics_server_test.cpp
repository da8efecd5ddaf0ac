// runtime::MetricsServer: GET /metrics answers with what the render function
// makes, and the render runs on the loop thread, never on the HTTP threads;
// a loop that does not answer costs a 503 within the timeout; a busy port or
// an address that is not an IP is an error at start; destroying the server
// answers waiting requests at once; slow clients cannot hold the HTTP
// threads, nor a flood of idle connections the process's descriptors.
// Every wait is bounded.
#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "starling/runtime/event_loop.h"
#include "starling/runtime/metrics.h"
#include "starling/runtime/metrics_server.h"

using namespace starling;
using namespace starling::runtime;

namespace {

MetricsServerOptions loopback(std::uint64_t timeout_ms = 2'000) {
  MetricsServerOptions options;
  options.listen = node::Address{"127.0.0.1", 0};
  options.answer_timeout_ms = timeout_ms;
  return options;
}

// Runs `request` with a client on another thread while the loop runs here
// (bounded).
httplib::Result request_while_running(EventLoop& loop, const node::Address& at,
                                      const std::function<httplib::Result(httplib::Client&)>& request) {
  auto answer = std::async(std::launch::async, [&] {
    httplib::Client client(at.host, at.port);
    client.set_connection_timeout(2);
    client.set_read_timeout(5);
    auto result = request(client);
    loop.post([] {});  // wakes run_until to see the answer
    return result;
  });
  loop.run_until([&] { return answer.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }, 8'000);
  REQUIRE(answer.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
  return answer.get();
}

httplib::Result get_while_running(EventLoop& loop, const node::Address& at, const std::string& path) {
  return request_while_running(loop, at, [&](httplib::Client& client) { return client.Get(path.c_str()); });
}

// A client that connected and sent the start of a request head (loopback,
// blocking, receives time out after 3 s). -1 when it could not connect.
int start_half_request(const node::Address& at) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(at.port);
  ::inet_pton(AF_INET, at.host.c_str(), &address.sin_addr);
  timeval timeout{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  const std::string head = "GET /metrics HTTP/1.1\r\nX: ";
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::send(fd, head.data(), head.size(), MSG_NOSIGNAL) != ssize_t(head.size())) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

TEST_CASE("metrics server: /metrics is rendered on the loop thread, once per scrape", "[runtime][metrics]") {
  EventLoop loop;
  const std::thread::id loop_thread = std::this_thread::get_id();
  std::atomic<int> renders{0};
  std::atomic<bool> off_loop{false};
  auto server = MetricsServer::start(loop, loopback(), [&] {
    if (std::this_thread::get_id() != loop_thread) off_loop = true;
    ++renders;
    return "starling_test_renders_total " + std::to_string(renders.load()) + "\n";
  });
  REQUIRE(server.ok());
  const node::Address at = (*server)->address();
  CHECK(at.port != 0);

  auto first = get_while_running(loop, at, "/metrics");
  REQUIRE(first);
  CHECK(first->status == 200);
  CHECK(first->body == "starling_test_renders_total 1\n");
  CHECK(first->get_header_value("Content-Type") == kPrometheusContentType);
  auto second = get_while_running(loop, at, "/metrics");
  REQUIRE(second);
  CHECK(second->body == "starling_test_renders_total 2\n");
  CHECK(renders == 2);
  CHECK_FALSE(off_loop);
  CHECK((*server)->scrapes() == 2);

  auto other = get_while_running(loop, at, "/nothing");
  REQUIRE(other);
  CHECK(other->status == 404);
  CHECK(renders == 2);
}

TEST_CASE("metrics server: a loop that does not run costs a 503 within the timeout", "[runtime][metrics]") {
  EventLoop loop;
  int renders = 0;
  auto server = MetricsServer::start(loop, loopback(300), [&] {
    ++renders;
    return std::string("x 1\n");
  });
  REQUIRE(server.ok());
  httplib::Client client((*server)->address().host, (*server)->address().port);
  client.set_read_timeout(5);
  const auto start = std::chrono::steady_clock::now();
  auto answer = client.Get("/metrics");  // the loop is not running: nobody renders
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(answer);
  CHECK(answer->status == 503);
  CHECK(elapsed >= std::chrono::milliseconds(290));
  CHECK(elapsed < std::chrono::milliseconds(3'000));
  CHECK((*server)->scrapes_timed_out() == 1);
  // The render posted for it runs later, harmlessly; destroying the server
  // first means it never runs at all.
  server->reset();
  loop.run_for(50);
  CHECK(renders == 0);
}

TEST_CASE("metrics server: destroying it answers a waiting scrape at once", "[runtime][metrics]") {
  EventLoop loop;
  auto server = MetricsServer::start(loop, loopback(10'000), [] { return std::string("x 1\n"); });
  REQUIRE(server.ok());
  const node::Address at = (*server)->address();
  auto answer = std::async(std::launch::async, [at] {
    httplib::Client client(at.host, at.port);
    client.set_read_timeout(15);
    return client.Get("/metrics");
  });
  // Wait (bounded) until the request is being served, then tear down.
  for (int i = 0; i < 200 && answer.wait_for(std::chrono::milliseconds(5)) != std::future_status::ready; ++i) {
  }
  const auto start = std::chrono::steady_clock::now();
  server->reset();
  REQUIRE(answer.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));  // not the 10 s answer timeout
  auto result = answer.get();
  if (result) CHECK(result->status == 503);  // or the connection closed: either way, no hang
}

TEST_CASE("metrics server: a busy port and a non-IP host are errors at start", "[runtime][metrics]") {
  EventLoop loop;
  auto first = MetricsServer::start(loop, loopback(), [] { return std::string(); });
  REQUIRE(first.ok());
  MetricsServerOptions same = loopback();
  same.listen.port = (*first)->address().port;
  auto second = MetricsServer::start(loop, same, [] { return std::string(); });
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().kind == ErrorKind::io);
  CHECK(second.error().message.find("in use") != std::string::npos);

  MetricsServerOptions named = loopback();
  named.listen.host = "localhost";
  auto third = MetricsServer::start(loop, named, [] { return std::string(); });
  REQUIRE_FALSE(third.ok());
  CHECK(third.error().kind == ErrorKind::invalid_argument);
  CHECK(third.error().message.find("not an IP address") != std::string::npos);
}

TEST_CASE("metrics server: clients that send their request a byte at a time do not hold up a scrape",
          "[runtime][metrics]") {
  EventLoop loop;
  MetricsServerOptions options = loopback();
  options.request_timeout_ms = 500;
  auto server = MetricsServer::start(loop, options, [] { return std::string("x 1\n"); });
  REQUIRE(server.ok());
  const node::Address at = (*server)->address();
  REQUIRE(options.http_threads == 2);

  // More slow clients than HTTP threads, each sending a byte every 100 ms:
  // each read succeeds, so a per-read timeout never ends them (before: the
  // scrape below waited until they stopped, 8 s).
  std::vector<int> slow;
  for (int i = 0; i < 3; ++i) {
    const int fd = start_half_request(at);
    REQUIRE(fd >= 0);
    slow.push_back(fd);
  }
  std::atomic<bool> stop{false};
  std::thread dribble([&] {
    for (int tick = 0; tick < 80 && !stop; ++tick) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      for (int fd : slow) (void)::send(fd, "y", 1, MSG_NOSIGNAL);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the slow ones are accepted first

  const auto start = std::chrono::steady_clock::now();
  auto answer = get_while_running(loop, at, "/metrics");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  stop = true;
  dribble.join();
  REQUIRE(answer);
  CHECK(answer->status == 200);
  CHECK(answer->body == "x 1\n");
  CHECK(elapsed < std::chrono::milliseconds(2'000));

  // Each slow client was cut off at its deadline: the server closed it (with
  // or without a 400; a reset when our last bytes were left unread) rather
  // than waiting for the rest of its head (that would time out here).
  for (int fd : slow) {
    char buffer[512];
    ssize_t got = 0;
    int reads = 0;
    do {
      got = ::recv(fd, buffer, sizeof buffer, 0);
    } while (got > 0 && ++reads < 16);
    const bool closed = got == 0 || (got < 0 && errno == ECONNRESET);
    CHECK(closed);
    ::close(fd);
  }
}

TEST_CASE("metrics server: a request over 64 kB, a body and a Range header are refused, not held in memory",
          "[runtime][metrics][hostile]") {
  EventLoop loop;
  MetricsServerOptions options = loopback();
  options.request_timeout_ms = 20'000;  // the cap, not the deadline, must end the flood
  auto server = MetricsServer::start(loop, options, [] { return std::string("x 1\n"); });
  REQUIRE(server.ok());
  const node::Address at = (*server)->address();

  // Endless headers (cpp-httplib counts none): 2 MB of them. Read to its
  // 20 s deadline, they took the peer to 477 MB; now the connection ends
  // once 64 kB came, so the answer (or the close) is here within the 3 s
  // receive timeout.
  const int fd = start_half_request(at);
  REQUIRE(fd >= 0);
  const std::string line = "a: b\r\n";
  std::string block;
  while (block.size() < 64 * 1024) block += line;
  std::size_t sent = 0;
  for (int k = 0; k < 32; ++k) {
    const ssize_t n = ::send(fd, block.data(), block.size(), MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += std::size_t(n);
  }
  char buffer[512];
  const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
  const bool answered_or_closed = got >= 0 || errno == ECONNRESET;
  INFO("sent " << sent << " bytes; recv " << got << " errno " << errno);
  CHECK(answered_or_closed);
  ::close(fd);

  // No body: a POST is refused at its Content-Length (one announcing 20 GB
  // was read into memory until the deadline).
  auto posted = request_while_running(
      loop, at, [](httplib::Client& client) { return client.Post("/metrics", std::string(100'000, 'x'), "text/plain"); });
  REQUIRE(posted);
  CHECK(posted->status == 413);  // was read whole into memory, then a 404

  // Ranges: 2,700 of them in an 8 kB header made a 12 MB multipart answer.
  auto answer = request_while_running(loop, at, [](httplib::Client& client) {
    std::string ranges = "bytes=0-";
    for (int k = 0; k < 1000; ++k) ranges += ",0-";
    return client.Get("/metrics", httplib::Headers{{"Range", ranges}});
  });
  REQUIRE(answer);
  CHECK(answer->status == 416);
  CHECK(answer->body.size() < 1024);

  // A plain scrape still works.
  auto plain = get_while_running(loop, at, "/metrics");
  REQUIRE(plain);
  CHECK(plain->status == 200);
  CHECK(plain->body == "x 1\n");
}

TEST_CASE("metrics server: a flood of idle connections is closed past the cap, not held to its deadline",
          "[runtime][metrics][hostile]") {
  EventLoop loop;
  MetricsServerOptions options = loopback();
  options.request_timeout_ms = 10'000;  // an idle connection would be held 10 s without the cap
  options.max_connections = 8;
  auto server = MetricsServer::start(loop, options, [] { return std::string("x 1\n"); });
  REQUIRE(server.ok());
  const node::Address at = (*server)->address();

  // 100 connections that send nothing (with `ulimit -n 1024`, one client
  // doing this in a loop held a peer at its file limit). All but the cap are
  // answered 503 and closed at once; the cap's worth wait for their deadline.
  constexpr int kIdle = 100;
  std::vector<int> idle;
  for (int i = 0; i < kIdle; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(at.port);
    ::inet_pton(AF_INET, at.host.c_str(), &address.sin_addr);
    timeval timeout{0, 200'000};  // a held connection stays silent for 10 s: 200 ms says it is held
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    idle.push_back(fd);
  }
  int closed = 0;
  int busy = 0;
  for (int fd : idle) {
    char buffer[256];
    std::string text;
    ssize_t got = 0;
    for (int reads = 0; reads < 8 && (got = ::recv(fd, buffer, sizeof buffer, 0)) > 0; ++reads) {
      text.append(buffer, std::size_t(got));
    }
    if (got == 0 || (got < 0 && errno == ECONNRESET)) ++closed;
    if (text.rfind("HTTP/1.1 503", 0) == 0) ++busy;
  }
  INFO(closed << " of " << kIdle << " idle connections closed, " << busy << " with a 503");
  CHECK(closed >= kIdle - options.max_connections);
  CHECK(closed < kIdle);  // the cap's worth are held: the cap, not the deadline, closed the rest
  // Most say why (the 503 is sent without waiting: under load a few went
  // unsent, 84 of 92 once, which failed a bound of 88 here).
  CHECK(busy >= (kIdle - options.max_connections) * 3 / 4);
  for (int fd : idle) ::close(fd);

  // Once they are gone (closed by the client, the server sees it on its
  // next read), a scrape is answered.
  int status = 0;
  std::string body;
  for (int attempt = 0; attempt < 40 && status != 200; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto plain = get_while_running(loop, at, "/metrics");
    status = plain ? plain->status : 0;
    body = plain ? plain->body : std::string();
  }
  CHECK(status == 200);
  CHECK(body == "x 1\n");
}
