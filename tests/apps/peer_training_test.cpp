// `starling peer`'s training options and status fields, without a network.
#include <catch2/catch.hpp>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "../ml/idx_files.h"

#include "peer_gossip_options.h"
#include "peer_training.h"

using namespace starling;

TEST_CASE("peer options: --eval-every counts steps and refuses the old seconds form", "[apps][training]") {
  CHECK(*apps::parse_eval_every("500") == 500);
  CHECK(*apps::parse_eval_every("10") == 10);
  CHECK(*apps::parse_eval_every("0") == 0);  // never
  for (const char* old : {"5s", "1", "9", "0.5", "2.0", "", "-100", "1e3", "99999999999999"}) {
    INFO(old);
    const auto parsed = apps::parse_eval_every(old);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().kind == ErrorKind::invalid_argument);
    CHECK(parsed.error().message.find("--eval-every counts training steps (it was seconds before)") !=
          std::string::npos);
  }
}

// --local-average-every on the command line: the default, the range, and a
// readable refusal of values a user can mistype (negative, text, a float's
// maximum) instead of a wrapped integer.
TEST_CASE("peer options: --local-average-every takes 0..1000000 and refuses the rest", "[apps][training]") {
  const auto parse = [](std::vector<std::string> args) {
    CLI::App app;
    apps::PeerTrainingOptions options;
    apps::add_peer_training_options(app, options);
    std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
    std::string error;
    try {
      app.parse(args);
    } catch (const CLI::ParseError& e) {
      error = e.what();
    }
    return std::pair{options.local_average_every, error};
  };
  CHECK(parse({}).first == 1);  // after each evaluation of the own model
  CHECK(parse({}).second.empty());
  CHECK(parse({"--local-average-every", "0"}) == std::pair{0, std::string{}});
  CHECK(parse({"--local-average-every", "4"}) == std::pair{4, std::string{}});
  CHECK(parse({"--local-average-every", "1000000"}) == std::pair{1000000, std::string{}});
  for (const char* bad : {"-1", "abc", "1e20", "1000001", "2.5"}) {
    INFO(bad);
    const auto [value, error] = parse({"--local-average-every", bad});
    CHECK(error.find("--local-average-every") != std::string::npos);
    CHECK(value == 1);  // untouched
  }
}

TEST_CASE("peer options: --absorb-share takes 0..1 (0: 1 - momentum) and refuses the rest", "[apps][training]") {
  const auto parse = [](std::vector<std::string> args) {
    CLI::App app;
    apps::PeerTrainingOptions options;
    apps::add_peer_training_options(app, options);
    std::reverse(args.begin(), args.end());
    std::string error;
    try {
      app.parse(args);
    } catch (const CLI::ParseError& e) {
      error = e.what();
    }
    return std::pair{options.absorb_share, error};
  };
  CHECK(parse({}) == std::pair{0.0, std::string{}});
  CHECK(parse({"--absorb-share", "0.05"}) == std::pair{0.05, std::string{}});
  for (const char* bad : {"-0.1", "1.5", "abc"}) {
    INFO(bad);
    const auto [value, error] = parse({"--absorb-share", bad});
    CHECK(error.find("--absorb-share") != std::string::npos);
    CHECK(value == 0.0);
  }
}

TEST_CASE("the progress line names the local average's step when it is not the own model's", "[apps][status]") {
  runtime::TrainingProgress p;
  CHECK(apps::local_average_progress_text(p) == "-");
  p.evaluated = true;
  p.evaluated_at_step = 182000;
  p.local_average_evaluated = true;
  p.local_average_accuracy = 0.7931;
  p.local_average_at_step = 182000;
  CHECK(apps::local_average_progress_text(p) == "79.31% of no neighbour: the own model");
  // --local-average-every 4: evaluated at an earlier step than the own model,
  // which read as two accuracies of one model (82.20% against 79.31%).
  p.local_average_at_step = 181000;
  CHECK(apps::local_average_progress_text(p) == "79.31% at step 181000 of no neighbour: the own model then");
  p.local_average_neighbours = 2;
  CHECK(apps::local_average_progress_text(p) == "79.31% at step 181000 of 2 neighbours");
  p.local_average_at_step = 182000;
  p.local_average_neighbours = 1;
  CHECK(apps::local_average_progress_text(p) == "79.31% of 1 neighbour");
}

