// Per-link CHOCO gossip: an in-process swarm whose links pass messages by
// function call. Deterministic: every random number comes from a fixed seed.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "starling/node/link.h"

using starling::compress::CompressorSpec;
using starling::compress::Layout;
using starling::compress::Segment;
using starling::node::AdaptiveClip;
using starling::node::bf16_round;
using starling::node::LinkDelta;
using starling::node::LinkSnapshot;
using starling::node::LinkState;

namespace {

// A small model-like layout: two "weight" segments compressed, two "bias"
// segments (< 1024) sent exactly.
constexpr std::size_t kDim = 2 * 1200 + 64 + 32;

Layout test_layout() {
  std::vector<Segment> segments{{0, 1200}, {1200, 64}, {1264, 1200}, {2464, 32}};
  return Layout::make(kDim, segments).value();
}

Eigen::VectorXf random_vector(std::mt19937_64& rng, float mean, float spread) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Eigen::VectorXf v(static_cast<Eigen::Index>(kDim));
  for (Eigen::Index k = 0; k < v.size(); ++k) v[k] = mean + spread * normal(rng);
  return v;
}

struct Peer {
  Eigen::VectorXf x;
  std::map<int, std::unique_ptr<LinkState>> links;  // neighbour -> link
};

struct Swarm {
  std::vector<Peer> peers;
  float gamma = 0.5f;

  // Ring of n peers plus, if chords, the opposite peer: degree 2 or 3.
  Swarm(int n, const std::string& spec, float gamma_, bool chords, std::uint64_t seed) : peers(std::size_t(n)), gamma(gamma_) {
    std::mt19937_64 rng(seed);
    const Eigen::VectorXf common = random_vector(rng, 0.0f, 1.0f);
    for (auto& p : peers) p.x = common + random_vector(rng, 0.0f, 0.5f);
    const CompressorSpec parsed = CompressorSpec::parse(spec).value();
    auto connect = [&](int i, int j) {
      if (i == j || peers[std::size_t(i)].links.count(j)) return;
      peers[std::size_t(i)].links[j] = std::make_unique<LinkState>(test_layout(), parsed, seed * 1000 + std::uint64_t(i * 64 + j));
      peers[std::size_t(j)].links[i] = std::make_unique<LinkState>(test_layout(), parsed, seed * 1000 + std::uint64_t(j * 64 + i));
    };
    for (int i = 0; i < n; ++i) {
      connect(i, (i + 1) % n);
      if (chords) connect(i, (i + n / 2) % n);
    }
    for (int i = 0; i < n; ++i) {
      for (auto& [j, link] : peers[std::size_t(i)].links) {
        auto snap = link->start(peers[std::size_t(i)].x, 1);
        REQUIRE(snap.ok());
        REQUIRE(peers[std::size_t(j)].links[i]->on_snapshot(*snap).ok());
      }
    }
  }

  LinkState& link(int i, int j) { return *peers[std::size_t(i)].links.at(j); }

  // One synchronous gossip round: every directed link sends a delta, then every
  // peer takes its consensus step with weight 1 / (max degree + 1).
  void round() {
    for (std::size_t i = 0; i < peers.size(); ++i) {
      for (auto& [j, l] : peers[i].links) {
        auto d = l->make_delta(peers[i].x);
        REQUIRE(d.ok());
        REQUIRE(link(j, int(i)).on_delta(*d).ok());
      }
    }
    for (auto& p : peers) {
      const float w = 1.0f / float(p.links.size() + 1);
      for (auto& [j, l] : p.links) {
        auto step = l->consensus_step(p.x, gamma, w);
        REQUIRE(step.ok());
      }
    }
  }

  Eigen::VectorXd average() const {
    Eigen::VectorXd sum = Eigen::VectorXd::Zero(Eigen::Index(kDim));
    for (const auto& p : peers) sum += p.x.cast<double>();
    return sum / double(peers.size());
  }

  double consensus_distance() const {
    const Eigen::VectorXd mean = average();
    double total = 0.0;
    for (const auto& p : peers) total += (p.x.cast<double>() - mean).squaredNorm();
    return total / double(peers.size()) / mean.squaredNorm();
  }
};

}  // namespace

