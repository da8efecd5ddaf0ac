// The training loop, single-threaded, on small generated data. Every time is
// passed in by the test: nothing here sleeps or reads a clock.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <utility>

#include "starling/ml/fpu.h"
#include "starling/ml/trainer.h"
#include "starling/node/training_loop.h"

using namespace starling;
using namespace starling::node;

namespace {

constexpr int kInputs = 4;

// Two Gaussian blobs in 4-D, centred at -1 and +1 on every axis: separable.
ml::Dataset blobs(int per_class, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.5f);
  ml::Dataset data;
  data.classes = 2;
  data.features.resize(kInputs, 2 * per_class);
  for (int i = 0; i < per_class; ++i) {
    for (int c = 0; c < 2; ++c) {
      const int col = 2 * i + c;
      for (int r = 0; r < kInputs; ++r) data.features(r, col) = (c == 0 ? -1.0f : 1.0f) + noise(rng);
      data.labels.push_back(c);
    }
  }
  return data;
}

std::shared_ptr<const ml::TrainTest> blob_data() {
  auto data = std::make_shared<ml::TrainTest>();
  data->train = blobs(200, 1);
  data->test = blobs(100, 2);
  return data;
}

std::vector<std::size_t> all_indices(std::size_t n) {
  std::vector<std::size_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

std::unique_ptr<ml::Mlp> make_model(const char* spec = "mlp:8", std::uint64_t seed = 3) {
  auto model = std::make_unique<ml::Mlp>(*ml::ModelSpec::parse(spec), kInputs, 2);
  model->initialize(seed);
  return model;
}

TrainingLoopOptions make_options(double lr, std::shared_ptr<const ml::TrainTest> data = blob_data()) {
  ml::enable_flush_to_zero();  // as the worker thread does
  TrainingLoopOptions o;
  o.model = make_model();
  o.schedule.lr = lr;
  o.data = std::move(data);
  o.shard = all_indices(o.data->train.size());
  o.batch = 32;
  o.seed = 5;
  o.eval_every_steps = 0;
  return o;
}

// Rounds every parameter to a multiple of 1/16 (|x| < 8), so sums with other
// multiples of 1/16 are exact in float whatever their order.
void make_dyadic(ml::Mlp& model) {
  for (float& x : model.parameters()) x = std::round(x * 16.0f) / 16.0f;
}

double accuracy_of(const Eigen::VectorXf& parameters, const ml::Dataset& test) {
  ml::Mlp model = *make_model();
  model.parameters() = parameters;
  return ml::evaluate(model, test).accuracy;
}

}  // namespace

TEST_CASE("training loop: learns a separable problem, evaluating every N steps", "[node][loop]") {
  auto data = blob_data();
  TrainingLoopOptions o = make_options(0.05, data);
  o.eval_every_steps = 64;
  TrainingLoop loop(std::move(o));
  REQUIRE_FALSE(loop.failed());
  CHECK(loop.progress().state == "idle");
  // 600 steps, 1/64 s apart on the test's clock (exact in binary):
  // evaluations due at steps 64, 128, ... 576.
  for (int i = 0; i < 600; ++i) {
    const double now = i / 64.0;
    if (loop.evaluation_due()) loop.evaluate();
    REQUIRE(loop.step(now).kind == StepResult::Kind::stepped);
  }
  const TrainingProgress p = loop.progress();
  CHECK(p.state == "training");
  CHECK(p.step == 600);
  CHECK(p.steps_this_run == 600);
  // An epoch of 400 samples is 12 batches of 32 and one of 16: 600 steps are
  // 46 epochs and 2 batches.
  CHECK(p.samples == 46 * 400 + 2 * 32);
  CHECK(p.epoch == Approx(46.0 + 64.0 / 400.0));
  CHECK(p.evaluations == 9);
  CHECK(p.evaluated);
  CHECK(p.evaluated_at_step == 9 * 64);
  CHECK(p.train_loss < 0.3);
  CHECK(p.test_accuracy > 0.9);
  CHECK(p.steps_per_second == Approx(64.0));
  CHECK(p.nan_steps_skipped == 0);
  CHECK(accuracy_of(loop.parameters(), data->test) > 0.95);
}

