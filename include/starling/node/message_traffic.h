// Messages and their encoded bytes per message kind ("ping", "delta",
// "model_chunk", ...), as the drivers send and receive them: what
// `starling peer --metrics` breaks traffic down by. Counted before framing
// and sealing (TransportStats has the wire bytes).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace starling::node {

struct KindTraffic {
  std::uint64_t messages_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t messages_received = 0;
  std::uint64_t bytes_received = 0;
};

// Keyed by the message's stable name (gossip::body_name, wire::message_name).
using TrafficByKind = std::map<std::string, KindTraffic, std::less<>>;

inline KindTraffic& traffic_of(TrafficByKind& traffic, std::string_view kind) {
  auto found = traffic.find(kind);
  if (found == traffic.end()) found = traffic.emplace(std::string(kind), KindTraffic{}).first;
  return found->second;
}

inline void count_sent(TrafficByKind& traffic, std::string_view kind, std::uint64_t bytes) {
  KindTraffic& entry = traffic_of(traffic, kind);
  ++entry.messages_sent;
  entry.bytes_sent += bytes;
}

inline void count_received(TrafficByKind& traffic, std::string_view kind, std::uint64_t bytes) {
  KindTraffic& entry = traffic_of(traffic, kind);
  ++entry.messages_received;
  entry.bytes_received += bytes;
}

}  // namespace starling::node
