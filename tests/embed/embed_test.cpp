// The embedding API (starling/embed.h) with a toy "user model": two peers in
// one process on loopback, each pulling its flat parameters towards its own
// target in its own loop. Alone they would end at their targets (2 apart);
// joined, the consensus corrections after_step() applies hold them together.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "starling/embed.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using starling::ErrorKind;
using starling::embed::ModelLayout;
using starling::embed::Peer;
using starling::embed::Settings;

namespace {

using starling::embed_test::TempDir;

// Neighbourhood mixing, as these tests' bounds were measured with (a round
// pulls each replica halfway to the other); the peer's default is pairwise
// now, whose pairings leave the two replicas 0.09 apart instead of 0.41 and
// the neighbour's copy shifted by each pairing's pull, so the local-average
// bounds below would measure pairwise's copies instead (docs/learning.md,
// "Pairwise mixing").
Settings base(const TempDir& dir, const std::string& name) {
  return {{"listen", "127.0.0.1:0"},
          {"data-dir", (dir.path / name).string()},
          {"compress", "none"},
          {"mixing", "neighbourhood"}};
}

std::unique_ptr<Peer> make_peer(Settings settings) {
  auto made = Peer::create(settings);
  REQUIRE(made);
  return std::move(*made);
}

double mean_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += std::fabs(double(a[i]) - double(b[i]));
  return sum / double(a.size());
}

const ModelLayout kLayout{"toy", {{40, 50}, {2000}}};  // 4000 floats: both tensors compressible

}  // namespace