TEST_CASE("training loop: the evaluation schedule counts steps, not time", "[node][loop]") {
  TrainingLoopOptions o = make_options(0.05);
  o.eval_every_steps = 3;
  TrainingLoop loop(std::move(o));
  CHECK_FALSE(loop.evaluation_due());  // not at step 0
  std::vector<std::int64_t> evaluated_at;
  // Times jump about (a straggler's clock, a paused peer): they do not matter.
  const double times[] = {0.0, 0.001, 50.0, 50.0, 1e6, 1e6 + 1, 7.0, 8.0, 9.0, 10.0, 11.0};
  for (double now : times) {
    loop.step(now);
    if (loop.evaluation_due()) {
      CHECK(loop.evaluation_due());  // asking does not evaluate
      const ml::Evaluation e = loop.evaluate();
      CHECK(e.samples == 200);
      evaluated_at.push_back(loop.steps());
    }
  }
  CHECK(evaluated_at == std::vector<std::int64_t>{3, 6, 9});
  TrainingProgress p = loop.progress();
  CHECK(p.evaluations == 3);
  CHECK(p.evaluated_at_step == 9);
  // An evaluation off the grid (at step 11) keeps the grid: next at 12.
  loop.evaluate();
  CHECK_FALSE(loop.evaluation_due());
  loop.step(12.0);
  CHECK(loop.evaluation_due());
  CHECK(loop.progress().evaluations == 4);

  SECTION("period 0: never") {
    TrainingLoop never(make_options(0.05));
    for (int i = 0; i < 20; ++i) never.step(i);
    CHECK_FALSE(never.evaluation_due());
  }
  SECTION("no test split: never") {
    auto data = std::make_shared<ml::TrainTest>(*blob_data());
    data->test = ml::Dataset{};
    TrainingLoopOptions n = make_options(0.05, data);
    n.eval_every_steps = 1;
    TrainingLoop no_test(std::move(n));
    no_test.step(0.0);
    CHECK_FALSE(no_test.evaluation_due());
  }
  SECTION("resumed at step 7 with N = 5: next at 10") {
    TrainingLoopOptions r = make_options(0.05);
    TrainingLoop first(make_options(0.05));
    for (int i = 0; i < 7; ++i) first.step(i);
    r.resume = first.checkpoint();
    r.eval_every_steps = 5;
    TrainingLoop resumed(std::move(r));
    REQUIRE(resumed.steps() == 7);
    resumed.step(0.0);
    resumed.step(0.0);
    CHECK_FALSE(resumed.evaluation_due());
    resumed.step(0.0);
    CHECK(resumed.evaluation_due());
  }
}

TEST_CASE("training loop: evaluates a local average without touching its own model", "[node][loop]") {
  auto data = blob_data();
  TrainingLoop loop(make_options(0.05, data));
  for (int i = 0; i < 5; ++i) loop.step(i);
  const Eigen::VectorXf own = loop.parameters();
  Eigen::VectorXf average = 0.5f * (own + make_model()->parameters());
  const Eigen::VectorXf average_before = average;
  const Result<ml::Evaluation> e = loop.evaluate_local_average(average, 5, 1);
  REQUIRE(e.ok());
  CHECK(e->accuracy == accuracy_of(average_before, data->test));
  CHECK(average == average_before);   // swapped back out
  CHECK(loop.parameters() == own);    // and the own model back in
  const TrainingProgress p = loop.progress();
  CHECK(p.local_average_evaluated);
  CHECK(p.local_average_accuracy == e->accuracy);
  CHECK(p.local_average_loss == e->loss);
  CHECK(p.local_average_at_step == 5);
  CHECK(p.local_average_neighbours == 1);
  CHECK(p.local_average_evaluations == 1);
  CHECK_FALSE(p.evaluated);  // the own model's evaluation is another record
  Eigen::VectorXf wrong = Eigen::VectorXf::Zero(3);
  CHECK(loop.evaluate_local_average(wrong, 5, 1).error().kind == ErrorKind::invalid_argument);
  Eigen::VectorXf nan = own;
  nan[0] = std::numeric_limits<float>::quiet_NaN();
  CHECK(loop.evaluate_local_average(nan, 5, 1).error().kind == ErrorKind::numerical);
  CHECK(loop.progress().local_average_evaluations == 1);
  CHECK(loop.checkpoint().metadata.at("model") == "own");
}

