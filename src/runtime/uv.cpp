#include "uv.h"

#include "guard.h"

#include <cstring>
#include <string>

namespace starling::runtime::uv {

namespace {

ErrorKind kind_of(int code) {
  switch (code) {
    case UV_ECONNREFUSED:
    case UV_ECONNRESET:
    case UV_ECONNABORTED:
    case UV_EPIPE:
    case UV_ENOTCONN:
    case UV_EOF:
    case UV_ECANCELED:
    case UV_EHOSTUNREACH:
    case UV_ENETUNREACH:
      return ErrorKind::disconnected;
    case UV_ETIMEDOUT:
      return ErrorKind::timeout;
    case UV_EINVAL:
    case UV_EAFNOSUPPORT:
    case UV_EADDRNOTAVAIL:
      return ErrorKind::invalid_argument;
    case UV_ENOBUFS:
    case UV_ENOMEM:
    case UV_EMFILE:
    case UV_ENFILE:
      return ErrorKind::overloaded;
    default:
      return ErrorKind::io;
  }
}

constexpr std::size_t kUdpReceiveBufferBytes = 64 * 1024;

}  // namespace

Error make_error_from(int code, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += uv_strerror(code);
  message += " (";
  message += uv_err_name(code);
  message += ")";
  return make_error(kind_of(code), std::move(message));
}

Result<sockaddr_storage> to_sockaddr(const Address& address) {
  sockaddr_storage storage{};
  if (address.host.find(':') != std::string::npos) {
    if (uv_ip6_addr(address.host.c_str(), address.port, reinterpret_cast<sockaddr_in6*>(&storage)) != 0)
      return make_error(ErrorKind::invalid_argument, "not a numeric IPv6 address: " + address.host);
  } else if (uv_ip4_addr(address.host.c_str(), address.port, reinterpret_cast<sockaddr_in*>(&storage)) != 0) {
    return make_error(ErrorKind::invalid_argument, "not a numeric IPv4 address: " + address.host);
  }
  return storage;
}

Address from_sockaddr(const sockaddr* address) {
  Address result;
  char host[INET6_ADDRSTRLEN] = {};
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    uv_ip6_name(in6, host, sizeof(host));
    result.port = ntohs(in6->sin6_port);
  } else if (address->sa_family == AF_INET) {
    const auto* in4 = reinterpret_cast<const sockaddr_in*>(address);
    uv_ip4_name(in4, host, sizeof(host));
    result.port = ntohs(in4->sin_port);
  }
  result.host = host;
  return result;
}

// ---- Loop ----

Loop::Loop() : thread_(std::this_thread::get_id()) {
  const int rc = uv_loop_init(&loop_);
  STARLING_ASSERT_MSG(rc == 0, "uv_loop_init failed");
}

Loop::~Loop() {
  become_loop_thread();
  std::size_t open_handles = 0;
  uv_walk(
      &loop_, [](uv_handle_t* handle, void* count) {
        if (!uv_is_closing(handle)) ++*static_cast<std::size_t*>(count);
      },
      &open_handles);
  STARLING_ASSERT_MSG(open_handles == 0, "event loop destroyed while handles are open (a transport outlives it?)");
  // Only closing handles remain: this returns once their close callbacks ran.
  uv_run(&loop_, UV_RUN_DEFAULT);
  const int rc = uv_loop_close(&loop_);
  STARLING_ASSERT_MSG(rc == 0, "uv_loop_close failed");
}

// ---- Timer ----

Ptr<Timer> Timer::create(Loop& loop) {
  loop.assert_on_loop_thread();
  Ptr<Timer> timer(new Timer(loop));
  uv_timer_init(loop.get(), &timer->handle_);
  return timer;
}

void Timer::start(std::uint64_t timeout_ms, std::function<void()> callback) {
  loop_.assert_on_loop_thread();
  STARLING_ASSERT(!closing_);
  callback_ = std::move(callback);
  uv_timer_start(
      &handle_,
      [](uv_timer_t* handle) {
        Timer& timer = self<Timer>(handle);
        if (timer.closing_) return;
        // Moved out first: the callback may restart this timer with a new one.
        auto due = std::move(timer.callback_);
        timer.callback_ = nullptr;
        if (due) guarded("a timer callback", due);
      },
      timeout_ms, 0);
}