TEST_CASE("bf16 rounding is round-to-nearest-even on the bits", "[node][link]") {
  CHECK(bf16_round(1.0f) == 1.0f);
  // 1 + 2^-8 is exactly halfway between bf16 neighbours 1 and 1 + 2^-7: ties to even (1).
  CHECK(bf16_round(1.0f + 0x1p-8f) == 1.0f);
  // 1 + 3*2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): up.
  CHECK(bf16_round(1.0f + 3 * 0x1p-8f) == 1.0f + 0x1p-6f);
  CHECK(bf16_round(1.0f + 0x1p-8f + 0x1p-20f) == 1.0f + 0x1p-7f);
  CHECK(bf16_round(-2.5f) == -2.5f);
  CHECK(std::isnan(bf16_round(std::nanf(""))));
  CHECK(std::isinf(bf16_round(3.4e38f)));
  CHECK((std::bit_cast<std::uint32_t>(bf16_round(0.1f)) & 0xFFFFu) == 0u);
}

TEST_CASE("snapshot values equal bf16 rounding of the sender's model on both ends", "[node][link]") {
  std::mt19937_64 rng(7);
  const Eigen::VectorXf x = random_vector(rng, 0.3f, 2.0f);
  LinkState a(test_layout(), CompressorSpec{}, 1), b(test_layout(), CompressorSpec{}, 2);
  auto snap = a.start(x, 1);
  REQUIRE(snap.ok());
  REQUIRE(b.on_snapshot(*snap).ok());
  for (Eigen::Index k = 0; k < x.size(); ++k) {
    const std::uint32_t expected = std::bit_cast<std::uint32_t>(bf16_round(x[k]));
    REQUIRE(std::bit_cast<std::uint32_t>(snap->values[std::size_t(k)]) == expected);
    REQUIRE(std::bit_cast<std::uint32_t>(a.out_copy()[k]) == expected);
    REQUIRE(std::bit_cast<std::uint32_t>(b.in_copy()[k]) == expected);
  }
  CHECK(a.make_digest().hash == starling::node::copy_digest(b.in_copy()));
  // A snapshot whose values are not bf16-rounded is refused.
  LinkSnapshot bad = *snap;
  bad.epoch = 2;
  bad.values[3] = 0.1f;
  CHECK(!b.on_snapshot(bad).ok());
}

TEST_CASE("gossip alone keeps the average and shrinks consensus distance geometrically", "[node][link]") {
  struct Case {
    const char* spec;
    float gamma;
    int rounds;
    double max_rate;  // required per-round decay factor of the consensus distance
  };
  // γ per compressor (see docs/learning.md): dense and int8 tolerate large
  // steps; sparse and sign copies lag the models, so γ must be smaller. Round
  // counts stop before the distance reaches float rounding (~1e-12).
  const std::vector<Case> cases{
      {"none", 0.5f, 16, 0.7},          {"int8", 0.5f, 16, 0.7}, {"topk:0.1", 0.2f, 80, 0.85},
      {"randk:0.1", 0.1f, 300, 0.97}, {"sign", 0.1f, 300, 0.995},
  };
  for (const auto& c : cases) {
    for (int n : {4, 8}) {
      DYNAMIC_SECTION(c.spec << " n=" << n) {
        Swarm swarm(n, c.spec, c.gamma, n >= 6, 11 + std::uint64_t(n));
        // Measured from after the snapshot exchange: the snapshots change the
        // copies, not the models, so the average is the initial one.
        const Eigen::VectorXd mean0 = swarm.average();
        const double d0 = swarm.consensus_distance();
        const int half = c.rounds / 2;
        for (int r = 0; r < half; ++r) swarm.round();
        const double dh = swarm.consensus_distance();
        for (int r = half; r < c.rounds; ++r) swarm.round();
        const double d1 = swarm.consensus_distance();
        const double drift = (swarm.average() - mean0).norm() / mean0.norm();
        // Geometric: the per-round factor is below max_rate in both halves.
        const double rate1 = std::pow(dh / d0, 1.0 / half);
        const double rate2 = std::pow(d1 / dh, 1.0 / (c.rounds - half));
        std::printf("[node] %-10s n=%d gamma=%.2f rounds=%d: consensus %.3e -> %.3e -> %.3e, rate/round %.4f then %.4f, "
                    "avg drift %.2e\n",
                    c.spec, n, double(c.gamma), c.rounds, d0, dh, d1, rate1, rate2, drift);
        CHECK(drift < 1e-5);
        CHECK(rate1 < c.max_rate);
        CHECK(rate2 < c.max_rate);
        CHECK(d1 < d0 * 1e-3);
      }
    }
  }
}

