// Optimizers against hand-computed updates, and learning-rate schedules.
#include <catch2/catch.hpp>

#include <cmath>

#include "starling/ml/optimizer.h"

using namespace starling;
using namespace starling::ml;

TEST_CASE("SGD with momentum follows PyTorch's update rule") {
  OptimizerConfig config;
  config.momentum = 0.5;
  Optimizer optimizer(config, 2);
  Eigen::VectorXf p(2), g(2);
  p << 1.0f, -1.0f;
  g << 0.2f, 0.4f;
  optimizer.step(p, g, 0.1f);  // v = g; p -= 0.1 v
  CHECK(p(0) == Approx(0.98f));
  CHECK(p(1) == Approx(-1.04f));
  optimizer.step(p, g, 0.1f);  // v = 0.5 g + g = 1.5 g
  CHECK(p(0) == Approx(0.98f - 0.03f));
  CHECK(p(1) == Approx(-1.04f - 0.06f));
  CHECK(optimizer.steps() == 2);
}

TEST_CASE("Nesterov and weight decay") {
  OptimizerConfig config;
  config.momentum = 0.9;
  config.nesterov = true;
  config.weight_decay = 0.1;
  Optimizer optimizer(config, 1);
  Eigen::VectorXf p(1), g(1);
  p << 2.0f;
  g << 1.0f;
  optimizer.step(p, g, 0.5f);
  // d = g + wd p = 1.2; v = 1.2; p -= lr (d + mu v) = 0.5 * (1.2 + 1.08)
  CHECK(p(0) == Approx(2.0f - 0.5f * (1.2f + 0.9f * 1.2f)));
}

TEST_CASE("Adam's first step moves each parameter by about lr") {
  OptimizerConfig config;
  config.kind = OptimizerConfig::Kind::adam;
  Optimizer optimizer(config, 3);
  Eigen::VectorXf p = Eigen::VectorXf::Zero(3), g(3);
  g << 0.001f, -5.0f, 300.0f;
  optimizer.step(p, g, 0.01f);
  CHECK(p(0) == Approx(-0.01f).epsilon(1e-3));
  CHECK(p(1) == Approx(0.01f).epsilon(1e-3));
  CHECK(p(2) == Approx(-0.01f).epsilon(1e-3));
  CHECK(optimizer.state().size() == 2);
}

TEST_CASE("learning-rate schedules") {
  LrSchedule s;
  s.lr = 1.0;
  s.warmup_steps = 4;
  CHECK(s.at(0) == Approx(0.25));
  CHECK(s.at(3) == Approx(1.0));
  CHECK(s.at(100) == Approx(1.0));
  s.decay = LrSchedule::Decay::cosine;
  s.total_steps = 104;
  CHECK(s.at(4) == Approx(1.0));
  CHECK(s.at(54) == Approx(0.5));
  CHECK(s.at(104) == Approx(0.0).margin(1e-12));
  s.decay = LrSchedule::Decay::exponential;
  s.gamma = 0.5;
  s.steps_per_epoch = 10;
  CHECK(s.at(24) == Approx(0.25));

  double gamma = 0;
  CHECK(LrSchedule::parse_decay("exp:0.9", &gamma).ok());
  CHECK(gamma == Approx(0.9));
  CHECK_FALSE(LrSchedule::parse_decay("exp:2", &gamma).ok());
  CHECK_FALSE(LrSchedule::parse_decay("linear", &gamma).ok());
  CHECK_FALSE(OptimizerConfig::parse_kind("rmsprop").ok());
}
