// The metrics endpoint over cpp-httplib. See starling/runtime/metrics_server.h.
//
// Threads: cpp-httplib accepts on `thread` and answers on a small pool
// (BoundedHttpServer: one request per connection, under deadlines, so slow
// clients cannot hold the pool). A request never reads loop-owned state: it posts the render to the
// loop and waits on `Shared` for the text. Everything a posted closure
// touches lives in `Shared`, which closures co-own, so a closure that runs
// after the server is gone finds `render` cleared and does nothing.
#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "bounded_http_server.h"
#include "guard.h"
#include "starling/runtime/metrics.h"
#include "starling/runtime/metrics_server.h"

namespace starling::runtime {
namespace {

struct Shared {
  std::mutex mutex;
  std::condition_variable answered;
  bool closing = false;  // guarded by mutex
  // Loop thread only: set at start, cleared by the destructor (which runs on
  // the loop thread or after the loop stopped), read by posted closures.
  std::function<std::string()> render;
  std::atomic<std::uint64_t> scrapes{0};
  std::atomic<std::uint64_t> timed_out{0};
};

struct Answer {
  std::optional<std::string> text;  // guarded by Shared::mutex
};

bool is_ip_address(const std::string& host) {
  unsigned char buffer[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 || inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// cpp-httplib's default options add SO_REUSEPORT, which lets a second process
// bind the same port silently; a busy port must be an error here.
void reuse_address_only(socket_t socket) {
  int yes = 1;
  setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

}  // namespace

struct MetricsServer::Impl {
  Impl(EventLoop& loop_, MetricsServerOptions options_)
      : loop(loop_),
        options(std::move(options_)),
        server(std::size_t(std::max(options.http_threads, 1)),
               HttpLimits{.head = std::chrono::milliseconds(options.request_timeout_ms),
                          .write = std::chrono::milliseconds(options.write_timeout_ms),
                          .connections = std::size_t(std::max(options.max_connections, 1))}) {}

  void handle(httplib::Response& response) {
    auto answer = std::make_shared<Answer>();
    {
      std::lock_guard<std::mutex> lock(shared->mutex);
      if (shared->closing) {
        response.status = 503;
        response.set_content("shutting down\n", "text/plain");
        return;
      }
    }
    loop.post([shared = shared, answer] {
      if (!shared->render) return;
      std::string text;
      try {
        text = shared->render();
      } catch (const std::exception& error) {  // no exception crosses the loop's callbacks
        report_escaped_exception("the metrics render", error.what());
        return;
      }
      std::lock_guard<std::mutex> lock(shared->mutex);
      answer->text = std::move(text);
      shared->answered.notify_all();
    });
    std::unique_lock<std::mutex> lock(shared->mutex);
    shared->answered.wait_for(lock, std::chrono::milliseconds(options.answer_timeout_ms),
                              [&] { return answer->text.has_value() || shared->closing; });
    if (!answer->text) {
      ++shared->timed_out;
      response.status = 503;
      response.set_content("the peer's loop did not answer in time\n", "text/plain");
      return;
    }
    ++shared->scrapes;
    response.set_content(std::move(*answer->text), kPrometheusContentType);
  }

  EventLoop& loop;
  MetricsServerOptions options;
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();
  BoundedHttpServer server;
  std::thread thread;
  node::Address bound;
};

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(EventLoop& loop, MetricsServerOptions options,
                                                            std::function<std::string()> render) {
  const std::string where = node::to_string(options.listen);
  if (!is_ip_address(options.listen.host))
    return make_error(ErrorKind::invalid_argument,
                      "'" + options.listen.host + "' is not an IP address (want e.g. 127.0.0.1:9464 or 0.0.0.0:9464)");
  auto impl = std::make_unique<Impl>(loop, options);
  impl->shared->render = std::move(render);
  impl->server.set_socket_options(reuse_address_only);
  // Headers and body go out in two writes: without TCP_NODELAY the second
  // waits for the scraper's delayed ACK, and every scrape takes 40 ms.
  impl->server.set_tcp_nodelay(true);
  // Scrapes are GETs without a body and without ranges: a body is refused
  // (httplib read any length into memory), and a Range header gets 416 (one
  // 8 kB header of 2,700 ranges made a 12 MB multipart answer).
  impl->server.set_payload_max_length(0);
  impl->server.set_pre_routing_handler([](const httplib::Request& request, httplib::Response& response) {
    if (!request.has_header("Range")) return httplib::Server::HandlerResponse::Unhandled;
    response.status = 416;
    return httplib::Server::HandlerResponse::Handled;
  });
  Impl* raw = impl.get();
  impl->server.Get("/metrics", [raw](const httplib::Request&, httplib::Response& response) { raw->handle(response); });
  impl->server.Get("/", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("starling peer: metrics at /metrics\n", "text/plain");
  });

  int port = options.listen.port;
  errno = 0;
  bool bound = false;
  if (port == 0) {
    port = impl->server.bind_to_any_port(options.listen.host);
    bound = port > 0;
  } else {
    bound = impl->server.bind_to_port(options.listen.host, port);
  }
  if (!bound) {
    const int error = errno;
    if (error == EADDRINUSE)
      return make_error(ErrorKind::io, "cannot serve metrics on " + where +
                                           ": address in use (another process holds this port; pick another)");
    if (error == EADDRNOTAVAIL)
      return make_error(ErrorKind::invalid_argument,
                        "cannot serve metrics on " + where + ": no interface of this machine has that address");
    if (error == EACCES)
      return make_error(ErrorKind::io, "cannot serve metrics on " + where +
                                           ": permission denied (ports below 1024 need privileges)");
    return make_error(ErrorKind::io, "cannot serve metrics on " + where + ": " +
                                         (error != 0 ? std::string(std::strerror(error)) : "bind failed"));
  }
  impl->bound = node::Address{options.listen.host, static_cast<std::uint16_t>(port)};
  impl->thread = std::thread([raw] { raw->server.listen_after_bind(); });
  // stop() only stops a server that runs: wait until it does (bounded), so
  // the destructor cannot miss it.
  for (int i = 0; i < 2000 && !impl->server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  {
    std::lock_guard<std::mutex> lock(impl_->shared->mutex);
    impl_->shared->closing = true;
  }
  impl_->shared->answered.notify_all();
  impl_->shared->render = nullptr;  // closures still queued on the loop find nothing to call
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

const node::Address& MetricsServer::address() const { return impl_->bound; }
std::uint64_t MetricsServer::scrapes() const { return impl_->shared->scrapes.load(); }
std::uint64_t MetricsServer::scrapes_timed_out() const { return impl_->shared->timed_out.load(); }

}  // namespace starling::runtime
