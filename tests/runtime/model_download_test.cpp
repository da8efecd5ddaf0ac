// Joining over a slow, lossy path (docs/learning.md): the joiner's requests
// follow the rate it measures (node/download_pace.h), so a model TCP carries
// in 12 s is downloaded in about that, once, instead of asked for again and
// again until the joiner gives up.
#include "training_swarm.h"

namespace starling::test_training {
namespace {

// 150 ms each way, up to 60 ms of jitter, 2% loss: TCP carries about 40 kB/s.
LinkFaults long_lossy_path() {
  LinkFaults path;
  path.delay_us = 150'000;
  path.jitter_us = 60'000;
  path.drop_probability = 0.02;
  return path;
}

}  // namespace

TEST_CASE("model download: joiners on a long lossy path download the model once each, within the timeout",
          "[runtime][training][download]") {
  Swarm swarm(41);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("none");
  config.dimension = 235'146;  // the default MLP: 470 kB in bf16
  std::mt19937_64 random(5);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  Eigen::VectorXf model(config.dimension);
  for (auto& v : model) v = normal(random);
  SwarmPeer& seed = swarm.add(config, {}, false, model);
  swarm.run_for(1);
  swarm.network().faults().set_default(long_lossy_path());
  std::vector<SwarmPeer*> joiners;
  for (int k = 0; k < 3; ++k) joiners.push_back(&swarm.add(config, {0}, true, Eigen::VectorXf::Zero(config.dimension)));
  const bool started = swarm.run_until([&] {
    return std::all_of(joiners.begin(), joiners.end(), [](SwarmPeer* j) { return j->host.started; });
  }, 120);
  REQUIRE(started);
  const std::uint64_t model_bytes = 2 * config.dimension;
  std::uint64_t downloaded = 0;
  for (SwarmPeer* joiner : joiners) {
    for (const auto& line : joiner->log) UNSCOPED_INFO(line);
    CHECK(joiner->host.downloaded);
    downloaded += joiner->training()->status().model_bytes_downloaded;
  }
  CHECK(downloaded == 3 * model_bytes);
  // What the servers sent: the models, plus a little repeated after a lost
  // request; before, each 3 s without the whole model asked for all of it again.
  std::uint64_t served = seed.training()->status().model_bytes_served;
  for (SwarmPeer* joiner : joiners) served += joiner->training()->status().model_bytes_served;
  CHECK(served <= 3 * model_bytes * 11 / 10);
}

}  // namespace starling::test_training

namespace starling::test_training {

TEST_CASE("model download: a member that never answers model requests does not hold a joiner",
          "[runtime][training][download]") {
  Swarm swarm(42);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("none");
  SwarmPeer& seed = swarm.add(config, {}, false, swarm.random_model());
  swarm.run_for(1);
  SwarmPeer& joiner = swarm.add(config, {0}, true, swarm.random_model());
  // Linked before the joiner's link to the seed, so asked first: it takes
  // the requests and never answers.
  auto silent = swarm.raw_member("silent", joiner, "test-model");
  REQUIRE(swarm.run_until([&] { return joiner.host.started; }, 30));
  for (const auto& line : joiner.log) UNSCOPED_INFO(line);
  const auto asked = std::count_if(silent->messages.begin(), silent->messages.end(), [](const wire::Message& m) {
    return std::holds_alternative<wire::ModelRequest>(m);
  });
  CHECK(asked >= 1);  // else this test shows nothing
  CHECK(joiner.host.downloaded);
  CHECK(seed.training()->status().model_bytes_served >= kDimension * 2);
}

}  // namespace starling::test_training
