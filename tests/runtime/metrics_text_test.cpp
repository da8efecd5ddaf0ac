// The Prometheus exposition of PeerMetrics (runtime/metrics.h): every family
// has one HELP and one TYPE line before its samples, names follow the
// conventions (starling_ prefix, counters end in _total, units last), label
// values are escaped, integers are exact, unknown values are left out.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "starling/runtime/metrics.h"

using namespace starling::runtime;

namespace {

struct Family {
  std::string type;
  std::string help;
  std::vector<std::string> samples;  // whole lines
};

// A strict reader of the text format for the subset we write: the test's
// own parser, so a malformed line fails here and not only in promtool.
std::map<std::string, Family> parse(const std::string& text) {
  std::map<std::string, Family> families;
  std::istringstream in(text);
  std::string line;
  std::string current;
  const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*))");
  const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge))");
  const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*\})? (-?[0-9.e+-]+|NaN|[+-]Inf))");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, help)) {
      current = m[1];
      INFO(line);
      REQUIRE(families.count(current) == 0);  // one HELP per family
      families[current].help = m[2];
    } else if (std::regex_match(line, m, type)) {
      INFO(line);
      REQUIRE(m[1] == current);  // TYPE follows its HELP
      REQUIRE(families[current].type.empty());
      families[current].type = m[2];
    } else {
      INFO(line);
      REQUIRE(std::regex_match(line, m, sample));
      REQUIRE(m[1] == current);  // samples follow their family's lines
      families[current].samples.push_back(line);
    }
  }
  return families;
}

double value_of(const std::map<std::string, Family>& families, const std::string& name, const std::string& labels = "") {
  const std::string prefix = name + (labels.empty() ? "" : "{" + labels + "}") + " ";
  auto found = families.find(name);
  REQUIRE(found != families.end());
  for (const std::string& line : found->second.samples) {
    if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(prefix.size()));
  }
  FAIL("no sample " << prefix << " in " << name);
  return 0;
}

PeerMetrics sample_metrics() {
  PeerMetrics m;
  m.node_id = "ab12";
  m.address = "127.0.0.1:7946";
  m.profile = "lan";
  m.version = "0.1.0";
  m.incarnation = 3;
  m.uptime_seconds = 12.5;
  m.joined = true;
  m.members_by_state = {{"alive", 4}, {"suspect", 1}, {"dead", 0}, {"left", 2}};
  m.membership_events = {{"member_suspected", 7}, {"member_dead", 2}, {"self_refuted", 1}};
  m.handshake_failures = {{"security", 5}, {"timeout", 0}, {"closed", 1}, {"protocol", 0}};
  m.messages = {{"membership", "ping", 10, 1000, 9, 900}, {"training", "delta", 3, 30'000, 4, 40'000}};
  m.stream_bytes_sent = 123456;
  m.datagram_bytes_received = 4321;
  m.inbound_buffer_bytes = 65536;
  TrainingMetrics t;
  t.state = "training";
  t.steps = 1500;
  t.steps_per_second = 250.5;
  t.samples_per_second = 16032;
  t.train_loss = 0.42;
  t.test_accuracy = 0.81;
  t.local_average_accuracy = 0.83;
  t.local_average_neighbours = 3;
  t.consensus_distance = 1.5e-4;
  t.neighbours_outbound = 2;
  t.neighbours_inbound = 1;
  t.links_ready = 2;
  t.links_syncing = 1;
  t.link_resets = 6;
  t.corrections_clipped = 8;
  t.upload_budget_bytes_per_second = 100'000;
  t.upload_bytes_per_second = 95'000.25;
  m.training = t;
  return m;
}

}  // namespace

