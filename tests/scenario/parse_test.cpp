#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "starling/scenario/parse.h"
#include "starling/scenario/timeline.h"

using namespace starling::scenario;
using starling::ErrorKind;

namespace {

const char* kGood = R"(
name = "crash-one"
description = "kill one peer mid-run"
duration = 120
seed = 7

[swarm]
peers = 4
compress = "topk:0.01"
lr = 0.1

[[events]]
at = 30
kind = "kill"
peer = 2

[[events]]
at = 40
kind = "join"
count = 2

[[events]]
at = 50
kind = "pause"
peers = [4, 5]
duration = 20

[[events]]
at = 60
kind = "partition"
groups = [[0, 1], [3, 4, 5]]
duration = 30

[[events]]
at = 60
kind = "loss"
fraction = 0.5
percent = 20

[[expect]]
kind = "min_accuracy"
value = 0.8

[[expect]]
kind = "membership_converged"
within = 20
)";

// The error message of parsing `text`, which must fail.
std::string error_of(const std::string& text) {
  auto parsed = parse_scenario(text, "x.toml");
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().kind == ErrorKind::invalid_argument);
  return parsed.error().message;
}

std::string with_event(const std::string& event) {
  return "name = \"t\"\nduration = 60\n[swarm]\npeers = 3\n\n" + event;
}

}  // namespace

TEST_CASE("a complete scenario parses with every field", "[scenario]") {
  auto parsed = parse_scenario(kGood, "good.toml");
  REQUIRE(parsed.ok());
  const Scenario& s = *parsed;
  CHECK(s.name == "crash-one");
  CHECK(s.duration_seconds == 120.0);
  CHECK(s.seed == 7);
  CHECK(s.swarm.peers == 4);
  CHECK(s.swarm.compress == "topk:0.01");
  CHECK(s.swarm.lr == 0.1);
  CHECK(s.swarm.train);
  REQUIRE(s.events.size() == 5);
  CHECK(s.events[0].kind == EventKind::kill);
  CHECK(s.events[0].targets.peers == std::vector<int>{2});
  CHECK(s.events[0].line == 12);
  CHECK(s.events[1].count == 2);
  CHECK(s.events[2].duration_seconds == 20.0);
  CHECK(s.events[3].groups.size() == 2);
  CHECK_FALSE(s.events[3].one_way);
  CHECK(s.events[4].targets.kind == PeerSelector::Kind::fraction);
  CHECK(s.events[4].percent == 20.0);
  CHECK(s.total_peers() == 6);
  REQUIRE(s.expectations.size() == 2);
  CHECK(s.expectations[1].within_seconds == 20.0);
}

TEST_CASE("the timeline adds undos and puts them before events at the same time", "[scenario]") {
  auto s = parse_scenario(kGood, "good.toml");
  REQUIRE(s.ok());
  auto actions = make_timeline(*s);
  REQUIRE(actions.size() == 7);
  CHECK(actions[0].at_seconds == 30.0);
  CHECK(actions[3].at_seconds == 60.0);
  CHECK(actions[5].undo);  // pause ends at 70
  CHECK(actions[5].at_seconds == 70.0);
  CHECK(actions[6].at_seconds == 90.0);
  CHECK(last_action_seconds(*s) == 90.0);
  // A fault that ends at t does not cancel one that starts at t.
  auto back_to_back = parse_scenario(with_event("[[events]]\nat = 5\nkind = \"loss\"\npeers = \"all\"\npercent = 10\n"
                                                "duration = 5\n[[events]]\nat = 10\nkind = \"loss\"\npeers = \"all\"\n"
                                                "percent = 20\n"),
                                     "x");
  REQUIRE(back_to_back.ok());
  auto two = make_timeline(*back_to_back);
  REQUIRE(two.size() == 3);
  CHECK(two[1].undo);
  CHECK_FALSE(two[2].undo);
}

// `percent = 0.3` beside `fraction = 0.25` (a share) reads like 30% but is
// 0.3%: legal, so the run goes on, with a warning naming the place.
TEST_CASE("a percent below 1 is taken as written, with a warning", "[scenario]") {
  for (const char* kind : {"loss", "duplicate"}) {
    INFO(kind);
    auto light = parse_scenario(
        with_event(std::string("[[events]]\nat = 5\nkind = \"") + kind + "\"\npeers = \"all\"\npercent = 0.3\n"),
        "light.toml");
    REQUIRE(light.ok());
    CHECK(light->events.back().percent == 0.3);
    REQUIRE(light->warnings.size() == 1);
    CHECK_THAT(light->warnings[0], Catch::StartsWith("light.toml:") &&
                                       Catch::Contains(std::string("a ") + kind + " event's percent = 0.3 means 0.3%, not 30%"));
  }
  for (const char* percent : {"0", "1", "20", "100"}) {
    INFO(percent);
    auto plain = parse_scenario(
        with_event(std::string("[[events]]\nat = 5\nkind = \"loss\"\npeers = \"all\"\npercent = ") + percent + "\n"), "x");
    REQUIRE(plain.ok());
    CHECK(plain->warnings.empty());
  }
}