TEST_CASE("status JSON reports the own model's and the local average's accuracy", "[apps][status]") {
  runtime::TrainingProgress p;
  p.state = "training";
  p.step = 1200;
  p.evaluated = true;
  p.test_accuracy = 0.8125;
  p.test_loss = 0.5;
  p.evaluated_at_step = 1000;
  nlohmann::json before = apps::progress_json(p, "local-average");
  CHECK(before.at("test_accuracy") == 0.8125);
  CHECK(before.at("test_loss") == 0.5);
  CHECK(before.at("evaluated_at_step") == 1000);
  CHECK(before.at("local_average_accuracy").is_null());  // not evaluated yet
  CHECK(before.at("local_average_loss").is_null());
  CHECK(before.at("export_model") == "local-average");

  p.local_average_evaluated = true;
  p.local_average_accuracy = 0.84375;
  p.local_average_loss = 0.25;
  p.local_average_at_step = 1000;
  p.local_average_neighbours = 3;
  nlohmann::json after = apps::progress_json(p, "own");
  CHECK(after.at("test_accuracy") == 0.8125);
  CHECK(after.at("local_average_accuracy") == 0.84375);
  CHECK(after.at("local_average_loss") == 0.25);
  CHECK(after.at("local_average_at_step") == 1000);
  CHECK(after.at("local_average_neighbours") == 3);
  CHECK(after.at("export_model") == "own");
  CHECK(after.at("step") == 1200);

  p.local_average_accuracy = std::nan("");
  CHECK(apps::progress_json(p, "own").at("local_average_accuracy").is_null());  // never a bare NaN in JSON
}

// The defaults of `starling peer` (apps/peer_training.h): scaled sign under
// a 1 MB/s upload budget, mixed pairwise, which learned faster than top-k 1%
// with real processes and in the quickstart (docs/learning.md, "Where the
// targets stand", session 12); γ and k are the compressor's defaults.
TEST_CASE("peer options: the default is pairwise scaled sign under a 1 MB/s upload budget", "[apps][training]") {
  const apps::PeerTrainingOptions defaults;
  auto driver = apps::gossip_driver_options(defaults, compress::Layout::whole(1), {});
  REQUIRE(driver.ok());
  CHECK(driver->compressor.kind == compress::CompressorKind::sign);
  CHECK(driver->upload_budget.bytes_per_second == 1'000'000);
  CHECK(driver->mixing == node::Mixing::pairwise);
  CHECK(driver->gamma == 0.0f);           // the compressor's default
  CHECK(driver->round_every_steps == 0);  // the compressor's default
  CHECK(driver->download_bf16);           // a joiner asks for the model in bf16, half the bytes
  apps::PeerTrainingOptions unlimited;
  unlimited.max_upload = 0;
  auto open = apps::gossip_driver_options(unlimited, compress::Layout::whole(1), {});
  REQUIRE(open.ok());
  CHECK(open->upload_budget.bytes_per_second == 0);  // --max-upload 0: no budget

  // --download-precision f32 through the CLI: the exact download.
  CLI::App app;
  apps::PeerTrainingOptions exact;
  apps::add_peer_training_options(app, exact);
  std::vector<std::string> argv = {"f32", "--download-precision"};  // CLI11 takes a reversed vector
  REQUIRE_NOTHROW(app.parse(argv));
  auto f32 = apps::gossip_driver_options(exact, compress::Layout::whole(1), {});
  REQUIRE(f32.ok());
  CHECK_FALSE(f32->download_bf16);
  CLI::App strict;
  apps::PeerTrainingOptions typo;
  apps::add_peer_training_options(strict, typo);
  argv = {"f16", "--download-precision"};
  CHECK_THROWS_AS(strict.parse(argv), CLI::ValidationError);
}

TEST_CASE("peer options: a round floor above the gossip interval is refused, not lowered to it", "[apps][training]") {
  // It was clamped silently: --round-floor 5000 --gossip-interval 100 ran
  // rounds every 100 ms under a flag that asked for 5 s between them.
  apps::PeerTrainingOptions options;
  options.gossip_interval_ms = 100;
  options.round_floor_ms = 5000;
  auto refused = apps::gossip_driver_options(options, compress::Layout::whole(1), {});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().kind == ErrorKind::invalid_argument);
  CHECK_THAT(refused.error().message, Catch::Contains("--round-floor 5000 is above --gossip-interval 100"));
  options.round_floor_ms = 100;  // equal: every round at the interval
  auto equal = apps::gossip_driver_options(options, compress::Layout::whole(1), {});
  REQUIRE(equal.ok());
  CHECK(equal->round_min_interval_ms == 100);
  CHECK(equal->round_max_interval_ms == 100);
}