TEST_CASE("embedded peers: a joiner downloads the model, then both replicas stay together", "[embed]") {
  TempDir dir;
  const std::size_t n = kLayout.parameter_count();
  std::vector<float> a(n, 10.0f), b(n, 0.0f);
  auto first = make_peer(base(dir, "a"));
  REQUIRE(first->attach(a.data(), a.size(), kLayout));
  REQUIRE(first->join(10'000));
  auto first_status = first->status();
  REQUIRE(first_status);
  CHECK_FALSE(first_status->downloaded);  // no seed: a new swarm from its own values
  // The first peer publishes at its first step; a joiner downloads that.
  REQUIRE(first->after_step());

  Settings second_settings = base(dir, "b");
  second_settings.push_back({"seed", first_status->address});
  auto second = make_peer(second_settings);
  REQUIRE(second->attach(b.data(), b.size(), kLayout));
  std::atomic<bool> stop{false};
  // The first keeps stepping (it serves the model from its published copy).
  std::thread first_loop([&] {
    while (!stop.load()) {
      for (float& x : a) x -= 0.02f * (x - 11.0f);
      (void)first->after_step();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const auto joined = second->join(20'000);
  if (!joined) stop = true;
  REQUIRE(joined);
  auto second_status = second->status();
  REQUIRE(second_status);
  CHECK(second_status->downloaded);
  CHECK(second_status->model_bytes_downloaded >= n * sizeof(float));  // embedded peers download f32
  // The download replaced our zeros with the first's values (10 moving to 11).
  CHECK(b[0] >= 10.0f);
  CHECK(b[0] <= 11.0f);

  // Each pulls towards its own target: 11 and 9 (a common offset, as real
  // models have: a correction far above the model's own norm would be
  // clipped as hostile, docs/learning.md "Robust aggregation"). 6 s of steps.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  while (std::chrono::steady_clock::now() < until) {
    for (float& x : b) x -= 0.02f * (x - 9.0f);
    REQUIRE(second->after_step());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  first_loop.join();
  const auto end_a = first->status(), end_b = second->status();
  REQUIRE(end_a);
  REQUIRE(end_b);
  INFO("deltas sent " << end_a->deltas_sent << "/" << end_b->deltas_sent << " received " << end_a->deltas_received << "/" << end_b->deltas_received << " consensus " << end_b->consensus_distance.value_or(-1) << " neighbours " << end_b->neighbours.size() << " ready " << (end_b->neighbours.empty() ? 0 : end_b->neighbours[0].ready));
  INFO("corrections applied: " << end_a->corrections_applied << " and " << end_b->corrections_applied
                               << "; rounds " << end_a->rounds << " and " << end_b->rounds);
  CHECK(end_a->corrections_applied > 10);
  CHECK(end_b->corrections_applied > 10);
  CHECK(end_b->publishes > 10);
  // Alone they end 2 apart (at 11 and 9). A round every ~50 ms (the round
  // floor) pulls each halfway to the other (w = 1/2, γ = 1) against a pull
  // of 0.02 per ~6 ms step towards its own target: measured 0.41 apart. The
  // bound, 0.8, is 40% of the unmixed gap, with room for a loaded machine.
  const double gap = mean_abs_difference(a, b);
  INFO("mean |a - b| = " << gap);
  CHECK(gap < 0.8);
  // The average is kept: the mean of both lies near 10 (targets 11 and 9).
  double mean = 0;
  for (std::size_t i = 0; i < n; ++i) mean += (double(a[i]) + double(b[i])) / 2.0;
  mean /= double(n);
  CHECK(std::fabs(mean - 10.0) < 0.3);
  // The local average (what starling peer exports): our buffer and the
  // neighbour's copy the link holds, half each. It lies between the two
  // replicas (a near 11 - gap/2, b near 9 + gap/2), not at either.
  std::vector<float> average(n, -1.0f);
  auto averaged = second->local_average(average.data(), average.size());
  REQUIRE(averaged);
  CHECK(*averaged == 1);
  double mean_a = 0, mean_b = 0, mean_average = 0;
  for (std::size_t i = 0; i < n; ++i) {
    mean_a += a[i] / double(n);
    mean_b += b[i] / double(n);
    mean_average += average[i] / double(n);
  }
  INFO("means: a " << mean_a << ", b " << mean_b << ", local average at b " << mean_average);
  CHECK(mean_average > mean_b + 0.25 * (mean_a - mean_b));
  CHECK(mean_average < mean_a - 0.25 * (mean_a - mean_b));
  CHECK(second->local_average(average.data(), n - 1).error().kind == ErrorKind::invalid_argument);
  CHECK(second->leave());
  CHECK(first->leave());
  CHECK(second->status()->state == "left");
  CHECK(second->after_step().error().kind == ErrorKind::disconnected);
  CHECK(second->local_average(average.data(), n).error().kind == ErrorKind::disconnected);
}

// The oracle for a bf16 download, written apart from the library's: f32 bits
// rounded to nearest even at bit 16 (finite values only).
namespace {
float bf16_rounded(float value) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  bits = (bits + 0x7FFFu + ((bits >> 16) & 1u)) & 0xFFFF0000u;
  float rounded = 0;
  std::memcpy(&rounded, &bits, sizeof rounded);
  return rounded;
}
}  // namespace

// A buffer of weights only may ask for the bf16 download (half the bytes); the
// default stays f32, bit for bit (docs/embedding.md).
TEST_CASE("embedded peers: download-precision bf16 starts the joiner from the rounded model", "[embed]") {
  TempDir dir;
  const std::size_t n = kLayout.parameter_count();
  std::vector<float> a(n), b(n, 0.0f);
  for (std::size_t i = 0; i < n; ++i) a[i] = 10.0f + 0.001f * float(i % 997) - 3e-4f * float(i % 13);
  const std::vector<float> published = a;  // the first never steps: join() publishes these
  std::size_t inexact = 0;
  for (float x : published) inexact += bf16_rounded(x) != x;
  REQUIRE(inexact > n / 2);  // the values are not bf16 already: the check below can fail

  auto first = make_peer(base(dir, "a"));
  REQUIRE(first->attach(a.data(), a.size(), kLayout));
  REQUIRE(first->join(10'000));
  const auto first_status = first->status();
  REQUIRE(first_status);

  Settings settings = base(dir, "b");
  settings.push_back({"seed", first_status->address});
  settings.push_back({"download-precision", "bf16"});
  auto second = make_peer(settings);
  REQUIRE(second->attach(b.data(), b.size(), kLayout));
  REQUIRE(second->join(20'000));
  const auto status = second->status();
  REQUIRE(status);
  CHECK(status->downloaded);
  // Two bytes a value and a little framing, not four.
  CHECK(status->model_bytes_downloaded >= n * 2);
  CHECK(status->model_bytes_downloaded < n * 3);
  std::size_t differing = 0;
  for (std::size_t i = 0; i < n; ++i) differing += b[i] != bf16_rounded(published[i]);
  CHECK(differing == 0);
  CHECK(second->leave());
  CHECK(first->leave());
}

TEST_CASE("embedded peers: another model is refused with a clear error", "[embed]") {
  TempDir dir;
  std::vector<float> a(100, 1.0f), b(100, 0.0f);
  auto first = make_peer(base(dir, "a"));
  REQUIRE(first->attach(a.data(), a.size(), ModelLayout{"toy", {{100}}}));
  REQUIRE(first->join(10'000));
  REQUIRE(first->after_step());
  Settings settings = base(dir, "b");
  settings.push_back({"seed", first->status()->address});
  auto second = make_peer(settings);
  // Same count, other shapes: another model.
  REQUIRE(second->attach(b.data(), b.size(), ModelLayout{"toy", {{10, 10}}}));
  const auto joined = second->join(15'000);
  REQUIRE_FALSE(joined);
  CHECK(joined.error().kind == ErrorKind::invalid_argument);
  CHECK_THAT(joined.error().message, Catch::Contains("another model"));
  CHECK(b[0] == 0.0f);  // nothing was copied in
  CHECK(second->status()->state == "failed");
}

TEST_CASE("embedded peers: a dead seed is a timeout, not a hang", "[embed]") {
  TempDir dir;
  std::vector<float> b(100, 0.0f);
  Settings settings = base(dir, "b");
  settings.push_back({"seed", "127.0.0.1:9"});  // discard port: nobody answers
  auto peer = make_peer(settings);
  REQUIRE(peer->attach(b.data(), b.size(), ModelLayout{"toy", {{100}}}));
  const auto t0 = std::chrono::steady_clock::now();
  const auto joined = peer->join(1'500);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE_FALSE(joined);
  CHECK(joined.error().kind == ErrorKind::timeout);
  CHECK_THAT(joined.error().message, Catch::Contains("no seed answered"));
  CHECK(seconds < 10.0);
  CHECK(peer->after_step().error().kind == ErrorKind::disconnected);
}

TEST_CASE("embedded peers: a join timeout past the setting's 24 h is refused, not overflowed", "[embed]") {
  // The deadline was now + timeout_ms: a uint64 past int64's top wrapped
  // into the past (with a seed, an instant "no seed answered").
  TempDir dir;
  auto peer = make_peer(base(dir, "p"));
  const auto joined = peer->join(UINT64_MAX);
  REQUIRE_FALSE(joined);
  CHECK(joined.error().kind == ErrorKind::invalid_argument);
  CHECK_THAT(joined.error().message, Catch::Contains("timeout_ms 18446744073709551615 is out of range (1 to 86400000"));
  CHECK(peer->join(10'000));  // the refusal left the peer as it was
}

TEST_CASE("embedded peers: settings are peer flags, checked as the peer checks them", "[embed]") {
  TempDir dir;
  auto refused = [&](Settings settings, const std::string& needle) {
    auto made = Peer::create(settings);
    REQUIRE_FALSE(made);
    CHECK(made.error().kind == ErrorKind::invalid_argument);
    CHECK_THAT(made.error().message, Catch::Contains(needle));
  };
  refused({{"listen", "nowhere"}}, "listen");
  refused({{"no-such-key", "1"}}, "unknown setting");
  refused({{"lr", "0.1"}}, "built-in trainer");
  refused({{"compress", "zip"}}, "--compress");
  refused({{"neighbours", "0"}}, "bad setting");
  refused({{"clip", "-1"}}, "--clip");
  refused({{"profile", "moon"}}, "bad setting");
  refused({{"seed", "127.0.0.1:0"}}, "port 0 cannot be dialled");  // it was dialled for ever
  // '_' for '-', "seeds" for "seed", repeated keys: all accepted.
  auto made = Peer::create({{"listen", "127.0.0.1:0"}, {"data_dir", (dir.path / "x").string()},
                            {"seeds", "127.0.0.1:1"}, {"seed", "127.0.0.1:2"}, {"max_links", "4"}});
  REQUIRE(made);
  std::vector<float> buffer(10);
  auto attached = (*made)->attach(buffer.data(), buffer.size(), ModelLayout{"m", {{3, 3}}});
  REQUIRE_FALSE(attached);
  CHECK_THAT(attached.error().message, Catch::Contains("holds 10 floats"));
  CHECK((*made)->attach(buffer.data(), buffer.size(), ModelLayout{"m", {{2, 5}}}));
  CHECK_FALSE((*made)->attach(buffer.data(), buffer.size(), ModelLayout{"m", {{2, 5}}}));
  CHECK(ModelLayout{"m", {{2, 5}}}.model_id() != ModelLayout{"m", {{5, 2}}}.model_id());
  CHECK(ModelLayout{"m", {{2, 5}}}.model_id() == ModelLayout{"m", {{2, 5}}}.model_id());
}

TEST_CASE("embedded peers: a diverged buffer is not published", "[embed]") {
  TempDir dir;
  std::vector<float> buffer(100, 1.0f);
  auto peer = make_peer(base(dir, "a"));
  REQUIRE(peer->attach(buffer.data(), buffer.size(), ModelLayout{"toy", {{100}}}));
  REQUIRE(peer->join(10'000));
  buffer[7] = std::nanf("");
  // The node asks for the parameters every few steps (round floor 50 ms):
  // within 3 s of steps one call must refuse to publish them.
  bool refused = false;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!refused && std::chrono::steady_clock::now() < until) {
    const auto stepped = peer->after_step();
    if (!stepped) {
      CHECK(stepped.error().kind == ErrorKind::numerical);
      CHECK_THAT(stepped.error().message, Catch::Contains("NaN"));
      refused = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(refused);
  const auto published_before = peer->status()->publishes;
  buffer[7] = 1.0f;  // recovered: publishing goes on
  for (int i = 0; i < 200 && peer->status()->publishes == published_before; ++i) {
    REQUIRE(peer->after_step());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(peer->status()->publishes > published_before);
}

// The collapse of a 2-process CNN run (docs/embedding.md, "A replica that
// diverges"): one replica's own training explodes; while its parameters are
// still finite, every copy it publishes pulls its neighbour by up to half the
// neighbour's model norm a round (clipping's model-norm bound), until trust
// decays. after_step() withholds such copies, so the neighbour stays put.
TEST_CASE("embedded peers: a replica whose training explodes does not drag its neighbour along", "[embed]") {
  TempDir dir;
  const std::size_t n = kLayout.parameter_count();
  std::vector<float> a(n, 10.0f), b(n, 10.0f);
  // Both near 10, with SGD-like noise so that each has a usual step size.
  auto noisy_step = [](std::vector<float>& x, std::mt19937& random) {
    std::normal_distribution<float> noise(0.0f, 0.01f);
    for (float& v : x) v += -0.02f * (v - 10.0f) + noise(random);
  };
  auto mean_of = [](const std::vector<float>& x) {
    double sum = 0;
    for (float v : x) sum += double(v);
    return sum / double(x.size());
  };
  Settings first_settings = base(dir, "a");
  first_settings[2] = {"compress", "int8"};  // the compressor of the collapsed run
  auto first = make_peer(first_settings);
  REQUIRE(first->attach(a.data(), a.size(), kLayout));
  REQUIRE(first->join(10'000));
  REQUIRE(first->after_step());
  Settings second_settings = base(dir, "b");
  second_settings[2] = {"compress", "int8"};
  second_settings.push_back({"seed", first->status()->address});
  auto second = make_peer(second_settings);
  REQUIRE(second->attach(b.data(), b.size(), kLayout));

  std::atomic<bool> stop{false}, explode{false};
  std::atomic<std::uint64_t> first_numerical{0};
  std::thread first_loop([&] {
    std::mt19937 random(1);
    while (!stop.load()) {
      if (explode.load()) {
        for (float& v : a) v *= 1.05f;  // geometric growth, as a diverging SGD; Inf after ~1,700 steps
      } else {
        noisy_step(a, random);
      }
      const auto stepped = first->after_step();
      if (!stepped && stepped.error().kind == ErrorKind::numerical) ++first_numerical;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const auto joined = second->join(20'000);
  if (!joined) stop = true;
  REQUIRE(joined);
  std::mt19937 random(2);
  auto run_for = [&](std::chrono::milliseconds duration, double& worst) {
    const auto until = std::chrono::steady_clock::now() + duration;
    while (std::chrono::steady_clock::now() < until) {
      noisy_step(b, random);
      REQUIRE(second->after_step());
      worst = std::max(worst, std::fabs(mean_of(b) - 10.0));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };
  double healthy = 0, exploding = 0;
  run_for(std::chrono::milliseconds(2500), healthy);  // linked, both healthy
  const auto before = second->status();
  REQUIRE(before);
  REQUIRE(before->corrections_applied > 5);  // the link works: corrections flow
  explode = true;
  run_for(std::chrono::milliseconds(3000), exploding);
  stop = true;
  first_loop.join();
  const auto end_a = first->status();
  REQUIRE(end_a);
  INFO("the neighbour's worst |mean - 10|: " << healthy << " healthy, " << exploding << " while the other exploded; "
       << "withheld " << end_a->publishes_withheld << ", published " << end_a->publishes << "; "
       << "NaN/Inf errors " << first_numerical.load() << "; the exploding mean " << mean_of(a));
  CHECK(end_a->publishes_withheld > 0);
  // Unguarded (factor set to 1e300), the neighbour's mean was dragged 100-111
  // away from 10 in 3 runs (its model norm multiplied by ~11); guarded, it
  // keeps within its own noise (0.0017).
  CHECK(exploding < 0.5);
  CHECK(second->leave());
  CHECK(first->leave());
}

TEST_CASE("embedded peers: a config file with `starling peer`'s keys, settings winning over it", "[embed][config]") {
  TempDir dir;
  auto write = [&](const std::string& name, const std::string& text) {
    const fs::path path = dir.path / name;
    std::ofstream(path) << text;
    return path.string();
  };
  const std::string data_dir = (dir.path / "d").string();
  // A good file: the peer starts from it alone.
  const std::string good = write("good.toml", "listen = '127.0.0.1:0'\ncompress = 'int8'\nmax-links = 4\n"
                                              "data-dir = '" + data_dir + "'\n");
  CHECK(Peer::create({{"config", good}}));
  // The settings win: the file's bad listen address is never parsed as one.
  const std::string bad_listen = write("listen.toml", "listen = 'nowhere'\ndata-dir = '" + data_dir + "'\n");
  CHECK(Peer::create({{"config", bad_listen}, {"listen", "127.0.0.1:0"}}));
  auto refused = [&](const std::string& path, const std::string& needle) {
    auto made = Peer::create({{"config", path}, {"listen", "127.0.0.1:0"}});
    REQUIRE_FALSE(made);
    CHECK_THAT(made.error().message, Catch::Contains(needle));
  };
  refused(write("type.toml", "compress = 'int8'\nmax-links = 'four'\n"), "type.toml:2");
  refused(write("unknown.toml", "colour = 'blue'\n"), "unknown.toml:1: unknown key 'colour'");
  refused(write("trainer.toml", "lr = 0.1\n"), "'lr' drives starling's built-in trainer");
  refused((dir.path / "missing.toml").string(), "missing.toml");
}

// A buffer that keeps holding NaN (the user's loop diverged for good): its
// node withdraws from gossip, so its last copy pulls on the neighbour no
// more, then rejoins and copies the neighbour's model into the buffer, as
// `starling peer` recovers (docs/embedding.md, "A replica that diverges").
TEST_CASE("embedded peers: a buffer that keeps holding NaN withdraws from gossip, then rejoins with the neighbour's model",
          "[embed]") {
  TempDir dir;
  const std::size_t n = kLayout.parameter_count();
  std::vector<float> a(n, 10.0f), b(n, 10.0f);
  auto first = make_peer(base(dir, "a"));
  REQUIRE(first->attach(a.data(), a.size(), kLayout));
  REQUIRE(first->join(10'000));
  REQUIRE(first->after_step());
  Settings second_settings = base(dir, "b");
  second_settings.push_back({"seed", first->status()->address});
  auto second = make_peer(second_settings);
  REQUIRE(second->attach(b.data(), b.size(), kLayout));
  std::atomic<bool> stop{false};
  std::thread first_loop([&] {
    while (!stop.load()) {
      for (float& x : a) x -= 0.02f * (x - 12.0f);
      (void)first->after_step();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  struct Stopper {
    std::atomic<bool>& stop;
    std::thread& loop;
    ~Stopper() {
      stop = true;
      if (loop.joinable()) loop.join();
    }
  } stopper{stop, first_loop};
  REQUIRE(second->join(20'000));
  // The join downloaded the first peer's model into `b`: one replacement.
  REQUIRE(second->status()->downloaded);
  CHECK(second->buffer_replacements() == 1);
  const std::size_t first_links = 1;
  auto links_of = [](Peer& peer) { return peer.status()->neighbours.size(); };
  // Steps `b` (its own pull towards 8, or NaN while `poison`) until `done`
  // or `seconds` pass; returns whether `done` came.
  auto step_until = [&](bool poison, double seconds, const std::function<bool()>& done) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(int(seconds * 1000));
    while (std::chrono::steady_clock::now() < until) {
      if (done()) return true;
      for (float& x : b) x = poison ? std::nanf("") : x - 0.02f * (x - 8.0f);
      const auto stepped = second->after_step();
      if (!stepped) {
        INFO(stepped.error().message);
        CHECK(stepped.error().kind == (poison ? ErrorKind::numerical : ErrorKind::disconnected));
        if (stepped.error().kind == ErrorKind::disconnected) return done();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done();
  };
  REQUIRE(step_until(false, 5.0, [&] { return links_of(*second) == first_links && links_of(*first) == first_links; }));

  // NaN from now on: within a few rounds the node withdraws, and the first
  // peer is left without a link to it.
  CHECK(step_until(true, 5.0, [&] { return second->status()->state == "withdrawn"; }));
  CHECK(step_until(true, 3.0, [&] { return links_of(*first) == 0; }));
  // A finite buffer again: 1 s after the withdrawal the node rejoins, and a
  // step copies the first peer's model (moving from 10 to 12) into `b`.
  CHECK(step_until(true, 5.0, [&] { return std::isfinite(b[0]); }));
  CHECK(b[0] >= 9.9f);
  CHECK(b[0] <= 12.1f);
  CHECK(second->buffer_replacements() == 2);  // what tells the user to reset the optimizer
  CHECK(step_until(false, 5.0, [&] { return links_of(*first) == first_links && links_of(*second) == first_links; }));
  auto recovered = second->status();
  REQUIRE(recovered);
  CHECK(recovered->recoveries == 1);
  CHECK(recovered->state == "training");
  // NaN for good: two more recoveries (2 s and 4 s after their
  // withdrawals, each asking the refused lone neighbour after the 3 s grace),
  // then after_step() fails for good and the link is gone.
  REQUIRE(step_until(true, 25.0, [&] { return second->status()->state == "failed"; }));
  auto gave_up = second->status();
  REQUIRE(gave_up);
  CHECK(gave_up->recoveries == 3);
  CHECK(gave_up->buffer_replacements == second->buffer_replacements());
  CHECK(gave_up->buffer_replacements >= 2);
  CHECK(gave_up->buffer_replacements <= 1 + gave_up->recoveries);  // a rejoin nobody served copies nothing
  CHECK_THAT(gave_up->error, Catch::Contains("NaN"));
  CHECK(second->after_step().error().kind == ErrorKind::disconnected);
  CHECK(step_until(true, 3.0, [&] { return links_of(*first) == 0; }));
  stop = true;
  first_loop.join();
  for (float x : a) REQUIRE(std::isfinite(x));
  CHECK(second->leave());
  CHECK(first->leave());
}