TEST_CASE("training loop: steps_per_second comes from the passed times", "[node][loop]") {
  TrainingLoop loop(make_options(0.05));
  // 20 steps per second for 1 s, then 5 per second for 2 s.
  double now = 10.0;
  for (int i = 0; i < 20; ++i, now += 0.05) loop.step(now);
  CHECK(loop.progress().steps_per_second == Approx(20.0));
  for (int i = 0; i < 10; ++i, now += 0.2) loop.step(now);
  CHECK(loop.progress().steps_per_second == Approx(5.0));
  CHECK(loop.progress().steps_this_run == 30);
}

TEST_CASE("training loop: corrections land at once, exactly", "[node][loop]") {
  SECTION("lr 0: initial parameters plus every correction") {
    TrainingLoopOptions o = make_options(0.0);
    make_dyadic(*o.model);
    const Eigen::VectorXf initial = o.model->parameters();
    const Eigen::Index n = initial.size();
    TrainingLoop loop(std::move(o));
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> sixteenths(-16, 16);
    Eigen::VectorXf sum = Eigen::VectorXf::Zero(n);
    for (int k = 0; k < 200; ++k) {
      Eigen::VectorXf c(n);
      for (auto& x : c) x = float(sixteenths(rng)) / 16.0f;
      REQUIRE(loop.add_correction(c).ok());
      sum += c;
      CHECK(loop.parameters() == initial + sum);  // at once, not at the next step
      if (k % 3 == 0) loop.step(0.001 * k);
    }
    CHECK(loop.parameters() == initial + sum);
    CHECK(loop.progress().corrections_applied == 200);
  }
  SECTION("while learning: the correction is added to the current parameters") {
    TrainingLoop loop(make_options(0.05));
    for (int i = 0; i < 10; ++i) loop.step(i);
    const Eigen::VectorXf before = loop.parameters();
    const Eigen::VectorXf c = Eigen::VectorXf::LinSpaced(before.size(), -0.5f, 0.5f);
    REQUIRE(loop.add_correction(c).ok());
    CHECK(loop.parameters() == before + c);
  }
}

TEST_CASE("training loop: refuses a correction of the wrong size or with NaN/Inf", "[node][loop]") {
  TrainingLoop loop(make_options(0.05));
  loop.step(0.0);
  const Eigen::VectorXf before = loop.parameters();
  const Eigen::Index n = before.size();

  const Status wrong_size = loop.add_correction(Eigen::VectorXf::Ones(n + 1));
  REQUIRE_FALSE(wrong_size.ok());
  CHECK(wrong_size.error().kind == ErrorKind::invalid_argument);
  CHECK(loop.add_correction(Eigen::VectorXf()).error().kind == ErrorKind::invalid_argument);

  Eigen::VectorXf nan = Eigen::VectorXf::Ones(n);
  nan[n / 2] = std::numeric_limits<float>::quiet_NaN();
  CHECK(loop.add_correction(nan).error().kind == ErrorKind::numerical);
  Eigen::VectorXf inf = Eigen::VectorXf::Ones(n);
  inf[n - 1] = -std::numeric_limits<float>::infinity();
  CHECK(loop.add_correction(inf).error().kind == ErrorKind::numerical);

  CHECK(loop.parameters() == before);
  CHECK(loop.progress().corrections_applied == 0);
}

