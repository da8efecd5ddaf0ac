// node::Peer's log lines name link events with stable names and fields (the
// names `starling peer --log-format json` writes; docs/cli.md, "Logs").
#include <catch2/catch.hpp>

#include <algorithm>

#include "training_swarm.h"

using namespace starling;
using namespace starling::node;
using namespace starling::test_training;

namespace {

using Logged = SwarmPeer::LoggedEvent;

std::string field(const Logged& logged, const std::string& key) {
  for (const auto& [k, v] : logged.fields)
    if (k == key) return v;
  return "";
}

std::vector<Logged> named(const Swarm& swarm, const std::string& event) {
  std::vector<Logged> out;
  for (const auto& peer : swarm.peers)
    for (const auto& logged : peer->events)
      if (logged.event == event) out.push_back(logged);
  return out;
}

}  // namespace

TEST_CASE("log events: links going up, resetting and down carry stable names and fields", "[runtime][logs]") {
  Swarm swarm(21);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("topk:0.1");
  build_swarm(swarm, config, 3);
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(2); }, 20));

  const auto up = named(swarm, "link.up");
  REQUIRE(up.size() >= 6);  // 3 links, both ends
  for (const auto& logged : up) {
    CHECK_FALSE(field(logged, "peer").empty());
    const std::string direction = field(logged, "direction");
    CHECK((direction == "outbound" || direction == "inbound"));
  }
  CHECK_FALSE(named(swarm, "member.joined").empty());
  for (const auto& logged : named(swarm, "member.joined")) {
    CHECK(field(logged, "member").size() == 64);
    CHECK_FALSE(field(logged, "address").empty());
  }

  // Lost frames: a link notices the gap and resets with a snapshot.
  LinkFaults faults;
  faults.drop_probability = 0.05;
  faults.stream_loss = StreamLoss::raw;  // a gap in the link's frames, which TCP never makes
  swarm.network().faults().set_outbound(swarm.peers[1]->address, faults);
  swarm.run_for(3);
  swarm.network().faults().clear();
  const auto resets = named(swarm, "link.reset");
  REQUIRE_FALSE(resets.empty());
  bool by_self = false, by_neighbour = false;  // the end that saw the gap, and the other
  for (const auto& logged : resets) {
    const std::string by = field(logged, "by");
    by_self = by_self || by == "self";
    by_neighbour = by_neighbour || by == "neighbour";
    CHECK_FALSE(field(logged, "peer").empty());
    CHECK_FALSE(field(logged, "reason").empty());
  }
  CHECK(by_self);
  CHECK(by_neighbour);

  // A peer stops: its neighbours log the link down, naming it.
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(2); }, 10));
  const std::string gone = swarm.peers[2]->address;
  swarm.peers[2]->stop();
  REQUIRE(swarm.run_until(
      [&] {
        const auto down = named(swarm, "link.down");
        return std::any_of(down.begin(), down.end(), [&](const Logged& l) { return field(l, "peer") == gone; });
      },
      20));
}
