#include <catch2/catch.hpp>

#include "json_text.h"
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