TEST_CASE("training loop: NaN steps are skipped, 100 in a row fail the loop", "[node][loop]") {
  SECTION("an occasional NaN sample: skipped, summarised once per 5 s of passed time") {
    auto data = std::make_shared<ml::TrainTest>(*blob_data());
    data->train.features(0, 7) = std::numeric_limits<float>::quiet_NaN();
    TrainingLoop loop(make_options(0.05, data));
    int skipped = 0, warnings = 0;
    double last_warning = -1e9;
    for (int i = 0; i < 1300; ++i) {  // 100 epochs of 13 batches at 10 ms: 13 s
      const double now = 0.01 * i;
      const StepResult r = loop.step(now);
      REQUIRE(r.kind != StepResult::Kind::failed);
      if (r.kind == StepResult::Kind::skipped) ++skipped;
      if (!r.warning.empty()) {
        ++warnings;
        CHECK(r.kind == StepResult::Kind::skipped);
        CHECK(r.warning.find("step skipped") != std::string::npos);
        CHECK(now - last_warning >= 5.0);
        last_warning = now;
      }
      REQUIRE(loop.parameters().allFinite());
    }
    // One batch in 13 holds the bad sample: one skip per epoch.
    CHECK(skipped == 100);
    CHECK(warnings == 3);  // at 0-0.13 s, then 5 s and 10 s later
    const TrainingProgress p = loop.progress();
    CHECK(p.nan_steps_skipped == 100);
    CHECK(p.steps_this_run == 1200);
    CHECK(p.step == 1200);
    CHECK(accuracy_of(loop.parameters(), data->test) > 0.9);
  }
  SECTION("every sample NaN") {
    auto data = std::make_shared<ml::TrainTest>(*blob_data());
    data->train.features.setConstant(std::numeric_limits<float>::quiet_NaN());
    TrainingLoopOptions o = make_options(0.05, data);
    const Eigen::VectorXf initial = o.model->parameters();
    TrainingLoop loop(std::move(o));
    for (int i = 0; i < 99; ++i) REQUIRE(loop.step(i).kind == StepResult::Kind::skipped);
    CHECK_FALSE(loop.failed());
    const StepResult last = loop.step(99);
    CHECK(last.kind == StepResult::Kind::failed);
    CHECK(last.warning.find("diverged") != std::string::npos);
    CHECK(loop.failed());
    CHECK(loop.error().find("100 steps in a row") != std::string::npos);
    CHECK(loop.error().find("gossip corrections") == std::string::npos);  // none came: the lr's hint alone
    const TrainingProgress p = loop.progress();
    CHECK(p.state == "failed");
    CHECK(p.nan_steps_skipped == 100);
    CHECK(p.steps_this_run == 0);
    CHECK(loop.parameters() == initial);
  }
  SECTION("after gossip corrections the error names the neighbours as a cause") {
    auto data = std::make_shared<ml::TrainTest>(*blob_data());
    data->train.features.setConstant(std::numeric_limits<float>::quiet_NaN());
    TrainingLoop loop(make_options(0.05, data));
    const Eigen::VectorXf correction = Eigen::VectorXf::Constant(loop.parameters().size(), 1e-3f);
    REQUIRE(loop.add_correction(correction));
    REQUIRE(loop.add_correction(correction));
    for (int i = 0; i < 100; ++i) (void)loop.step(i);
    REQUIRE(loop.failed());
    INFO(loop.error());
    CHECK(loop.error().find("applied 2 gossip corrections") != std::string::npos);
    CHECK(loop.error().find("--clip") != std::string::npos);
  }
}

TEST_CASE("training loop: a failed loop recovers from another model and trains on", "[node][loop]") {
  // A neighbour's model: a healthy loop trained on the same data.
  TrainingLoop neighbour(make_options(0.05));
  for (int i = 0; i < 200; ++i) REQUIRE(neighbour.step(0.01 * i).kind == StepResult::Kind::stepped);
  const Eigen::VectorXf model = neighbour.parameters();
  REQUIRE(accuracy_of(model, blob_data()->test) > 0.9);
  CHECK(neighbour.recover(model).error().kind == ErrorKind::invalid_argument);  // not failed
  CHECK_FALSE(neighbour.failed());

  // This one trains 30 steps, then its data turns NaN and it fails.
  auto data = std::make_shared<ml::TrainTest>(*blob_data());
  TrainingLoopOptions o = make_options(0.05, data);
  o.eval_every_steps = 50;
  TrainingLoop loop(std::move(o));
  double now = 0.0;
  for (int i = 0; i < 30; ++i) REQUIRE(loop.step(now += 0.01).kind == StepResult::Kind::stepped);
  const ml::Dataset good = data->train;
  data->train.features.setConstant(std::numeric_limits<float>::quiet_NaN());
  for (int i = 0; i < 100; ++i) (void)loop.step(now += 0.01);
  REQUIRE(loop.failed());
  CHECK(loop.steps() == 30);

  data->train = good;  // whatever broke it is gone
  CHECK(loop.recover(Eigen::VectorXf::Zero(3)).error().kind == ErrorKind::invalid_argument);
  Eigen::VectorXf poisoned = model;
  poisoned[1] = std::numeric_limits<float>::infinity();
  CHECK(loop.recover(poisoned).error().kind == ErrorKind::numerical);
  CHECK(loop.failed());
  CHECK(loop.recoveries() == 0);

  REQUIRE(loop.recover(model).ok());
  CHECK_FALSE(loop.failed());
  CHECK(loop.error().empty());
  CHECK(loop.recoveries() == 1);
  CHECK(loop.progress().recoveries == 1);
  CHECK(loop.parameters() == model);
  CHECK(loop.steps() == 30);  // the count goes on: evaluations stay on their steps
  for (int i = 0; i < 100; ++i) REQUIRE(loop.step(now += 0.01).kind == StepResult::Kind::stepped);
  CHECK(loop.steps() == 130);
  CHECK(loop.progress().state == "training");
  CHECK(loop.evaluation_due());  // step 50's evaluation was never made: due now
  CHECK(loop.evaluate().accuracy > 0.9);
  // A second failure is recovered from the same way.
  data->train.features.setConstant(std::numeric_limits<float>::quiet_NaN());
  for (int i = 0; i < 100; ++i) (void)loop.step(now += 0.01);
  REQUIRE(loop.failed());
  data->train = good;
  REQUIRE(loop.recover(loop.parameters()).ok());  // its own last finite parameters
  CHECK(loop.recoveries() == 2);
  CHECK(loop.step(now += 0.01).kind == StepResult::Kind::stepped);
}