TEST_CASE("a lost or duplicated delta breaks the link and a reset repairs it", "[node][link]") {
  std::mt19937_64 rng(3);
  Eigen::VectorXf xa = random_vector(rng, 0.0f, 1.0f), xb = random_vector(rng, 0.0f, 1.0f);
  const auto spec = CompressorSpec::parse("topk:0.1").value();
  LinkState a(test_layout(), spec, 1), b(test_layout(), spec, 2);
  auto handshake = [&](std::uint64_t epoch) {
    auto sa = a.start(xa, epoch);
    REQUIRE(sa.ok());
    REQUIRE(b.on_snapshot(*sa).ok());
    REQUIRE(b.needs_start());
    auto sb = b.start(xb, b.epoch());
    REQUIRE(sb.ok());
    REQUIRE(a.on_snapshot(*sb).ok());
    REQUIRE(a.ready());
    REQUIRE(b.ready());
  };
  handshake(1);
  REQUIRE(b.on_delta(a.make_delta(xa).value()).ok());

  SECTION("lost delta") {
    (void)a.make_delta(xa).value();  // dropped on the way
    auto status = b.on_delta(a.make_delta(xa).value());
    REQUIRE(!status.ok());
    CHECK(status.error().message.find("gap") != std::string::npos);
  }
  SECTION("duplicated delta") {
    const LinkDelta d = a.make_delta(xa).value();
    REQUIRE(b.on_delta(d).ok());
    auto status = b.on_delta(d);
    REQUIRE(!status.ok());
    CHECK(status.error().message.find("duplicate") != std::string::npos);
  }
  SECTION("delta of another epoch") {
    LinkDelta d = a.make_delta(xa).value();
    d.epoch = 7;
    CHECK(!b.on_delta(d).ok());
  }
  // The link is broken: it accepts nothing more and is not ready.
  CHECK(!b.ready());
  CHECK(!b.on_delta(a.make_delta(xa).value()).ok());
  CHECK(!b.consensus_step(xb, 0.5f, 0.5f).ok());

  // b tells a; both restart with a new epoch.
  a.on_reset(b.make_reset(b.last_error()));
  CHECK(!a.ready());
  CHECK(!a.make_delta(xa).ok());
  handshake(b.epoch() + 1);
  CHECK(a.epoch() == 2);
  for (int r = 0; r < 20; ++r) {
    REQUIRE(b.on_delta(a.make_delta(xa).value()).ok());
    REQUIRE(a.on_delta(b.make_delta(xb).value()).ok());
  }
  REQUIRE(b.on_digest(a.make_digest()).ok());
  REQUIRE(a.on_digest(b.make_digest()).ok());
  CHECK(a.out_copy() == b.in_copy());
  CHECK(b.out_copy() == a.in_copy());
  // A late delta of the old epoch is refused again.
  LinkDelta stale = a.make_delta(xa).value();
  stale.epoch = 1;
  CHECK(!b.on_delta(stale).ok());
}

TEST_CASE("a digest mismatch is detected", "[node][link]") {
  std::mt19937_64 rng(5);
  const Eigen::VectorXf xa = random_vector(rng, 0.0f, 1.0f), xb = random_vector(rng, 0.0f, 1.0f);
  const auto spec = CompressorSpec::parse("int8").value();
  LinkState a(test_layout(), spec, 1), b(test_layout(), spec, 2);
  REQUIRE(b.on_snapshot(a.start(xa, 1).value()).ok());
  REQUIRE(a.on_snapshot(b.start(xb, 1).value()).ok());
  for (int r = 0; r < 5; ++r) REQUIRE(b.on_delta(a.make_delta(xa).value()).ok());
  REQUIRE(b.on_digest(a.make_digest()).ok());

  SECTION("receiver's copy corrupted") {
    b.mutable_in_copy_for_test()[17] = std::nextafter(b.in_copy()[17], 1e9f);  // one ulp
  }
  SECTION("sender's copy corrupted") {
    a.mutable_out_copy_for_test()[2000] += 1.0f;
  }
  auto status = b.on_digest(a.make_digest());
  REQUIRE(!status.ok());
  CHECK(status.error().kind == starling::ErrorKind::corrupt);
  CHECK(!b.ready());
}

