// `starling top`'s frame from status JSON alone: rows for members and
// neighbours, rates between two answers, fitting width and height, the
// unreachable banner, and what a hostile or odd answer cannot do.
#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "top_frame.h"

using namespace starling;
using nlohmann::json;

namespace {

const std::string self_id = "aaaaaaaaaaaa0000000000000000000000000000000000000000000000000000";
const std::string alive_id = "bbbbbbbbbbbb0000000000000000000000000000000000000000000000000000";
const std::string suspect_id = "cccccccccccc0000000000000000000000000000000000000000000000000000";

// A status answer shaped like the peer's (apps/peer_status.cpp, peer_training.cpp).
json status_at(double uptime_seconds, double bytes_received, double bytes_sent, double step, double samples) {
  return json{{"node_id", self_id},
              {"address", "10.0.0.1:7946"},
              {"state", "alive"},
              {"incarnation", 2},
              {"uptime_seconds", uptime_seconds},
              {"joined", true},
              {"health_score", 0},
              {"bytes_received", bytes_received},
              {"bytes_sent", bytes_sent},
              {"members",
               json::array({json{{"node_id", alive_id},
                                 {"address", "10.0.0.2:7946"},
                                 {"state", "alive"},
                                 {"incarnation", 0},
                                 {"state_age_seconds", 75.0}},
                            json{{"node_id", suspect_id},
                                 {"address", "10.0.0.3:7946"},
                                 {"state", "suspect"},
                                 {"incarnation", 4},
                                 {"state_age_seconds", 1.5}}})},
              {"training",
               {{"state", "training"},
                {"step", step},
                {"samples", samples},
                {"epoch", 1.25},
                {"train_loss", 0.4321},
                {"test_accuracy", 0.8412},
                {"evaluated_at_step", 1000},
                {"local_average_accuracy", 0.8501},
                {"local_average_at_step", 1000},
                {"local_average_neighbours", 1},
                {"steps_per_second", 99.0},
                {"consensus_distance", 0.00123},
                {"link_resets", 1},
                {"neighbours", json::array({json{{"node_id", alive_id},
                                                 {"address", "10.0.0.2:7946"},
                                                 {"outbound", true},
                                                 {"ready", true},
                                                 {"link_epoch", 3},
                                                 {"tracking_error", 0.015},
                                                 {"deltas_sent", 120},
                                                 {"deltas_received", 118},
                                                 {"resets", 1},
                                                 {"trust", 0.75}}})}}}};
}

apps::TopFrameInput input_for(const json* current, const json* previous = nullptr) {
  apps::TopFrameInput in;
  in.address = "10.0.0.1:7946";
  in.current = current;
  in.previous = previous;
  in.now_unix_seconds = 3600.0 * 24 * 100 + 3 * 3600 + 4 * 60 + 5;  // 03:04:05 UTC
  in.last_answer_unix_seconds = in.now_unix_seconds - 0.5;
  in.interval_seconds = 1;
  in.width = 120;
  in.height = 40;
  return in;
}

// The index of the first line that starts with prefix, or -1.
int line_starting(const std::vector<std::string>& lines, const std::string& prefix) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind(prefix, 0) == 0) return static_cast<int>(i);
  }
  return -1;
}

bool any_line_has(const std::vector<std::string>& lines, const std::string& text) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(text) != std::string::npos; });
}

}  // namespace

TEST_CASE("top: members (self first, suspects before alive) and neighbour rows", "[apps][top]") {
  const json status = status_at(10, 0, 0, 1000, 64000);
  const auto lines = apps::render_top_frame(input_for(&status));
  INFO([&] { std::string all; for (auto& l : lines) all += l + "\n"; return all; }());

  CHECK(lines.front().rfind("10.0.0.1:7946  node aaaaaaaaaaaa  alive  joined  up 10s  incarnation 2", 0) == 0);
  CHECK(lines.front().find("03:04:05 UTC") != std::string::npos);
  CHECK(any_line_has(lines, "members   2 alive  1 suspect  0 dead  0 left"));  // self counts
  CHECK(any_line_has(lines, "own 84.12% (step 1000)  local average 85.01% (step 1000, 1 neighbour)"));
  CHECK(any_line_has(lines, "consensus distance 1.23e-03"));

  const int neighbour_header = line_starting(lines, "NEIGHBOUR");
  REQUIRE(neighbour_header >= 0);
  const std::string& neighbour = lines[neighbour_header + 1];
  CHECK(neighbour.rfind("bbbbbbbbbbbb  10.0.0.2:7946", 0) == 0);
  CHECK(neighbour.find(" out  yes ") != std::string::npos);
  CHECK(neighbour.find(" 3   1.50e-02 ") != std::string::npos);  // link epoch, tracking error
  CHECK(neighbour.find("120/118") != std::string::npos);
  CHECK(neighbour.find("0.75") != std::string::npos);

  const int member_header = line_starting(lines, "MEMBER");
  REQUIRE(member_header > neighbour_header);
  CHECK(lines[member_header + 1].rfind("aaaaaaaaaaaa  10.0.0.1:7946", 0) == 0);
  CHECK(lines[member_header + 1].find("alive (self)") != std::string::npos);
  CHECK(lines[member_header + 2].rfind("cccccccccccc  10.0.0.3:7946", 0) == 0);
  CHECK(lines[member_header + 2].find(" suspect ") != std::string::npos);
  CHECK(lines[member_header + 3].rfind("bbbbbbbbbbbb  10.0.0.2:7946", 0) == 0);
  CHECK(lines[member_header + 3].find(" alive ") != std::string::npos);
  CHECK(lines[member_header + 3].find("1m15s") != std::string::npos);
  CHECK(lines.back().rfind("q quit", 0) == 0);
}