// peers = [1, 1] acted on peer 1 once: a slip, refused where it is.
TEST_CASE("a peer listed twice in a target list is refused at its place", "[scenario]") {
  auto twice = parse_scenario(with_event("[[events]]\nat = 1\nkind = \"kill\"\npeers = [1, 1]\n"), "twice.toml");
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().message == "twice.toml:9:13: peer 1 is listed twice in 'peers'");
  auto group = parse_scenario(with_event("[[events]]\nat = 1\nkind = \"partition\"\ngroups = [[0, 0], [1]]\n"), "g.toml");
  REQUIRE_FALSE(group.ok());
  CHECK_THAT(group.error().message, Catch::StartsWith("g.toml:9:15: peer 0 is listed twice in 'groups'"));
  auto expectation = parse_scenario(with_event("[[expect]]\nkind = \"never_dead\"\npeers = [2, 0, 2]\n"), "x.toml");
  REQUIRE_FALSE(expectation.ok());
  CHECK_THAT(expectation.error().message, Catch::StartsWith("x.toml:8:16: peer 2 is listed twice"));
}

// An event naming a peer that is certainly down then does nothing: legal, so
// warned, naming the line that took the peer down.
TEST_CASE("an event on a peer that is certainly down is warned about", "[scenario]") {
  const auto event = [](double at, const std::string& kind, const std::string& target, const std::string& more = "") {
    return "[[events]]\nat = " + std::to_string(at) + "\nkind = \"" + kind + "\"\n" + target + "\n" + more;
  };
  const auto warnings = [](const std::string& events) {
    auto parsed = parse_scenario(with_event(events), "d.toml");
    REQUIRE(parsed.ok());
    return parsed->warnings;
  };
  SECTION("a second kill, a pause, a loss of a killed peer") {
    for (const std::string& second : {event(2, "kill", "peer = 1"), event(2, "pause", "peer = 1", "duration = 1\n"),
                                      event(2, "loss", "peers = [0, 1]", "percent = 10\n")}) {
      INFO(second);
      const auto w = warnings(event(1, "kill", "peer = 1") + second);
      REQUIRE(w.size() == 1);
      CHECK_THAT(w[0], Catch::StartsWith("d.toml:1") &&
                           Catch::Contains("targets peer 1, which is down then (line 6 killed it at 1 s and no "
                                           "restart brought it back)"));
    }
    // The place is the target itself: line 13 is `peer = 1`, column 8 its value.
    CHECK_THAT(warnings(event(1, "kill", "peer = 1") + event(2, "kill", "peer = 1"))[0],
               Catch::StartsWith("d.toml:13:8: kill event at 2 s targets peer 1"));
  }
  SECTION("stop, seed_down and kill \"all\" take peers down") {
    CHECK_THAT(warnings(event(1, "stop", "peer = 2") + event(2, "straggler", "peer = 2"))[0],
               Catch::Contains("line 6 stopped it at 1 s"));
    CHECK_THAT(warnings("[[events]]\nat = 1\nkind = \"seed_down\"\n\n" + event(2, "kill", "peer = 0"))[0],
               Catch::Contains("targets peer 0, which is down then (line 6 killed it at 1 s"));
    CHECK_THAT(warnings(event(1, "kill", "peer = 0") + "[[events]]\nat = 2\nkind = \"seed_down\"\n")[0],
               Catch::StartsWith("d.toml:10:1: seed_down event at 2 s targets peer 0"));
    CHECK(warnings(event(1, "kill", "peers = \"all\"") + event(2, "clear_faults", "peers = [0, 2]")).size() == 2);
  }
  SECTION("what brings a peer back, or leaves it running, is not warned about") {
    CHECK(warnings(event(1, "kill", "peer = 1") + event(2, "restart", "peer = 1") + event(3, "kill", "peer = 1")).empty());
    CHECK(warnings(event(1, "kill", "peers = \"all\"") + event(2, "restart", "peers = \"all\"") +
                   event(3, "kill", "peer = 2"))
              .empty());
    // A restart of a running or down peer is what restart does.
    CHECK(warnings(event(1, "kill", "peer = 1") + event(2, "restart", "peer = 1") + event(3, "restart", "peer = 1")).empty());
    // A pause ends; the peer still runs.
    CHECK(warnings(event(1, "pause", "peer = 1", "duration = 1\n") + event(3, "kill", "peer = 1")).empty());
    CHECK(warnings(event(1, "pause", "peer = 1", "duration = 5\n") + event(2, "pause", "peer = 1", "duration = 1\n")).empty());
    // A fraction may or may not have drawn peer 1; a joined peer runs.
    CHECK(warnings(event(1, "kill", "fraction = 0.5") + event(2, "kill", "peer = 1")).empty());
    CHECK(warnings(event(1, "kill", "peer = 1") + event(2, "restart", "fraction = 0.5") + event(3, "kill", "peer = 1"))
              .empty());
    CHECK(warnings("[[events]]\nat = 1\nkind = \"join\"\n\n" + event(2, "kill", "peer = 3")).empty());
    // A kill of "all" takes down only the peers started by then.
    CHECK(warnings(event(1, "kill", "peers = \"all\"") + "[[events]]\nat = 2\nkind = \"join\"\n\n" +
                   event(3, "kill", "peer = 3"))
              .empty());
  }
}