// A training peer's progress line carries the member counts too, before its
// links, in each of its forms (training, downloading, loading the data):
// before, it showed only the links.
TEST_CASE("a training peer's progress line says how many members it knows and suspects", "[apps][training]") {
  test::TempDir dir;
  {
    std::ofstream csv(dir.file("toy.csv"));
    for (int i = 0; i < 40; ++i) csv << i % 2 << "," << i << "," << -i << "\n";
  }
  apps::PeerTrainingOptions options;
  options.training.data = dir.file("toy.csv");
  options.training.model = "linear";
  auto log = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  auto prepared = apps::PeerTraining::prepare(options, dir.path, log);
  REQUIRE(prepared.ok());
  const apps::PeerTraining& training = **prepared;

  node::PeerStatus status;
  for (gossip::MemberState state : {gossip::MemberState::alive, gossip::MemberState::suspect}) {
    gossip::MemberView member;
    member.record.state = state;
    status.view.members.push_back(member);
  }
  // A CSV loads in prepare(): the training form, before the first step.
  CHECK_THAT(training.progress_line(status), Catch::Contains(" | members 3 (1 suspect) | links 0/0 ready | "));
  status.training = node::TrainingDriverStatus{};
  status.training->state = "downloading";
  CHECK(training.progress_line(status) == "downloading the swarm's model from a neighbour | members 3 (1 suspect)");
}

// SIGTERM before the data had loaded (an IDX set loads once the peer has
// joined; "training waits for the data to load"): the peer logged "stopping
// training (final checkpoint)", wrote none, said nothing more and exited 0.
TEST_CASE("a peer stopped before its data loaded says it wrote no checkpoint and leaves the file alone",
          "[apps][training]") {
  namespace fs = std::filesystem;
  test::TempDir dir;
  fs::create_directories(dir.path / "idx");
  for (const std::string split : {"train", "t10k"}) {
    test::write_plain(dir.file("idx/" + split + "-images-idx3-ubyte"), test::idx_images(20, 2, 2));
    test::write_plain(dir.file("idx/" + split + "-labels-idx1-ubyte"), test::idx_labels(20, 2));
  }
  apps::PeerTrainingOptions options;
  options.training.data = dir.file("idx");
  options.training.model = "linear";
  // A damaged checkpoint of an earlier run: a peer replaces it only with a model of its own.
  const std::string earlier_bytes = "starling-checkpoint 1\ncut short by a power loss\n";
  for (const bool earlier : {false, true}) {
    const fs::path data_dir = dir.path / (earlier ? "earlier" : "fresh");
    const fs::path checkpoint = data_dir / "model.ckpt";
    fs::create_directories(data_dir);
    if (earlier) std::ofstream(checkpoint, std::ios::binary) << earlier_bytes;
    std::ostringstream said;
    auto log = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(said));
    auto prepared = apps::PeerTraining::prepare(options, data_dir, log);
    REQUIRE(prepared.ok());
    apps::PeerTraining& training = **prepared;
    CHECK_FALSE(training.started());
    training.stop();  // as at SIGTERM, the loader never having finished
    training.stop();  // idempotent: said once
    INFO(said.str());
    CHECK_FALSE(training.final_checkpoint_error());  // exit 0: nothing was lost
    const std::string line = "no final checkpoint written: training had not started (the data was still loading)";
    CHECK_THAT(said.str(), Catch::Contains(line));
    CHECK(said.str().find(line) == said.str().rfind(line));
    if (earlier) {
      CHECK_THAT(said.str(), Catch::Contains(checkpoint.string() + " keeps its earlier checkpoint, untouched"));
      std::ifstream in(checkpoint, std::ios::binary);
      CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == earlier_bytes);
    } else {
      CHECK_THAT(said.str(), Catch::Contains("there is no " + checkpoint.string()));
      CHECK_FALSE(fs::exists(checkpoint));
    }
  }
}
