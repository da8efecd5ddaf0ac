// What SGD's momentum makes of a gossip correction (OptimizerConfig::
// MomentumMode): the exact update of each mode, and, in a miniature swarm with
// exact averaging every k steps, that absorb and quasi-global momentum keep
// the replicas closer to their mean than local momentum does.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "starling/ml/optimizer.h"

using namespace starling;
using namespace starling::ml;
using Mode = OptimizerConfig::MomentumMode;

namespace {

OptimizerConfig sgd(Mode mode, double momentum = 0.9) {
  OptimizerConfig config;
  config.momentum = momentum;
  config.momentum_mode = mode;
  return config;
}

struct SwarmFigures {
  double deviation = 0;        // mean over rounds of Σ_i ‖x_i − x̄‖², just before the round
  double velocity_spread = 0;  // mean over rounds of Σ_i ‖v_i − v̄‖², just after it
  double buffer_spread = 0;    // the same of quasi-global momentum's buffers m_i, after the next step
  double distance_to_optimum = 0;  // ‖x̄ − target‖² at the end
};

// `peers` replicas on f_i(x) = ½‖x − t‖² with Gaussian gradient noise (the
// IID case: one optimum, independent noise), SGD with momentum 0.9, lr 0.02;
// every `k` steps each replica is set to the exact mean of all of them and
// told the correction. The first 400 steps are not measured.
SwarmFigures run_swarm(Mode mode, int peers, int k, std::uint64_t seed, bool fused) {
  const int dimension = 64, steps = 2400, warmup = 400;
  const float lr = 0.02f;
  std::mt19937_64 random(seed);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  Eigen::VectorXf target(dimension);
  for (auto& value : target) value = noise(random);
  std::vector<Eigen::VectorXf> x(std::size_t(peers), Eigen::VectorXf::Zero(dimension));
  std::vector<Optimizer> optimizers;
  for (int i = 0; i < peers; ++i) optimizers.emplace_back(sgd(mode), std::size_t(dimension));
  Eigen::VectorXf gradient(dimension);
  SwarmFigures figures;
  int rounds = 0;
  for (int step = 1; step <= steps; ++step) {
    for (int i = 0; i < peers; ++i) {
      Optimizer& o = optimizers[std::size_t(i)];
      for (int d = 0; d < dimension; ++d) gradient(d) = x[std::size_t(i)](d) - target(d) + noise(random);
      if (fused) {
        // The trainer's fused order: prepare, the backward pass adds the
        // gradient into the velocity with decay mu, then the step.
        o.prepare_fused_step();
        o.velocity() = 0.9f * o.velocity() + gradient;
        o.step_with_velocity(x[std::size_t(i)], lr);
      } else {
        o.step(x[std::size_t(i)], gradient, lr);
      }
    }
    if (step % k == 1 && step > warmup + k && optimizers[0].state().size() == 2) {
      // m takes the round's displacement in the step after it.
      Eigen::VectorXf mean_buffer = Eigen::VectorXf::Zero(dimension);
      for (auto& o : optimizers) mean_buffer += *o.state()[1];
      mean_buffer /= float(peers);
      for (auto& o : optimizers) figures.buffer_spread += double((*o.state()[1] - mean_buffer).squaredNorm());
    }
    if (step % k != 0) continue;
    Eigen::VectorXf mean = Eigen::VectorXf::Zero(dimension);
    for (const auto& xi : x) mean += xi;
    mean /= float(peers);
    const bool measured = step > warmup;
    for (int i = 0; i < peers; ++i) {
      const Eigen::VectorXf correction = mean - x[std::size_t(i)];
      if (measured) figures.deviation += double(correction.squaredNorm());
      x[std::size_t(i)] += correction;
      optimizers[std::size_t(i)].on_correction(correction);
    }
    if (!measured) continue;
    Eigen::VectorXf mean_velocity = Eigen::VectorXf::Zero(dimension);
    for (auto& o : optimizers) mean_velocity += o.velocity();
    mean_velocity /= float(peers);
    for (auto& o : optimizers) figures.velocity_spread += double((o.velocity() - mean_velocity).squaredNorm());
    ++rounds;
  }
  figures.deviation /= rounds;
  figures.velocity_spread /= rounds;
  figures.buffer_spread /= rounds;
  Eigen::VectorXf mean = Eigen::VectorXf::Zero(dimension);
  for (const auto& xi : x) mean += xi;
  figures.distance_to_optimum = double((mean / float(peers) - target).squaredNorm());
  return figures;
}

}  // namespace