TEST_CASE("scaled divides every time by the speed", "[scenario]") {
  auto s = parse_scenario(kGood, "good.toml");
  REQUIRE(s.ok());
  Scenario fast = scaled(*s, 2.0);
  CHECK(fast.duration_seconds == 60.0);
  CHECK(fast.events[2].at_seconds == 25.0);
  CHECK(fast.events[2].duration_seconds == 10.0);
  CHECK(fast.expectations[1].within_seconds == 10.0);
}

TEST_CASE("fractions draw at least one live peer, replayably", "[scenario]") {
  PeerSelector half{PeerSelector::Kind::fraction, {}, 0.5};
  std::vector<int> live{0, 1, 2, 3, 5, 8};
  std::mt19937_64 a(42), b(42);
  auto first = resolve(half, live, a);
  CHECK(first.size() == 3);
  CHECK(first == resolve(half, live, b));
  for (int p : first) CHECK(std::find(live.begin(), live.end(), p) != live.end());
  PeerSelector tiny{PeerSelector::Kind::fraction, {}, 0.01};
  CHECK(resolve(tiny, live, a).size() == 1);
  CHECK(resolve(tiny, {}, a).empty());
  CHECK(resolve(PeerSelector{PeerSelector::Kind::all, {}, 0.0}, live, a) == live);
}

TEST_CASE("bad input names the file and line", "[scenario]") {
  SECTION("malformed TOML") {
    auto message = error_of("name = \"t\"\nduration = 60\n[swarm\npeers = 3\n");
    CHECK(message.rfind("x.toml:3:", 0) == 0);
    CHECK(message.find("malformed TOML") != std::string::npos);
  }
  SECTION("unknown event") {
    auto message = error_of(with_event("[[events]]\nat = 5\nkind = \"explode\"\npeer = 1\n"));
    CHECK(message.rfind("x.toml:8:", 0) == 0);
    CHECK(message.find("unknown event kind 'explode'") != std::string::npos);
  }
  SECTION("peer index out of range") {
    auto message = error_of(with_event("[[events]]\nat = 5\nkind = \"kill\"\npeer = 3\n"));
    CHECK(message.rfind("x.toml:6:", 0) == 0);
    CHECK(message.find("peer 3") != std::string::npos);
    CHECK(message.find("0..2") != std::string::npos);
  }
  SECTION("a joined peer exists only after its join") {
    CHECK(error_of(with_event("[[events]]\nat = 5\nkind = \"kill\"\npeer = 3\n[[events]]\nat = 9\nkind = \"join\"\n"))
              .find("peer 3") != std::string::npos);
    CHECK(parse_scenario(with_event("[[events]]\nat = 5\nkind = \"join\"\n[[events]]\nat = 9\nkind = \"kill\"\n"
                                    "peer = 3\n"),
                         "x")
              .ok());
  }
  SECTION("time in the past") {
    auto message = error_of(with_event("[[events]]\nat = -1\nkind = \"kill\"\npeer = 1\n"));
    CHECK(message.rfind("x.toml:7:", 0) == 0);
    CHECK(message.find("in the past") != std::string::npos);
  }
  SECTION("time out of order") {
    auto message = error_of(
        with_event("[[events]]\nat = 20\nkind = \"kill\"\npeer = 1\n[[events]]\nat = 10\nkind = \"kill\"\npeer = 2\n"));
    CHECK(message.rfind("x.toml:10:", 0) == 0);
    CHECK(message.find("time order") != std::string::npos);
  }
  SECTION("after the end") {
    CHECK(error_of(with_event("[[events]]\nat = 50\nkind = \"pause\"\npeer = 1\nduration = 20\n"))
              .find("after the scenario's duration") != std::string::npos);
  }
  SECTION("unknown keys and wrong types") {
    CHECK(error_of(with_event("[[events]]\nat = 5\nkind = \"kill\"\npeer = 1\nsignal = 9\n"))
              .find("unknown key 'signal'") != std::string::npos);
    CHECK(error_of("name = \"t\"\nduration = \"long\"\n").find("'duration' must be a number") != std::string::npos);
    CHECK(error_of("name = \"t\"\nduration = 10\nspeed = 3\n").find("unknown key 'speed'") != std::string::npos);
    CHECK(error_of(with_event("[[expect]]\nkind = \"vibes\"\n")).find("unknown expectation kind") != std::string::npos);
    CHECK(error_of(with_event("[[expect]]\nkind = \"catch_up\"\npeer = 9\nvalue = 0.01\nwithin = 5\n"))
              .find("peer 9") != std::string::npos);
    CHECK(error_of(with_event("[[events]]\nat = 5\nkind = \"kill\"\n")).find("needs peer") != std::string::npos);
    CHECK(error_of(with_event("[[events]]\nat = 5\nkind = \"pause\"\npeer = 1\n")).find("duration") !=
          std::string::npos);
    CHECK(error_of(with_event("[[events]]\nat = 5\nkind = \"partition\"\ngroups = [[0, 1], [1, 2]]\n"))
              .find("two partition groups") != std::string::npos);
    // One flat list, the likely slip, read "must be a list of peer indices" (it is one).
    CHECK(error_of(with_event("[[events]]\nat = 5\nkind = \"partition\"\ngroups = [0, 1]\n"))
              .find("'groups' must be a list of lists of peer indices, one per side, e.g. [[0, 1], [2, 3]]") !=
          std::string::npos);
  }
  SECTION("eval_every counts steps; old seconds are refused") {
    const std::string head = "name = \"t\"\nduration = 10\n[swarm]\npeers = 2\n";
    auto steps = parse_scenario(head + "eval_every = 250\n", "t.toml");
    REQUIRE(steps.ok());
    CHECK(steps->swarm.eval_every_steps == 250);
    auto unset = parse_scenario(head, "t.toml");
    REQUIRE(unset.ok());
    CHECK(unset->swarm.eval_every_steps == 500);
    for (const char* old : {"eval_every = 2\n", "eval_every = 2.0\n", "eval_every = 0.5\n", "eval_every = \"5s\"\n",
                            "eval_every = 0\n"}) {
      INFO(old);
      CHECK(error_of(head + old).find("'eval_every' counts training steps (it was seconds before)") !=
            std::string::npos);
    }
  }
  SECTION("missing file") {
    auto loaded = load_scenario("/nonexistent/x.toml");
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().kind == ErrorKind::not_found);
  }
}

