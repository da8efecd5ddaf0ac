// The step-boundary hand-off (runtime::StepHandoff): the one implementation
// of corrections in / parameters out / join download between node::Peer's
// loop thread and a trainer, used by `starling peer`'s TrainingWorker and by
// the embedding API's after_step(). Here driven by hand, as a trainer would.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "starling/runtime/step_handoff.h"

using namespace starling;
using namespace starling::runtime;

namespace {

struct Published {
  std::vector<std::pair<Eigen::VectorXf, std::int64_t>> copies;
};

StepHandoffOptions options_for(std::size_t count, Published& published, std::vector<std::string>* logs = nullptr) {
  StepHandoffOptions o;
  o.parameter_count = count;
  o.publish = [&published](Eigen::VectorXf parameters, std::int64_t step) {
    published.copies.emplace_back(std::move(parameters), step);
  };
  if (logs) o.on_log = [logs](const std::string& message) { logs->push_back(message); };
  return o;
}

// The embedding's way of adding a sum: straight into the buffer.
auto add_into(Eigen::VectorXf& buffer) {
  return [&buffer](const Eigen::VectorXf& sum) {
    buffer += sum;
    return ok_status();
  };
}

// The trainer's side of a two-thread test: serve step boundaries until
// `corrections` corrections have landed (bounded by a million boundaries).
void serve_until_applied(StepHandoff& handoff, Eigen::VectorXf& buffer, std::uint64_t corrections) {
  std::int64_t step = 0;
  for (int i = 0; i < 1'000'000 && handoff.corrections_applied() < corrections; ++i) {
    handoff.serve(++step, add_into(buffer), buffer);
    if (i % 64 == 0) std::this_thread::yield();
  }
}

}  // namespace

TEST_CASE("step hand-off: corrections land as one sum at the next boundary, none lost or twice", "[runtime][handoff]") {
  Published published;
  StepHandoff handoff(options_for(3, published));
  Eigen::VectorXf buffer = Eigen::VectorXf::Zero(3);
  handoff.add_correction(Eigen::Vector3f(1, 2, 3));
  handoff.add_correction(Eigen::Vector3f(0.5f, 0.5f, 0.5f));
  CHECK(buffer == Eigen::VectorXf::Zero(3));  // nothing before the boundary
  BoundaryServed served = handoff.serve(1, add_into(buffer), buffer);
  CHECK(served.status.ok());
  CHECK(served.corrections == 2);
  CHECK_FALSE(served.published);  // not asked
  CHECK(buffer == Eigen::Vector3f(1.5f, 2.5f, 3.5f));
  served = handoff.serve(2, add_into(buffer), buffer);
  CHECK(served.corrections == 0);
  CHECK(buffer == Eigen::Vector3f(1.5f, 2.5f, 3.5f));
  CHECK(handoff.corrections_applied() == 2);
  CHECK(published.copies.empty());
}

TEST_CASE("step hand-off: bad corrections are refused at the door and counted", "[runtime][handoff]") {
  Published published;
  std::vector<std::string> logs;
  StepHandoff handoff(options_for(3, published, &logs));
  CHECK(handoff.offer_correction(Eigen::VectorXf::Ones(4)).error().kind == ErrorKind::invalid_argument);
  Eigen::VectorXf nan = Eigen::VectorXf::Ones(3);
  nan[1] = std::numeric_limits<float>::quiet_NaN();
  CHECK(handoff.offer_correction(nan).error().kind == ErrorKind::numerical);
  handoff.add_correction(nan);  // the ModelHost door: logged, not thrown
  CHECK(handoff.corrections_refused() == 3);
  REQUIRE(logs.size() == 1);
  CHECK(logs[0].find("NaN") != std::string::npos);
  Eigen::VectorXf buffer = Eigen::VectorXf::Zero(3);
  CHECK(handoff.serve(1, add_into(buffer), buffer).corrections == 0);
  CHECK(buffer == Eigen::VectorXf::Zero(3));
}