TEST_CASE("clipping bounds a garbage neighbour", "[node][link]") {
  std::mt19937_64 rng(9);
  const Eigen::VectorXf xi0 = random_vector(rng, 0.0f, 1.0f);
  Eigen::VectorXf xg = random_vector(rng, 0.0f, 1.0f);
  const auto spec = CompressorSpec::parse("none").value();
  const float gamma = 0.5f, weight = 0.5f;
  const double tau = 0.05;

  auto run = [&](int mode) {  // 0: no clipping, 1: fixed τ, 2: adaptive
    Eigen::VectorXf xi = xi0, garbage = xg;
    LinkState mine(test_layout(), spec, 1), theirs(test_layout(), spec, 2);
    REQUIRE(theirs.on_snapshot(mine.start(xi, 1).value()).ok());
    REQUIRE(mine.on_snapshot(theirs.start(garbage, 1).value()).ok());
    AdaptiveClip adaptive(AdaptiveClip::Config{3.0, 16, 4, tau});
    std::mt19937_64 grng(21);
    double max_move = 0.0, total = 0.0;
    for (int r = 0; r < 30; ++r) {
      // A few honest rounds first, then the neighbour sends huge random deltas.
      if (r >= 5) garbage += random_vector(grng, 0.0f, 1e4f);
      REQUIRE(theirs.on_delta(mine.make_delta(xi).value()).ok());
      REQUIRE(mine.on_delta(theirs.make_delta(garbage).value()).ok());
      const Eigen::VectorXf before = xi;
      auto step = mode == 0   ? mine.consensus_step(xi, gamma, weight)
                  : mode == 1 ? mine.consensus_step(xi, gamma, weight, tau)
                              : mine.consensus_step(xi, gamma, weight, adaptive);
      REQUIRE(step.ok());
      const double move = double((xi - before).norm());
      max_move = std::max(max_move, move);
      total = double((xi - xi0).norm());
    }
    return std::make_pair(max_move, total);
  };
  const auto [off_max, off_total] = run(0);
  const auto [fixed_max, fixed_total] = run(1);
  const auto [adaptive_max, adaptive_total] = run(2);
  std::printf("[node] garbage neighbour, 30 rounds: max step / total move: off %.3g / %.3g, tau=%.3g %.3g / %.3g, "
              "adaptive %.3g / %.3g\n",
              off_max, off_total, tau, fixed_max, fixed_total, adaptive_max, adaptive_total);
  CHECK(fixed_max <= tau * (1.0 + 1e-5));
  CHECK(fixed_total <= 30 * tau * (1.0 + 1e-5));
  CHECK(off_max > 1e4 * tau);
  // Adaptive: honest norms are small, so the radius stays small; it can grow
  // at most geometrically while the garbage lasts.
  CHECK(adaptive_max < off_max * 1e-3);
}

TEST_CASE("tracking error falls as deltas flow", "[node][link]") {
  std::mt19937_64 rng(13);
  const Eigen::VectorXf x = random_vector(rng, 0.0f, 1.0f);
  LinkState a(test_layout(), CompressorSpec::parse("topk:0.1").value(), 1);
  (void)a.start(Eigen::VectorXf::Zero(Eigen::Index(kDim)), 1).value();
  CHECK(a.tracking_error(x) == Approx(1.0));
  for (int r = 0; r < 10; ++r) (void)a.make_delta(x).value();
  CHECK(a.tracking_error(x) < 1e-6);
}