TEST_CASE("every scenario in the library parses", "[scenario]") {
  const std::filesystem::path dir = std::filesystem::path(STARLING_SOURCE_DIR) / "scenarios";
  int count = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.path().extension() != ".toml") continue;
    INFO(entry.path().string());
    // scenarios/sim holds simulator-only files (more peers than one machine runs).
    ParseOptions options;
    if (entry.path().parent_path().filename() == "sim") options.max_peers = kMaxSimulatedPeers;
    auto loaded = load_scenario(entry.path(), options);
    if (!loaded.ok()) FAIL(loaded.error().message);
    CHECK_FALSE(loaded->expectations.empty());
    CHECK(loaded->warnings.empty());  // the library says what it means
    ++count;
  }
  CHECK(count >= 12);
}

TEST_CASE("membership byzantine modes and the honest-peer expectations parse", "[scenario]") {
  auto parsed = parse_scenario(with_event(R"(
[[events]]
at = 5
kind = "byzantine"
peer = 2
mode = "membership_lies"

[[events]]
at = 6
kind = "byzantine"
peer = 1
mode = "membership_flood"
duration = 10

[[expect]]
kind = "never_dead"
max_seconds = 4

[[expect]]
kind = "addresses_stable"

[[expect]]
kind = "true_alive_count"
peers = [0, 1]

[[expect]]
kind = "peer_accuracy"
peers = "honest"
value = 0.8
)"),
                               "x.toml");
  REQUIRE(parsed.ok());
  REQUIRE(parsed->events.size() == 2);
  CHECK(parsed->events[0].mode == ByzantineMode::membership_lies);
  CHECK(parsed->events[1].mode == ByzantineMode::membership_flood);
  REQUIRE(parsed->expectations.size() == 4);
  CHECK(parsed->expectations[0].kind == ExpectKind::never_dead);
  CHECK(parsed->expectations[0].max_seconds == 4.0);
  CHECK_FALSE(parsed->expectations[0].peers);  // default: never-faulted peers
  CHECK(parsed->expectations[1].kind == ExpectKind::addresses_stable);
  CHECK(parsed->expectations[2].kind == ExpectKind::true_alive_count);
  CHECK(parsed->expectations[2].peers->peers == std::vector<int>{0, 1});
  CHECK(parsed->expectations[3].peers->kind == PeerSelector::Kind::honest);
  // max_seconds is a protocol time (a suspicion timeout): --speed keeps it.
  CHECK(scaled(*parsed, 2.0).expectations[0].max_seconds == 4.0);

  const std::string lies = "[[events]]\nat = 5\nkind = \"byzantine\"\npeer = 1\nmode = \"membership_lies\"\n";
  CHECK(error_of(with_event(lies + "scale = 2\n")).find("'scale' applies to modes random, scaled and drift only") !=
        std::string::npos);
  // A drift's scale is in median link gaps: inside the clipping radius (3) by default.
  const std::string drift = "[[events]]\nat = 5\nkind = \"byzantine\"\npeer = 1\nmode = \"drift\"\n";
  auto drifting = parse_scenario(with_event(drift), "x.toml");
  REQUIRE(drifting);
  CHECK(drifting->events.back().mode == ByzantineMode::drift_deltas);
  CHECK(drifting->events.back().scale == 2.5);
  CHECK(std::string(to_string(ByzantineMode::drift_deltas)) == "drift");
  CHECK(error_of(with_event("[[events]]\nat = 5\nkind = \"byzantine\"\npeer = 1\nmode = \"gossip_lies\"\n"))
            .find("\"membership_flood\"") != std::string::npos);
  // "honest" is known only after the run: events cannot target it.
  CHECK(error_of(with_event("[[events]]\nat = 5\nkind = \"kill\"\npeers = \"honest\"\n"))
            .find("a list of indices or \"all\"") != std::string::npos);
  CHECK(error_of(with_event("[[expect]]\nkind = \"never_dead\"\nmax_seconds = -1\n"))
            .find("'max_seconds' must be >= 0") != std::string::npos);
  CHECK(error_of(with_event("[[expect]]\nkind = \"addresses_stable\"\nvalue = 1\n")).find("unknown key 'value'") !=
        std::string::npos);
  CHECK(error_of(with_event("[[expect]]\nkind = \"true_alive_count\"\nfraction = 0.5\n"))
            .find("unknown key 'fraction'") != std::string::npos);
  // End-of-run accuracy judges the own model unless told "served".
  auto served = parse_scenario(with_event("[[expect]]\nkind = \"max_accuracy_spread\"\nvalue = 0.02\nmodel = \"served\"\n"
                                          "[[expect]]\nkind = \"min_accuracy\"\nvalue = 0.5\nmodel = \"own\"\n"
                                          "[[expect]]\nkind = \"mean_accuracy\"\nvalue = 0.5\n"),
                               "x.toml");
  REQUIRE(served.ok());
  CHECK(served->expectations.at(0).served);
  CHECK_FALSE(served->expectations.at(1).served);
  CHECK_FALSE(served->expectations.at(2).served);
  CHECK(error_of(with_event("[[expect]]\nkind = \"min_accuracy\"\nvalue = 0.5\nmodel = \"average\"\n"))
            .find("'model' must be \"own\"") != std::string::npos);
  CHECK(error_of(with_event("[[expect]]\nkind = \"peer_accuracy\"\nvalue = 0.5\nmodel = \"served\"\n"))
            .find("unknown key 'model'") != std::string::npos);
  // keeps_improving judges either model too (the own model overfits its shard
  // near the end of a long real run: crash-one, session 36).
  auto improving = parse_scenario(with_event("[[expect]]\nkind = \"keeps_improving\"\nafter = 1\nmodel = \"served\"\n"
                                             "[[expect]]\nkind = \"keeps_improving\"\nafter = 1\n"),
                                  "k.toml");
  REQUIRE(improving.ok());
  CHECK(improving->expectations.at(0).served);
  CHECK_FALSE(improving->expectations.at(1).served);
  CHECK(error_of(with_event("[[expect]]\nkind = \"keeps_improving\"\nafter = 1\nmodel = \"best\"\n"))
            .find("'model' must be \"own\"") != std::string::npos);
  // 'after' at the very end leaves nothing to judge; the message says so
  // (it said "within 0..duration" of a value that was within it).
  CHECK(error_of(with_event("[[expect]]\nkind = \"keeps_improving\"\nafter = 60\n"))
            .find("'after' must be before the end of the run (0 <= after < duration)") != std::string::npos);
  // A negative value is the most a peer may lose.
  auto may_lose = parse_scenario(with_event("[[expect]]\nkind = \"keeps_improving\"\nafter = 1\nvalue = -0.01\n"), "l.toml");
  REQUIRE(may_lose.ok());
  CHECK(may_lose->expectations.at(0).value == -0.01);
  CHECK(error_of(with_event("[[expect]]\nkind = \"keeps_improving\"\nafter = 1\nvalue = -1.5\n"))
            .find("'value' must be in [-1, 1]") != std::string::npos);
  // End-of-run accuracy and distance take a selector too (default: every live peer).
  auto judged = parse_scenario(with_event("[[expect]]\nkind = \"min_accuracy\"\nvalue = 0.5\npeers = \"honest\"\n"
                                          "[[expect]]\nkind = \"max_consensus_distance\"\nvalue = 1\npeers = [0, 2]\n"
                                          "[[expect]]\nkind = \"mean_accuracy\"\nvalue = 0.5\n"),
                               "t.toml");
  REQUIRE(judged.ok());
  const auto& xs = judged->expectations;
  REQUIRE(xs.size() >= 3);
  CHECK(xs[xs.size() - 3].peers->kind == PeerSelector::Kind::honest);
  CHECK(xs[xs.size() - 2].peers->peers == std::vector<int>{0, 2});
  CHECK_FALSE(xs.back().peers.has_value());
}

