// apps::collect_peer_metrics: node::PeerStatus into runtime::PeerMetrics
// (members by state with zeros, membership events and handshake failures by
// name, message kinds per channel in the wire's spelling).
#include <catch2/catch.hpp>

#include <algorithm>

#include <string>

#include "peer_metrics.h"

using namespace starling;

namespace {

std::uint64_t count_of(const std::vector<runtime::LabelledCount>& values, const std::string& label) {
  for (const auto& entry : values)
    if (entry.label == label) return entry.value;
  FAIL("no entry " << label);
  return 0;
}

}  // namespace

TEST_CASE("peer metrics are collected from the peer's status", "[apps][metrics]") {
  node::PeerStatus status;
  status.started = true;
  status.joined = true;
  status.profile = "wan";
  status.view.self.address = "10.0.0.1:7946";
  status.view.self.incarnation = 4;
  status.view.uptime_ms = 2500;
  for (gossip::MemberState state : {gossip::MemberState::alive, gossip::MemberState::alive,
                                    gossip::MemberState::suspect, gossip::MemberState::left}) {
    gossip::MemberView member;
    member.record.state = state;
    status.view.members.push_back(member);
  }
  status.membership_events.member_suspected = 3;
  status.membership_events.member_dead = 1;
  status.membership_events.self_refuted = 2;
  status.transport.handshake_failures.security = 5;
  status.transport.handshake_failures.timeout = 1;
  status.transport.bytes_sent = 999;
  node::count_sent(status.membership_traffic.by_kind, "push-pull", 100);
  node::count_received(status.membership_traffic.by_kind, "ping", 40);
  node::TrainingDriverStatus training;
  node::count_sent(training.traffic_by_kind, "delta", 300);
  node::count_sent(training.traffic_by_kind, "delta", 200);
  status.training = training;

  const runtime::PeerMetrics m = apps::collect_peer_metrics(status, nullptr);
  CHECK(m.address == "10.0.0.1:7946");
  CHECK(m.profile == "wan");
  // The binary's version (project(VERSION) in CMakeLists.txt), e.g. 0.1.0.
  CHECK(std::count(m.version.begin(), m.version.end(), '.') == 2);
  CHECK(m.incarnation == 4);
  CHECK(m.uptime_seconds == 2.5);
  CHECK(m.joined);
  CHECK(count_of(m.members_by_state, "alive") == 2);
  CHECK(count_of(m.members_by_state, "suspect") == 1);
  CHECK(count_of(m.members_by_state, "dead") == 0);
  CHECK(count_of(m.members_by_state, "left") == 1);
  CHECK(count_of(m.membership_events, "member_suspected") == 3);
  CHECK(count_of(m.membership_events, "member_dead") == 1);
  CHECK(count_of(m.membership_events, "self_refuted") == 2);
  CHECK(count_of(m.handshake_failures, "security") == 5);
  CHECK(count_of(m.handshake_failures, "timeout") == 1);
  CHECK(m.stream_bytes_sent == 999);
  REQUIRE(m.messages.size() == 3);
  bool push_pull = false, delta = false;
  for (const auto& k : m.messages) {
    if (k.channel == "membership" && k.kind == "push_pull") push_pull = k.messages_sent == 1 && k.bytes_sent == 100;
    if (k.channel == "training" && k.kind == "delta") delta = k.messages_sent == 2 && k.bytes_sent == 500;
  }
  CHECK(push_pull);
  CHECK(delta);
  CHECK_FALSE(m.training.has_value());  // no PeerTraining: membership only
}