TEST_CASE("step hand-off: a refused correction leaves the pending sum as it was, empty or not", "[runtime][handoff]") {
  // With nothing pending the add and the finiteness check run in one pass
  // and a refusal restores the zeros; with a sum pending the check comes first.
  Published published;
  StepHandoff handoff(options_for(1000, published));
  Eigen::VectorXf bad = Eigen::VectorXf::Constant(1000, 0.25f);
  bad[777] = std::numeric_limits<float>::infinity();
  CHECK(handoff.offer_correction(bad).error().kind == ErrorKind::numerical);  // nothing pending
  REQUIRE(handoff.offer_correction(Eigen::VectorXf::Ones(1000)).ok());
  bad[777] = std::numeric_limits<float>::quiet_NaN();
  CHECK(handoff.offer_correction(bad).error().kind == ErrorKind::numerical);  // one pending
  REQUIRE(handoff.offer_correction(Eigen::VectorXf::Ones(1000)).ok());
  Eigen::VectorXf buffer = Eigen::VectorXf::Zero(1000);
  CHECK(handoff.serve(1, add_into(buffer), buffer).corrections == 2);
  CHECK(buffer == Eigen::VectorXf::Constant(1000, 2.0f));
  CHECK(handoff.corrections_refused() == 2);
}

TEST_CASE("step hand-off: a sum that overflows is dropped, the next one lands", "[runtime][handoff]") {
  Published published;
  StepHandoff handoff(options_for(2, published));
  Eigen::VectorXf buffer = Eigen::VectorXf::Zero(2);
  const Eigen::VectorXf big = Eigen::VectorXf::Constant(2, 3e38f);
  REQUIRE(handoff.offer_correction(big).ok());
  REQUIRE(handoff.offer_correction(big).ok());
  BoundaryServed served = handoff.serve(1, add_into(buffer), buffer);
  CHECK(served.status.error().kind == ErrorKind::numerical);
  CHECK_THAT(served.status.error().message, Catch::Contains("2 corrections dropped"));
  CHECK(buffer == Eigen::VectorXf::Zero(2));
  CHECK(handoff.corrections_dropped() == 2);
  REQUIRE(handoff.offer_correction(Eigen::VectorXf::Ones(2)).ok());
  CHECK(handoff.serve(2, add_into(buffer), buffer).corrections == 1);
  CHECK(buffer == Eigen::VectorXf::Ones(2));
}

TEST_CASE("step hand-off: publishes once per request, at the asked step, after the corrections", "[runtime][handoff]") {
  Published published;
  StepHandoff handoff(options_for(2, published));
  Eigen::VectorXf buffer = Eigen::VectorXf::Zero(2);
  handoff.request_parameters(5);
  for (std::int64_t step = 1; step <= 4; ++step) CHECK_FALSE(handoff.serve(step, add_into(buffer), buffer).published);
  handoff.add_correction(Eigen::VectorXf::Constant(2, 2.0f));
  CHECK(handoff.serve(5, add_into(buffer), buffer).published);
  CHECK_FALSE(handoff.serve(6, add_into(buffer), buffer).published);  // once per request
  REQUIRE(published.copies.size() == 1);
  CHECK(published.copies[0].second == 5);
  CHECK(published.copies[0].first == Eigen::VectorXf::Constant(2, 2.0f));  // the correction first
  // A newer request replaces an older one; 0 (or a past step) means the next boundary.
  handoff.request_parameters(100);
  handoff.request_parameters(0);
  CHECK(handoff.serve(7, add_into(buffer), buffer).published);
  CHECK(handoff.publishes() == 2);
}

