// The simulator's stepped trainer hands corrections to its model as a real
// peer's StepHandoff does: everything handed over between two step
// boundaries lands as one sum at the next one. That matters to absorb
// momentum, which takes a share of each correction it sees into the
// velocity, and only of the first one at a boundary: under on-delta mixing
// several pulls arrive between two steps.
#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <limits>
#include <functional>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "starling/ml/model.h"
#include "starling/runtime/memory_network.h"
#include "starling/compress/mlp_layout.h"
#include "starling/sim/trainer.h"
#include "starling/sim/world.h"

using namespace starling;
using namespace starling::sim;

namespace {

constexpr int kInputs = 4;

std::shared_ptr<const ml::TrainTest> blob_data() {
  auto make = [](int per_class, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> noise(0.0f, 0.5f);
    ml::Dataset data;
    data.classes = 2;
    data.features.resize(kInputs, 2 * per_class);
    for (int i = 0; i < 2 * per_class; ++i) {
      for (int r = 0; r < kInputs; ++r) data.features(r, i) = (i % 2 == 0 ? -1.0f : 1.0f) + noise(rng);
      data.labels.push_back(i % 2);
    }
    return data;
  };
  auto data = std::make_shared<ml::TrainTest>();
  data->train = make(100, 1);
  data->test = make(50, 2);
  return data;
}

TrainerOptions absorb_trainer(const std::shared_ptr<const ml::TrainTest>& data) {
  node::TrainingLoopOptions loop;
  auto model = std::make_unique<ml::Mlp>(*ml::ModelSpec::parse("mlp:8"), kInputs, 2);
  model->initialize(3);
  loop.model = std::move(model);
  loop.schedule.lr = 0.05;
  loop.optimizer.momentum = 0.9;
  loop.optimizer.momentum_mode = ml::OptimizerConfig::MomentumMode::absorb;
  loop.data = data;
  for (std::size_t i = 0; i < data->train.size(); ++i) loop.shard.push_back(i);
  loop.batch = 16;
  loop.seed = 5;
  loop.eval_every_steps = 0;
  TrainerOptions options;
  options.step_seconds = 0.01;
  options.eval_every_steps = 0;
  options.evaluate_local_average = false;
  options.loop = std::move(loop);
  return options;
}

}  // namespace

