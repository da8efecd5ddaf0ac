// The libuv transport's class, shared by its two source files
// (uv_transport.cpp: connections; uv_transport_datagrams.cpp: UDP). Private
// to src/runtime. Each connection pairs a TCP handle with a Session (the
// sans-I/O protocol state) and a wire::FrameDecoder that libuv reads into. Callbacks into the application
// may close connections, so after every callback the connection is looked up
// again by id before anything of it is touched.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "guard.h"
#include "session.h"
#include "starling/runtime/accept_failures.h"
#include "starling/runtime/uv_transport.h"
#include "starling/wire/frame.h"
#include "uv.h"

namespace starling::runtime::detail {

class UvTransport final : public Transport {
 public:
  UvTransport(EventLoop& loop, UvTransportOptions options);
  ~UvTransport() override;

  void set_events(TransportEvents events) override { events_ = std::move(events); }

  Result<Address> listen(const Address& address) override;
  Result<ConnectionId> connect(const Address& remote) override;
  Status send(ConnectionId id, ByteSpan frame) override;
  void close(ConnectionId id) override;
  std::size_t pending_outbound_bytes(ConnectionId id) const override;
  Status send_datagram(const Address& to, ByteSpan datagram) override;
  TimerId start_timer(std::uint64_t delay_ms, std::function<void()> callback) override;
  void cancel_timer(TimerId id) override;
  std::uint64_t now_ms() const override { return loop_.now_ms(); }
  void set_peer_label(ConnectionId id, std::string label) override;
  void shutdown() override;
  TransportStats stats() const override {
    TransportStats stats = stats_;
    stats.inbound_buffer_bytes = readers_held_;
    return stats;
  }
  std::size_t connection_count() const override { return connections_.size(); }

 private:
  struct Connection : ConnectionCore {
    Connection(ConnectionId id_, bool inbound_, Address remote_, Security& security, const TransportLimits& limits,
               std::uint64_t now_ms)
        : ConnectionCore(id_, inbound_, std::move(remote_), security, limits, now_ms),
          reader(wire::FrameLimits{kMaxHandshakeFrameBytes}) {}

    wire::FrameDecoder reader;  // cuts the stream into frames, in place
    std::size_t reader_held = 0;      // reader.held_bytes() as last counted in readers_held_
    std::uint64_t frame_since_ms = 0;  // when the frame in progress began to arrive (0: none)
    uv::Ptr<uv::Tcp> tcp;
    uv::Ptr<uv::Timer> deadline_timer;
  };

  struct Delayed {
    ConnectionId connection = 0;     // 0: a datagram
    Address datagram_to;
    Bytes bytes;
    bool leaves_queue = false;  // a frame's end of queueing: its size stops counting as pending
    std::size_t size = 0;       // that size
  };

  // Runs an application callback, counting the depth so that destruction from
  // inside one is caught. An exception escaping it is a bug in the
  // application (or the host ran out of memory): run_guarded() reports it and
  // the connection the callback was about (`about`, 0 for none) is dropped.
  // Nothing unwinds into libuv.
  template <typename Fn, typename... Args>
  void call(ConnectionId about, const Fn& callback, Args&&... args) {
    if (!callback) return;
    ++callback_depth_;
    const Escaped escaped = run_guarded("a transport event handler", [&] { callback(std::forward<Args>(args)...); });
    --callback_depth_;
    if (escaped != Escaped::nothing && about != 0) drop(about, internal_error(escaped));
  }
  static Error internal_error(Escaped escaped) {
    return make_error(ErrorKind::io, escaped_drop_reason(escaped));
  }

  Connection* find(ConnectionId id) const {
    auto it = connections_.find(id);
    return it == connections_.end() ? nullptr : it->second.get();
  }

  void accept_one();
  void note_accept_failure(int code);
  bool make_room_for_inbound();
  void open_connection(ConnectionId id);
  void on_read(ConnectionId id, Result<std::size_t> bytes_read);
  void count_reader(Connection& connection, bool frame_done);
  void recount_reader(Connection& connection);  // readers_held_ after its reader changed
  void fit_inbound_buffers();
  bool process(ConnectionId id, Session::Output output);
  void on_write_done(ConnectionId id, Status status);
  void arm_deadline(Connection& connection);
  void on_deadline(ConnectionId id);
  void drop(ConnectionId id, Error reason);
  void defer_drop(ConnectionId id, Error reason);
  void forget(ConnectionId id);
  void check_send_ready(Connection& connection);

  Status send_now(Connection& connection, ByteSpan frame);
  Status write_raw(Connection& connection, ByteSpan payload);
  Status write_sealed(Connection& connection, ByteSpan plaintext);
  wire::FrameLimits outgoing_frame_limits() const {
    return wire::FrameLimits{options_.limits.max_frame_bytes + kMaxSealOverheadBytes};
  }
  void hold(std::uint64_t delay_us, Delayed delayed);
  void release_delayed();

  Status ensure_udp(const Address& like);
  Status send_datagram_now(const Address& to, ByteSpan wire);
  void on_datagram_received(Result<ByteSpan> datagram, const sockaddr* from);

  uv::Loop& loop_;
  UvTransportOptions options_;
  TransportEvents events_;
  std::string self_key_;
  int callback_depth_ = 0;
  TransportStats stats_;
  AcceptFailureNotice accept_failures_;

  uv::Ptr<uv::Tcp> listener_;
  uv::Ptr<uv::Udp> udp_;
  std::unordered_map<ConnectionId, std::unique_ptr<Connection>> connections_;
  std::unordered_map<std::string, std::size_t> inbound_per_host_;
  std::size_t inbound_count_ = 0;
  std::size_t readers_held_ = 0;    // every connection's reader_held
  std::size_t reader_budget_ = 0;   // max_inbound_buffer_bytes, at least one largest frame + 1 MiB
  std::size_t inbound_limit_ = 0;             // max_inbound_connections, within the fd limit (listen())
  std::set<ConnectionId> inbound_handshaking_;  // ids grow: the first is the oldest
  IdentityCounter identities_;
  ConnectionId next_connection_id_ = 1;

  std::unordered_map<TimerId, uv::Ptr<uv::Timer>> timers_;
  TimerId next_timer_id_ = 1;

  std::multimap<std::uint64_t, Delayed> delayed_;  // by due time (loop ms)
  uv::Ptr<uv::Timer> delay_timer_;

  std::vector<std::pair<ConnectionId, Error>> pending_drops_;
  uv::Ptr<uv::Timer> drop_timer_;
};

}  // namespace starling::runtime::detail
