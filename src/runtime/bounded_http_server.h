// A cpp-httplib server that slow clients cannot hold. Private to the runtime
// (it includes httplib.h, which stays out of public headers).
//
// cpp-httplib 0.11 bounds each read (5 s by default), not the request, and
// answers on a small thread pool: a client that sends a byte every few
// seconds keeps one thread for as long as it likes, and two of them stalled
// every scrape of the metrics endpoint (even idle half-requests cost 5 s
// each). Here each connection carries one request, whose head (request line,
// headers and any body) must have arrived within `head` of the accept, the
// time it waited for a free thread included; a thread reaching a connection
// past its deadline reads only what is already there. The answer must leave
// within `write` of its first byte. So a connection holds a thread at most
// head + the handler's own time + write, and one accepted behind any number
// of slow ones is served within about `head` of its arrival.
//
// Connections accepted and not yet closed are capped (`connections`): past
// the cap a new one gets a 503 and is closed on the accept thread. Without
// it one local client held a peer at its file limit (1,024 descriptors with
// `ulimit -n 1024`), so the peer could neither accept, dial nor write a
// checkpoint while the flood lasted.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstddef>

namespace starling::runtime {

struct HttpLimits {
  std::chrono::milliseconds head{2'000};
  std::chrono::milliseconds write{2'000};
  // Bytes a connection may send in all (head and body): cpp-httplib 0.11
  // caps neither the number of headers nor (by default) a body, and kept
  // both in memory (20 MB of headers in 2 s took the peer to 477 MB).
  std::size_t request_bytes = 64 * 1024;
  // Connections held at once (queued for a thread or being answered).
  std::size_t connections = 64;
};

class BoundedHttpServer final : public httplib::Server {
 public:
  BoundedHttpServer(std::size_t threads, HttpLimits limits);

 private:
  // cpp-httplib calls this on a pool thread for each accepted connection
  // (it is private and virtual there: overriding it is the extension point).
  bool process_and_close_socket(socket_t socket) override;

  HttpLimits limits_;
};

}  // namespace starling::runtime
