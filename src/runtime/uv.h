// The one place libuv handles are wrapped (private to src/runtime; no public
// header includes uv.h). The habits, after tensorpipe's transport/uv:
// - A wrapper is neither copyable nor movable: libuv keeps its address, and
//   handle.data points back at it.
// - Wrappers live on the heap and are held by uv::Ptr. Dropping the Ptr starts
//   an asynchronous uv_close; the memory is freed in the close callback, the
//   only moment libuv no longer touches it. After close() no user callback runs.
// - Requests (write, connect, send) are owned by a unique_ptr that is released
//   to libuv and taken back in the request's callback. If the libuv call fails,
//   the callback never fires, so the unique_ptr frees the request at once.
// - Every call asserts it runs on the loop thread; other threads go through
//   uv_async (EventLoop::post).
// - No exception crosses a libuv callback: callbacks receive Status/Result
//   values, and every trampoline below runs its user callback through
//   guarded() (guard.h), the last line of defence; the transports guard their
//   own calls into the application too, so they can drop the connection.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <thread>

#include "starling/runtime/transport.h"
#include "starling/status.h"

namespace starling::runtime::uv {

// A libuv error code as an Error: "what: message (NAME)".
Error make_error_from(int code, std::string_view what);

// Numeric address <-> sockaddr. Errors: invalid_argument.
Result<sockaddr_storage> to_sockaddr(const Address& address);
Address from_sockaddr(const sockaddr* address);

class Loop {
 public:
  Loop();
  // Asserts that every handle was closed, lets pending closes finish, closes the loop.
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  uv_loop_t* get() { return &loop_; }
  std::uint64_t now_ms() const { return uv_now(&loop_); }

  void assert_on_loop_thread() const {
    STARLING_ASSERT_MSG(thread_.load(std::memory_order_relaxed) == std::this_thread::get_id(),
                        "libuv call from a thread that is not the loop thread");
  }
  void become_loop_thread() { thread_.store(std::this_thread::get_id(), std::memory_order_relaxed); }

 private:
  uv_loop_t loop_{};
  std::atomic<std::thread::id> thread_;
};

template <typename UvType>
class Handle {
 public:
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  // Starts the asynchronous close. Idempotent. The object is deleted in the
  // close callback; from now on no user callback of this handle runs.
  void close() {
    loop_.assert_on_loop_thread();
    if (closing_) return;
    closing_ = true;
    uv_close(base(), [](uv_handle_t* handle) { delete static_cast<Handle*>(handle->data); });
  }

  bool closing() const { return closing_; }
  UvType* get() { return &handle_; }
  uv_handle_t* base() { return reinterpret_cast<uv_handle_t*>(&handle_); }
  // An unreferenced handle does not keep uv_run(UV_RUN_DEFAULT) alive.
  void unref() { uv_unref(base()); }
  void ref() { uv_ref(base()); }

 protected:
  explicit Handle(Loop& loop) : loop_(loop) { handle_.data = this; }
  virtual ~Handle() = default;

  template <typename Derived>
  static Derived& self(UvType* handle) {
    return *static_cast<Derived*>(static_cast<Handle*>(handle->data));
  }

  Loop& loop_;
  UvType handle_{};
  bool closing_ = false;
};

template <typename T>
struct Closer {
  void operator()(T* handle) const noexcept { handle->close(); }
};
// Owning pointer to a wrapper: releasing it closes the handle.
template <typename T>
using Ptr = std::unique_ptr<T, Closer<T>>;

class Timer final : public Handle<uv_timer_t> {
 public:
  static Ptr<Timer> create(Loop& loop);
  // One shot after timeout_ms; restarting replaces the callback.
  void start(std::uint64_t timeout_ms, std::function<void()> callback);
  void stop();

 private:
  using Handle::Handle;
  std::function<void()> callback_;
};

class Async final : public Handle<uv_async_t> {
 public:
  static Ptr<Async> create(Loop& loop, std::function<void()> callback);
  // The one call any thread may make (while the handle is open).
  void send() { uv_async_send(&handle_); }

 private:
  using Handle::Handle;
  std::function<void()> callback_;
};

class Signal final : public Handle<uv_signal_t> {
 public:
  static Ptr<Signal> create(Loop& loop);
  Status start(int signal_number, std::function<void(int)> callback);

 private:
  using Handle::Handle;
  std::function<void(int)> callback_;
};

class Tcp final : public Handle<uv_tcp_t> {
 public:
  // Gives libuv room to read into; an empty span fails the read (ENOBUFS).
  using AllocateFn = std::function<std::span<std::uint8_t>(std::size_t suggested_bytes)>;
  // Bytes read into the last allocated span, or why the stream ended.
  using ReadFn = std::function<void(Result<std::size_t> bytes_read)>;

  static Ptr<Tcp> create(Loop& loop);

  Status bind(const sockaddr* address);
  // `on_connection` gets libuv's status: 0 (a connection waits: accept()
  // it) or the UV_E* code accept() failed with (UV_EMFILE: out of file
  // descriptors; libuv calls again at once while that lasts).
  Status listen(int backlog, std::function<void(int status)> on_connection);
  Status accept(Tcp& client);
  Status connect(const sockaddr* address, std::function<void(Status)> on_connected);
  Status read_start(AllocateFn allocate, ReadFn on_read);
  Status set_nodelay(bool enabled);

  // Called once per finished write with its size (also for cancelled writes
  // while the handle is open; never after close()).
  void set_on_write_done(std::function<void(Status, std::size_t bytes)> on_write_done) {
    on_write_done_ = std::move(on_write_done);
  }
  // Writes all of buffer; the request owns it until its callback.
  Status write(Bytes buffer);
  // Bytes accepted by write() that the kernel has not taken yet.
  std::size_t write_queue_bytes() const { return handle_.write_queue_size; }

  Result<Address> local_address();
  Result<Address> peer_address();

 private:
  using Handle::Handle;
  std::function<void(int status)> on_connection_;
  std::function<void(Status)> on_connected_;
  AllocateFn allocate_;
  ReadFn on_read_;
  std::function<void(Status, std::size_t)> on_write_done_;
};

class Udp final : public Handle<uv_udp_t> {
 public:
  // One datagram and its sender; the bytes are valid during the call only.
  using ReceiveFn = std::function<void(Result<ByteSpan> datagram, const sockaddr* from)>;

  static Ptr<Udp> create(Loop& loop);
  Status bind(const sockaddr* address);
  Status receive_start(ReceiveFn on_receive);
  // Sends now if the kernel takes it, else queues a copy.
  Status send(const sockaddr* to, ByteSpan datagram);
  Result<Address> local_address();

 private:
  using Handle::Handle;
  ReceiveFn on_receive_;
  std::unique_ptr<std::uint8_t[]> receive_buffer_;
};

}  // namespace starling::runtime::uv