TEST_CASE("step hand-off: a published copy holds every correction offered before its request", "[runtime][handoff]") {
  // The loop thread hands a round's correction over, then (after the
  // round's sends) asks for the next round's parameters. If the trainer
  // checked for corrections before the offer and for the request after it,
  // the copy would miss a correction the driver already added to its own x:
  // its next delta would pull the neighbours' copy of us back, and the
  // trainer would add the correction later anyway. Here the loop thread's
  // two calls land inside the boundary, between the two checks.
  Published published;
  StepHandoff handoff(options_for(2, published));
  Eigen::VectorXf buffer = Eigen::VectorXf::Zero(2);
  handoff.add_correction(Eigen::VectorXf::Constant(2, 1.0f));  // an earlier round's, pending
  bool posted = false;
  auto add_then_loop_posts = [&](const Eigen::VectorXf& sum) {
    buffer += sum;
    if (!std::exchange(posted, true)) {
      handoff.add_correction(Eigen::VectorXf::Constant(2, 10.0f));  // the round's correction...
      handoff.request_parameters(0);                                // ...then the next request
    }
    return ok_status();
  };
  for (std::int64_t step = 1; step <= 3 && published.copies.empty(); ++step) handoff.serve(step, add_then_loop_posts, buffer);
  REQUIRE(published.copies.size() == 1);
  CHECK(published.copies[0].first == Eigen::VectorXf::Constant(2, 11.0f));  // both corrections inside
  CHECK(buffer == Eigen::VectorXf::Constant(2, 11.0f));
}

TEST_CASE("step hand-off: a diverged replica is not published, the next request is served", "[runtime][handoff]") {
  Published published;
  StepHandoff handoff(options_for(2, published));
  Eigen::VectorXf buffer = Eigen::VectorXf::Zero(2);
  buffer[0] = std::numeric_limits<float>::infinity();
  handoff.request_parameters(0);
  BoundaryServed served = handoff.serve(1, add_into(buffer), buffer);
  CHECK_FALSE(served.published);
  CHECK(served.status.error().kind == ErrorKind::numerical);
  CHECK_THAT(served.status.error().message, Catch::Contains("NaN or Inf"));
  CHECK(published.copies.empty());
  CHECK(handoff.publishes_refused() == 1);
  buffer[0] = 1.0f;
  handoff.request_parameters(0);
  CHECK(handoff.serve(2, add_into(buffer), buffer).published);
  CHECK(published.copies.size() == 1);
}