TEST_CASE("the peer count is limited per backend and --peers replaces it before the file is checked", "[scenario]") {
  const std::string names_peer_5 = with_event("[[events]]\nat = 5\nkind = \"kill\"\npeer = 5\n");  // file: 3 peers
  SECTION("the file's count is checked against the backend's limit") {
    const std::string big = "name = \"t\"\nduration = 60\n[swarm]\npeers = 65\n";
    CHECK(error_of(big).find("'peers' must be 1..64 (one machine)") != std::string::npos);
    ParseOptions simulated;
    simulated.max_peers = kMaxSimulatedPeers;
    simulated.limit_reason = "simulated";
    auto parsed = parse_scenario(big, "x.toml", simulated);
    REQUIRE(parsed.ok());
    CHECK(parsed->swarm.peers == 65);
    const std::string too_big = "name = \"t\"\nduration = 60\n[swarm]\npeers = 100001\n";
    auto refused = parse_scenario(too_big, "x.toml", simulated);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("1..100000 (simulated)") != std::string::npos);
  }
  SECTION("polls times peers stay within what a report keeps") {
    // A day polled every 0.1 s with 64 peers grew by about 100 MB a second.
    const std::string day = "name = \"t\"\nduration = 86400\npoll_interval = 0.1\n[swarm]\npeers = 64\n";
    const std::string refused = error_of(day);
    CHECK(refused.find("polling 64 peers every 0.1 s for 86400 s keeps 55,296,") != std::string::npos);
    CHECK(refused.find("raise 'poll_interval' to at least 0.7 s") != std::string::npos);
    CHECK(parse_scenario("name = \"t\"\nduration = 86400\npoll_interval = 1\n[swarm]\npeers = 64\n", "x.toml").ok());
  }
  SECTION("joins count against the same limit") {
    // 60 + 4 = 64 passes; one more joiner, at the line of the join that adds it, does not.
    const std::string head = "name = \"t\"\nduration = 60\n[swarm]\npeers = 60\n";
    const std::string join4 = "[[events]]\nat = 5\nkind = \"join\"\ncount = 4\n";
    CHECK(parse_scenario(head + join4, "x.toml").ok());
    const std::string over = error_of(head + join4 + "[[events]]\nat = 6\nkind = \"join\"\ncount = 1\n");
    CHECK(over.rfind("x.toml:9:", 0) == 0);
    CHECK(over.find("brings the swarm to 65 peers started in all, above 64 (one machine)") != std::string::npos);
  }
  SECTION("an event naming peer 5 passes with 6 peers and fails with 5") {
    CHECK(error_of(names_peer_5).find("names peer 5, but only peers 0..2 exist") != std::string::npos);
    ParseOptions six;
    six.peers = 6;
    auto parsed = parse_scenario(names_peer_5, "x.toml", six);
    REQUIRE(parsed.ok());
    CHECK(parsed->swarm.peers == 6);
    CHECK(parsed->total_peers() == 6);
    ParseOptions five;
    five.peers = 5;
    auto refused = parse_scenario(names_peer_5, "x.toml", five);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("names peer 5, but only peers 0..4 exist") != std::string::npos);
  }
  SECTION("the override replaces an out-of-range file value and is range-checked itself") {
    ParseOptions two;
    two.peers = 2;
    auto parsed = parse_scenario("name = \"t\"\nduration = 60\n[swarm]\npeers = 500\n", "x.toml", two);
    REQUIRE(parsed.ok());
    CHECK(parsed->swarm.peers == 2);
    ParseOptions many;
    many.peers = 65;
    auto refused = parse_scenario("name = \"t\"\nduration = 60\n", "x.toml", many);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message == "x.toml: the peer count given instead of the file's (65) must be 1..64 (one machine)");
    many.peers = 0;
    CHECK_FALSE(parse_scenario("name = \"t\"\nduration = 60\n", "x.toml", many).ok());
  }
  SECTION("without a [swarm] table the override still applies") {
    ParseOptions seven;
    seven.peers = 7;
    auto parsed = parse_scenario("name = \"t\"\nduration = 60\n", "x.toml", seven);
    REQUIRE(parsed.ok());
    CHECK(parsed->swarm.peers == 7);
  }
}

