// The training step end to end on a small synthetic problem.
#include <catch2/catch.hpp>

#include <limits>
#include <random>

#include "starling/ml/trainer.h"

using namespace starling;
using namespace starling::ml;

namespace {

// Three Gaussian blobs in 5-D: learnable to ~100% by a small MLP.
Dataset blobs(int per_class, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.3f);
  Dataset data;
  data.classes = 3;
  data.features.resize(5, 3 * per_class);
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < per_class; ++i) {
      const int col = c * per_class + i;
      for (int r = 0; r < 5; ++r) data.features(r, col) = (r == c ? 2.0f : 0.0f) + noise(rng);
      data.labels.push_back(c);
    }
  }
  return data;
}

std::vector<std::size_t> all_indices(const Dataset& d) {
  std::vector<std::size_t> v(d.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = i;
  return v;
}

}  // namespace

TEST_CASE("training learns a separable problem and evaluation reports it") {
  const Dataset train = blobs(200, 1), test = blobs(50, 2);
  Mlp model(*ModelSpec::parse("mlp:16"), 5, 3);
  model.initialize(4);
  const double before = evaluate(model, test).accuracy;
  Optimizer optimizer(OptimizerConfig{}, model.parameter_count());
  Batcher batcher(train, all_indices(train), 30, 5);  // 20 full batches an epoch
  LrSchedule schedule;
  schedule.lr = 0.05;
  Trainer trainer(model, optimizer, batcher, schedule);
  for (int i = 0; i < 200; ++i) REQUIRE(trainer.step().ok());
  const Evaluation after = evaluate(model, test, 64);
  CHECK(before < 0.7);
  CHECK(after.accuracy > 0.97);
  CHECK(after.samples == test.size());
  CHECK(trainer.samples() == 200 * 30);
  CHECK(trainer.epoch() == Approx(10.0));
}

TEST_CASE("a NaN loss stops training with a numerical error and leaves the parameters alone") {
  Dataset train = blobs(10, 3);
  train.features(0, 0) = std::numeric_limits<float>::quiet_NaN();
  Mlp model(*ModelSpec::parse("linear"), 5, 3);
  model.initialize(1);
  const Vector before = model.parameters();
  Optimizer optimizer(OptimizerConfig{}, model.parameter_count());
  Batcher batcher(train, all_indices(train), 30, 1);  // one batch holds every sample
  Trainer trainer(model, optimizer, batcher, LrSchedule{});
  auto result = trainer.step();
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().kind == ErrorKind::numerical);
  CHECK(model.parameters() == before);
}

TEST_CASE("fused SGD (gradient accumulated into the velocity) equals the plain update") {
  const Dataset train = blobs(64, 7);
  OptimizerConfig config;
  config.momentum = 0.9;
  config.weight_decay = 1e-3;
  Mlp fused_model(*ModelSpec::parse("mlp:12,6"), 5, 3), plain_model(*ModelSpec::parse("mlp:12,6"), 5, 3);
  fused_model.initialize(3);
  plain_model.initialize(3);
  Optimizer fused_optimizer(config, fused_model.parameter_count()), plain_optimizer(config, plain_model.parameter_count());
  REQUIRE(fused_optimizer.fuses_momentum());
  Batcher fused_batcher(train, all_indices(train), 16, 9), plain_batcher(train, all_indices(train), 16, 9);
  LrSchedule schedule;
  schedule.lr = 0.05;
  Trainer trainer(fused_model, fused_optimizer, fused_batcher, schedule);
  Vector gradient = Vector::Zero(Eigen::Index(plain_model.parameter_count()));
  for (int i = 0; i < 40; ++i) {
    REQUIRE(trainer.step().ok());
    plain_batcher.next();
    plain_model.forward_backward(plain_batcher.features(), plain_batcher.labels(), gradient);
    plain_optimizer.step(plain_model.parameters(), gradient, 0.05f);
  }
  CHECK(fused_model.parameters().isApprox(plain_model.parameters(), 1e-5f));
  CHECK(fused_model.parameters() != Mlp(*ModelSpec::parse("mlp:12,6"), 5, 3).parameters());
}
