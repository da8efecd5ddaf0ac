// The simulator's training records (simulate.h): every evaluation of a peer's
// own model with its step and traffic, the replicas' spread per poll round,
// and the early stop once every peer reached an accuracy. The benchmarks
// bench/swarm_speedup.sh and bench/consensus_scale.sh rest on them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unistd.h>

#include "starling/scenario/parse.h"
#include "starling/sim/simulate.h"

#include "sim_scenario.h"

using namespace starling;
using namespace starling::sim;
using namespace starling::sim_test;

namespace {

const char* kLearning = R"(
name = "learning"
duration = 40
[swarm]
peers = 3
data = "synthetic:100"
compress = "int8"
lr = 0.05
eval_every = 100
)";

}  // namespace

TEST_CASE("simulate: every evaluation is recorded with the peer's step and traffic", "[sim][records]") {
  const scenario::Scenario s = parse(kLearning);
  const SimulateResult result = simulate(s, SimulateOptions{});
  CHECK_FALSE(result.stopped_early);
  CHECK(result.virtual_seconds == Approx(40.0));
  std::map<int, std::vector<const EvaluationRecord*>> by_peer;
  for (const EvaluationRecord& r : result.evaluations) by_peer[r.peer].push_back(&r);
  REQUIRE(by_peer.size() == 3);
  for (const auto& [peer, records] : by_peer) {
    INFO("peer " << peer);
    REQUIRE(records.size() >= 38);  // one a second of 10 ms steps
    for (std::size_t i = 1; i < records.size(); ++i) {
      // eval_every 1 s of 10 ms steps: every 100 steps (one more where the
      // summed step times round just below a second).
      CHECK(records[i]->step - records[i - 1]->step >= 100);
      CHECK(records[i]->step - records[i - 1]->step <= 101);
      CHECK(records[i]->traffic.secure_wire_bytes_sent >= records[i - 1]->traffic.secure_wire_bytes_sent);
    }
    const node::TransportStats& last = records.back()->traffic;
    CHECK(last.frames_sent > 100);
    CHECK(last.datagrams_sent > 10);
    CHECK(last.datagram_bytes_sent > 0);
    // Plain frames and datagrams, plus at least a 16-byte tag and 24 bytes of framing per frame.
    CHECK(last.secure_wire_bytes_sent >= last.bytes_sent + last.datagram_bytes_sent + 40 * last.frames_sent);
    // It learned: the synthetic swarm plateaus within the first evaluations
    // now that consensus is strong, so the last one is near the best.
    CHECK(records.back()->accuracy > 0.5);
    CHECK(records.back()->accuracy >= records.front()->accuracy - 0.01);
  }
}

TEST_CASE("simulate: --stop-at-accuracy ends the run once every peer's moving average reached it", "[sim][records]") {
  const scenario::Scenario s = parse(kLearning);
  SimulateOptions options;
  options.stop_at_accuracy = 0.5;
  options.stop_window = 3;
  const SimulateResult result = simulate(s, options);
  CHECK(result.stopped_early);
  CHECK(result.virtual_seconds < 30.0);
  CHECK(result.observations.rounds.size() < 30);
  CHECK_FALSE(result.observations.interrupted);
  std::map<int, std::vector<double>> accuracy;
  for (const EvaluationRecord& r : result.evaluations) accuracy[r.peer].push_back(r.accuracy);
  REQUIRE(accuracy.size() == 3);
  for (const auto& [peer, seen] : accuracy) {
    bool reached = false;
    for (std::size_t end = 3; end <= seen.size() && !reached; ++end)
      reached = (seen[end - 3] + seen[end - 2] + seen[end - 1]) / 3.0 >= 0.5;
    INFO("peer " << peer);
    CHECK(reached);
  }
  // A target nobody reaches: the whole duration.
  options.stop_at_accuracy = 0.999;
  const SimulateResult unreached = simulate(s, options);
  CHECK_FALSE(unreached.stopped_early);
  CHECK(unreached.virtual_seconds == Approx(40.0));
}

TEST_CASE("simulate: the replicas' spread is recorded and shrinks by consensus alone", "[sim][records]") {
  const scenario::Scenario s = parse(R"(
name = "consensus"
duration = 20
[swarm]
peers = 5
data = "synthetic:50"
lr = 0
clip = "off"
compress = "none"
)");
  const SimulateResult result = simulate(s, SimulateOptions{});
  REQUIRE(result.spread.size() >= 15);
  const SpreadRecord& first = result.spread.front();
  const SpreadRecord& last = result.spread.back();
  CHECK(last.replicas == 5);
  // Each replica starts at its own random point (~N(0,1) per coordinate): ~50 apart, squared.
  CHECK(first.spread > 10.0);
  CHECK(last.spread < 1e-3 * first.spread);
  CHECK(last.mean_norm > 0.0);
  CHECK(last.mean_moved < 0.5 * std::sqrt(first.spread));
}

namespace {
std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}
std::size_t lines(const std::string& text) { return std::size_t(std::count(text.begin(), text.end(), '\n')); }
}  // namespace

TEST_CASE("simulate: the record files grow as the run goes, so a stopped run keeps them", "[sim][records]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("starling-records-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto files = TrainingRecordFiles::open(dir.string());
  REQUIRE(files.ok());
  SimulateOptions options;
  options.on_evaluation = [&](const EvaluationRecord& r) { files->add(r); };
  options.on_spread = [&](const SpreadRecord& r) { files->add(r); };
  // Read the files from outside while the run is under way (every tenth of
  // the duration): they already hold every poll round so far.
  std::vector<std::size_t> spread_rows_seen, evaluation_rows_seen;
  options.progress = [&](const std::string&) {
    spread_rows_seen.push_back(lines(read_text(dir / "spread.csv")) - 1);
    evaluation_rows_seen.push_back(lines(read_text(dir / "evaluations.csv")) - 1);
  };
  const SimulateResult result = simulate(parse(kLearning), options);
  REQUIRE(files->finish().ok());
  REQUIRE(spread_rows_seen.size() >= 5);
  CHECK(spread_rows_seen[1] >= 3);  // at 8 of 40 s: the poll rounds so far (one a second)
  CHECK(spread_rows_seen[1] < result.spread.size());
  CHECK(evaluation_rows_seen[1] >= 3 * 3);
  for (std::size_t i = 1; i < spread_rows_seen.size(); ++i) CHECK(spread_rows_seen[i] > spread_rows_seen[i - 1]);
  // At the end the files hold the same rows as writing them all at once.
  const std::string spread = read_text(dir / "spread.csv"), evaluations = read_text(dir / "evaluations.csv");
  CHECK(lines(spread) == result.spread.size() + 1);
  const fs::path once = dir / "once";
  fs::create_directories(once);
  REQUIRE(write_training_records(once.string(), result).ok());
  CHECK(read_text(once / "spread.csv") == spread);
  CHECK(read_text(once / "evaluations.csv") == evaluations);
  fs::remove_all(dir);
}