TEST_CASE("[swarm] max_upload is the peers' upload budget, 0 is none, unset the peer's default", "[scenario]") {
  auto parsed = parse_scenario("name = \"b\"\nduration = 10\n[swarm]\nmax_upload = 1000000\n", "b.toml");
  REQUIRE(parsed.ok());
  REQUIRE(parsed->swarm.max_upload.has_value());
  CHECK(*parsed->swarm.max_upload == 1'000'000);
  auto unset = parse_scenario("name = \"b\"\nduration = 10\n[swarm]\npeers = 2\n", "b.toml");
  REQUIRE(unset.ok());
  CHECK_FALSE(unset->swarm.max_upload.has_value());
  auto zero = parse_scenario("name = \"b\"\nduration = 10\n[swarm]\nmax_upload = 0\n", "b.toml");
  REQUIRE(zero.ok());
  REQUIRE(zero->swarm.max_upload.has_value());
  CHECK(*zero->swarm.max_upload == 0);
  auto negative = parse_scenario("name = \"b\"\nduration = 10\n[swarm]\nmax_upload = -1\n", "b.toml");
  REQUIRE_FALSE(negative.ok());
  CHECK(negative.error().message.find("'max_upload' must be >= 0") != std::string::npos);
}

TEST_CASE("[swarm] mixing and round_steps reach the peers, bad values are refused at their line", "[scenario]") {
  auto parsed =
      parse_scenario("name = \"m\"\nduration = 10\n[swarm]\nmixing = \"pairwise\"\nround_steps = 3\n", "m.toml");
  REQUIRE(parsed.ok());
  REQUIRE(parsed->swarm.mixing.has_value());
  CHECK(*parsed->swarm.mixing == "pairwise");
  REQUIRE(parsed->swarm.round_steps.has_value());
  CHECK(*parsed->swarm.round_steps == 3);
  auto unset = parse_scenario("name = \"m\"\nduration = 10\n[swarm]\npeers = 2\n", "m.toml");
  REQUIRE(unset.ok());
  CHECK_FALSE(unset->swarm.mixing.has_value());
  CHECK_FALSE(unset->swarm.round_steps.has_value());
  auto ring = parse_scenario("name = \"m\"\nduration = 10\n[swarm]\nmixing = \"ring\"\n", "m.toml");
  REQUIRE_FALSE(ring.ok());
  CHECK(ring.error().message.find("m.toml:4") != std::string::npos);
  CHECK(ring.error().message.find("mixing") != std::string::npos);
  auto zero = parse_scenario("name = \"m\"\nduration = 10\n[swarm]\nround_steps = 0\n", "m.toml");
  REQUIRE_FALSE(zero.ok());
  CHECK(zero.error().message.find("round_steps") != std::string::npos);
}