TEST_CASE("top: rates come from two answers over the peer's uptime", "[apps][top]") {
  const json before = status_at(10, 1000, 5000, 1000, 64000);
  const json after = status_at(12, 1000 + 2048, 5000 + 4096, 1100, 64000 + 6400);
  const apps::TopRates rates = apps::top_rates(&before, after);
  REQUIRE(rates.bytes_in_per_second);
  CHECK(*rates.bytes_in_per_second == Approx(1024));
  CHECK(*rates.bytes_out_per_second == Approx(2048));
  CHECK(*rates.steps_per_second == Approx(50));
  CHECK(*rates.samples_per_second == Approx(3200));

  const auto lines = apps::render_top_frame(input_for(&after, &before));
  CHECK(any_line_has(lines, "traffic   in 1.0 KiB/s  out 2.0 KiB/s"));
  CHECK(any_line_has(lines, "step 1100 (1.25 epochs)  50.0 steps/s  3200 samples/s"));

  SECTION("one answer: no byte rates, the peer's own step rate") {
    const auto first = apps::render_top_frame(input_for(&after));
    CHECK(any_line_has(first, "traffic   in -  out -"));
    CHECK(any_line_has(first, "99.0 steps/s  - samples/s"));
  }
  SECTION("a restarted peer (uptime went back) has no rates") {
    const json restarted = status_at(1, 10, 10, 5, 320);
    CHECK_FALSE(apps::top_rates(&before, restarted).bytes_in_per_second);
    CHECK_FALSE(apps::top_rates(&before, restarted).steps_per_second);
  }
  SECTION("another node behind the address has no rates") {
    json other = after;
    other["node_id"] = alive_id;
    CHECK_FALSE(apps::top_rates(&before, other).bytes_out_per_second);
  }
  SECTION("membership datagrams count as traffic too") {
    json with_udp_before = before;
    json with_udp_after = after;
    with_udp_before["datagram_bytes_sent"] = 100;
    with_udp_after["datagram_bytes_sent"] = 100 + 2048;
    with_udp_after["datagram_bytes_received"] = 512;  // none before: the old answer lacked the key
    const apps::TopRates r = apps::top_rates(&with_udp_before, with_udp_after);
    CHECK(*r.bytes_out_per_second == Approx(2048 + 1024));
    CHECK(*r.bytes_in_per_second == Approx(1024 + 256));
    const auto udp_lines = apps::render_top_frame(input_for(&with_udp_after, &with_udp_before));
    CHECK(any_line_has(udp_lines, "total in 3.5 KiB  out 11.0 KiB"));
  }
  SECTION("a counter that went down gives no rate, not a negative one") {
    json lower = after;
    lower["bytes_sent"] = 1;
    const apps::TopRates r = apps::top_rates(&before, lower);
    CHECK_FALSE(r.bytes_out_per_second);
    CHECK(r.bytes_in_per_second);
  }
}

TEST_CASE("top: every line fits the width and the frame fits the height", "[apps][top]") {
  json status = status_at(10, 0, 0, 1000, 64000);
  for (int i = 0; i < 30; ++i) {
    status["members"].push_back(json{{"node_id", std::string(64, 'd')},
                                     {"address", "10.0.1." + std::to_string(i) + ":7946"},
                                     {"state", "alive"},
                                     {"incarnation", 0},
                                     {"state_age_seconds", 3.0}});
  }
  apps::TopFrameInput in = input_for(&status);
  in.width = 40;
  in.height = 16;
  const auto lines = apps::render_top_frame(in);
  CHECK(lines.size() == 16);
  for (const auto& line : lines) CHECK(line.size() <= 40);
  CHECK(line_starting(lines, "bbbbbbbbbbbb  10.0.0.2") >= 0);      // the neighbour still shows
  CHECK(line_starting(lines, "aaaaaaaaaaaa  10.0.0.1") >= 0);      // and self
  // 16 rows: 5 summary lines, 2 table headers, the footer, one neighbour;
  // 7 rows for 33 members: 6 shown and the count of the rest.
  CHECK(line_starting(lines, "... 27 more members") >= 0);
  CHECK(lines.back().rfind("q quit", 0) == 0);

  SECTION("a terminal too small for the fixed part keeps the top and the footer") {
    in.height = 3;
    const auto tiny = apps::render_top_frame(in);
    REQUIRE(tiny.size() == 3);
    CHECK(tiny.front().rfind("10.0.0.1:7946", 0) == 0);
    CHECK(tiny.back().rfind("q quit", 0) == 0);
  }
  SECTION("--once has no footer and a pipe cuts nothing") {
    in.live = false;
    in.width = 1 << 20;
    in.height = 1 << 20;
    const auto all = apps::render_top_frame(in);
    CHECK(line_starting(all, "q quit") < 0);
    CHECK(line_starting(all, "dddddddddddd  10.0.1.29:7946") >= 0);
  }
}

