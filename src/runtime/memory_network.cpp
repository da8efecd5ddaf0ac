// The in-memory network. Events are closures in one time-ordered queue; they
// name transports and connections by id and look them up when they run, so a
// transport or connection that went away in the meantime is simply skipped.
#include "starling/runtime/memory_network.h"

#include <map>
#include <new>
#include <optional>
#include <set>
#include <string>

#include "crypto_codec.h"
#include "guard.h"
#include "session.h"
#include "starling/crypto/frame.h"
#include "starling/wire/frame.h"

namespace starling::runtime {

class MemoryTransport;

struct MemoryNetwork::Impl {
  explicit Impl(std::uint64_t seed) : faults(std::mt19937_64(seed ^ 0x5EED'F417'0000'0001ULL)) {}

  // Set by the first handler that ran out of memory; from then on no event runs.
  std::optional<std::string> out_of_memory;

  // `target`: the transport the event acts on (0: none in particular); a
  // paused target's events are held until it resumes.
  void schedule(std::uint64_t at_us, std::function<void()> event, std::uint64_t target = 0) {
    events.emplace(std::make_pair(at_us, next_sequence++), Scheduled{target, std::move(event)});
  }
  std::uint64_t bound_id(const Address& address) const {
    auto it = bindings.find(to_string(address));
    return it == bindings.end() ? 0 : it->second;
  }
  // What a datagram of `payload_bytes` weighs as the real DatagramCipher
  // seals it (the SealedDatagram envelope, encoded by the one codec);
  // remembered per size, as membership datagrams come in a few sizes.
  std::size_t sealed_datagram_bytes(std::size_t payload_bytes) {
    auto found = sealed_datagram_sizes.find(payload_bytes);
    if (found != sealed_datagram_sizes.end()) return found->second;
    crypto::SealedDatagram envelope;
    envelope.ciphertext.resize(payload_bytes + crypto::kDatagramTagBytes);
    auto encoded = codec::encode(envelope);
    const std::size_t size = encoded ? encoded->size() : envelope.ciphertext.size();
    sealed_datagram_sizes.emplace(payload_bytes, size);
    return size;
  }
  void observe(const std::string& from, const std::string& to, ByteSpan bytes, bool datagram) const {
    if (observer) observer(MemoryDelivery{from, to, now_us, bytes, datagram});
  }
  MemoryTransport* transport(std::uint64_t id) const {
    auto it = transports.find(id);
    return it == transports.end() ? nullptr : it->second;
  }
  MemoryTransport* bound(const Address& address) const {
    auto it = bindings.find(to_string(address));
    return it == bindings.end() ? nullptr : transport(it->second);
  }

  std::uint64_t now_us = 0;
  std::uint64_t latency_us = 100;
  std::uint64_t next_sequence = 0;
  struct Scheduled {
    std::uint64_t target = 0;
    std::function<void()> run;
  };
  std::map<std::pair<std::uint64_t, std::uint64_t>, Scheduled> events;  // by (time, sequence)
  std::map<std::uint64_t, std::vector<std::function<void()>>> held;  // paused transport -> its events, in order
  std::function<void(const MemoryDelivery&)> observer;
  std::map<std::size_t, std::size_t> sealed_datagram_sizes;  // payload bytes -> sealed envelope bytes
  FaultPolicy faults;
  std::map<std::uint64_t, MemoryTransport*> transports;
  std::map<std::string, std::uint64_t> bindings;  // address text -> transport id
  std::uint64_t next_transport_id = 1;
};

namespace {
constexpr std::uint16_t kFirstEphemeralPort = 40000;
}

class MemoryTransport final : public Transport {
 public:
  MemoryTransport(MemoryNetwork::Impl& network, std::string host, MemoryTransportOptions options)
      : network_(network), id_(network.next_transport_id++), host_(std::move(host)), options_(std::move(options)) {
    if (!options_.security) options_.security = make_plain_security();
    self_key_ = options_.name;
    network_.transports.emplace(id_, this);
  }

  ~MemoryTransport() override {
    STARLING_ASSERT_MSG(callback_depth_ == 0, "a transport must not be destroyed from its own callback");
    shutdown();
    network_.transports.erase(id_);
    network_.held.erase(id_);
  }

  void set_events(TransportEvents events) override { events_ = std::move(events); }

  Result<Address> listen(const Address& address) override {
    if (listening_) return make_error(ErrorKind::invalid_argument, "already listening");
    if (address.host != host_)
      return make_error(ErrorKind::invalid_argument, "cannot listen on " + address.host + " from host " + host_);
    Address bound = address;
    if (bound.port == 0) bound.port = next_free_port();
    if (network_.bindings.count(to_string(bound)) != 0)
      return make_error(ErrorKind::io, "address in use: " + to_string(bound));
    unbind_datagrams();
    network_.bindings[to_string(bound)] = id_;
    local_ = bound;
    listening_ = true;
    if (self_key_.empty()) self_key_ = to_string(bound);
    return bound;
  }

  Result<ConnectionId> connect(const Address& remote) override {
    const ConnectionId id = next_connection_id_++;
    auto endpoint = std::make_unique<Endpoint>(id, false, remote, *options_.security, options_.limits, now_ms());
    endpoints_.emplace(id, std::move(endpoint));
    arm_deadline(*endpoints_.at(id));
    const Address from = local_address();
    const std::uint64_t self = id_;
    network_.schedule(network_.now_us + network_.latency_us, [net = &network_, self, id, remote, from] {
      MemoryTransport* server = net->bound(remote);
      if (server == nullptr || !server->listening_ || server->options_.firewalled) {
        net->schedule(net->now_us + net->latency_us, [net, self, id] {
          if (MemoryTransport* client = net->transport(self))
            client->drop(id, make_error(ErrorKind::disconnected, "connection refused"));
        }, self);
        return;
      }
      server->on_open(self, id, from);
    }, network_.bound_id(remote));
    return id;
  }

  Status send(ConnectionId id, ByteSpan frame) override {
    Endpoint* endpoint = find(id);
    if (endpoint == nullptr) return make_error(ErrorKind::not_found, "no connection " + std::to_string(id));
    if (frame.size() > options_.limits.max_frame_bytes)
      return make_error(ErrorKind::invalid_argument, "frame of " + std::to_string(frame.size()) +
                                                         " bytes exceeds max_frame_bytes");
    const std::size_t pending = pending_outbound_bytes(id);
    if (pending > 0 && pending + frame.size() > options_.limits.max_pending_outbound_bytes) {
      endpoint->overloaded = true;
      return make_error(ErrorKind::overloaded, "connection " + std::to_string(id) + " has " +
                                                   std::to_string(pending) + " bytes pending");
    }
    if (!endpoint->session.established()) {
      endpoint->session.queue(frame);
      return ok_status();
    }
    send_application(*endpoint, frame);
    return ok_status();
  }

  void close(ConnectionId id) override { forget(id); }

  std::size_t pending_outbound_bytes(ConnectionId id) const override {
    const Endpoint* endpoint = find(id);
    if (endpoint == nullptr) return 0;
    return endpoint->in_flight_bytes + endpoint->delayed_bytes + endpoint->session.queued_bytes();
  }

  Status send_datagram(const Address& to, ByteSpan datagram) override {
    if (!listening_ && ephemeral_.port == 0) {
      ephemeral_ = Address{host_, next_free_port()};
      network_.bindings[to_string(ephemeral_)] = id_;
    }
    Bytes wire(datagram.begin(), datagram.end());
    if (DatagramCipher* cipher = options_.security->datagram_cipher()) {
      auto sealed = cipher->seal(datagram, now_ms());
      if (!sealed) return sealed.error();
      wire = std::move(sealed.value());
    }
    if (wire.size() > options_.limits.max_datagram_bytes)
      return make_error(ErrorKind::invalid_argument, "datagram of " + std::to_string(wire.size()) +
                                                         " bytes exceeds max_datagram_bytes");
    FaultDecision decision = network_.faults.decide(sender_key(), to_string(to), wire.size(), network_.now_us,
                                                    FaultPolicy::Traffic::datagram);
    if (decision.dropped()) {
      ++stats_.datagrams_dropped_by_faults;
      return ok_status();
    }
    const Address from = local_address();
    for (std::size_t copy = 0; copy < decision.copies; ++copy) {
      network_.schedule(network_.now_us + network_.latency_us + decision.delay_us[copy],
                        [net = &network_, to, from, wire, sender = host_] {
                          if (MemoryTransport* receiver = net->bound(to)) {
                            net->observe(sender, receiver->host_, ByteSpan(wire), true);
                            receiver->on_datagram_wire(from, wire);
                          }
                        },
                        network_.bound_id(to));
      ++stats_.datagrams_sent;
      stats_.datagram_bytes_sent += wire.size();
      stats_.secure_wire_bytes_sent +=
          options_.security->datagram_cipher() != nullptr ? wire.size() : network_.sealed_datagram_bytes(wire.size());
    }
    return ok_status();
  }

  TimerId start_timer(std::uint64_t delay_ms, std::function<void()> callback) override {
    const TimerId id = next_timer_id_++;
    timers_.insert(id);
    network_.schedule(network_.now_us + delay_ms * 1000,
                      [net = &network_, self = id_, id, callback = std::move(callback)] {
                        MemoryTransport* transport = net->transport(self);
                        if (transport == nullptr || transport->timers_.erase(id) == 0) return;
                        transport->call(0, callback);
                      },
                      id_);
    return id;
  }

  void cancel_timer(TimerId id) override { timers_.erase(id); }
  std::uint64_t now_ms() const override { return network_.now_us / 1000; }

  void set_peer_label(ConnectionId id, std::string label) override {
    if (Endpoint* endpoint = find(id)) endpoint->peer_label = std::move(label);
  }

  void shutdown() override {
    while (!endpoints_.empty()) forget(endpoints_.begin()->first);
    if (listening_) network_.bindings.erase(to_string(local_));
    listening_ = false;
    unbind_datagrams();
    timers_.clear();
  }

  TransportStats stats() const override { return stats_; }
  std::size_t connection_count() const override { return endpoints_.size(); }

 private:
  struct Endpoint : ConnectionCore {
    using ConnectionCore::ConnectionCore;

    std::uint64_t peer_transport = 0;  // 0 until the other end is known
    ConnectionId peer_connection = 0;
    std::size_t in_flight_bytes = 0;   // sent, not yet delivered
    std::uint64_t check_scheduled_ms = 0;  // 0: no deadline check pending
  };

  // Like the libuv transport: an exception escaping a handler is reported
  // and drops the connection it was about (`about`, 0 for none). Out of
  // memory is no bug and no connection's fault: it stops the whole network
  // (out_of_memory()), whose driver ends the run; carrying on left each
  // later handler failing the same way, and a simulation of half-handled
  // messages that never ended.
  template <typename Fn, typename... Args>
  void call(ConnectionId about, const Fn& callback, Args&&... args) {
    if (!callback) return;
    ++callback_depth_;
    const bool returned = guarded("a transport event handler", [&] {
      try {
        callback(std::forward<Args>(args)...);
      } catch (const std::bad_alloc& error) {
        if (!network_.out_of_memory) network_.out_of_memory = error.what();
      }
    });
    --callback_depth_;
    if (!returned && about != 0) drop(about, make_error(ErrorKind::io, escaped_drop_reason(Escaped::bug)));
  }

  Endpoint* find(ConnectionId id) const {
    auto it = endpoints_.find(id);
    return it == endpoints_.end() ? nullptr : it->second.get();
  }

  std::uint16_t next_free_port() {
    for (;;) {
      const auto port = static_cast<std::uint16_t>(kFirstEphemeralPort + (port_counter_++ % 20000));
      if (network_.bindings.count(to_string(Address{host_, port})) == 0) return port;
    }
  }

  Address local_address() const { return listening_ ? local_ : (ephemeral_.port != 0 ? ephemeral_ : Address{host_, 0}); }
  const std::string& sender_key() {
    if (self_key_.empty()) fallback_key_ = to_string(local_address());
    return self_key_.empty() ? fallback_key_ : self_key_;
  }

  void unbind_datagrams() {
    if (ephemeral_.port != 0) network_.bindings.erase(to_string(ephemeral_));
    ephemeral_ = {};
  }

  // A client knocks: accept it (within the per-host limit) and tell it who we are.
  void on_open(std::uint64_t client_transport, ConnectionId client_connection, const Address& client_address) {
    std::size_t& count = inbound_per_host_[client_address.host];
    if (count >= options_.limits.max_connections_per_address) {
      ++stats_.connections_rejected;
      network_.schedule(network_.now_us + network_.latency_us, [net = &network_, client_transport, client_connection] {
        if (MemoryTransport* client = net->transport(client_transport))
          client->drop(client_connection, make_error(ErrorKind::disconnected, "connection closed by the peer", Reason::closed_by_peer));
      }, client_transport);
      return;
    }
    ++count;
    const ConnectionId id = next_connection_id_++;
    auto endpoint =
        std::make_unique<Endpoint>(id, true, client_address, *options_.security, options_.limits, now_ms());
    endpoint->peer_transport = client_transport;
    endpoint->peer_connection = client_connection;
    endpoints_.emplace(id, std::move(endpoint));
    network_.schedule(network_.now_us + network_.latency_us,
                      [net = &network_, client_transport, client_connection, server = id_, id] {
                        if (MemoryTransport* client = net->transport(client_transport)) {
                          client->on_accepted(client_connection, server, id);
                        } else if (MemoryTransport* self = net->transport(server)) {
                          self->drop(id, make_error(ErrorKind::disconnected, "connection closed by the peer", Reason::closed_by_peer));
                        }
                      },
                      client_transport);
    start_session(id);
  }

  void on_accepted(ConnectionId id, std::uint64_t server_transport, ConnectionId server_connection) {
    Endpoint* endpoint = find(id);
    if (endpoint == nullptr) {
      // We gave up (closed or timed out) before the answer came: hang up.
      send_fin(server_transport, server_connection);
      return;
    }
    endpoint->peer_transport = server_transport;
    endpoint->peer_connection = server_connection;
    start_session(id);
  }

  void start_session(ConnectionId id) {
    Endpoint* endpoint = find(id);
    endpoint->opened = true;
    arm_deadline(*endpoint);
    auto output = endpoint->session.start();
    if (!output) {
      drop(id, output.error());
      return;
    }
    process(id, std::move(output.value()));
  }

  // Returns false when the connection is gone.
  bool process(ConnectionId id, Session::Output output) {
    Endpoint* endpoint = find(id);
    STARLING_ASSERT(endpoint != nullptr);
    for (Bytes& frame : output.handshake_frames) transmit(*endpoint, std::move(frame), 0);
    if (output.established_now) {
      if (!identities_.admit(*endpoint, options_.limits.max_connections_per_identity)) {
        ++stats_.connections_rejected;
        drop(id, make_error(ErrorKind::overloaded, "too many connections from one identity"));
        return false;
      }
      arm_deadline(*endpoint);
      for (const Bytes& queued : endpoint->session.take_queued()) send_application(*endpoint, queued);
      endpoint->announced = true;
      ConnectionInfo info{id, endpoint->remote, endpoint->inbound, endpoint->session.remote_identity()};
      call(id, events_.on_connected, info);
      if (find(id) == nullptr) return false;
    }
    if (output.frame) {
      ++stats_.frames_received;
      call(id, events_.on_frame, id, ByteSpan(*output.frame));
      if (find(id) == nullptr) return false;
    }
    return true;
  }

  // An application frame: through the fault layer, sealed when it leaves.
  void send_application(Endpoint& endpoint, ByteSpan frame) {
    const FaultDecision decision =
        network_.faults.decide(sender_key(), endpoint.peer_label, frame.size(), network_.now_us,
                               FaultPolicy::Traffic::stream);
    if (decision.dropped()) {
      ++stats_.frames_dropped_by_faults;
      return;
    }
    for (std::size_t copy = 0; copy < decision.copies; ++copy) {
      const std::uint64_t now_us = network_.now_us;
      const std::uint64_t due_us = endpoint.due_us(now_us, decision.delay_us[copy], decision.in_order);
      if (endpoint.sends_now(now_us, due_us, decision.in_order)) {
        transmit_sealed(endpoint, frame);
        continue;
      }
      // Held back before sealing, like the libuv transport's delay line, so
      // the sealed stream stays in order however the copies are shuffled.
      // Pending (our queue) until it leaves the queue, then in flight.
      const std::size_t size = frame.size();
      endpoint.delayed_bytes += size;
      ++endpoint.held_frames;
      const std::uint64_t leaves_queue_us = std::min(due_us, now_us + decision.queue_us[copy]);
      network_.schedule(leaves_queue_us, [net = &network_, self = id_, id = endpoint.id, size] {
        MemoryTransport* transport = net->transport(self);
        if (transport == nullptr) return;
        Endpoint* held = transport->find(id);
        if (held == nullptr) return;
        held->delayed_bytes -= size;
        transport->check_send_ready(id);
      });
      network_.schedule(due_us,
                        [net = &network_, self = id_, id = endpoint.id, plaintext = Bytes(frame.begin(), frame.end())] {
                          MemoryTransport* transport = net->transport(self);
                          if (transport == nullptr) return;
                          Endpoint* held = transport->find(id);
                          if (held == nullptr) return;
                          --held->held_frames;
                          transport->transmit_sealed(*held, plaintext);
                          transport->check_send_ready(id);
                        });
    }
  }

  void transmit_sealed(Endpoint& endpoint, ByteSpan plaintext) {
    Bytes wire(endpoint.session.sealed_size(plaintext.size()));
    if (auto status = endpoint.session.seal(plaintext, wire); !status) {
      const ConnectionId id = endpoint.id;
      network_.schedule(network_.now_us, [net = &network_, self = id_, id, error = status.error()] {
        if (MemoryTransport* transport = net->transport(self)) transport->drop(id, error);
      }, id_);
      return;
    }
    ++stats_.frames_sent;
    // A session without a cipher (plain, the simulator's) seals nothing: the
    // real one adds its tag to every application frame.
    const std::size_t missing_tag = endpoint.session.sealed_size(0) == 0 ? crypto::kFrameTagBytes : 0;
    transmit(endpoint, std::move(wire), missing_tag);
  }

  // Puts wire bytes on the link; they arrive after the link's latency.
  // `missing_tag_bytes`: what sealing would have added (byte accounting only).
  void transmit(Endpoint& endpoint, Bytes wire, std::size_t missing_tag_bytes) {
    stats_.bytes_sent += wire.size();
    stats_.secure_wire_bytes_sent += wire::framed_size(wire.size() + missing_tag_bytes);
    endpoint.in_flight_bytes += wire.size();
    const std::uint64_t to = endpoint.peer_transport;
    network_.schedule(network_.now_us + network_.latency_us,
                      [net = &network_, self = id_, id = endpoint.id, to, to_connection = endpoint.peer_connection,
                       wire = std::move(wire), sender_host = host_]() mutable {
                        const std::size_t size = wire.size();
                        if (MemoryTransport* receiver = net->transport(to)) {
                          if (receiver->find(to_connection) != nullptr)
                            net->observe(sender_host, receiver->host_, ByteSpan(wire), false);
                          receiver->on_wire(to_connection, wire);
                        }
                        if (MemoryTransport* sender = net->transport(self)) sender->on_delivered(id, size);
                      },
                      to);
  }

  void on_delivered(ConnectionId id, std::size_t bytes) {
    Endpoint* endpoint = find(id);
    if (endpoint == nullptr) return;
    endpoint->in_flight_bytes -= bytes;
    check_send_ready(id);
  }

  void check_send_ready(ConnectionId id) {
    Endpoint* endpoint = find(id);
    if (endpoint == nullptr || !endpoint->overloaded) return;
    if (pending_outbound_bytes(id) > options_.limits.max_pending_outbound_bytes / 2) return;
    endpoint->overloaded = false;
    call(id, events_.on_send_ready, id);
  }

  void on_wire(ConnectionId id, Bytes& wire) {
    Endpoint* endpoint = find(id);
    if (endpoint == nullptr) return;
    stats_.bytes_received += wire.size();
    if (wire.size() > endpoint->session.max_incoming_wire_bytes()) {
      drop(id, make_error(ErrorKind::overloaded, "incoming frame of " + std::to_string(wire.size()) +
                                                     " bytes exceeds the limit"));
      return;
    }
    auto output = endpoint->session.receive(wire, now_ms());
    if (!output) {
      drop(id, output.error());
      return;
    }
    process(id, std::move(output.value()));
  }

  void on_datagram_wire(const Address& from, const Bytes& wire) {
    if (options_.firewalled) {
      ++stats_.datagrams_dropped_by_faults;  // the host's firewall, not the sender's faults
      return;
    }
    stats_.datagram_bytes_received += wire.size();
    if (wire.size() > options_.limits.max_datagram_bytes) {
      ++stats_.datagrams_rejected;
      return;
    }
    if (DatagramCipher* cipher = options_.security->datagram_cipher()) {
      auto opened = cipher->open(wire, now_ms());
      if (!opened) {
        ++stats_.datagrams_rejected;
        return;
      }
      ++stats_.datagrams_received;
      call(0, events_.on_datagram, from, ByteSpan(opened->payload), opened->sender_identity);
      return;
    }
    ++stats_.datagrams_received;
    call(0, events_.on_datagram, from, ByteSpan(wire), Bytes{});
  }

  void arm_deadline(Endpoint& endpoint) {
    const std::uint64_t deadline = endpoint.session.deadline_ms();
    if (deadline == std::numeric_limits<std::uint64_t>::max()) return;
    // One check per endpoint at a time; a later check re-arms for a moved deadline.
    if (endpoint.check_scheduled_ms != 0 && endpoint.check_scheduled_ms <= deadline) return;
    endpoint.check_scheduled_ms = deadline;
    network_.schedule(deadline * 1000, [net = &network_, self = id_, id = endpoint.id] {
      MemoryTransport* transport = net->transport(self);
      if (transport == nullptr) return;
      Endpoint* checked = transport->find(id);
      if (checked == nullptr) return;
      checked->check_scheduled_ms = 0;
      if (transport->now_ms() >= checked->session.deadline_ms()) {
        transport->drop(id, checked->session.deadline_error());
        return;
      }
      transport->arm_deadline(*checked);
    }, id_);
  }

  void send_fin(std::uint64_t transport_id, ConnectionId connection) {
    network_.schedule(network_.now_us + network_.latency_us, [net = &network_, transport_id, connection] {
      if (MemoryTransport* peer = net->transport(transport_id))
        peer->drop(connection, make_error(ErrorKind::disconnected, "connection closed by the peer", Reason::closed_by_peer));
    }, transport_id);
  }

  void forget(ConnectionId id) {
    auto it = endpoints_.find(id);
    if (it == endpoints_.end()) return;
    std::unique_ptr<Endpoint> endpoint = std::move(it->second);
    endpoints_.erase(it);
    identities_.release(*endpoint);
    if (endpoint->inbound) {
      auto count = inbound_per_host_.find(endpoint->remote.host);
      if (count != inbound_per_host_.end() && --count->second == 0) inbound_per_host_.erase(count);
    }
    if (endpoint->peer_transport != 0) send_fin(endpoint->peer_transport, endpoint->peer_connection);
  }

  void drop(ConnectionId id, Error reason) {
    const Endpoint* endpoint = find(id);
    if (endpoint == nullptr) return;
    // The application never heard of an inbound connection that failed its
    // handshake: nothing to tell it.
    const bool tell = endpoint->announced || !endpoint->inbound;
    reason = with_drop_reason(*endpoint, std::move(reason));
    count_handshake_failure(*endpoint, reason, stats_);
    forget(id);
    if (reason.reason != Reason::closed_by_peer) ++stats_.connections_dropped;
    if (tell) call(0, events_.on_disconnected, id, reason);
  }

  MemoryNetwork::Impl& network_;
  std::uint64_t id_;
  std::string host_;
  MemoryTransportOptions options_;
  TransportEvents events_;
  std::string self_key_;
  std::string fallback_key_;
  int callback_depth_ = 0;
  TransportStats stats_;
  bool listening_ = false;
  Address local_;
  Address ephemeral_;
  std::uint32_t port_counter_ = 0;
  std::map<ConnectionId, std::unique_ptr<Endpoint>> endpoints_;
  std::map<std::string, std::size_t> inbound_per_host_;
  IdentityCounter identities_;
  std::set<TimerId> timers_;
  ConnectionId next_connection_id_ = 1;
  TimerId next_timer_id_ = 1;
};

MemoryNetwork::MemoryNetwork(std::uint64_t seed) : impl_(std::make_unique<Impl>(seed)) {}

MemoryNetwork::~MemoryNetwork() {
  STARLING_ASSERT_MSG(impl_->transports.empty(), "memory network destroyed before its transports");
}

std::unique_ptr<Transport> MemoryNetwork::create_transport(std::string host, MemoryTransportOptions options) {
  return std::make_unique<MemoryTransport>(*impl_, std::move(host), std::move(options));
}

FaultPolicy& MemoryNetwork::faults() { return impl_->faults; }
void MemoryNetwork::set_latency_us(std::uint64_t latency_us) { impl_->latency_us = latency_us; }
std::uint64_t MemoryNetwork::now_us() const { return impl_->now_us; }
std::size_t MemoryNetwork::pending_events() const { return impl_->events.size(); }

void MemoryNetwork::set_delivery_observer(std::function<void(const MemoryDelivery&)> observer) {
  impl_->observer = std::move(observer);
}

namespace {
std::uint64_t id_of(const MemoryNetwork::Impl& impl, const Transport& transport) {
  for (const auto& [id, candidate] : impl.transports) {
    if (static_cast<const Transport*>(candidate) == &transport) return id;
  }
  STARLING_ASSERT_MSG(false, "not a transport of this memory network");
  return 0;
}
}  // namespace

void MemoryNetwork::pause(const Transport& transport) {
  impl_->held.try_emplace(id_of(*impl_, transport));
}

void MemoryNetwork::resume(const Transport& transport) {
  auto held = impl_->held.find(id_of(*impl_, transport));
  if (held == impl_->held.end()) return;
  std::vector<std::function<void()>> events = std::move(held->second);
  impl_->held.erase(held);
  // Everything that came due while it was stopped runs now, in its order.
  for (auto& event : events) impl_->schedule(impl_->now_us, std::move(event));
}

bool MemoryNetwork::paused(const Transport& transport) const {
  return impl_->held.count(id_of(*impl_, transport)) != 0;
}

const std::optional<std::string>& MemoryNetwork::out_of_memory() const { return impl_->out_of_memory; }

bool MemoryNetwork::step() {
  if (impl_->events.empty() || impl_->out_of_memory) return false;
  auto node = impl_->events.extract(impl_->events.begin());
  impl_->now_us = std::max(impl_->now_us, node.key().first);
  Impl::Scheduled& event = node.mapped();
  if (event.target != 0) {
    if (auto held = impl_->held.find(event.target); held != impl_->held.end()) {
      held->second.push_back(std::move(event.run));
      return true;
    }
  }
  event.run();
  return true;
}

std::size_t MemoryNetwork::run_for(std::uint64_t duration_us, std::size_t max_events) {
  const std::uint64_t end_us = impl_->now_us + duration_us;
  std::size_t ran = 0;
  while (ran < max_events && !impl_->out_of_memory && !impl_->events.empty() &&
         impl_->events.begin()->first.first <= end_us) {
    step();
    ++ran;
  }
  impl_->now_us = std::max(impl_->now_us, end_us);
  return ran;
}

bool MemoryNetwork::run_until(const std::function<bool()>& done, std::uint64_t timeout_us, std::size_t max_events) {
  const std::uint64_t end_us = impl_->now_us + timeout_us;
  for (std::size_t ran = 0; ran < max_events && !done(); ++ran) {
    if (impl_->out_of_memory || impl_->events.empty() || impl_->events.begin()->first.first > end_us) {
      impl_->now_us = std::max(impl_->now_us, end_us);
      break;
    }
    step();
  }
  return done();
}

}  // namespace starling::runtime