TEST_CASE("[swarm] round_floor_ms and consensus control reach the peers, bad values are refused at their line",
          "[scenario]") {
  auto parsed = parse_scenario(
      "name = \"m\"\nduration = 10\n[swarm]\nround_floor_ms = 0\nconsensus_control = true\nconsensus_target = 3.5\n",
      "m.toml");
  REQUIRE(parsed.ok());
  REQUIRE(parsed->swarm.round_floor_ms.has_value());
  CHECK(*parsed->swarm.round_floor_ms == 0);
  CHECK(parsed->swarm.consensus_control);
  REQUIRE(parsed->swarm.consensus_target.has_value());
  CHECK(*parsed->swarm.consensus_target == 3.5);
  auto unset = parse_scenario("name = \"m\"\nduration = 10\n[swarm]\npeers = 2\n", "m.toml");
  REQUIRE(unset.ok());
  CHECK_FALSE(unset->swarm.round_floor_ms.has_value());
  CHECK_FALSE(unset->swarm.consensus_control);
  CHECK_FALSE(unset->swarm.consensus_target.has_value());
  auto negative = parse_scenario("name = \"m\"\nduration = 10\n[swarm]\npeers = 2\nround_floor_ms = -1\n", "m.toml");
  REQUIRE_FALSE(negative.ok());
  CHECK(negative.error().message.find("m.toml:5") != std::string::npos);
  auto target = parse_scenario("name = \"m\"\nduration = 10\n[swarm]\nconsensus_target = 0\n", "m.toml");
  REQUIRE_FALSE(target.ok());
  CHECK(target.error().message.find("consensus_target") != std::string::npos);
}

TEST_CASE("[swarm] momentum_mode reaches the peers, an unknown mode is refused at its line", "[scenario]") {
  auto parsed = parse_scenario("name = \"m\"\nduration = 10\n[swarm]\nmomentum_mode = \"absorb\"\n", "m.toml");
  REQUIRE(parsed.ok());
  REQUIRE(parsed->swarm.momentum_mode.has_value());
  CHECK(*parsed->swarm.momentum_mode == "absorb");
  auto unset = parse_scenario("name = \"m\"\nduration = 10\n[swarm]\npeers = 2\n", "m.toml");
  REQUIRE(unset.ok());
  CHECK_FALSE(unset->swarm.momentum_mode.has_value());
  auto bad = parse_scenario("name = \"m\"\nduration = 10\n[swarm]\nmomentum_mode = \"heavy\"\n", "m.toml");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("m.toml:4") != std::string::npos);
  CHECK(bad.error().message.find("momentum_mode") != std::string::npos);
}

