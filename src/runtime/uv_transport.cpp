// The libuv transport: listening, connecting, frames, deadlines, timers.
// Datagrams live in uv_transport_datagrams.cpp.
#include <sys/resource.h>

#include <algorithm>
#include <string>

#include "event_loop_impl.h"
#include "uv_transport_impl.h"

namespace starling::runtime {

namespace detail {

namespace {
constexpr int kListenBacklog = 128;
constexpr int kUdpBindAttempts = 16;

// max_inbound_connections, kept under half the soft open-file limit: past it
// accept() fails (libuv then accepts and closes in a loop), and so do our own
// dials, checkpoint writes and the metrics listener.
std::size_t inbound_limit(std::size_t configured) {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur == RLIM_INFINITY) return configured;
  return std::min<std::size_t>(configured, std::max<std::size_t>(files.rlim_cur / 2, 1));
}
}  // namespace

UvTransport::UvTransport(EventLoop& loop, UvTransportOptions options)
    : loop_(loop.impl().loop), options_(std::move(options)) {
  if (!options_.security) options_.security = make_plain_security();
  self_key_ = options_.name;
  // A frame's payload is one Cap'n Proto Data list (under 2^29 bytes); a
  // larger limit is a configuration bug.
  STARLING_ASSERT_MSG(options_.limits.max_frame_bytes + kMaxSealOverheadBytes < (std::size_t{1} << 29),
                      "max_frame_bytes does not fit one wire frame");
  reader_budget_ = std::max(options_.limits.max_inbound_buffer_bytes,
                            options_.limits.max_frame_bytes + kMaxSealOverheadBytes + (std::size_t{1} << 20));
}

UvTransport::~UvTransport() {
  STARLING_ASSERT_MSG(callback_depth_ == 0, "a transport must not be destroyed from its own callback");
  shutdown();
}

// ---- listening and connecting ----

Result<Address> UvTransport::listen(const Address& address) {
  loop_.assert_on_loop_thread();
  if (listener_) return make_error(ErrorKind::invalid_argument, "already listening");
  auto sockaddr_or = uv::to_sockaddr(address);
  if (!sockaddr_or) return sockaddr_or.error();
  // TCP and UDP share the port number, so a peer has one address. With port 0
  // the kernel picks a TCP port that may be taken for UDP: try again.
  Error last_error = make_error(ErrorKind::io, "no port found");
  for (int attempt = 0; attempt < kUdpBindAttempts; ++attempt) {
    auto tcp = uv::Tcp::create(loop_);
    auto* raw = reinterpret_cast<sockaddr*>(&sockaddr_or.value());
    if (auto status = tcp->bind(raw); !status) return status.error();
    if (auto status = tcp->listen(kListenBacklog, [this](int accepted) {
          if (accepted == 0) {
            accept_one();
          } else {
            note_accept_failure(accepted);
          }
        });
        !status)
      return status.error();
    auto bound = tcp->local_address();
    if (!bound) return bound.error();
    auto udp_address = uv::to_sockaddr(*bound);
    auto udp = uv::Udp::create(loop_);
    if (auto status = udp->bind(reinterpret_cast<sockaddr*>(&udp_address.value())); !status) {
      last_error = status.error();
      if (address.port != 0) return last_error;
      continue;
    }
    if (auto status = udp->receive_start([this](Result<ByteSpan> datagram, const sockaddr* from) {
          on_datagram_received(std::move(datagram), from);
        });
        !status)
      return status.error();
    listener_ = std::move(tcp);
    udp_ = std::move(udp);
    inbound_limit_ = inbound_limit(options_.limits.max_inbound_connections);
    if (self_key_.empty()) self_key_ = to_string(*bound);
    return *bound;
  }
  return last_error;
}

void UvTransport::accept_one() {
  auto tcp = uv::Tcp::create(loop_);
  if (!listener_->accept(*tcp)) return;
  auto remote = tcp->peer_address();
  if (!remote) return;  // the peer already left
  const auto per_host = inbound_per_host_.find(remote->host);
  const bool host_full =
      per_host != inbound_per_host_.end() && per_host->second >= options_.limits.max_connections_per_address;
  if (host_full || !make_room_for_inbound()) {
    ++stats_.connections_rejected;
    return;  // tcp closes as it goes out of scope
  }
  ++inbound_per_host_[remote->host];
  ++inbound_count_;
  const ConnectionId id = next_connection_id_++;
  auto connection =
      std::make_unique<Connection>(id, true, *remote, *options_.security, options_.limits, loop_.now_ms());
  connection->tcp = std::move(tcp);
  connections_.emplace(id, std::move(connection));
  inbound_handshaking_.insert(id);
  open_connection(id);
}

// Out of file descriptors (or another accept error): said, at most once a
// minute, where it used to pass in silence while every newcomer was turned away.
void UvTransport::note_accept_failure(int code) {
  ++stats_.connections_rejected;
  const AcceptFailure cause = code == UV_EMFILE   ? AcceptFailure::process_file_limit
                              : code == UV_ENFILE ? AcceptFailure::system_file_limit
                                                  : AcceptFailure::other;
  std::optional<std::uint64_t> file_limit;
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY)
    file_limit = files.rlim_cur;
  const auto line = accept_failures_.failed(cause, uv::make_error_from(code, "accept").message, loop_.now_ms(), file_limit);
  if (line && options_.on_warning) options_.on_warning(*line);
}