TEST_CASE("link: a neighbour copy that overflowed is refused by the consensus step, x_i untouched", "[node][link]") {
  const auto spec = CompressorSpec::parse("none").value();
  std::mt19937_64 rng(31);
  Eigen::VectorXf xi = random_vector(rng, 1.0f, 0.1f);
  LinkState mine(test_layout(), spec, 1), theirs(test_layout(), spec, 2);
  REQUIRE(theirs.on_snapshot(mine.start(xi, 1).value()).ok());
  REQUIRE(mine.on_snapshot(theirs.start(random_vector(rng, 1.0f, 0.1f), 1).value()).ok());
  mine.mutable_in_copy_for_test()[5] = std::numeric_limits<float>::infinity();
  const Eigen::VectorXf before = xi;
  for (double radius : {std::numeric_limits<double>::infinity(), 1.0, 0.0}) {
    for (float weight : {0.5f, 0.0f}) {
      auto step = mine.consensus_step(xi, 0.5f, weight, radius);
      REQUIRE_FALSE(step.ok());
      CHECK(step.error().kind == starling::ErrorKind::numerical);
      CHECK(xi == before);
    }
  }
}

TEST_CASE("link: copies exist only while the link is started, and a scratch gives the same delta", "[node][link]") {
  // docs/learning.md, "Memory per peer": a link that is not ready holds no
  // copy it does not need; the compressor keeps no model-sized buffer.
  std::mt19937_64 rng(9);
  const Eigen::VectorXf xa = random_vector(rng, 0.0f, 1.0f), xb = random_vector(rng, 0.0f, 1.0f);
  const auto spec = CompressorSpec::parse("topk:0.1").value();
  LinkState a(test_layout(), spec, 1), b(test_layout(), spec, 2), twin(test_layout(), spec, 1);
  const std::size_t copy_bytes = kDim * sizeof(float);
  CHECK(a.model_bytes_held() == 0);  // before any snapshot
  auto sa = a.start(xa, 1);
  REQUIRE(sa.ok());
  CHECK(a.model_bytes_held() == copy_bytes);  // out copy only
  REQUIRE(twin.start(xa, 1).ok());
  REQUIRE(b.on_snapshot(*sa).ok());
  auto sb = b.start(xb, b.epoch());
  REQUIRE(sb.ok());
  REQUIRE(a.on_snapshot(*sb).ok());
  REQUIRE(a.ready());
  CHECK(a.model_bytes_held() == 2 * copy_bytes);

  // The delta through a caller's scratch equals the one without.
  std::vector<float> scratch(kDim);
  const Eigen::VectorXf moved = xa + random_vector(rng, 0.0f, 0.1f);
  const LinkDelta with_scratch = a.make_delta(moved, scratch).value();
  const LinkDelta without = twin.make_delta(moved).value();
  CHECK(with_scratch.delta == without.delta);
  CHECK(a.out_copy() == twin.out_copy());
  CHECK(a.scratch_bytes() < copy_bytes / 2);

  SECTION("a reset frees both copies; a restart brings them back") {
    (void)a.make_reset("test");
    CHECK(a.model_bytes_held() == 0);
    CHECK(a.tracking_error(xa) == 1.0);  // no copy: as far as a zero one
    b.on_reset(starling::node::LinkReset{a.epoch(), "test"});
    CHECK(b.model_bytes_held() == 0);
    auto again = a.start(xa, a.epoch() + 1);
    REQUIRE(again.ok());
    REQUIRE(b.on_snapshot(*again).ok());
    REQUIRE(b.start(xb, b.epoch()).ok());
    CHECK(b.model_bytes_held() == 2 * copy_bytes);
  }
  SECTION("a link broken by a bad delta frees both copies") {
    LinkDelta gap = a.make_delta(moved).value();
    gap.seq += 5;
    REQUIRE(!b.on_delta(gap).ok());
    CHECK(b.model_bytes_held() == 0);
    CHECK(!b.ready());
  }
}

