// An HTTP endpoint for Prometheus: GET /metrics answers with the text a
// render function makes on the loop thread. The HTTP server (cpp-httplib,
// kept out of this header) runs on its own threads; they never touch
// loop-owned state: each request posts the render to the loop and waits for
// its text, at most answer_timeout_ms (then 503: the loop is busy or gone).
// Slow clients cannot starve scrapes: a connection carries one request, whose
// head must arrive within request_timeout_ms of the accept (waiting for a
// free HTTP thread included), and whose answer must leave within
// write_timeout_ms; a scrape queued behind any number of slow connections is
// read within about request_timeout_ms. At most max_connections are held
// at once (queued or answered); more are answered 503 and closed at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "starling/node/transport.h"
#include "starling/runtime/event_loop.h"
#include "starling/status.h"

namespace starling::runtime {

struct MetricsServerOptions {
  node::Address listen;  // port 0 picks a free one (tests)
  std::uint64_t answer_timeout_ms = 2'000;
  int http_threads = 2;  // a scraper or two at a time; more wait in the kernel's queue
  std::uint64_t request_timeout_ms = 2'000;  // the whole request head, from the accept
  std::uint64_t write_timeout_ms = 2'000;    // the whole answer, from its first byte
  int max_connections = 64;  // held at once; a flood of idle ones cannot take the peer's file descriptors
};

class MetricsServer {
 public:
  // Binds and starts serving. `render` runs on the loop thread, once per
  // scrape. Errors: invalid_argument for an address that is not this
  // machine's, io for a port in use or refused (the message says which).
  static Result<std::unique_ptr<MetricsServer>> start(EventLoop& loop, MetricsServerOptions options,
                                                      std::function<std::string()> render);
  // Stops serving: waiting requests are answered 503 at once, the HTTP
  // threads are joined, and render is never called again. Call on the loop
  // thread (or once the loop has stopped).
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The bound address (the chosen port when 0 was asked for).
  const node::Address& address() const;
  // Scrapes answered with metrics, and those that timed out waiting for the loop.
  std::uint64_t scrapes() const;
  std::uint64_t scrapes_timed_out() const;

  struct Impl;

 private:
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace starling::runtime