// Under the handshaking or the inbound limit, evicts the oldest connection
// still in its handshake: an honest one is long done, so what goes is a
// stranger's idle socket. False: every inbound slot holds an established
// connection.
bool UvTransport::make_room_for_inbound() {
  const bool full = inbound_count_ >= inbound_limit_ ||
                    inbound_handshaking_.size() >= options_.limits.max_handshaking_connections;
  if (!full) return true;
  if (inbound_handshaking_.empty()) return false;
  ++stats_.connections_rejected;
  drop(*inbound_handshaking_.begin(), make_error(ErrorKind::overloaded, "evicted: too many inbound handshakes"));
  return true;
}

Result<ConnectionId> UvTransport::connect(const Address& remote) {
  loop_.assert_on_loop_thread();
  // connect() may come between runs of the loop (ControlClient::exchange),
  // when libuv's cached time is as old as the last run: the handshake
  // deadline armed below must count from now.
  uv_update_time(loop_.get());
  auto sockaddr_or = uv::to_sockaddr(remote);
  if (!sockaddr_or) return sockaddr_or.error();
  const ConnectionId id = next_connection_id_++;
  auto connection =
      std::make_unique<Connection>(id, false, remote, *options_.security, options_.limits, loop_.now_ms());
  connection->tcp = uv::Tcp::create(loop_);
  auto status = connection->tcp->connect(reinterpret_cast<sockaddr*>(&sockaddr_or.value()), [this, id](Status connected) {
    if (!connected) {
      drop(id, connected.error());
      return;
    }
    open_connection(id);
  });
  if (!status) return status.error();
  Connection& ref = *connection;
  connections_.emplace(id, std::move(connection));
  // The handshake deadline also bounds the TCP connect itself.
  arm_deadline(ref);
  return id;
}

// The socket is connected: start reading and the handshake.
void UvTransport::open_connection(ConnectionId id) {
  Connection* connection = find(id);
  if (connection == nullptr) return;
  connection->opened = true;
  (void)connection->tcp->set_nodelay(true);
  connection->tcp->set_on_write_done([this, id](Status status, std::size_t) { on_write_done(id, std::move(status)); });
  auto reading = connection->tcp->read_start(
      [this, id](std::size_t suggested) -> std::span<std::uint8_t> {
        Connection* c = find(id);
        if (c == nullptr) return {};
        return c->reader.prepare(suggested);
      },
      [this, id](Result<std::size_t> bytes_read) {
        const Escaped escaped = run_guarded("the transport's read path", [&] { on_read(id, std::move(bytes_read)); });
        if (escaped != Escaped::nothing) drop(id, internal_error(escaped));
      });
  if (!reading) {
    drop(id, reading.error());
    return;
  }
  arm_deadline(*connection);
  auto output = connection->session.start();
  if (!output) {
    drop(id, output.error());
    return;
  }
  process(id, std::move(output.value()));
}

// ---- receiving ----

void UvTransport::on_read(ConnectionId id, Result<std::size_t> bytes_read) {
  Connection* connection = find(id);
  if (connection == nullptr) return;
  if (!bytes_read) {
    drop(id, bytes_read.error());
    return;
  }
  connection->reader.commit(*bytes_read);
  stats_.bytes_received += *bytes_read;
  bool frame_done = false;
  for (;;) {
    connection->reader.set_limits(wire::FrameLimits{connection->session.max_incoming_wire_bytes()});
    auto frame = connection->reader.next();
    if (!frame) {
      drop(id, frame.error());
      return;
    }
    if (!frame->has_value()) {
      count_reader(*connection, frame_done);
      fit_inbound_buffers();
      return;
    }
    frame_done = true;
    auto output = connection->session.receive(**frame, loop_.now_ms());
    if (!output) {
      drop(id, output.error());
      return;
    }
    if (!process(id, std::move(output.value()))) return;
    connection = find(id);
    if (connection == nullptr) return;
  }
}