TEST_CASE("link: the one-pass pull gives consensus_step's correction and the correction norm", "[node][link]") {
  // TrainingDriver::consensus adds each link's pull while it measures the
  // norm, and fixes a clipped link up afterwards with a second pull.
  const auto spec = CompressorSpec::parse("int8").value();
  std::mt19937_64 rng(41);
  LinkState mine(test_layout(), spec, 1), theirs(test_layout(), spec, 2);
  REQUIRE(theirs.on_snapshot(mine.start(random_vector(rng, 0.0f, 1.0f), 1).value()).ok());
  REQUIRE(mine.on_snapshot(theirs.start(random_vector(rng, 0.0f, 1.0f), 1).value()).ok());
  const double norm = mine.correction_norm().value();
  const double exact = (mine.in_copy().cast<double>() - mine.out_copy().cast<double>()).norm();
  CHECK(norm == Approx(exact).epsilon(1e-6));

  Eigen::VectorXf reference = Eigen::VectorXf::Zero(Eigen::Index(kDim));
  REQUIRE(mine.consensus_step(reference, 0.5f, 0.25f).ok());
  Eigen::VectorXf pulled = Eigen::VectorXf::Constant(Eigen::Index(kDim), 7.0f);  // overwritten
  const auto measured = mine.pull(pulled, 0.5f * 0.25f, true);
  REQUIRE(measured.ok());
  CHECK(*measured == norm);
  CHECK(pulled.isApprox(reference, 1e-6f));
  REQUIRE(mine.pull(pulled, 0.5f * 0.25f, false).ok());  // a second link's pull adds
  CHECK(pulled.isApprox(2.0f * reference, 1e-6f));

  // Clipped afterwards: the same correction, up to rounding, as clipping first.
  const double radius = 0.1 * norm;
  Eigen::VectorXf clipped_first = Eigen::VectorXf::Zero(Eigen::Index(kDim));
  const auto step = mine.consensus_step(clipped_first, 0.5f, 0.25f, radius);
  REQUIRE(step.ok());
  REQUIRE(step->clipped);
  const auto factor = starling::node::pull_factor(0.5f, 0.25f, norm, radius);
  CHECK(factor.clipped);
  CHECK(factor.applied_norm == step->applied_norm);
  REQUIRE(mine.pull(pulled, 0.5f * 0.25f, true).ok());
  REQUIRE(mine.pull(pulled, factor.factor - 0.5f * 0.25f, false).ok());
  CHECK(double(pulled.norm()) <= radius * (1.0 + 1e-5));
  CHECK(pulled.isApprox(clipped_first, 1e-5f));

  SECTION("a copy that overflowed gives a norm that is not finite") {
    mine.mutable_in_copy_for_test()[5] = std::numeric_limits<float>::infinity();
    const auto bad = mine.pull(pulled, 0.125f, true);
    REQUIRE(bad.ok());
    CHECK_FALSE(std::isfinite(*bad));
  }
  SECTION("a link not ready refuses") {
    (void)mine.make_reset("test");
    CHECK(mine.pull(pulled, 0.125f, true).error().kind == starling::ErrorKind::disconnected);
  }
}

