// The libuv transport's UDP side: one socket sharing the listen port, sealed
// datagrams (when security provides a cipher) and the fault layer.
#include <chrono>
#include <string>

#include "uv_transport_impl.h"

namespace starling::runtime::detail {

namespace {

// Datagram freshness windows compare clocks across machines: wall time, not
// the loop's monotonic clock.
std::uint64_t wall_clock_ms() {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

}  // namespace

// ---- datagrams ----

Status UvTransport::ensure_udp(const Address& like) {
  if (udp_) return ok_status();
  const bool ipv6 = like.host.find(':') != std::string::npos;
  auto any = uv::to_sockaddr(Address{ipv6 ? "::" : "0.0.0.0", 0});
  auto udp = uv::Udp::create(loop_);
  if (auto status = udp->bind(reinterpret_cast<sockaddr*>(&any.value())); !status) return status;
  if (auto status = udp->receive_start([this](Result<ByteSpan> datagram, const sockaddr* from) {
        on_datagram_received(std::move(datagram), from);
      });
      !status)
    return status;
  udp_ = std::move(udp);
  return ok_status();
}

Status UvTransport::send_datagram(const Address& to, ByteSpan datagram) {
  loop_.assert_on_loop_thread();
  if (auto status = ensure_udp(to); !status) return status;
  Bytes sealed;
  ByteSpan wire = datagram;
  if (DatagramCipher* cipher = options_.security->datagram_cipher()) {
    auto result = cipher->seal(datagram, wall_clock_ms());
    if (!result) return result.error();
    sealed = std::move(result.value());
    wire = sealed;
  }
  if (wire.size() > options_.limits.max_datagram_bytes)
    return make_error(ErrorKind::invalid_argument, "datagram of " + std::to_string(wire.size()) +
                                                       " bytes exceeds max_datagram_bytes");
  if (options_.faults && options_.faults->active()) {
    const FaultDecision decision = options_.faults->decide(self_key_, to_string(to), wire.size(), loop_.now_ms() * 1000,
                                                           FaultPolicy::Traffic::datagram);
    if (decision.dropped()) {
      ++stats_.datagrams_dropped_by_faults;
      return ok_status();
    }
    for (std::size_t copy = 0; copy < decision.copies; ++copy) {
      if (decision.delay_us[copy] == 0) {
        if (auto status = send_datagram_now(to, wire); !status) return status;
      } else {
        Delayed delayed;
        delayed.datagram_to = to;
        delayed.bytes.assign(wire.begin(), wire.end());
        hold(decision.delay_us[copy], std::move(delayed));
      }
    }
    return ok_status();
  }
  return send_datagram_now(to, wire);
}

Status UvTransport::send_datagram_now(const Address& to, ByteSpan wire) {
  if (!udp_) return make_error(ErrorKind::disconnected, "datagram socket closed");
  auto destination = uv::to_sockaddr(to);
  if (!destination) return destination.error();
  if (auto status = udp_->send(reinterpret_cast<sockaddr*>(&destination.value()), wire); !status) return status;
  ++stats_.datagrams_sent;
  stats_.datagram_bytes_sent += wire.size();
  stats_.secure_wire_bytes_sent += wire.size();
  return ok_status();
}

void UvTransport::on_datagram_received(Result<ByteSpan> datagram, const sockaddr* from) {
  if (!datagram || from == nullptr) {
    ++stats_.datagrams_rejected;
    return;
  }
  stats_.datagram_bytes_received += datagram->size();
  if (datagram->size() > options_.limits.max_datagram_bytes) {
    ++stats_.datagrams_rejected;
    return;
  }
  const Address sender = uv::from_sockaddr(from);
  if (DatagramCipher* cipher = options_.security->datagram_cipher()) {
    auto opened = cipher->open(*datagram, wall_clock_ms());
    if (!opened) {
      ++stats_.datagrams_rejected;
      return;
    }
    ++stats_.datagrams_received;
    call(0, events_.on_datagram, sender, ByteSpan(opened->payload), opened->sender_identity);
    return;
  }
  ++stats_.datagrams_received;
  call(0, events_.on_datagram, sender, *datagram, Bytes{});
}

}  // namespace starling::runtime::detail