// After a read, with every whole frame taken: what the connection's reader
// holds now, and since when its frame in progress has been arriving.
void UvTransport::count_reader(Connection& connection, bool frame_done) {
  // Large buffers of a reader between frames go back at once (it kept up to
  // 8 MiB for the next frame: a member could finish one large frame on each of
  // hundreds of connections, then hold them idle).
  if (connection.reader.held_bytes() > (std::size_t{1} << 20)) connection.reader.release_if_idle();
  const bool in_progress = connection.reader.buffered_bytes() != 0;
  if (!in_progress) {
    connection.frame_since_ms = 0;
  } else if (frame_done || connection.frame_since_ms == 0) {
    connection.frame_since_ms = loop_.now_ms() + 1;  // + 1: 0 means none
  }
  recount_reader(connection);
}

void UvTransport::recount_reader(Connection& connection) {
  readers_held_ = readers_held_ - connection.reader_held + connection.reader.held_bytes();
  connection.reader_held = connection.reader.held_bytes();
}

// Keeps the readers' memory within the budget: idle readers give their
// buffers back, then the connections whose frame in progress began first are
// dropped (an honest frame arrives at the path's speed; frames held unfinished
// to pin our memory are the old ones).
void UvTransport::fit_inbound_buffers() {
  if (readers_held_ <= reader_budget_) return;
  std::vector<std::pair<std::uint64_t, ConnectionId>> in_progress;
  for (auto& [id, connection] : connections_) {
    if (connection->frame_since_ms == 0) {
      connection->reader.release_if_idle();
      recount_reader(*connection);
    } else {
      in_progress.emplace_back(connection->frame_since_ms, id);
    }
  }
  std::sort(in_progress.begin(), in_progress.end());
  for (const auto& [since, id] : in_progress) {
    if (readers_held_ <= reader_budget_) break;
    drop(id, make_error(ErrorKind::overloaded,
                        "inbound frames in progress on all connections passed " + std::to_string(reader_budget_) +
                            " bytes (max_inbound_buffer_bytes): this connection's frame had waited longest"));
  }
}

// Acts on what the session decided. Returns false when the connection is gone.
bool UvTransport::process(ConnectionId id, Session::Output output) {
  Connection* connection = find(id);
  STARLING_ASSERT(connection != nullptr);
  for (const Bytes& frame : output.handshake_frames) {
    if (auto status = write_raw(*connection, frame); !status) {
      drop(id, status.error());
      return false;
    }
  }
  if (output.established_now) {
    inbound_handshaking_.erase(id);
    if (!identities_.admit(*connection, options_.limits.max_connections_per_identity)) {
      ++stats_.connections_rejected;
      drop(id, make_error(ErrorKind::overloaded, "too many connections from one identity"));
      return false;
    }
    arm_deadline(*connection);
    for (const Bytes& queued : connection->session.take_queued()) {
      if (auto status = send_now(*connection, queued); !status) {
        drop(id, status.error());
        return false;
      }
    }
    connection->announced = true;
    ConnectionInfo info{id, connection->remote, connection->inbound, connection->session.remote_identity()};
    call(id, events_.on_connected, info);
    connection = find(id);
    if (connection == nullptr) return false;
  }
  if (output.frame) {
    ++stats_.frames_received;
    call(id, events_.on_frame, id, ByteSpan(*output.frame));
    if (find(id) == nullptr) return false;
  }
  return true;
}

// ---- sending ----

std::size_t UvTransport::pending_outbound_bytes(ConnectionId id) const {
  const Connection* connection = find(id);
  if (connection == nullptr) return 0;
  const std::size_t in_socket = connection->tcp ? connection->tcp->write_queue_bytes() : 0;
  return in_socket + connection->session.queued_bytes() + connection->delayed_bytes;
}

Status UvTransport::send(ConnectionId id, ByteSpan frame) {
  loop_.assert_on_loop_thread();
  Connection* connection = find(id);
  if (connection == nullptr) return make_error(ErrorKind::not_found, "no connection " + std::to_string(id));
  if (frame.size() > options_.limits.max_frame_bytes)
    return make_error(ErrorKind::invalid_argument, "frame of " + std::to_string(frame.size()) +
                                                       " bytes exceeds max_frame_bytes");
  const std::size_t pending = pending_outbound_bytes(id);
  if (pending > 0 && pending + frame.size() > options_.limits.max_pending_outbound_bytes) {
    connection->overloaded = true;
    return make_error(ErrorKind::overloaded, "connection " + std::to_string(id) + " has " + std::to_string(pending) +
                                                 " bytes pending");
  }
  if (!connection->session.established()) {
    connection->session.queue(frame);
    return ok_status();
  }
  if (auto status = send_now(*connection, frame); !status) {
    // Reported as on_disconnected, never from inside send().
    defer_drop(id, status.error());
  }
  return ok_status();
}