TEST_CASE("step hand-off: the join download waits for the trainer, once, and runs on_start", "[runtime][handoff]") {
  Published published;
  StepHandoffOptions o = options_for(3, published);
  std::atomic<int> starts{0};
  o.on_start = [&] { ++starts; };
  StepHandoff handoff(std::move(o));
  CHECK_FALSE(handoff.wait_started(1));
  const Eigen::VectorXf swarm = Eigen::Vector3f(7, 8, 9);
  std::thread loop([&] { handoff.start_training(&swarm); });
  CHECK(handoff.wait_started(5'000));
  loop.join();
  handoff.start_training(nullptr);  // once: a second call changes nothing
  CHECK(starts == 1);
  auto initial = handoff.take_initial();
  REQUIRE(initial);
  CHECK(*initial == swarm);
  CHECK_FALSE(handoff.take_initial());  // moved out
  // A download of another size is not kept (the driver checks it; belt and braces).
  StepHandoff other(options_for(2, published));
  other.start_training(&swarm);
  CHECK(other.started());
  CHECK_FALSE(other.take_initial());
}

TEST_CASE("step hand-off: corrections from another thread while the trainer serves", "[runtime][handoff]") {
  Published published;
  StepHandoff handoff(options_for(16, published));
  Eigen::VectorXf buffer = Eigen::VectorXf::Zero(16);
  constexpr int kCorrections = 2000;
  std::thread loop([&] {
    for (int i = 0; i < kCorrections; ++i) handoff.add_correction(Eigen::VectorXf::Ones(16));
  });
  serve_until_applied(handoff, buffer, kCorrections);
  loop.join();
  handoff.apply_corrections(add_into(buffer));
  CHECK(handoff.corrections_applied() == kCorrections);
  CHECK(buffer == Eigen::VectorXf::Constant(16, float(kCorrections)));
}

TEST_CASE("step hand-off: a copy that explodes is withheld once per streak warning, for every trainer", "[runtime][handoff]") {
  // The publish guard sits in the hand-off, so `starling peer`'s worker has
  // it as well as after_step(): steady small steps publish, a geometric
  // explosion is withheld (counted, one warning), the swarm's corrections do
  // not count as the trainer's own move.
  Published published;
  StepHandoff handoff(options_for(64, published));
  Eigen::VectorXf buffer = Eigen::VectorXf::Ones(64);
  std::int64_t step = 0;
  auto publish_round = [&](float own_move) {
    buffer.array() += own_move;
    ++step;
    handoff.request_publish(step);
    return handoff.serve(step, add_into(buffer), buffer);
  };
  for (int k = 0; k < 12; ++k) REQUIRE(publish_round(0.01f).published);
  handoff.add_correction(Eigen::VectorXf::Constant(64, 5.0f));  // a large pull from the swarm
  BoundaryServed served = publish_round(0.01f);
  CHECK(served.published);  // the correction is not the trainer's move
  CHECK(served.warning.empty());
  served = publish_round(1.0f);  // 100x the usual move
  CHECK_FALSE(served.published);
  CHECK(served.withheld);
  CHECK(served.status.ok());
  CHECK_FALSE(served.warning.empty());
  served = publish_round(10.0f);
  CHECK(served.withheld);
  CHECK(served.warning.empty());  // one warning per streak
  CHECK(handoff.publishes_withheld() == 2);
  CHECK(publish_round(0.01f).published);  // back to normal: published again
}

TEST_CASE("step hand-off: a handed-over correction lands as an offered one would, swapped or added",
          "[runtime][handoff]") {
  Published published;
  StepHandoff handoff(options_for(3, published));
  Eigen::VectorXf buffer = Eigen::VectorXf::Zero(3);
  // Nothing pending: the buffer is taken (swapped), one of the same size comes back.
  Eigen::VectorXf correction = Eigen::Vector3f(1, 2, 3);
  handoff.hand_over_correction(correction, true);
  CHECK(correction.size() == 3);
  // Pending: added to the sum; the caller's buffer stays as it was.
  Eigen::VectorXf second = Eigen::Vector3f(0.5f, 0.5f, 0.5f);
  handoff.hand_over_correction(second, true);
  CHECK(second == Eigen::Vector3f(0.5f, 0.5f, 0.5f));
  BoundaryServed served = handoff.serve(1, add_into(buffer), buffer);
  CHECK(served.corrections == 2);
  CHECK(buffer == Eigen::Vector3f(1.5f, 2.5f, 3.5f));
  // A caller that did not check finiteness goes through offer_correction's checks.
  Eigen::VectorXf bad = Eigen::Vector3f(1, std::numeric_limits<float>::quiet_NaN(), 3);
  handoff.hand_over_correction(bad, false);
  CHECK(handoff.corrections_refused() == 1);
  served = handoff.serve(2, add_into(buffer), buffer);
  CHECK(served.corrections == 0);
  CHECK(buffer == Eigen::Vector3f(1.5f, 2.5f, 3.5f));
}

TEST_CASE("step hand-off: buffers handed over from another thread rotate without loss", "[runtime][handoff]") {
  Published published;
  StepHandoff handoff(options_for(16, published));
  Eigen::VectorXf buffer = Eigen::VectorXf::Zero(16);
  constexpr int kCorrections = 2000;
  std::atomic<bool> sizes_kept{true};
  std::thread loop([&] {
    Eigen::VectorXf correction(16);
    for (int i = 0; i < kCorrections; ++i) {
      correction.setOnes();  // whatever buffer came back, overwritten as the driver does
      handoff.hand_over_correction(correction, true);
      if (correction.size() != 16) sizes_kept = false;
    }
  });
  serve_until_applied(handoff, buffer, kCorrections);
  loop.join();
  handoff.apply_corrections(add_into(buffer));
  CHECK(handoff.corrections_applied() == kCorrections);
  CHECK(buffer == Eigen::VectorXf::Constant(16, float(kCorrections)));
  CHECK(sizes_kept);
}