TEST_CASE("metrics exposition: families, names, types and values", "[runtime][metrics]") {
  const std::string text = render_prometheus(sample_metrics());
  const auto families = parse(text);
  REQUIRE(families.size() > 30);
  for (const auto& [name, family] : families) {
    INFO(name);
    CHECK(name.rfind("starling_", 0) == 0);
    CHECK_FALSE(family.help.empty());
    CHECK_FALSE(family.samples.empty());
    const bool total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
    CHECK(total == (family.type == "counter"));  // counters and only counters end in _total
  }
  CHECK(value_of(families, "starling_members", "state=\"alive\"") == 4);
  CHECK(value_of(families, "starling_members", "state=\"left\"") == 2);
  CHECK(value_of(families, "starling_membership_events_total", "event=\"member_suspected\"") == 7);
  CHECK(value_of(families, "starling_membership_events_total", "event=\"member_dead\"") == 2);
  CHECK(value_of(families, "starling_membership_events_total", "event=\"self_refuted\"") == 1);
  CHECK(value_of(families, "starling_handshake_failures_total", "reason=\"security\"") == 5);
  CHECK(value_of(families, "starling_bytes_sent_total", "channel=\"training\",kind=\"delta\"") == 30'000);
  CHECK(value_of(families, "starling_bytes_received_total", "channel=\"membership\",kind=\"ping\"") == 900);
  CHECK(value_of(families, "starling_messages_sent_total", "channel=\"membership\",kind=\"ping\"") == 10);
  CHECK(value_of(families, "starling_stream_bytes_sent_total") == 123456);
  CHECK(value_of(families, "starling_joined") == 1);
  CHECK(value_of(families, "starling_uptime_seconds") == 12.5);
  CHECK(value_of(families, "starling_training_steps_total") == 1500);
  CHECK(value_of(families, "starling_training_steps_per_second") == 250.5);
  CHECK(value_of(families, "starling_training_samples_per_second") == 16032);
  CHECK(value_of(families, "starling_train_loss") == 0.42);
  CHECK(value_of(families, "starling_test_accuracy_ratio", "model=\"own\"") == 0.81);
  CHECK(value_of(families, "starling_test_accuracy_ratio", "model=\"local_average\"") == 0.83);
  CHECK(value_of(families, "starling_local_average_neighbours") == 3);
  CHECK(value_of(families, "starling_datagram_bytes_received_total") == 4321);
  CHECK(value_of(families, "starling_inbound_buffer_bytes") == 65536);
  CHECK(value_of(families, "starling_consensus_distance") == 1.5e-4);
  CHECK(value_of(families, "starling_neighbours", "direction=\"outbound\"") == 2);
  CHECK(value_of(families, "starling_links", "state=\"ready\"") == 2);
  CHECK(value_of(families, "starling_links", "state=\"syncing\"") == 1);
  CHECK(value_of(families, "starling_links", "state=\"connecting\"") == 0);
  CHECK(value_of(families, "starling_link_resets_total") == 6);
  CHECK(value_of(families, "starling_corrections_clipped_total") == 8);
  CHECK(value_of(families, "starling_upload_budget_bytes_per_second") == 100'000);
  CHECK(value_of(families, "starling_upload_rate_bytes_per_second") == 95'000.25);
  CHECK(value_of(families, "starling_training_state", "state=\"training\"") == 1);
  CHECK(families.at("starling_peer_info").samples.at(0) ==
        "starling_peer_info{node_id=\"ab12\",address=\"127.0.0.1:7946\",profile=\"lan\",version=\"0.1.0\"} 1");
  CHECK(text.back() == '\n');
}

TEST_CASE("metrics exposition: unknown values and membership-only peers leave families out", "[runtime][metrics]") {
  PeerMetrics m = sample_metrics();
  m.training->test_accuracy.reset();
  m.training->local_average_accuracy.reset();
  m.training->local_average_neighbours.reset();
  m.training->consensus_distance.reset();
  m.training->train_loss.reset();
  auto families = parse(render_prometheus(m));
  CHECK(families.count("starling_test_accuracy_ratio") == 0);
  CHECK(families.count("starling_local_average_neighbours") == 0);
  CHECK(families.count("starling_consensus_distance") == 0);
  CHECK(families.count("starling_train_loss") == 0);
  CHECK(families.count("starling_training_steps_total") == 1);

  m.training->local_average_accuracy = 0.5;  // one of the two known: only its sample
  families = parse(render_prometheus(m));
  REQUIRE(families.at("starling_test_accuracy_ratio").samples.size() == 1);
  CHECK(value_of(families, "starling_test_accuracy_ratio", "model=\"local_average\"") == 0.5);

  m.training.reset();
  families = parse(render_prometheus(m));
  CHECK(families.count("starling_training_steps_total") == 0);
  CHECK(families.count("starling_links") == 0);
  CHECK(families.count("starling_members") == 1);
}

TEST_CASE("metrics exposition: label values are escaped, integers exact, odd doubles spelled", "[runtime][metrics]") {
  PeerMetrics m;
  m.address = "a\"b\\c\nd";
  m.stream_bytes_sent = (std::uint64_t(1) << 60) + 1;  // not representable as a double
  m.uptime_seconds = std::numeric_limits<double>::infinity();
  m.training = TrainingMetrics{};
  m.training->train_loss = std::numeric_limits<double>::quiet_NaN();
  const std::string text = render_prometheus(m);
  const auto families = parse(text);
  CHECK(families.at("starling_peer_info").samples.at(0).find(R"(address="a\"b\\c\nd")") != std::string::npos);
  CHECK(text.find("starling_stream_bytes_sent_total 1152921504606846977\n") != std::string::npos);
  CHECK(text.find("starling_uptime_seconds +Inf\n") != std::string::npos);
  CHECK(text.find("starling_train_loss NaN\n") != std::string::npos);
}