TEST_CASE("momentum modes: local leaves the velocity alone after a correction") {
  Optimizer optimizer(sgd(Mode::local), 2);
  Eigen::VectorXf p(2), g(2), c(2);
  p << 1.0f, -1.0f;
  g << 0.2f, 0.4f;
  c << 0.5f, -0.5f;
  optimizer.step(p, g, 0.1f);
  const Eigen::VectorXf before = optimizer.velocity();
  optimizer.on_correction(c);
  CHECK(optimizer.velocity() == before);
  CHECK(optimizer.state().size() == 1);
}

TEST_CASE("momentum modes: absorb takes min(1/k, 1 - mu) c / lr out of the velocity, k the steps since the last correction") {
  Optimizer optimizer(sgd(Mode::absorb, 0.5), 1);
  Eigen::VectorXf p(1), g(1), c(1);
  p << 1.0f;
  g << 1.0f;
  c << 0.3f;
  optimizer.on_correction(c);  // before any step: nothing to correct (a downloaded model, say)
  CHECK(optimizer.velocity()(0) == 0.0f);
  optimizer.step(p, g, 0.1f);  // v = 1
  optimizer.step(p, g, 0.1f);  // v = 1.5
  optimizer.on_correction(c);  // two steps: v -= min(1/2, 0.5) 0.3 / 0.1
  CHECK(optimizer.velocity()(0) == Approx(0.0f).margin(1e-6));
  optimizer.on_correction(c);  // a second one at the same boundary: no steps, no change
  CHECK(optimizer.velocity()(0) == Approx(0.0f).margin(1e-6));
  optimizer.step(p, g, 0.2f);  // v = 1
  optimizer.on_correction(c);  // one step at lr 0.2: v -= min(1, 0.5) 0.3 / 0.2
  CHECK(optimizer.velocity()(0) == Approx(1.0f - 0.75f));
  CHECK(optimizer.state().size() == 1);  // no extra memory
}

TEST_CASE("momentum modes: absorb_share caps absorb's share below 1 - mu, 0 keeps 1 - mu") {
  Eigen::VectorXf p(1), g(1), c(1);
  p << 1.0f;
  g << 1.0f;
  c << 0.3f;
  OptimizerConfig damped = sgd(Mode::absorb, 0.5);
  damped.absorb_share = 0.05;
  Optimizer optimizer(damped, 1);
  optimizer.step(p, g, 0.1f);  // v = 1
  optimizer.on_correction(c);  // one step: v -= min(1, 0.05) 0.3 / 0.1
  CHECK(optimizer.velocity()(0) == Approx(1.0f - 0.15f));
  optimizer.step(p, g, 0.1f);  // v = 0.425 + 1
  optimizer.step(p, g, 0.1f);  // v = 0.7125 + 1
  optimizer.step(p, g, 0.1f);  // v = 0.85625 + 1
  optimizer.step(p, g, 0.1f);  // v = 0.928125 + 1
  optimizer.on_correction(c);  // four steps: 1/4 > 0.05, the cap still holds
  CHECK(optimizer.velocity()(0) == Approx(1.928125f - 0.15f));
  OptimizerConfig wide = sgd(Mode::absorb, 0.5);
  wide.absorb_share = 1.0;  // above 1 - mu: then 1/k rules
  Optimizer full(wide, 1);
  full.step(p, g, 0.1f);
  full.step(p, g, 0.1f);      // v = 1.5
  full.on_correction(c);      // two steps: v -= min(1/2, 1) 0.3 / 0.1
  CHECK(full.velocity()(0) == Approx(0.0f).margin(1e-6));
  OptimizerConfig unset = sgd(Mode::absorb, 0.9);
  REQUIRE(unset.absorb_share == 0.0);
  Optimizer standard(unset, 1);
  standard.step(p, g, 0.1f);  // v = 1
  standard.on_correction(c);  // v -= min(1, 0.1) 0.3 / 0.1
  CHECK(standard.velocity()(0) == Approx(1.0f - 0.3f));
}