TEST_CASE("[swarm] absorb_share reaches the peers, 0 and above 1 are refused at their line", "[scenario]") {
  auto parsed = parse_scenario("name = \"m\"\nduration = 10\n[swarm]\nabsorb_share = 0.05\n", "m.toml");
  REQUIRE(parsed.ok());
  REQUIRE(parsed->swarm.absorb_share.has_value());
  CHECK(*parsed->swarm.absorb_share == 0.05);
  auto unset = parse_scenario("name = \"m\"\nduration = 10\n[swarm]\npeers = 2\n", "m.toml");
  REQUIRE(unset.ok());
  CHECK_FALSE(unset->swarm.absorb_share.has_value());
  for (const char* bad : {"0", "1.5", "-0.1"}) {
    INFO(bad);
    auto refused = parse_scenario(std::string("name = \"m\"\nduration = 10\n[swarm]\nabsorb_share = ") + bad + "\n",
                                  "m.toml");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("m.toml:4") != std::string::npos);
    CHECK(refused.error().message.find("absorb_share") != std::string::npos);
  }
}

TEST_CASE("[swarm] values `starling peer` would refuse are refused at their line, before anything runs", "[scenario]") {
  // Each of these used to parse: the run started and failed with "no_crash:
  // no observations" and a runner failure, not exit 2 for a bad file.
  const std::pair<const char*, const char*> refused[] = {
      {"profile = \"mars\"", "unknown membership profile 'mars'"},
      {"model = \"mlp:0\"", "bad hidden layer size '0'"},
      {"compress = \"topk:5\"", "fraction must be in (0, 1]"},
      {"partition = \"dirichlet:-1\"", "bad Dirichlet concentration"},
      {"clip = \"-3\"", "want auto, off or a positive radius, got '-3'"},
      {"clip = \"nan\"", "positive radius"},
      // The peer's own bounds (--gamma, --neighbours, --lr, --batch, --round-steps).
      {"gamma = 2", "'gamma' must be 0..1 (2 is too large)"},
      {"neighbours = 1000", "'neighbours' must be 1..64 (1000 is too large)"},
      {"lr = 1e300", "'lr' must be 0..1e+06 (1e+300 is too large)"},
      {"lr = -0.1", "(-0.1 is too small)"},
      {"batch = 100000000", "'batch' must be 1..1048576 (100000000 is too large)"},
      {"round_steps = 100001", "'round_steps' must be 1..100000"},
  };
  for (const auto& [line, message] : refused) {
    INFO(line);
    const std::string error = error_of(std::string("name = \"s\"\nduration = 10\n[swarm]\npeers = 2\n") + line + "\n");
    CHECK(error.rfind("x.toml:5:", 0) == 0);
    CHECK(error.find(message) != std::string::npos);
  }
  // What the peer takes, the file takes.
  auto good = parse_scenario("name = \"s\"\nduration = 10\n[swarm]\nprofile = \"wan\"\nmodel = \"linear\"\n"
                             "compress = \"randk:0.5\"\npartition = \"dirichlet:0.1\"\nclip = \"2.5\"\ngamma = 1\n"
                             "neighbours = 64\nlr = 0\nbatch = 1048576\nround_steps = 100000\n",
                             "x.toml");
  REQUIRE(good.ok());
  CHECK(good->swarm.batch == 1048576);
  CHECK(*good->swarm.neighbours == 64);
}

TEST_CASE("numbers too large for their key say so, not \"must be >= 1\" or \"not a number\"", "[scenario]") {
  const std::string head = "name = \"s\"\nduration = 10\n[swarm]\npeers = 2\n";
  // A cast before the check read 2^63 - 1 as -1 and 2^32 + 1 as 1 (accepted).
  CHECK(error_of(head + "round_steps = 9223372036854775807\n")
            .find("'round_steps' must be 1..100000 (9223372036854775807 is too large)") != std::string::npos);
  CHECK(error_of(head + "batch = 4294967297\n").find("(4294967297 is too large)") != std::string::npos);
  CHECK(error_of(head + "round_floor_ms = 4294967296\n").find("'round_floor_ms' must be 0..1000") !=
        std::string::npos);
  // Above the peers' gossip interval a floor never applies (the peer refuses it).
  CHECK(error_of(head + "round_floor_ms = 1001\n").find("'round_floor_ms' must be 0..1000 (1001 is too large)") !=
        std::string::npos);
  CHECK(error_of(head + "[[events]]\nat = 1\nkind = \"join\"\ncount = 4294967297\n")
            .find("'count' must be 1..64 (4294967297 is too large)") != std::string::npos);
  // toml++ gives no double for an integer it cannot hold exactly.
  const std::string delay = error_of(head + "[[events]]\nat = 1\nkind = \"delay\"\npeers = \"all\"\n"
                                            "ms = 9223372036854775807\n");
  CHECK(delay.rfind("x.toml:9:", 0) == 0);
  CHECK(delay.find("'ms' must be 0..60000 (9.22337e+18 is too large)") != std::string::npos);
}

TEST_CASE("a scenario path that is a folder or a device is not a regular file, not \"not found\"", "[scenario]") {
  for (const char* path : {"/tmp", "/dev/zero"}) {
    INFO(path);
    auto loaded = load_scenario(path);
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().kind == ErrorKind::invalid_argument);
    CHECK(loaded.error().message == std::string("scenario file ") + path + " is not a regular file");
  }
}
