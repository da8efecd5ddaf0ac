#include <catch2/catch.hpp>

#include <vector>

#include "json_text.h"
#include "peer_metrics.h"
#include "peer_status.h"
#include "starling/text.h"

using namespace starling;

// Regression: nlohmann's plain dump() throws type_error 316 on invalid UTF-8.
// The status answer is written inside a libuv read callback, so one member
// that got a non-UTF-8 address into our view used to terminate every peer
// asked for its status.
TEST_CASE("status JSON built from a view holding invalid UTF-8 does not throw", "[apps][status]") {
  gossip::MembershipView view;
  gossip::MemberView member;
  member.record.node_id[0] = 7;
  member.record.address = "\xff\xfe:80";
  member.record.state = gossip::MemberState::alive;
  view.members.push_back(member);

  nlohmann::json status = {{"members", apps::members_json(view, 1000)}};
  std::string text;
  REQUIRE_NOTHROW(text = apps::to_json_text(status));
  CHECK(is_valid_utf8(text));
  CHECK(text.find("\xef\xbf\xbd") != std::string::npos);  // U+FFFD stands in for the bad bytes
  CHECK_NOTHROW(apps::to_json_text(status, 2));
  // What the old writer did with the same document:
  CHECK_THROWS(status.dump());
}

TEST_CASE("status JSON is written from node::PeerStatus", "[apps][status]") {
  node::PeerStatus status;
  status.started = true;
  status.joined = true;
  status.profile = "lan";
  status.now_ms = 5000;
  status.view.self.address = "10.0.0.1:7946";
  status.view.self.incarnation = 3;
  gossip::MemberView member;
  member.record.address = "10.0.0.2:7946";
  member.record.state = gossip::MemberState::suspect;
  member.state_since_ms = 4000;
  status.view.members.push_back(member);
  status.membership_traffic.messages_sent = 11;
  status.transport.bytes_sent = 1234;
  status.router.refused_unknown_first_frame = 2;
  status.router.refused_no_handler = 1;

  nlohmann::json json = apps::status_json(status, false);
  CHECK(json["joined"] == true);
  CHECK(json["address"] == "10.0.0.1:7946");
  CHECK(json["incarnation"] == 3);
  CHECK(json["profile"] == "lan");
  CHECK(json["membership_messages_sent"] == 11);
  CHECK(json["bytes_sent"] == 1234);
  CHECK(json["connections_refused_first_frame"] == 3);
  REQUIRE(json["members"].size() == 1);
  CHECK(json["members"][0]["state"] == "suspect");
  CHECK(json["members"][0]["state_age_seconds"] == 1.0);
  CHECK_FALSE(json.contains("membership_fault"));

  status.membership_fault = node::HostileMembershipMode::flood;
  CHECK(apps::status_json(status, false)["membership_fault"] == "membership_flood");
}

TEST_CASE("status JSON carries the membership event counters /metrics exports", "[apps][status]") {
  node::PeerStatus status;
  status.started = true;
  node::MembershipEventCounts& e = status.membership_events;
  e.member_joined = 1;
  e.member_suspected = 2;
  e.member_recovered = 3;
  e.member_dead = 4;
  e.member_left = 5;
  e.member_reaped = 6;
  e.self_refuted = 7;
  e.join_retry = 8;
  e.identity_in_use = 9;
  const nlohmann::json json = apps::status_json(status, false);
  REQUIRE(json.contains("membership_events"));
  const nlohmann::json& events = json["membership_events"];
  CHECK(events["member_suspected"] == 2);
  CHECK(events["member_dead"] == 4);
  CHECK(events["self_refuted"] == 7);
  CHECK(events["member_recovered"] == 3);
  CHECK(events["identity_in_use"] == 9);
  // The same names and values as starling_membership_events_total{event=...}:
  // one list serves both, so neither can gain an event the other lacks.
  const runtime::PeerMetrics m = apps::collect_peer_metrics(status, nullptr);
  REQUIRE(m.membership_events.size() == 9);
  CHECK(events.size() == m.membership_events.size());
  std::uint64_t expected = 1;
  for (const auto& count : m.membership_events) {
    INFO(count.label);
    REQUIRE(events.contains(count.label));
    CHECK(events[count.label] == count.value);
    CHECK(count.value == expected++);  // every counter wired to its own field
  }
}

namespace {

node::PeerStatus status_with(std::vector<gossip::MemberState> states) {
  node::PeerStatus status;
  status.started = true;
  status.joined = true;
  for (gossip::MemberState state : states) {
    gossip::MemberView member;
    member.record.state = state;
    status.view.members.push_back(member);
  }
  return status;
}

}  // namespace

// The 5-second progress line said nothing of membership: an operator watching
// a peer saw its links, never how many members it knew or suspected.
TEST_CASE("the progress lines count the live members (the peer itself too) and the suspects", "[apps][status]") {
  using gossip::MemberState;
  node::PeerStatus status = status_with(
      {MemberState::alive, MemberState::alive, MemberState::suspect, MemberState::dead, MemberState::left});
  CHECK(apps::members_text(status.view) == "members 4 (1 suspect)");  // as `starling top` counts: self too
  CHECK(apps::members_text(gossip::MembershipView{}) == "members 1 (0 suspect)");  // alone

  // A membership-only peer (--no-train) logged nothing once it had joined.
  status.view.uptime_ms = 125'000;
  CHECK(apps::membership_progress_line(status) == "members 4 (1 suspect) | up 2m05s");
  node::PeerStatus joining = status_with({});
  joining.joined = false;
  joining.view.uptime_ms = 3'400;
  CHECK(apps::membership_progress_line(joining) == "members 1 (0 suspect) | not joined yet | up 3s");
}