// One established frame through the fault layer and out.
Status UvTransport::send_now(Connection& connection, ByteSpan frame) {
  FaultDecision decision;  // one copy now, behind any frame still held
  const std::uint64_t now_us = loop_.now_ms() * 1000;
  if (options_.faults && options_.faults->active())
    decision = options_.faults->decide(self_key_, connection.peer_label, frame.size(), now_us,
                                      FaultPolicy::Traffic::stream);
  if (decision.dropped()) {
    ++stats_.frames_dropped_by_faults;
    return ok_status();
  }
  for (std::size_t copy = 0; copy < decision.copies; ++copy) {
    const std::uint64_t due_us = connection.due_us(now_us, decision.delay_us[copy], decision.in_order);
    if (connection.sends_now(now_us, due_us, decision.in_order)) {
      if (auto status = write_sealed(connection, frame); !status) return status;
      continue;
    }
    // Pending (our queue) until it leaves the queue, then in flight on the
    // path until due.
    connection.delayed_bytes += frame.size();
    ++connection.held_frames;
    Delayed leaves;
    leaves.connection = connection.id;
    leaves.leaves_queue = true;
    leaves.size = frame.size();
    hold(std::min(due_us - now_us, decision.queue_us[copy]), std::move(leaves));
    Delayed delayed;
    delayed.connection = connection.id;
    delayed.bytes.assign(frame.begin(), frame.end());
    hold(due_us - now_us, std::move(delayed));
  }
  return ok_status();
}

// Seals straight into the frame's payload: one pass over the bytes.
Status UvTransport::write_sealed(Connection& connection, ByteSpan plaintext) {
  const std::size_t sealed = connection.session.sealed_size(plaintext.size());
  Bytes buffer;
  auto payload = wire::frame_in_place(sealed, buffer, outgoing_frame_limits());
  if (!payload) return payload.error();
  if (auto status = connection.session.seal(plaintext, *payload); !status) return status;
  const std::size_t total = buffer.size();
  if (auto status = connection.tcp->write(std::move(buffer)); !status) return status;
  ++stats_.frames_sent;
  stats_.bytes_sent += total;
  stats_.secure_wire_bytes_sent += total;
  return ok_status();
}

Status UvTransport::write_raw(Connection& connection, ByteSpan payload) {
  auto framed = wire::frame(payload, outgoing_frame_limits());
  if (!framed) return framed.error();
  const std::size_t total = framed->size();
  if (auto status = connection.tcp->write(std::move(framed).value()); !status) return status;
  stats_.bytes_sent += total;
  stats_.secure_wire_bytes_sent += total;
  return ok_status();
}

void UvTransport::on_write_done(ConnectionId id, Status status) {
  Connection* connection = find(id);
  if (connection == nullptr) return;
  if (!status) {
    drop(id, status.error());
    return;
  }
  check_send_ready(*connection);
}

void UvTransport::check_send_ready(Connection& connection) {
  if (!connection.overloaded) return;
  if (pending_outbound_bytes(connection.id) > options_.limits.max_pending_outbound_bytes / 2) return;
  connection.overloaded = false;
  call(connection.id, events_.on_send_ready, connection.id);
}

// ---- the fault layer's delay line ----

void UvTransport::hold(std::uint64_t delay_us, Delayed delayed) {
  const std::uint64_t due_ms = loop_.now_ms() + (delay_us + 999) / 1000;
  delayed_.emplace(due_ms, std::move(delayed));
  if (!delay_timer_) delay_timer_ = uv::Timer::create(loop_);
  const std::uint64_t next_due = delayed_.begin()->first;
  delay_timer_->start(next_due > loop_.now_ms() ? next_due - loop_.now_ms() : 0, [this] { release_delayed(); });
}

void UvTransport::release_delayed() {
  const std::uint64_t now = loop_.now_ms();
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    Delayed item = std::move(delayed_.begin()->second);
    delayed_.erase(delayed_.begin());
    if (item.connection == 0) {
      (void)send_datagram_now(item.datagram_to, item.bytes);
      continue;
    }
    Connection* connection = find(item.connection);
    if (connection == nullptr) continue;
    if (item.leaves_queue) {
      connection->delayed_bytes -= item.size;
      check_send_ready(*connection);
      continue;
    }
    --connection->held_frames;
    if (auto status = write_sealed(*connection, item.bytes); !status) {
      drop(item.connection, status.error());
      continue;
    }
    check_send_ready(*connection);
  }
  if (!delayed_.empty()) {
    const std::uint64_t next_due = delayed_.begin()->first;
    delay_timer_->start(next_due > now ? next_due - now : 0, [this] { release_delayed(); });
  }
}