void Timer::stop() {
  loop_.assert_on_loop_thread();
  uv_timer_stop(&handle_);
  callback_ = nullptr;
}

// ---- Async ----

Ptr<Async> Async::create(Loop& loop, std::function<void()> callback) {
  loop.assert_on_loop_thread();
  Ptr<Async> async(new Async(loop));
  async->callback_ = std::move(callback);
  const int rc = uv_async_init(loop.get(), &async->handle_, [](uv_async_t* handle) {
    Async& self_ = self<Async>(handle);
    if (!self_.closing_ && self_.callback_) guarded("a wake-up (async) callback", self_.callback_);
  });
  STARLING_ASSERT_MSG(rc == 0, "uv_async_init failed");
  return async;
}

// ---- Signal ----

Ptr<Signal> Signal::create(Loop& loop) {
  loop.assert_on_loop_thread();
  Ptr<Signal> signal(new Signal(loop));
  uv_signal_init(loop.get(), &signal->handle_);
  return signal;
}

Status Signal::start(int signal_number, std::function<void(int)> callback) {
  loop_.assert_on_loop_thread();
  callback_ = std::move(callback);
  const int rc = uv_signal_start(
      &handle_,
      [](uv_signal_t* handle, int number) {
        Signal& signal = self<Signal>(handle);
        if (!signal.closing_ && signal.callback_) guarded("a signal callback", [&] { signal.callback_(number); });
      },
      signal_number);
  if (rc != 0) return make_error_from(rc, "uv_signal_start");
  return ok_status();
}

// ---- Tcp ----

namespace {

struct WriteRequest {
  uv_write_t request{};
  Bytes data;
};

struct ConnectRequest {
  uv_connect_t request{};
};

struct UdpSendRequest {
  uv_udp_send_t request{};
  Bytes data;
};

}  // namespace

Ptr<Tcp> Tcp::create(Loop& loop) {
  loop.assert_on_loop_thread();
  Ptr<Tcp> tcp(new Tcp(loop));
  uv_tcp_init(loop.get(), &tcp->handle_);
  return tcp;
}

Status Tcp::bind(const sockaddr* address) {
  loop_.assert_on_loop_thread();
  const int rc = uv_tcp_bind(&handle_, address, 0);
  if (rc != 0) return make_error_from(rc, "tcp bind");
  return ok_status();
}

Status Tcp::listen(int backlog, std::function<void(int status)> on_connection) {
  loop_.assert_on_loop_thread();
  on_connection_ = std::move(on_connection);
  const int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&handle_), backlog, [](uv_stream_t* stream, int status) {
    Tcp& tcp = self<Tcp>(reinterpret_cast<uv_tcp_t*>(stream));
    if (tcp.closing_ || !tcp.on_connection_) return;
    guarded("an accept callback", [&] { tcp.on_connection_(status < 0 ? status : 0); });
  });
  if (rc != 0) return make_error_from(rc, "tcp listen");
  return ok_status();
}

Status Tcp::accept(Tcp& client) {
  loop_.assert_on_loop_thread();
  const int rc = uv_accept(reinterpret_cast<uv_stream_t*>(&handle_), reinterpret_cast<uv_stream_t*>(&client.handle_));
  if (rc != 0) return make_error_from(rc, "tcp accept");
  return ok_status();
}

Status Tcp::connect(const sockaddr* address, std::function<void(Status)> on_connected) {
  loop_.assert_on_loop_thread();
  on_connected_ = std::move(on_connected);
  auto request = std::make_unique<ConnectRequest>();
  const int rc = uv_tcp_connect(&request->request, &handle_, address, [](uv_connect_t* raw, int status) {
    std::unique_ptr<ConnectRequest> taken(reinterpret_cast<ConnectRequest*>(raw));
    Tcp& tcp = self<Tcp>(reinterpret_cast<uv_tcp_t*>(raw->handle));
    if (tcp.closing_ || !tcp.on_connected_) return;
    guarded("a connect callback", [&] {
      if (status < 0) {
        tcp.on_connected_(make_error_from(status, "connect"));
      } else {
        tcp.on_connected_(ok_status());
      }
    });
  });
  if (rc != 0) return make_error_from(rc, "tcp connect");
  request.release();  // libuv owns it until the callback takes it back
  return ok_status();
}

