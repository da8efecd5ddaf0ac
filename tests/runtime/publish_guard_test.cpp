// The step hand-off's publish guard (starling/runtime/publish_guard.h) on its own: a
// geometric explosion is withheld, a single jump costs one round, the
// swarm's corrections are not the user's move, NaN is never published.
#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <cmath>
#include <limits>
#include <random>

#include "starling/runtime/publish_guard.h"

using starling::runtime::PublishGuard;
using Verdict = PublishGuard::Verdict;

namespace {

// A model larger than the guard's sample (strided), moved by SGD-like noise.
struct Model {
  Eigen::VectorXf x = Eigen::VectorXf::Constant(200'000, 1.0f);
  std::mt19937 random{5};
  std::int64_t steps = 0;
  void noisy_steps(int n) {
    std::normal_distribution<float> noise(0.0f, 0.01f);
    for (int s = 0; s < n; ++s, ++steps)
      for (Eigen::Index k = 0; k < x.size(); k += 97) x[k] += noise(random);
  }
};

}  // namespace

TEST_CASE("publish guard: an explosion is withheld, a single jump costs one round", "[embed][guard]") {
  PublishGuard guard;
  Model m;
  for (int round = 0; round < 20; ++round) {
    m.noisy_steps(4);
    REQUIRE(guard.judge(m.x, m.steps) == Verdict::publish);
  }
  SECTION("a geometric explosion: withheld from its first round on") {
    int withheld = 0;
    for (int round = 0; round < 10; ++round) {
      for (int s = 0; s < 4; ++s, ++m.steps) m.x *= 1.05f;
      withheld += guard.judge(m.x, m.steps) == Verdict::diverging ? 1 : 0;
    }
    CHECK(withheld == 10);
    m.x(3) = std::numeric_limits<float>::infinity();
    CHECK(guard.judge(m.x, ++m.steps) == Verdict::not_finite);
  }
  SECTION("one jump (a reloaded model): withheld once, then published") {
    m.x.array() += 0.5f;
    m.noisy_steps(4);
    CHECK(guard.judge(m.x, m.steps) == Verdict::diverging);
    for (int round = 0; round < 5; ++round) {
      m.noisy_steps(4);
      CHECK(guard.judge(m.x, m.steps) == Verdict::publish);
    }
  }
  SECTION("the swarm's corrections are not the user's move") {
    const Eigen::VectorXf correction = Eigen::VectorXf::Constant(m.x.size(), 0.5f);
    m.x += correction;
    guard.on_corrections(correction);
    m.noisy_steps(4);
    CHECK(guard.judge(m.x, m.steps) == Verdict::publish);
  }
}

TEST_CASE("publish guard: a model that has not moved yet, and NaN at once", "[embed][guard]") {
  PublishGuard guard;
  Eigen::VectorXf x = Eigen::VectorXf::Zero(10);
  for (std::int64_t step = 1; step <= 12; ++step) CHECK(guard.judge(x, step) == Verdict::publish);
  x(0) = 5.0f;  // no usual move to compare with (median 0): published
  CHECK(guard.judge(x, 13) == Verdict::publish);
  x(1) = std::nanf("");
  CHECK(guard.judge(x, 14) == Verdict::not_finite);
}

TEST_CASE("publish guard: copying and judging in one pass equals copying, then judging", "[embed][guard]") {
  // Sizes with and without a tail past the last sample, below and above the sample size.
  for (Eigen::Index size : {Eigen::Index(1000), Eigen::Index(200'000), Eigen::Index(235'146)}) {
    PublishGuard separate;
    PublishGuard fused;
    Model m;
    m.x = Eigen::VectorXf::Constant(size, 1.0f);
    for (int round = 0; round < 30; ++round) {
      m.noisy_steps(3);
      if (round == 20) m.x *= 50.0f;  // a jump: withheld by both
      if (round == 25) m.x[size - 1] = std::numeric_limits<float>::quiet_NaN();  // in the tail or the last strip
      if (round == 26) m.x[size - 1] = 1.0f;
      Eigen::VectorXf copy(size);
      const Verdict verdict = fused.copy_and_judge(m.x.data(), copy.data(), std::size_t(size), m.steps);
      CHECK(verdict == separate.judge(m.x, m.steps));
      CHECK(fused.last_move_per_step() == separate.last_move_per_step());
      CHECK(fused.usual_move_per_step() == separate.usual_move_per_step());
      if (round != 25) CHECK(copy == m.x);
      const Eigen::VectorXf pulled = Eigen::VectorXf::Constant(size, 1e-3f);
      fused.on_corrections(pulled);
      separate.on_corrections(pulled);
      m.x += pulled;
    }
  }
}