TEST_CASE("stepped trainer: corrections between two steps land as their sum, momentum included", "[sim][trainer]") {
  runtime::MemoryNetwork network(1);
  const auto data = blob_data();
  auto transport_a = network.create_transport("a");
  auto transport_b = network.create_transport("b");
  node::Peer* no_driver = nullptr;
  SteppedTrainer split(*transport_a, &no_driver, absorb_trainer(data));
  SteppedTrainer whole(*transport_b, &no_driver, absorb_trainer(data));
  split.start_training(nullptr);
  whole.start_training(nullptr);
  // Five steps each (one every 10 ms from t = 0), then two pulls to one and
  // their sum to the other between the same two boundaries.
  network.run_for(45'000);
  REQUIRE(split.steps() == 5);
  REQUIRE(whole.steps() == 5);
  REQUIRE(split.parameters() == whole.parameters());
  const Eigen::Index n = split.parameters().size();
  Eigen::VectorXf first(n), second(n);
  for (Eigen::Index k = 0; k < n; ++k) {
    first[k] = 0.01f * float((k % 7) - 3);
    second[k] = 0.02f * float((k % 5) - 2);
  }
  split.add_correction(first);
  split.add_correction(second);
  whole.add_correction(first + second);
  // The steps after it take the velocity with them: a second correction that
  // moved only the parameters would leave the two apart from here on.
  network.run_for(50'000);
  REQUIRE(split.steps() == 10);
  const double apart = double((split.parameters() - whole.parameters()).norm());
  INFO("apart " << apart << " of " << double(whole.parameters().norm()));
  CHECK(apart <= 1e-5 * double(whole.parameters().norm()));
  // And nothing is held once a boundary has passed: settle() changes nothing.
  const Eigen::VectorXf before = split.parameters();
  split.settle();
  CHECK(split.parameters() == before);
}

TEST_CASE("stepped trainer: a NaN correction is refused alone, the others still land", "[sim][trainer]") {
  runtime::MemoryNetwork network(2);
  const auto data = blob_data();
  auto transport = network.create_transport("a");
  node::Peer* no_driver = nullptr;
  SteppedTrainer trainer(*transport, &no_driver, absorb_trainer(data));
  trainer.start_training(nullptr);
  network.run_for(25'000);
  const Eigen::VectorXf before = trainer.parameters();
  Eigen::VectorXf bad = Eigen::VectorXf::Zero(before.size());
  bad[0] = std::numeric_limits<float>::quiet_NaN();
  const Eigen::VectorXf good = Eigen::VectorXf::Constant(before.size(), 0.5f);
  trainer.add_correction(good);
  trainer.add_correction(bad);
  trainer.settle();
  CHECK(trainer.parameters().allFinite());
  CHECK(double((trainer.parameters() - before - good).norm()) <= 1e-5 * double(trainer.parameters().norm()));
}

namespace {

// Three simulated peers training the blobs; peer 2's model is blown up
// (every parameter 1e30) whenever `blow_up` says so and it is training.
struct BlobSwarm {
  World world;

  static WorldOptions options(const std::shared_ptr<const ml::TrainTest>& data) {
    WorldOptions o;
    o.seed = 9;
    o.train = true;
    ml::Mlp probe(*ml::ModelSpec::parse("mlp:8"), kInputs, 2);
    o.driver.layout = compress::layout_for(probe);
    o.driver.model_hash = node::model_hash("blob swarm");
    o.trainer = [data](int, std::uint64_t) {
      TrainerOptions t = absorb_trainer(data);
      t.loop->eval_every_steps = 50;
      return t;
    };
    return o;
  }
  explicit BlobSwarm(const std::shared_ptr<const ml::TrainTest>& data) : world(options(data)) {
    world.reserve_peers(3);
    world.start(0, {}, false);
    world.start(1, {0}, true);
    world.start(2, {0}, true);
  }
  SteppedTrainer& trainer(int i) { return *world.peer(i).trainer; }
  std::string state(int i) { return world.peer(i).training()->status().state; }
  std::size_t links(int i) { return world.peer(i).training()->status().neighbours.size(); }
  // Runs `seconds` in steps of 100 ms; blows peer 2 up while `blow_up()`.
  void run(double seconds, const std::function<bool()>& blow_up) {
    const std::uint64_t end = world.now_us() + std::uint64_t(seconds * 1e6);
    while (world.now_us() < end) {
      if (blow_up() && !trainer(2).failed() && trainer(2).training())
        trainer(2).add_correction(Eigen::VectorXf::Constant(trainer(2).parameters().size(), 1e30f));
      world.run_until(std::min(end, world.now_us() + 100'000));
    }
  }
  double accuracy(int i) { return trainer(i).accuracy().value_or(0.0); }
};

}  // namespace

TEST_CASE("simulated peers: a failed trainer withdraws, then recovers with a neighbour's model, as starling peer does",
          "[sim][trainer][recovery]") {
  const auto data = blob_data();
  BlobSwarm swarm(data);
  swarm.run(5.0, [] { return false; });
  REQUIRE(swarm.state(2) == "training");
  REQUIRE(swarm.links(2) > 0);
  const node::TrainingDriverStatus before = *swarm.world.peer(2).node->training_status();
  REQUIRE(before.rounds > 10);

  // Once: the loop fails (100 non-finite losses in a row), the peer
  // withdraws, and 1 s later joins again and trains on from a neighbour's model.
  bool once = true;
  swarm.run(1.5, [&] { return std::exchange(once, false); });
  CHECK(swarm.trainer(2).failures() == 1);
  CHECK(swarm.world.peer(2).node->training_recoveries() == 1);
  swarm.run(8.0, [] { return false; });
  CHECK_FALSE(swarm.trainer(2).failed());
  CHECK(swarm.state(2) == "training");
  CHECK(swarm.links(2) > 0);
  CHECK(swarm.trainer(2).parameters().allFinite());
  CHECK(swarm.trainer(2).parameters().cwiseAbs().maxCoeff() < 100.0f);
  for (int i = 0; i < 3; ++i) {
    INFO("peer " << i);
    CHECK(swarm.accuracy(i) > 0.9);
  }
  // The peer's counters run on across the driver its recovery replaced.
  const node::TrainingDriverStatus after = *swarm.world.peer(2).node->training_status();
  const node::TrainingDriverStatus driver_only = swarm.world.peer(2).training()->status();
  CHECK(driver_only.rounds > 0);
  CHECK(after.rounds >= before.rounds + driver_only.rounds);
  CHECK(after.deltas_sent >= before.deltas_sent + driver_only.deltas_sent);
  CHECK(after.traffic_by_kind.at("delta").messages_sent >= before.traffic_by_kind.at("delta").messages_sent);

  // Every time: after 3 recoveries it gives up, a member without links,
  // and its 1e30 model pulled on nobody.
  // Each failure also refuses the server of the model it started from, so
  // the last recoveries find only refused servers and ask them after the
  // 3 s grace.
  swarm.run(60.0, [] { return true; });
  CHECK(swarm.trainer(2).failures() == 1 + node::Peer::kMaxTrainingRecoveries);
  CHECK(swarm.world.peer(2).node->training_recoveries() == node::Peer::kMaxTrainingRecoveries);
  CHECK(swarm.trainer(2).failed());
  CHECK(swarm.state(2) == "failed");
  CHECK(swarm.links(2) == 0);
  for (int i = 0; i < 2; ++i) {
    INFO("peer " << i);
    CHECK(swarm.links(i) == 1);  // each other only
    CHECK(swarm.trainer(i).parameters().cwiseAbs().maxCoeff() < 100.0f);
    CHECK(swarm.accuracy(i) > 0.9);
  }
}

TEST_CASE("simulated peers: a joiner whose downloaded model fails refuses that server and recovers from another",
          "[sim][trainer][recovery][byzantine]") {
  const auto data = blob_data();
  World world(BlobSwarm::options(data));
  world.reserve_peers(3);
  world.start(0, {}, false);
  world.start(1, {0}, true);
  world.run_until(3'000'000);
  REQUIRE(world.peer(1).training()->status().state == "training");

  // Peer 0 turns hostile: what it serves is its model plus noise 1e20 times
  // its RMS, which no SGD step survives. Peer 2 joins through it while
  // peer 1 is paused, so the download comes from peer 0.
  world.peer(0).node->set_byzantine(node::ByzantineMode::random_deltas, 1e20);
  world.pause(1);
  world.start(2, {0}, true);
  SteppedTrainer& joiner = *world.peer(2).trainer;
  const std::uint64_t end = world.now_us() + 2'000'000;
  while (world.now_us() < end && joiner.failures() == 0) world.run_until(world.now_us() + 10'000);
  REQUIRE(world.peer(2).training()->started_from().has_value());
  REQUIRE(world.peer(2).training()->started_from()->node_id == world.peer(0).node_id);
  REQUIRE(joiner.failures() == 1);  // it trained from peer 0's model and diverged
  world.resume(1);

  // Its recovery downloads from peer 1, not again from peer 0 (first in its
  // links, which every earlier download asked), and learns.
  world.run_until(world.now_us() + 10'000'000);
  CHECK(joiner.failures() == 1);
  CHECK(world.peer(2).node->training_recoveries() == 1);
  const node::TrainingDriver& driver = *world.peer(2).training();
  CHECK(driver.status().state == "training");
  REQUIRE(driver.started_from().has_value());
  CHECK(driver.started_from()->node_id == world.peer(1).node_id);
  CHECK(driver.refused_servers() == std::vector<gossip::NodeId>{world.peer(0).node_id});
  CHECK(joiner.parameters().allFinite());
  CHECK(joiner.accuracy().value_or(0.0) > 0.9);
}