// ---- deadlines and closing ----

void UvTransport::arm_deadline(Connection& connection) {
  const std::uint64_t deadline = connection.session.deadline_ms();
  if (deadline == std::numeric_limits<std::uint64_t>::max()) {
    if (connection.deadline_timer) connection.deadline_timer->stop();
    return;
  }
  if (!connection.deadline_timer) connection.deadline_timer = uv::Timer::create(loop_);
  const std::uint64_t now = loop_.now_ms();
  const ConnectionId id = connection.id;
  connection.deadline_timer->start(deadline > now ? deadline - now : 0, [this, id] { on_deadline(id); });
}

void UvTransport::on_deadline(ConnectionId id) {
  Connection* connection = find(id);
  if (connection == nullptr) return;
  if (loop_.now_ms() >= connection->session.deadline_ms()) {
    drop(id, connection->session.deadline_error());
    return;
  }
  arm_deadline(*connection);  // traffic arrived meanwhile: wait for the new deadline
}

void UvTransport::forget(ConnectionId id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  std::unique_ptr<Connection> connection = std::move(it->second);
  connections_.erase(it);
  readers_held_ -= connection->reader_held;
  identities_.release(*connection);
  if (connection->inbound) {
    inbound_handshaking_.erase(id);
    --inbound_count_;
    auto count = inbound_per_host_.find(connection->remote.host);
    if (count != inbound_per_host_.end() && --count->second == 0) inbound_per_host_.erase(count);
  }
  // Dropping the handles closes them; libuv frees them in their close callbacks.
}

void UvTransport::drop(ConnectionId id, Error reason) {
  const Connection* connection = find(id);
  if (connection == nullptr) return;
  // The application never heard of an inbound connection that failed its
  // handshake: nothing to tell it.
  const bool tell = connection->announced || !connection->inbound;
  reason = with_drop_reason(*connection, std::move(reason));
  count_handshake_failure(*connection, reason, stats_);
  forget(id);
  // A connection the other end closed once done (a status client that has
  // its answer) is no error: they made this counter climb once a second
  // under `starling top`.
  if (reason.reason != Reason::closed_by_peer) ++stats_.connections_dropped;
  if (tell) call(0, events_.on_disconnected, id, reason);
}

void UvTransport::defer_drop(ConnectionId id, Error reason) {
  pending_drops_.emplace_back(id, std::move(reason));
  if (!drop_timer_) drop_timer_ = uv::Timer::create(loop_);
  drop_timer_->start(0, [this] {
    auto drops = std::exchange(pending_drops_, {});
    for (auto& [dropped_id, dropped_reason] : drops) drop(dropped_id, std::move(dropped_reason));
  });
}

void UvTransport::close(ConnectionId id) {
  loop_.assert_on_loop_thread();
  forget(id);
}

void UvTransport::set_peer_label(ConnectionId id, std::string label) {
  if (Connection* connection = find(id)) connection->peer_label = std::move(label);
}

void UvTransport::shutdown() {
  loop_.assert_on_loop_thread();
  listener_.reset();
  udp_.reset();
  connections_.clear();
  inbound_per_host_.clear();
  inbound_count_ = 0;
  inbound_handshaking_.clear();
  identities_.clear();
  timers_.clear();
  delayed_.clear();
  delay_timer_.reset();
  pending_drops_.clear();
  drop_timer_.reset();
}

// ---- timers ----

TimerId UvTransport::start_timer(std::uint64_t delay_ms, std::function<void()> callback) {
  loop_.assert_on_loop_thread();
  const TimerId id = next_timer_id_++;
  auto timer = uv::Timer::create(loop_);
  timer->start(delay_ms, [this, id, callback = std::move(callback)] {
    timers_.erase(id);  // closes the handle; this lambda was moved out of it
    call(0, callback);
  });
  timers_.emplace(id, std::move(timer));
  return id;
}

void UvTransport::cancel_timer(TimerId id) {
  loop_.assert_on_loop_thread();
  timers_.erase(id);
}

}  // namespace detail

std::unique_ptr<Transport> make_uv_transport(EventLoop& loop, UvTransportOptions options) {
  return std::make_unique<detail::UvTransport>(loop, std::move(options));
}

}  // namespace starling::runtime