TEST_CASE("training loop: same seed, same calls, bit-identical parameters", "[node][loop]") {
  auto data = blob_data();
  auto run = [&](std::uint64_t seed, const char* optimizer) {
    TrainingLoopOptions o = make_options(0.05, data);
    o.seed = seed;
    o.optimizer.kind = *ml::OptimizerConfig::parse_kind(optimizer);
    auto loop = std::make_unique<TrainingLoop>(std::move(o));
    const Eigen::VectorXf c = Eigen::VectorXf::Constant(Eigen::Index(loop->parameter_count()), 0.01f);
    for (int i = 0; i < 120; ++i) {
      loop->step(0.01 * i);
      if (i % 10 == 0) REQUIRE(loop->add_correction(c).ok());
    }
    return loop;
  };
  for (const char* optimizer : {"sgd", "adam"}) {
    CAPTURE(optimizer);
    const auto a = run(5, optimizer);
    const auto b = run(5, optimizer);
    const auto other = run(6, optimizer);
    CHECK(a->parameters() == b->parameters());
    CHECK(a->parameters() != other->parameters());
    CHECK(a->checkpoint().optimizer_state == b->checkpoint().optimizer_state);
  }

  // And the loop's steps are exactly a plain ml::Trainer's on the same seed.
  auto model = make_model();
  ml::Optimizer optimizer(ml::OptimizerConfig{}, model->parameter_count());
  ml::Batcher batcher(data->train, all_indices(data->train.size()), 32, 5);
  ml::LrSchedule schedule;
  schedule.lr = 0.05;
  ml::Trainer trainer(*model, optimizer, batcher, schedule);
  TrainingLoop loop(make_options(0.05, data));
  for (int i = 0; i < 50; ++i) {
    REQUIRE(trainer.step().ok());
    loop.step(i);
  }
  CHECK(loop.parameters() == model->parameters());
}