TEST_CASE("link: copies that start from a model both ends hold are that model, exactly", "[node][link]") {
  // A joiner's link to the peer that served its model: both copies start at
  // that model in f32 and no snapshot goes out. The first two deltas are
  // int8 (they carry the steps made since the download), then the link's
  // own kind.
  for (const char* spec : {"sign", "topk:0.01", "none"}) {
    INFO(spec);
    std::mt19937_64 rng(23);
    const Eigen::VectorXf base = random_vector(rng, 0.3f, 2.0f);
    LinkState a(test_layout(), CompressorSpec::parse(spec).value(), 1);
    LinkState b(test_layout(), CompressorSpec::parse(spec).value(), 2);
    REQUIRE(a.start_from_base(base, 1).ok());
    REQUIRE(b.on_based_snapshot(1, base).ok());
    CHECK(a.out_copy() == base);
    CHECK(b.in_copy() == base);
    CHECK(a.make_digest().hash == starling::node::copy_digest(b.in_copy()));
    // The sender trained on since: its first delta moves the copy towards x.
    const Eigen::VectorXf x = base + 0.01f * random_vector(rng, 0.0f, 1.0f);
    const auto own = CompressorSpec::parse(spec).value().kind;
    const bool exact = own == starling::compress::CompressorKind::none;
    const LinkDelta first = a.make_delta(x).value();
    CHECK(first.delta.kind == (exact ? own : starling::compress::CompressorKind::int8));
    REQUIRE(b.on_delta(first).ok());
    CHECK((x - b.in_copy()).norm() < (x - base).norm() / (exact ? 1e6 : 20.0));
    CHECK(a.make_digest().hash == starling::node::copy_digest(b.in_copy()));
    const LinkDelta second = a.make_delta(x).value();
    CHECK(second.delta.kind == (exact ? own : starling::compress::CompressorKind::int8));
    REQUIRE(b.on_delta(second).ok());
    CHECK((x - b.in_copy()).norm() < (x - base).norm() / (exact ? 1e6 : 1000.0));
    CHECK(a.make_delta(x).value().delta.kind == own);
    // A snapshot's epoch settles with one int8 delta, as before.
    REQUIRE(a.start(x, 2).ok());
    if (!exact) {
      CHECK(a.make_delta(x).value().delta.kind == starling::compress::CompressorKind::int8);
      CHECK(a.make_delta(x).value().delta.kind == own);
    }
  }
  // The same epoch rules as snapshots; a base of the wrong size or with NaN
  // is refused.
  std::mt19937_64 rng(24);
  const Eigen::VectorXf base = random_vector(rng, 0.3f, 2.0f);
  LinkState a(test_layout(), CompressorSpec::parse("sign").value(), 1);
  REQUIRE(a.start_from_base(base, 3).ok());
  CHECK(a.start_from_base(base, 2).error().kind == starling::ErrorKind::invalid_argument);
  CHECK(a.on_based_snapshot(2, base).error().kind == starling::ErrorKind::invalid_argument);
  CHECK_FALSE(a.start_from_base(Eigen::VectorXf::Zero(4), 4).ok());
  Eigen::VectorXf poisoned = base;
  poisoned[7] = std::numeric_limits<float>::quiet_NaN();
  CHECK_FALSE(a.start_from_base(poisoned, 4).ok());
  CHECK(a.on_based_snapshot(4, poisoned).error().kind == starling::ErrorKind::corrupt);
}

TEST_CASE("link: the first delta of an epoch settles the snapshot's bf16 rounding", "[node][link]") {
  // A low-bit or sparse link sends its first delta as int8: the receiver's
  // copy is then much closer to x than the bf16 snapshot, where the link's
  // own compressor would leave most of the rounding error for many rounds.
  for (const char* spec : {"sign", "sign2", "topk:0.01", "randk:0.01"}) {
    INFO(spec);
    std::mt19937_64 rng(21);
    const Eigen::VectorXf x = random_vector(rng, 0.3f, 2.0f);
    LinkState a(test_layout(), CompressorSpec::parse(spec).value(), 1);
    LinkState b(test_layout(), CompressorSpec::parse(spec).value(), 2);
    auto snap = a.start(x, 1);
    REQUIRE(b.on_snapshot(*snap).ok());
    const double rounding = (x - b.in_copy()).norm();
    REQUIRE(rounding > 0.0);
    const LinkDelta first = a.make_delta(x).value();
    CHECK(first.delta.kind == starling::compress::CompressorKind::int8);
    REQUIRE(b.on_delta(first).ok());
    CHECK((x - b.in_copy()).norm() < rounding / 20.0);
    CHECK(a.make_digest().hash == starling::node::copy_digest(b.in_copy()));
    // Later deltas use the link's own compressor again, also after a restart.
    CHECK(a.make_delta(x).value().delta.kind == CompressorSpec::parse(spec).value().kind);
    auto again = a.start(x, 2);
    REQUIRE(again.ok());
    CHECK(a.make_delta(x).value().delta.kind == starling::compress::CompressorKind::int8);
  }
  // int8 and exact links are unchanged.
  for (const char* spec : {"none", "int8"}) {
    INFO(spec);
    std::mt19937_64 rng(22);
    const Eigen::VectorXf x = random_vector(rng, 0.3f, 2.0f);
    LinkState a(test_layout(), CompressorSpec::parse(spec).value(), 1);
    (void)a.start(x, 1).value();
    CHECK(a.make_delta(x).value().delta.kind == CompressorSpec::parse(spec).value().kind);
  }
}