TEST_CASE("momentum modes: quasi-global momentum tracks the displacement, gossip included (QG-DSGDm)") {
  Optimizer optimizer(sgd(Mode::quasi_global, 0.5), 1);
  Eigen::VectorXf p(1), g(1), c(1);
  p << 0.0f;
  g << 1.0f;
  REQUIRE(optimizer.state().size() == 2);  // velocity and the buffer m
  optimizer.step(p, g, 0.1f);  // m = 0; d = mu m + g = 1; p = -0.1
  CHECK(p(0) == Approx(-0.1f));
  c << 0.05f;
  optimizer.on_correction(c);  // p = -0.05 after the caller's add: displacement 0.05 = lr 0.5
  p += c;
  optimizer.step(p, g, 0.1f);  // m = 0.5 * 0 + 0.5 * 0.5 = 0.25; d = 0.125 + 1; p -= 0.1125
  CHECK(*optimizer.state()[1] == Eigen::VectorXf::Constant(1, 0.25f));
  CHECK(p(0) == Approx(-0.05f - 0.1125f));
  // On one replica without corrections it still converges on a quadratic.
  Optimizer alone(sgd(Mode::quasi_global), 1);
  Eigen::VectorXf x(1);
  x << 5.0f;
  for (int i = 0; i < 2000; ++i) alone.step(x, x, 0.02f);
  CHECK(std::abs(x(0)) < 1e-3f);
}

TEST_CASE("momentum modes: with exact averaging every k steps, absorb and quasi-global keep replicas closer") {
  // The replicas' velocities differ by their own noise, which local momentum
  // carries across rounds (memory 1/(1 - mu) = 10 steps): each round's
  // deviation holds noise from before the last round. Absorbing the
  // correction into the velocity removes part of it; quasi-global momentum
  // steps by the shared buffer plus the own gradient, so a replica's own
  // noise is no longer amplified by its momentum.
  struct Case {
    int k;
    double absorb_factor;  // absorb's deviation below this share of local's
  };
  for (const Case c : {Case{4, 0.75}, Case{8, 0.9}}) {
    for (const bool fused : {false, true}) {
      INFO("k " << c.k << (fused ? " fused" : " step()"));
      const SwarmFigures local = run_swarm(Mode::local, 4, c.k, 7, fused);
      const SwarmFigures absorb = run_swarm(Mode::absorb, 4, c.k, 7, fused);
      const SwarmFigures quasi = run_swarm(Mode::quasi_global, 4, c.k, 7, fused);
      INFO("deviation local " << local.deviation << " absorb " << absorb.deviation << " quasi-global "
                              << quasi.deviation);
      INFO("velocity spread local " << local.velocity_spread << " absorb " << absorb.velocity_spread
                                    << ", quasi-global buffers " << quasi.buffer_spread);
      INFO("mean's distance to the optimum local " << local.distance_to_optimum << " absorb "
                                                   << absorb.distance_to_optimum << " quasi-global "
                                                   << quasi.distance_to_optimum);
      CHECK(absorb.deviation < c.absorb_factor * local.deviation);
      CHECK(absorb.velocity_spread < c.absorb_factor * local.velocity_spread);
      CHECK(quasi.deviation < 0.3 * local.deviation);
      // Its buffers agree: each took the round's pull (without it they
      // differ by 8% of local's velocity spread).
      CHECK(quasi.buffer_spread < 0.02 * local.velocity_spread);
      // The swarm's mean is not hurt: absorb's pulls sum to zero over the
      // replicas, so the mean velocity (and the mean) moves as with local
      // momentum; the mean sits at the noise floor (‖target‖² is about 64).
      CHECK(absorb.distance_to_optimum == Approx(local.distance_to_optimum).epsilon(1e-3));
      CHECK(quasi.distance_to_optimum < 2.0);
      CHECK(local.distance_to_optimum < 2.0);
    }
  }
}