TEST_CASE("training loop: checkpoint and resume round trip", "[node][loop]") {
  TrainingLoopOptions o = make_options(0.05);
  o.checkpoint_metadata = {{"peer", "p1"}};
  o.data_mean = 0.5f;
  o.data_std = 2.0f;
  TrainingLoop loop(std::move(o));
  for (int i = 0; i < 30; ++i) loop.step(i);
  const ml::Checkpoint saved = loop.checkpoint();
  CHECK(saved.step == 30);
  CHECK(saved.samples == 2 * 400 + 4 * 32);  // 2 epochs of 13 batches, and 4
  CHECK(saved.optimizer_steps == 30);
  CHECK(saved.parameters == loop.parameters());
  CHECK(saved.optimizer_state.size() == 1);  // SGD with momentum: the velocity
  CHECK(saved.spec.to_string() == "mlp:8");
  CHECK(saved.metadata.at("peer") == "p1");
  CHECK(saved.data_mean == 0.5f);
  CHECK(saved.data_std == 2.0f);

  TrainingLoopOptions r = make_options(0.05);
  r.checkpoint_metadata = {{"peer", "p1"}};
  r.data_mean = 0.5f;
  r.data_std = 2.0f;
  r.resume = saved;
  TrainingLoop resumed(std::move(r));
  REQUIRE_FALSE(resumed.failed());
  CHECK(resumed.parameters() == saved.parameters);
  CHECK(resumed.steps() == 30);
  CHECK(resumed.progress().step == 30);
  CHECK(resumed.progress().steps_this_run == 0);
  const ml::Checkpoint again = resumed.checkpoint();  // nothing lost or changed in between
  CHECK(again.parameters == saved.parameters);
  CHECK(again.optimizer_state == saved.optimizer_state);
  CHECK(again.optimizer_steps == saved.optimizer_steps);
  CHECK(again.step == saved.step);
  CHECK(again.samples == saved.samples);
  CHECK(again.epoch == saved.epoch);
  CHECK(again.metadata == saved.metadata);

  for (int i = 0; i < 10; ++i) resumed.step(i);
  CHECK(resumed.progress().step == 40);
  CHECK(resumed.progress().steps_this_run == 10);
  CHECK(resumed.checkpoint().optimizer_steps == 40);

  SECTION("a checkpoint of another model or optimizer is refused") {
    ml::Checkpoint other = saved;
    other.spec = *ml::ModelSpec::parse("mlp:5");
    other.parameters = ml::Mlp(other.spec, kInputs, 2).parameters();
    TrainingLoopOptions m = make_options(0.05);
    m.resume = other;
    TrainingLoop wrong_model(std::move(m));
    CHECK(wrong_model.failed());
    CHECK(wrong_model.error().find("cannot resume") != std::string::npos);
    CHECK(wrong_model.progress().state == "failed");

    TrainingLoopOptions a = make_options(0.05);
    a.optimizer.kind = ml::OptimizerConfig::Kind::adam;
    a.resume = saved;
    TrainingLoop wrong_optimizer(std::move(a));
    CHECK(wrong_optimizer.error().find("optimizer") != std::string::npos);

    ml::Checkpoint nan = saved;
    nan.parameters[0] = std::numeric_limits<float>::quiet_NaN();
    TrainingLoopOptions n = make_options(0.05);
    n.resume = nan;
    CHECK(TrainingLoop(std::move(n)).error().find("not finite") != std::string::npos);
  }
}

TEST_CASE("training loop: invalid options leave it failed, with the reason", "[node][loop]") {
  TrainingLoopOptions o = make_options(0.05);
  o.shard.push_back(400);  // one past the training set
  const Eigen::VectorXf initial = o.model->parameters();
  TrainingLoop loop(std::move(o));
  CHECK(loop.failed());
  CHECK(loop.error().find("outside the training set") != std::string::npos);
  CHECK(loop.progress().state == "failed");
  CHECK(loop.parameters() == initial);
  CHECK_FALSE(loop.evaluation_due());

  TrainingLoopOptions empty = make_options(0.05);
  empty.shard.clear();
  CHECK(TrainingLoop(std::move(empty)).error().find("no training samples") != std::string::npos);

  TrainingLoopOptions wide = make_options(0.05);
  wide.model = std::make_unique<ml::Mlp>(*ml::ModelSpec::parse("mlp:8"), kInputs + 1, 2);
  CHECK(TrainingLoop(std::move(wide)).error().find("inputs") != std::string::npos);
}

TEST_CASE("training loop: a correction reaches the optimizer's momentum mode", "[node][loop]") {
  // The simulator's trainer and the runtime's worker both correct through
  // the loop, so the mode they are given is the one that acts.
  auto velocity_after_correction = [](ml::OptimizerConfig::MomentumMode mode) {
    TrainingLoopOptions o = make_options(0.05);
    o.optimizer.momentum_mode = mode;
    TrainingLoop loop(std::move(o));
    for (int i = 0; i < 4; ++i) loop.step(i);
    const Eigen::VectorXf before = loop.checkpoint().optimizer_state.at(0);
    const Eigen::VectorXf c = Eigen::VectorXf::LinSpaced(before.size(), -0.01f, 0.01f);
    REQUIRE(loop.add_correction(c).ok());
    return std::make_pair(before, Eigen::VectorXf(loop.checkpoint().optimizer_state.at(0)));
  };
  const auto [local_before, local_after] = velocity_after_correction(ml::OptimizerConfig::MomentumMode::local);
  CHECK(local_after == local_before);
  const auto [absorb_before, absorb_after] = velocity_after_correction(ml::OptimizerConfig::MomentumMode::absorb);
  // 4 steps since the start: share min(1/4, 1 - 0.9) = 0.1, lr 0.05.
  const Eigen::VectorXf c = Eigen::VectorXf::LinSpaced(absorb_before.size(), -0.01f, 0.01f);
  CHECK((absorb_after - (absorb_before - (0.1f / 0.05f) * c)).cwiseAbs().maxCoeff() < 1e-6f);
}