Status Tcp::read_start(AllocateFn allocate, ReadFn on_read) {
  loop_.assert_on_loop_thread();
  allocate_ = std::move(allocate);
  on_read_ = std::move(on_read);
  const int rc = uv_read_start(
      reinterpret_cast<uv_stream_t*>(&handle_),
      [](uv_handle_t* handle, std::size_t suggested, uv_buf_t* buffer) {
        Tcp& tcp = self<Tcp>(reinterpret_cast<uv_tcp_t*>(handle));
        std::span<std::uint8_t> space;
        if (!tcp.closing_) guarded("a read buffer callback", [&] { space = tcp.allocate_(suggested); });
        *buffer = uv_buf_init(reinterpret_cast<char*>(space.data()), static_cast<unsigned>(space.size()));
      },
      [](uv_stream_t* stream, ssize_t bytes_read, const uv_buf_t*) {
        Tcp& tcp = self<Tcp>(reinterpret_cast<uv_tcp_t*>(stream));
        if (tcp.closing_) return;
        guarded("a read callback", [&] {
          if (bytes_read > 0) {
            tcp.on_read_(static_cast<std::size_t>(bytes_read));
          } else if (bytes_read == UV_EOF) {
            tcp.on_read_(make_error(ErrorKind::disconnected, "connection closed by the peer", Reason::closed_by_peer));
          } else if (bytes_read < 0) {
            tcp.on_read_(make_error_from(static_cast<int>(bytes_read), "tcp read"));
          }
        });
        // bytes_read == 0: nothing to read after all (EAGAIN).
      });
  if (rc != 0) return make_error_from(rc, "tcp read start");
  return ok_status();
}

Status Tcp::set_nodelay(bool enabled) {
  loop_.assert_on_loop_thread();
  const int rc = uv_tcp_nodelay(&handle_, enabled ? 1 : 0);
  if (rc != 0) return make_error_from(rc, "tcp nodelay");
  return ok_status();
}

Status Tcp::write(Bytes data) {
  loop_.assert_on_loop_thread();
  STARLING_ASSERT(!closing_);
  auto request = std::make_unique<WriteRequest>();
  request->data = std::move(data);
  request->request.data = request.get();
  uv_buf_t buffer =
      uv_buf_init(reinterpret_cast<char*>(request->data.data()), static_cast<unsigned>(request->data.size()));
  const int rc = uv_write(&request->request, reinterpret_cast<uv_stream_t*>(&handle_), &buffer, 1,
                          [](uv_write_t* raw, int status) {
                            std::unique_ptr<WriteRequest> taken(static_cast<WriteRequest*>(raw->data));
                            Tcp& tcp = self<Tcp>(reinterpret_cast<uv_tcp_t*>(raw->handle));
                            if (tcp.closing_ || !tcp.on_write_done_) return;
                            guarded("a write callback", [&] {
                              if (status < 0) {
                                tcp.on_write_done_(make_error_from(status, "tcp write"), taken->data.size());
                              } else {
                                tcp.on_write_done_(ok_status(), taken->data.size());
                              }
                            });
                          });
  if (rc != 0) return make_error_from(rc, "tcp write");
  request.release();
  return ok_status();
}

Result<Address> Tcp::local_address() {
  sockaddr_storage storage{};
  int length = sizeof(storage);
  const int rc = uv_tcp_getsockname(&handle_, reinterpret_cast<sockaddr*>(&storage), &length);
  if (rc != 0) return make_error_from(rc, "getsockname");
  return from_sockaddr(reinterpret_cast<const sockaddr*>(&storage));
}

