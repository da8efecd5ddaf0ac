// BoundedHttpServer. See bounded_http_server.h.
//
// The accept time reaches the connection's thread through a thread-local
// that the task queue sets before each task: cpp-httplib enqueues the task
// right after accept() and hands us only the socket.
#include "bounded_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <utility>

namespace starling::runtime {
namespace {

using Clock = std::chrono::steady_clock;

thread_local Clock::time_point accepted_at;
// Set on the accept thread around a task past the connection cap: its
// connection is answered 503 and closed without reading.
thread_local bool shed_connection = false;

// httplib's ThreadPool, with each task stamped with the time it was queued,
// holding at most `connections` tasks (each one an accepted connection).
class StampedThreadPool final : public httplib::TaskQueue {
 public:
  StampedThreadPool(std::size_t threads, std::size_t connections) : pool_(threads), connections_(connections) {}
  void enqueue(std::function<void()> task) override {
    if (held_.fetch_add(1) >= connections_) {
      held_.fetch_sub(1);
      shed_connection = true;
      task();
      shed_connection = false;
      return;
    }
    pool_.enqueue([this, task = std::move(task), queued = Clock::now()] {
      accepted_at = queued;
      task();
      held_.fetch_sub(1);
    });
  }
  void shutdown() override { pool_.shutdown(); }

 private:
  httplib::ThreadPool pool_;
  const std::size_t connections_;
  std::atomic<std::size_t> held_{0};
};

// True once `socket` is ready for `events`, false at the deadline or on an
// error. A deadline already past still sees what has arrived (poll with 0).
bool wait_for(int socket, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd entry{socket, events, 0};
    const int ready = ::poll(&entry, 1, int(std::clamp<long long>(left, 0, 60'000)));
    if (ready > 0) return (entry.revents & (events | POLLHUP | POLLERR)) != 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0 || left <= 0) return false;
  }
}

void name_of(const sockaddr_storage& address, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(address);
    ::inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
    port = ntohs(in.sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(address);
    ::inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
    port = ntohs(in6.sin6_port);
  }
  ip = text;
}

// One connection's stream: reads end at the head deadline, writes at
// `write` after the first one. Reads are buffered (cpp-httplib reads the
// head a byte at a time).
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(int socket, Clock::time_point read_deadline, std::chrono::milliseconds write_budget,
                 std::size_t read_budget)
      : socket_(socket), read_deadline_(read_deadline), write_budget_(write_budget), read_budget_(read_budget) {}

  bool is_readable() const override { return start_ < end_ || wait_for(socket_, POLLIN, read_deadline_); }
  bool is_writable() const override {
    return wait_for(socket_, POLLOUT, write_deadline_.value_or(Clock::now() + write_budget_));
  }

  ssize_t read(char* out, std::size_t size) override {
    if (start_ == end_) {
      if (read_budget_ == 0) return -1;  // the request is over its size limit
      ssize_t got = -1;
      do {
        if (!wait_for(socket_, POLLIN, read_deadline_)) return -1;
        got = ::recv(socket_, buffer_.data(), std::min(buffer_.size(), read_budget_), MSG_DONTWAIT);
      } while (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK));
      if (got <= 0) return got;
      start_ = 0;
      end_ = std::size_t(got);
      read_budget_ -= end_;
    }
    const std::size_t n = std::min(size, end_ - start_);
    std::memcpy(out, buffer_.data() + start_, n);
    start_ += n;
    return ssize_t(n);
  }

  // All of it or -1: cpp-httplib writes a response body in one call.
  ssize_t write(const char* data, std::size_t size) override {
    if (!write_deadline_) write_deadline_ = Clock::now() + write_budget_;
    std::size_t sent = 0;
    while (sent < size) {
      if (!wait_for(socket_, POLLOUT, *write_deadline_)) return -1;
      const ssize_t n = ::send(socket_, data + sent, size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (n <= 0) return -1;
      sent += std::size_t(n);
    }
    return ssize_t(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getpeername(socket_, reinterpret_cast<sockaddr*>(&address), &length) == 0) name_of(address, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getsockname(socket_, reinterpret_cast<sockaddr*>(&address), &length) == 0) name_of(address, ip, port);
  }
  socket_t socket() const override { return socket_; }

 private:
  int socket_;
  Clock::time_point read_deadline_;
  std::chrono::milliseconds write_budget_;
  std::optional<Clock::time_point> write_deadline_;
  std::size_t read_budget_;  // bytes this connection may still send
  std::array<char, 4096> buffer_{};
  std::size_t start_ = 0;
  std::size_t end_ = 0;
};

}  // namespace

BoundedHttpServer::BoundedHttpServer(std::size_t threads, HttpLimits limits) : limits_(limits) {
  const std::size_t count = std::max<std::size_t>(threads, 1);
  const std::size_t connections = std::max<std::size_t>(limits_.connections, 1);
  new_task_queue = [count, connections] { return new StampedThreadPool(count, connections); };
}

bool BoundedHttpServer::process_and_close_socket(socket_t socket) {
  if (shed_connection) {
    // Best effort, never blocking the accept thread: the scraper sees why.
    static constexpr char kBusy[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    (void)::send(socket, kBusy, sizeof kBusy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(socket);
    return false;
  }
  bool answered = false;
  {
    DeadlineStream stream(socket, accepted_at + limits_.head, limits_.write, limits_.request_bytes);
    bool closed = false;
    answered = process_request(stream, /*close_connection=*/true, closed, nullptr);
  }
  ::shutdown(socket, SHUT_RDWR);
  ::close(socket);
  return answered;
}

}  // namespace starling::runtime