TEST_CASE("top: an unreachable peer is said so, with its last answer kept", "[apps][top]") {
  const json status = status_at(10, 0, 0, 1000, 64000);
  apps::TopFrameInput in = input_for(&status);
  in.error = "cannot reach 10.0.0.1:7946 (disconnected): connection refused";
  in.unreachable_since_unix_seconds = in.now_unix_seconds - 65;
  in.width = 200;
  auto lines = apps::render_top_frame(in);
  REQUIRE(lines.size() >= 2);
  CHECK(lines[1] ==
        "UNREACHABLE since 03:03:00 UTC (1m05s ago), retrying every 1.0 s, showing its last answer: cannot reach "
        "10.0.0.1:7946 (disconnected): connection refused");
  CHECK(line_starting(lines, "MEMBER") >= 0);

  in.current = nullptr;  // it never answered
  lines = apps::render_top_frame(in);
  CHECK(lines.size() == 3);
  CHECK(lines[0] == "10.0.0.1:7946  03:04:05 UTC");
  CHECK(lines[1].rfind("UNREACHABLE since 03:03:00 UTC", 0) == 0);
  CHECK(lines[1].find("showing its last answer") == std::string::npos);
  CHECK(lines[2] == "q quit   refresh every 1.0 s   no answer yet");
}

TEST_CASE("top: what members told the peer cannot reach the terminal raw, odd answers do not throw", "[apps][top]") {
  json status = status_at(10, 0, 0, 1000, 64000);
  status["members"][0]["address"] = "\x1b]0;owned\x07\x1b[2J\xff:1";
  auto lines = apps::render_top_frame(input_for(&status));
  for (const auto& line : lines) {
    for (char c : line) {
      const auto byte = static_cast<unsigned char>(c);
      CHECK((byte >= 0x20 && byte < 0x7f));
    }
  }
  CHECK(any_line_has(lines, "?]0;owned??[2J?:1"));

  SECTION("no training, nulls, wrong types") {
    json odd = status;
    odd.erase("training");
    odd["members"][1] = "not an object";
    odd["incarnation"] = nullptr;
    odd["uptime_seconds"] = "soon";
    REQUIRE_NOTHROW(lines = apps::render_top_frame(input_for(&odd, &status)));
    CHECK(any_line_has(lines, "training  off (membership only)"));
    CHECK(any_line_has(lines, "(not training: no neighbours)"));
    json nulls = status;
    nulls["training"]["test_accuracy"] = nullptr;
    nulls["training"]["consensus_distance"] = nullptr;
    nulls["training"]["neighbours"] = json::object();
    REQUIRE_NOTHROW(lines = apps::render_top_frame(input_for(&nulls)));
    CHECK(any_line_has(lines, "accuracy  own - (step 1000)"));
    CHECK(any_line_has(lines, "consensus distance -"));
    CHECK(any_line_has(lines, "(no neighbours yet)"));
  }
}

TEST_CASE("top: sizes and durations read at a glance", "[apps][top]") {
  CHECK(apps::format_bytes(0) == "0 B");
  CHECK(apps::format_bytes(1023) == "1023 B");
  CHECK(apps::format_bytes(1536) == "1.5 KiB");
  CHECK(apps::format_bytes(3.0 * 1024 * 1024 * 1024) == "3.0 GiB");
  CHECK(apps::format_duration(42.9) == "42s");
  CHECK(apps::format_duration(125) == "2m05s");
  CHECK(apps::format_duration(3 * 3600 + 120) == "3h02m");
  CHECK(apps::format_duration(2 * 86400 + 5 * 3600) == "2d05h");
  CHECK(apps::format_duration(-5) == "0s");
  // Another process's answer: anything beyond a long long is capped, not cast.
  CHECK(apps::format_duration(1e300) == "11574074d01h");
  CHECK(apps::format_duration(std::numeric_limits<double>::infinity()) == "11574074d01h");
}