Result<Address> Tcp::peer_address() {
  sockaddr_storage storage{};
  int length = sizeof(storage);
  const int rc = uv_tcp_getpeername(&handle_, reinterpret_cast<sockaddr*>(&storage), &length);
  if (rc != 0) return make_error_from(rc, "getpeername");
  return from_sockaddr(reinterpret_cast<const sockaddr*>(&storage));
}

// ---- Udp ----

Ptr<Udp> Udp::create(Loop& loop) {
  loop.assert_on_loop_thread();
  Ptr<Udp> udp(new Udp(loop));
  uv_udp_init(loop.get(), &udp->handle_);
  return udp;
}

Status Udp::bind(const sockaddr* address) {
  loop_.assert_on_loop_thread();
  const int rc = uv_udp_bind(&handle_, address, 0);
  if (rc != 0) return make_error_from(rc, "udp bind");
  return ok_status();
}

Status Udp::receive_start(ReceiveFn on_receive) {
  loop_.assert_on_loop_thread();
  on_receive_ = std::move(on_receive);
  receive_buffer_ = std::make_unique<std::uint8_t[]>(kUdpReceiveBufferBytes);
  const int rc = uv_udp_recv_start(
      &handle_,
      [](uv_handle_t* handle, std::size_t, uv_buf_t* buffer) {
        Udp& udp = self<Udp>(reinterpret_cast<uv_udp_t*>(handle));
        *buffer = uv_buf_init(reinterpret_cast<char*>(udp.receive_buffer_.get()), kUdpReceiveBufferBytes);
      },
      [](uv_udp_t* handle, ssize_t bytes_read, const uv_buf_t*, const sockaddr* from, unsigned flags) {
        Udp& udp = self<Udp>(handle);
        if (udp.closing_ || !udp.on_receive_) return;
        guarded("a datagram callback", [&] {
          if (bytes_read < 0) {
            udp.on_receive_(make_error_from(static_cast<int>(bytes_read), "udp receive"), from);
            return;
          }
          if (from == nullptr) return;  // nothing more to read this round
          if ((flags & UV_UDP_PARTIAL) != 0) {
            udp.on_receive_(make_error(ErrorKind::overloaded, "datagram larger than the receive buffer"), from);
            return;
          }
          udp.on_receive_(ByteSpan(udp.receive_buffer_.get(), static_cast<std::size_t>(bytes_read)), from);
        });
      });
  if (rc != 0) return make_error_from(rc, "udp receive start");
  return ok_status();
}

Status Udp::send(const sockaddr* to, ByteSpan datagram) {
  loop_.assert_on_loop_thread();
  uv_buf_t buffer = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(datagram.data())),
                                static_cast<unsigned>(datagram.size()));
  int rc = uv_udp_try_send(&handle_, &buffer, 1, to);
  if (rc >= 0) return ok_status();
  if (rc != UV_EAGAIN) return make_error_from(rc, "udp send");
  auto request = std::make_unique<UdpSendRequest>();
  request->data.assign(datagram.begin(), datagram.end());
  request->request.data = request.get();
  buffer = uv_buf_init(reinterpret_cast<char*>(request->data.data()), static_cast<unsigned>(request->data.size()));
  rc = uv_udp_send(&request->request, &handle_, &buffer, 1, to, [](uv_udp_send_t* raw, int) {
    // Best effort: a failed datagram is as lost as a dropped one.
    std::unique_ptr<UdpSendRequest> taken(static_cast<UdpSendRequest*>(raw->data));
  });
  if (rc != 0) return make_error_from(rc, "udp send");
  request.release();
  return ok_status();
}

Result<Address> Udp::local_address() {
  sockaddr_storage storage{};
  int length = sizeof(storage);
  const int rc = uv_udp_getsockname(&handle_, reinterpret_cast<sockaddr*>(&storage), &length);
  if (rc != 0) return make_error_from(rc, "udp getsockname");
  return from_sockaddr(reinterpret_cast<const sockaddr*>(&storage));
}

}  // namespace starling::runtime::uv
