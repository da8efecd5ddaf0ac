// TrainingDriver on the in-memory network, in virtual time, with sealed
// connections (real identities): swarms of node::Peer (membership + delta
// gossip + the router) whose models are plain vectors, so every property is
// checked exactly.
#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <array>
#include <cmath>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "starling/compress/layout.h"
#include "starling/crypto/keys.h"
#include "starling/gossip/config.h"
#include "starling/runtime/crypto_security.h"
#include "starling/runtime/memory_network.h"
#include "starling/node/membership_driver.h"
#include "starling/node/peer.h"
#include "starling/node/record_authority.h"
#include "starling/node/training_driver.h"
#include "starling/wire/codec.h"

#include "training_swarm.h"

using namespace starling;
using namespace starling::runtime;
using namespace starling::node;
using namespace starling::test_training;


TEST_CASE("training driver: with no training the swarm average is kept and consensus falls, every compressor",
          "[runtime][training]") {
  struct Case {
    const char* compressor;
    double shrink;  // required fall of the consensus distance within the run
  };
  const Case cases[] = {{"none", 1e-6}, {"int8", 1e-4}, {"topk:0.1", 1e-3}, {"randk:0.1", 1e-2}, {"sign", 1e-1}};
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.compressor) {
      Swarm swarm(11);
      SwarmConfig config;
      config.compressor = *compress::CompressorSpec::parse(c.compressor);
      build_swarm(swarm, config, 4);
      REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(2); }, 20));
      const Eigen::VectorXf mean_before = swarm.mean();
      const double before = swarm.consensus_distance();
      swarm.run_for(40);
      const double after = swarm.consensus_distance();
      const double drift = double((swarm.mean() - mean_before).norm()) / double(mean_before.norm());
      INFO("compressor " << c.compressor << ": distance " << before << " -> " << after << ", drift " << drift);
      CHECK(after < before * c.shrink);
      // In flight the two ends of a link see slightly different copies, so
      // the average is kept up to that lag (and float rounding), not exactly.
      CHECK(drift < 1e-3);
      for (const auto& peer : swarm.peers) {
        const auto status = peer->training()->status();
        CHECK(status.state == "training");
        CHECK(status.deltas_sent > 100);
        CHECK(status.link_resets == 0);
        REQUIRE(status.consensus_distance.has_value());
      }
    }
  }
}

TEST_CASE("training driver: the local average is the mean of the own model and the neighbours' copies",
          "[runtime][training]") {
  // Frozen models and exact deltas (`none`): once the links are ready and a
  // delta went each way, every in-copy equals its neighbour's model, so the
  // local average must be the plain mean of the three known vectors.
  Swarm swarm(5);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("none");
  // γ tiny: the driver sends x + (its correction), which a frozen host does
  // not apply, so the copies equal the models up to that correction.
  config.gamma = 1e-7f;
  build_swarm(swarm, config, 3);
  for (auto& peer : swarm.peers) peer->host.frozen = true;
  SwarmPeer& lone = *swarm.peers[0];
  {
    // Before any link is ready: no copy to average with, the model is untouched.
    Eigen::VectorXf own = lone.host.x;
    const Result<std::size_t> none = lone.training()->local_average(own);
    REQUIRE(none.ok());
    CHECK(*none == 0);
    CHECK(own == lone.host.x);
  }
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(2); }, 20));
  swarm.run_for(2);  // rounds every 50 ms: deltas have caught the copies up
  const Eigen::VectorXf mean = swarm.mean();
  for (const auto& peer : swarm.peers) {
    const Eigen::VectorXf x = peer->host.x;
    Eigen::VectorXf average = x;
    const Result<std::size_t> used = peer->training()->local_average(average);
    REQUIRE(used.ok());
    CHECK(*used == 2);
    const double error = double((average - mean).norm()) / double(mean.norm());
    INFO("relative error of the uniform local average " << error);
    CHECK(error < 1e-5);
    CHECK((average - x).norm() > 0.1f * x.norm() / std::sqrt(float(kDimension)));  // it really moved

    // The consensus weights: Metropolis-Hastings, 1/(1 + max(2, 2)) per copy
    // (every peer has 2 ready links), the rest on x_i.
    Eigen::VectorXf mixed = x;
    REQUIRE(peer->training()->local_average(mixed, AverageWeights::mixing).ok());
    const float w = 1.0f / 3.0f;
    const Eigen::VectorXf expected = (1.0f - 2.0f * w) * x + w * (3.0f * mean - x);
    CHECK(double((mixed - expected).norm()) / double(expected.norm()) < 1e-5);
  }
  Eigen::VectorXf wrong = Eigen::VectorXf::Zero(kDimension - 1);
  CHECK(lone.training()->local_average(wrong).error().kind == ErrorKind::invalid_argument);
}

TEST_CASE("training driver: lost and duplicated deltas are detected and the link recovers with a snapshot",
          "[runtime][training]") {
  for (const char* fault : {"drop", "duplicate"}) {
    DYNAMIC_SECTION(fault) {
      Swarm swarm(12);
      SwarmConfig config;
      config.compressor = *compress::CompressorSpec::parse("topk:0.1");
      build_swarm(swarm, config, 3);
      REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(2); }, 20));
      LinkFaults faults;
      if (std::string(fault) == "drop") faults.drop_probability = 0.05;
      else faults.duplicate_probability = 0.05;
      faults.stream_loss = StreamLoss::raw;  // gaps and repeats in the link's frames
      // Frames of peer 1 only, so membership stays healthy elsewhere.
      swarm.network().faults().set_outbound(swarm.peers[1]->address, faults);
      swarm.run_for(3);
      swarm.network().faults().clear();
      std::uint64_t resets = 0;
      for (const auto& peer : swarm.peers) resets += peer->training()->status().link_resets;
      CHECK(resets > 0);
      bool reported = false;
      for (const auto& peer : swarm.peers)
        for (const auto& line : peer->log)
          if (line.find(std::string(fault) == "drop" ? "gap" : "duplicate") != std::string::npos) reported = true;
      CHECK(reported);
      // Healed: links come back and consensus carries on. A link that broke
      // 4 times within 30 s waits out its ban first (10 s from the fourth
      // break, which can come near the end of the 3 s).
      REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(2); }, 25));
      const double before = swarm.consensus_distance();
      swarm.run_for(20);
      CHECK(swarm.consensus_distance() <= std::max(before * 0.1, 1e-9));
    }
  }
}

TEST_CASE("training driver: a joining peer starts from its neighbour's model, downloaded in chunks",
          "[runtime][training]") {
  Swarm swarm(13);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("topk:0.1");
  config.model_chunk_bytes = 999;  // 7 chunks for 3000 bf16 values, most ending inside a value
  config.download_bf16 = GENERATE(true, false);  // `starling peer`, an embedded peer
  INFO("download in " << (config.download_bf16 ? "bf16" : "f32"));
  const Eigen::VectorXf first_model = swarm.random_model();
  SwarmPeer& first = swarm.add(config, {}, false, first_model);
  swarm.run_for(1);
  SwarmPeer& joiner = swarm.add(config, {0}, true, swarm.random_model());
  CHECK(joiner.training()->status().state == "downloading");
  // A lossy network on the way: lost chunks are asked for again, from where
  // the download stands.
  LinkFaults lossy;
  lossy.drop_probability = 0.2;
  lossy.stream_loss = StreamLoss::raw;  // chunks really lost, not only late
  swarm.network().faults().set_outbound(first.address, lossy);
  REQUIRE(swarm.run_until([&] { return joiner.host.started; }, 60));
  swarm.network().faults().clear();
  for (const auto& line : joiner.log) UNSCOPED_INFO(line);
  CHECK(joiner.host.downloaded);
  // The first peer is alone until the joiner arrives, so its model is what it
  // served: the joiner's first model is that model, bit for bit, or its bf16
  // rounding (half the bytes).
  const Eigen::VectorXf rounded = first_model.unaryExpr([](float v) { return node::bf16_round(v); });
  CHECK(joiner.host.first_model == (config.download_bf16 ? rounded : first_model));
  CHECK(joiner.training()->status().model_bytes_downloaded >= kDimension * (config.download_bf16 ? 2 : 4));
  CHECK(joiner.training()->status().state == "training");
}

TEST_CASE("training driver: the first peer of a swarm trains without waiting, a joiner with nobody to ask "
          "gives up after the timeout",
          "[runtime][training]") {
  Swarm swarm(14);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("none");
  SwarmPeer& lone = swarm.add(config, {}, true, swarm.random_model());
  REQUIRE(swarm.run_until([&] { return lone.host.started; }, 30));
  CHECK_FALSE(lone.host.downloaded);
  bool said = false;
  for (const auto& line : lone.log) said = said || line.find("no neighbour served a model") != std::string::npos;
  CHECK(said);
}

// A path of 200 ms each way: the dial's connect, handshake and hellos take
// about a second, two neighbour checks. Every such dial was dropped at the
// first check ("never sent the snapshot that opens the link") and dialled
// again, so no link ever formed (a review found it over real namespaces).
TEST_CASE("training driver: a dial slower than a neighbour check still opens its link", "[runtime][training]") {
  Swarm swarm(72);
  swarm.network().set_latency_us(200'000);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("sign");
  swarm.add(config, {}, false, swarm.random_model());
  // Past the 5 s stall on the clock: the rule compared the clock with a
  // time not set before the hello (0), and a real loop's clock counts from
  // boot.
  swarm.run_for(6);
  swarm.add(config, {0}, false, swarm.random_model());
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(1); }, 30));
  for (const auto& peer : swarm.peers) CHECK(peer->training()->status().neighbours.size() == 1);
}

// A model of finite but extreme values swings from +3e38 to -3e38: x - x̂
// overflows float, so no delta can be made. It logged a warning twice a
// round for as long as it lasted and the link never mixed again.
TEST_CASE("training driver: deltas that cannot be made warn once and reset the link", "[runtime][training]") {
  Swarm swarm(73);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("int8");
  SwarmPeer& a = swarm.add(config, {}, false, Eigen::VectorXf::Constant(kDimension, 3e38f));
  swarm.add(config, {0}, false, Eigen::VectorXf::Constant(kDimension, 3e38f));
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(1); }, 20));
  const std::uint64_t resets_before = a.training()->status().link_resets;
  a.host.frozen = true;
  a.host.x.setConstant(-3e38f);
  swarm.run_for(5);
  const auto status = a.training()->status();
  CHECK(status.deltas_unmade >= 3);
  CHECK(status.link_resets > resets_before);
  const auto warnings = std::count_if(a.log.begin(), a.log.end(), [](const std::string& line) {
    return line.find("cannot make a delta") != std::string::npos;
  });
  INFO(status.deltas_unmade << " deltas unmade, " << warnings << " warnings");
  CHECK(warnings >= 1);
  CHECK(std::uint64_t(warnings) * 3 <= status.deltas_unmade + 2);  // once per streak, not once per delta
}

TEST_CASE("training driver: peers with different models refuse to link", "[runtime][training]") {
  Swarm swarm(15);
  SwarmConfig a;
  a.compressor = *compress::CompressorSpec::parse("none");
  SwarmConfig b = a;
  b.model = "another-model";
  swarm.add(a, {}, false, swarm.random_model());
  swarm.add(b, {0}, false, swarm.random_model());
  swarm.run_for(10);
  for (const auto& peer : swarm.peers) {
    for (const auto& n : peer->training()->status().neighbours) CHECK_FALSE(n.ready);
    bool said = false;
    for (const auto& line : peer->log) said = said || line.find("different model") != std::string::npos;
    CHECK(said);
  }
}

TEST_CASE("training driver: a joiner's link to the peer that served its model starts from that model, no snapshot "
          "either way",
          "[runtime][training]") {
  // The bf16 snapshot each way and the int8 delta that settles its rounding
  // cost 1.4x a model's f32 bytes on a link both ends of which hold the
  // model the joiner just downloaded, and under an upload budget they held
  // back the first rounds (docs/learning.md).
  for (const char* spec : {"sign", "topk:0.1"}) {
    INFO(spec);
    Swarm swarm(31);
    SwarmConfig config;
    config.compressor = *compress::CompressorSpec::parse(spec);
    SwarmPeer& first = swarm.add(config, {}, false, swarm.random_model());
    swarm.run_for(1);
    SwarmPeer& joiner = swarm.add(config, {0}, true, swarm.random_model());
    REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(1); }, 20));
    swarm.run_for(5);
    for (const auto& line : joiner.log) UNSCOPED_INFO(line);
    const TrainingDriverStatus served = first.training()->status();
    const TrainingDriverStatus joined = joiner.training()->status();
    CHECK(joined.links_started_from_download == 1);
    CHECK(served.links_started_from_download == 1);
    // One based chunk each way (tens of bytes), where a bf16 snapshot of this
    // model is 6,000 bytes of values.
    CHECK(snapshot_bytes_sent(served) < 200);
    CHECK(snapshot_bytes_sent(joined) < 200);
    CHECK(served.link_resets == 0);
    CHECK(joined.link_resets == 0);
    CHECK(served.digest_mismatches == 0);
    CHECK(joined.digest_mismatches == 0);
    CHECK(joined.deltas_received > 10);
    CHECK(served.deltas_received > 10);
    // The joiner no longer holds the downloaded copy once both ways started.
    CHECK(joined.model_bytes_held < first.training()->status().model_bytes_held + kDimension * sizeof(float));
  }
}

TEST_CASE("training driver: a based snapshot is answered from the served model, or the link is closed",
          "[runtime][training]") {
  Swarm swarm(32);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("none");
  config.model_chunk_bytes = 1'000'000;
  SwarmPeer& server = swarm.add(config, {}, false, swarm.random_model());
  swarm.run_for(1);

  SECTION("a base we served: the answer starts from it too") {
    const bool bf16 = GENERATE(false, true);
    INFO("download in " << (bf16 ? "bf16" : "f32 (an older joiner)"));
    auto joiner = swarm.raw_member("joiner", server, "test-model", true);
    REQUIRE(swarm.run_until([&] { return joiner->connected; }, 5));
    wire::ModelRequest request;
    request.max_bytes = 1'000'000;
    if (bf16) request.precision = wire::Precision::bf16;
    joiner->send(wire::Message{request});
    REQUIRE(swarm.run_until([&] { return !joiner->chunks.empty(); }, 5));
    const wire::ModelChunk model = joiner->chunks.back();
    CHECK(model.precision == request.precision);
    REQUIRE(model.data.size() == kDimension * (bf16 ? 2 : sizeof(float)));
    CHECK(model.total == model.data.size());
    wire::SnapshotChunk based;
    based.epoch = 1;
    based.total = kDimension;
    based.precision = wire::Precision::bf16;
    based.base = model.snapshot_id;
    joiner->send(wire::Message{based});
    swarm.run_for(1);
    const auto snapshots = received<wire::SnapshotChunk>(*joiner);
    REQUIRE(snapshots.size() == 1);
    CHECK(snapshots[0].base == model.snapshot_id);
    CHECK(snapshots[0].epoch == 1);
    CHECK(snapshots[0].values_half.empty());
    CHECK(received<wire::Reset>(*joiner).empty());
    CHECK(server.training()->status().links_started_from_download == 1);
  }
  SECTION("a base we do not hold: the link is closed, with no snapshot of ours") {
    // Honest only when the served copy was evicted; a member could send such
    // a chunk for each of our snapshots (docs/security.md). The joiner's next
    // link sends a whole snapshot (its base is offered once).
    auto stranger = swarm.raw_member("stranger", server, "test-model", true);
    REQUIRE(swarm.run_until([&] { return server.training()->status().neighbours.size() == 1; }, 5));
    wire::SnapshotChunk based;
    based.epoch = 1;
    based.total = kDimension;
    based.precision = wire::Precision::bf16;
    based.base = 0x5eed;
    stranger->send(wire::Message{based});
    swarm.run_for(1);
    const auto resets = received<wire::Reset>(*stranger);
    REQUIRE(resets.size() == 1);
    CHECK(resets[0].reason == wire::ResetReason::shutdown);
    CHECK(received<wire::SnapshotChunk>(*stranger).empty());
    CHECK(server.training()->status().neighbours.empty());
    CHECK(server.training()->status().links_started_from_download == 0);
  }
}

TEST_CASE("training driver: a joiner links and starts training at once, not at the next neighbour check",
          "[runtime][training]") {
  // The joiner's first neighbour check runs when it starts, before it has
  // joined: the seed's member record arrives a few ms later. Found on real
  // peers: the link came up 300 ms after "joined the swarm", waiting for the
  // check 500 ms (TrainingDriverOptions::neighbour_check_ms) after the first.
  for (std::uint64_t seed : {15, 16, 17, 18}) {
    Swarm swarm(seed);
    SwarmConfig config;
    config.compressor = *compress::CompressorSpec::parse("sign");
    swarm.add(config, {}, false, swarm.random_model());
    swarm.run_for(1);
    const std::uint64_t added_us = swarm.network().now_us();
    SwarmPeer& joiner = swarm.add(config, {0}, true, swarm.random_model());
    REQUIRE(swarm.run_until([&] { return joiner.host.started; }, 5));
    for (const auto& line : joiner.log) UNSCOPED_INFO(line);
    CHECK(joiner.host.downloaded);
    CHECK(swarm.network().now_us() - added_us < 100'000);
  }
}

TEST_CASE("training driver: a joiner that asks before the seed's trainer has published gets the model as soon as "
          "it does",
          "[runtime][training]") {
  // `starling peer` listens while its data loads, so a joiner can ask for the
  // model before the seed's trainer has made a step. Found on real peers: the
  // seed answered "nothing to serve", and the joiner asked again a second
  // later (the refusal's back-off, then the next neighbour check).
  for (std::uint64_t seed : {21, 22, 23, 24}) {
    Swarm swarm(seed);
    SwarmConfig config = SwarmConfig{};
    config.compressor = *compress::CompressorSpec::parse("sign");
    config.step_every_ms = 2;
    SwarmConfig loading = config;
    loading.host_serving = false;  // its data is still loading: no step, no parameters
    SwarmPeer& first = swarm.add(loading, {}, false, swarm.random_model());
    first.host.stepping = false;
    SwarmPeer& joiner = swarm.add(config, {0}, true, swarm.random_model());
    swarm.run_for_ms(1700 + 100 * (seed - 21));
    CHECK_FALSE(joiner.host.started);
    CHECK(joiner.training()->status().state == "downloading");
    const std::uint64_t resumed_us = swarm.network().now_us();
    first.host.stepping = true;
    first.host.serving = true;
    REQUIRE(swarm.run_until([&] { return joiner.host.started; }, 5));
    for (const auto& line : joiner.log) UNSCOPED_INFO(line);
    CHECK(joiner.host.downloaded);
    // No step yet: the seed's model as it started, rounded to bf16 (the download's precision).
    CHECK(joiner.host.first_model == first.host.first_model.unaryExpr([](float v) { return node::bf16_round(v); }));
    CHECK(swarm.network().now_us() - resumed_us < 50'000);
  }
}

// Regression: a link refused for a model mismatch is closed by a 200 ms timer
// that captured `this` and was never cancelled; `starling peer` destroys the
// driver on shutdown while the loop keeps running to finish the leave, so the
// timer fired on freed memory (ASan: heap-use-after-free).
TEST_CASE("training driver: stopped inside the close window of a refused link, no timer outlives it",
          "[runtime][training]") {
  Swarm swarm(17);
  SwarmConfig a;
  a.compressor = *compress::CompressorSpec::parse("none");
  SwarmConfig b = a;
  b.model = "another-model";
  swarm.add(a, {}, false, swarm.random_model());
  swarm.add(b, {0}, false, swarm.random_model());
  auto refused = [&] {
    for (const auto& peer : swarm.peers) {
      for (const auto& line : peer->log)
        if (line.find("refusing a link") != std::string::npos) return true;
    }
    return false;
  };
  // Small steps, so we stop well inside the 200 ms window.
  REQUIRE(swarm.network().run_until(refused, 10 * kSecondUs, 50'000'000));
  for (auto& peer : swarm.peers) {
    peer->slot = nullptr;
    peer->node.reset();  // the transport lives on, as the loop does in `starling peer`
    CHECK(peer->ledger->pending_timers() == 0);
  }
  swarm.run_for(2);  // the loop keeps running to finish the leave
}

// On-delta mixing pulls one link at a time: the radius must still come from
// the median over the links (their last norms), not from the one link alone,
// whose own norm would never clip it. Pairwise mixing is checked with
// training below (two attackers): without training to undo it, the ~10
// clipped pulls an attacker gets before its trust falls leave honest pairwise
// peers 0.7 of the model's norm away, at pull weight 1/2 where
// neighbourhood's is 1/4 (docs/learning.md, "Robust aggregation").
TEST_CASE("training driver: clipping bounds what a byzantine neighbour does to honest peers", "[runtime][training]") {
  const Mixing mixing = GENERATE(Mixing::neighbourhood, Mixing::on_delta);
  INFO("mixing " << to_string(mixing));
  auto honest_damage = [mixing](ClipMode clip) {
    Swarm swarm(16);
    SwarmConfig config;
    config.compressor = *compress::CompressorSpec::parse("none");
    config.clip = clip;
    config.mixing = mixing;
    build_swarm(swarm, config, 4);
    REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(2); }, 20));
    swarm.run_for(10);  // honest consensus, and the adaptive radius learns normal corrections
    Eigen::VectorXf honest_mean = Eigen::VectorXf::Zero(kDimension);
    for (int i = 0; i < 3; ++i) honest_mean += swarm.peers[std::size_t(i)]->host.x / 3.0f;
    swarm.peers[3]->training()->set_byzantine(ByzantineMode::scaled_deltas, -20.0);
    swarm.run_for(10);
    double damage = 0.0;
    for (int i = 0; i < 3; ++i)
      damage = std::max(damage, double((swarm.peers[std::size_t(i)]->host.x - honest_mean).norm() / honest_mean.norm()));
    return damage;
  };
  const double unclipped = honest_damage(ClipMode::off);
  const double clipped = honest_damage(ClipMode::adaptive);
  INFO("relative damage to honest peers: clipping off " << unclipped << ", adaptive " << clipped);
  CHECK(unclipped > 1.0);
  CHECK(clipped < 0.2);
  CHECK(clipped * 10 < unclipped);
}

TEST_CASE("training driver: a member asking for the model without reading makes us queue at most the backlog limit",
          "[runtime][training][limits]") {
  Swarm swarm(17);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("none");
  config.model_chunk_bytes = 1000;
  config.max_link_backlog_bytes = 8000;
  SwarmPeer& server = swarm.add(config, {}, false, swarm.random_model());
  swarm.run_for(1);
  auto flooder = swarm.raw_member("flooder", server, "test-model");
  REQUIRE(swarm.run_until([&] { return flooder->connected; }, 5));
  // What the server sends the flooder crawls (1 kB/s), and the flooder asks
  // for 200 chunks at once: unbounded, that is 200 kB queued.
  LinkFaults slow;
  slow.bandwidth_bytes_per_second = 1000;
  swarm.network().faults().set_outbound(server.address, slow);
  for (int k = 0; k < 200; ++k) {
    wire::ModelRequest request;
    request.max_bytes = 1000;
    flooder->send(wire::Message{request});
  }
  swarm.run_for(2);
  const TrainingDriverStatus status = server.training()->status();
  INFO("served " << status.model_bytes_served << " bytes, refused " << status.model_requests_refused);
  // The limit plus one chunk, plus the link's own frames (hello, snapshot).
  CHECK(status.model_bytes_served <= config.max_link_backlog_bytes + config.model_chunk_bytes);
  CHECK(status.model_requests_refused >= 150);
}

TEST_CASE("training driver: at most max_downloads_served joiners are served at once, the others hear busy",
          "[runtime][training][limits]") {
  Swarm swarm(18);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("none");
  config.model_chunk_bytes = 1000;
  SwarmPeer& server = swarm.add(config, {}, false, swarm.random_model());
  swarm.run_for(1);
  std::vector<std::unique_ptr<RawMember>> joiners;
  for (int k = 0; k < 5; ++k)
    joiners.push_back(swarm.raw_member("joiner" + std::to_string(k), server, "test-model", false, nullptr, true));
  REQUIRE(swarm.run_until([&] {
    return std::all_of(joiners.begin(), joiners.end(), [](const auto& j) { return j->connected; });
  }, 5));
  for (auto& joiner : joiners) {
    wire::ModelRequest request;
    request.max_bytes = 1000;
    joiner->send(wire::Message{request});
  }
  REQUIRE(swarm.run_until([&] {
    return std::all_of(joiners.begin(), joiners.end(), [](const auto& j) { return !j->chunks.empty(); });
  }, 5));
  std::vector<RawMember*> served, refused;
  for (const auto& joiner : joiners) {
    REQUIRE(joiner->chunks.size() == 1);
    if (joiner->chunks[0].total > 0) {
      served.push_back(joiner.get());
      CHECK_FALSE(joiner->chunks[0].busy);
    } else {
      refused.push_back(joiner.get());
      CHECK(joiner->chunks[0].busy);  // the server has a model: ask again soon
    }
  }
  REQUIRE(served.size() == 2);  // TrainingDriverOptions::max_downloads_served
  REQUIRE(refused.size() == 3);
  CHECK(server.training()->status().model_requests_refused == 3);
  const auto ask = [&](RawMember& joiner, std::uint64_t offset, std::uint64_t snapshot_id) {
    joiner.chunks.clear();
    wire::ModelRequest request;
    request.max_bytes = 1000;
    request.offset = offset;
    request.snapshot_id = snapshot_id;
    joiner.send(wire::Message{request});
    REQUIRE(swarm.run_until([&] { return !joiner.chunks.empty(); }, 5));
    return joiner.chunks[0];
  };
  // A served joiner keeps its slot between asks, even a slow one (20 s
  // apart): its download's progress is not lost to a newcomer.
  swarm.run_for(20);
  CHECK(ask(*refused[0], 0, 0).total == 0);
  const std::uint64_t snapshot_id = served[0]->chunks[0].snapshot_id;
  const wire::ModelChunk resumed = ask(*served[0], 1000, snapshot_id);
  CHECK(resumed.snapshot_id == snapshot_id);
  CHECK(resumed.total == kDimension * sizeof(float));
  // Its last chunk frees the slot for the next joiner at once.
  const wire::ModelChunk last = ask(*served[0], resumed.total - 1000, resumed.snapshot_id);
  CHECK(last.offset + last.data.size() == resumed.total);
  CHECK(ask(*refused[0], 0, 0).total == kDimension * sizeof(float));
  CHECK(ask(*refused[1], 0, 0).total == 0);
  // A joiner that went quiet for the slot time loses its slot.
  swarm.run_for(36);
  CHECK(ask(*refused[1], 0, 0).total == kDimension * sizeof(float));
  CHECK(ask(*refused[2], 0, 0).total == kDimension * sizeof(float));
}

namespace {

// Six peers trained towards one target; peers 4 and 5 send their model scaled
// by `scale` from 10 s on. Returns the honest peers' worst relative distance
// to the target after 20 s of attack, and the swarm for inspection.
// `peer_defaults`: the compressor and mixing `starling peer` runs by default
// (sign, pairwise) instead of top-k 10% and neighbourhood rounds.
double two_attackers_damage(Swarm& swarm, double scale, bool attack, bool peer_defaults = false,
                            ByzantineMode mode = ByzantineMode::scaled_deltas, ClipMode clip = ClipMode::adaptive) {
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse(peer_defaults ? "sign" : "topk:0.1");
  if (peer_defaults) config.mixing = Mixing::pairwise;
  config.clip = clip;
  std::mt19937_64 random(4);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Eigen::VectorXf target(kDimension);
  for (auto& v : target) v = normal(random);
  for (int i = 0; i < 6; ++i) {
    SwarmPeer& peer = swarm.add(config, i == 0 ? std::vector<int>{} : std::vector<int>{0}, false, target);
    peer.host.target = target;
    peer.host.rate = 0.05f;
    peer.host.noise = 0.01f;
    peer.host.random.seed(std::uint64_t(i) + 100);
  }
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(2); }, 20));
  swarm.run_for(10);
  if (attack) {
    for (int i : {4, 5}) swarm.peers[std::size_t(i)]->training()->set_byzantine(mode, scale);
  }
  swarm.run_for(20);
  double damage = 0.0;
  for (int i = 0; i < 4; ++i) {
    damage = std::max(damage, double((swarm.peers[std::size_t(i)]->host.x - target).norm() / target.norm()));
    // Status measures the distance from the neighbours it mixes with, not
    // from an attacker's copy (at ±1e30 that read NaN).
    const std::optional<double> distance = swarm.peers[std::size_t(i)]->training()->status().consensus_distance;
    INFO("honest peer " << i << " consensus distance " << (distance ? *distance : -1.0));
    CHECK((!distance || std::isfinite(*distance)));
  }
  return damage;
}

// The same swarm with nobody attacking: the spread the attacks are held to.
double fault_free_damage(bool peer_defaults) {
  Swarm swarm(21);
  return two_attackers_damage(swarm, 1.0, false, peer_defaults);
}

}  // namespace

TEST_CASE("training driver: two attackers sending scaled deltas do not move honest peers beyond the fault-free spread",
          "[runtime][training][clip]") {
  // Pairwise sign is what `starling peer` runs: before its pulls measured the
  // one link against the others' norms, 2 scaled attackers of 8 took every
  // honest peer of the byzantine-scaled scenario from 0.87 to 0.10.
  const bool peer_defaults = GENERATE(false, true);
  INFO((peer_defaults ? "sign, pairwise" : "top-k 10%, neighbourhood"));
  const double fault_free = fault_free_damage(peer_defaults);
  // ±1e30: corrections far past the radius, where clipping by taking the
  // excess back off cancelled catastrophically: honest peers ended 1.4e13
  // times the target's norm away (byzantine-mixed: every honest peer diverged).
  for (double scale : {-10.0, 10.0, -1000.0, 1000.0, -1e30, 1e30}) {
    Swarm swarm(21);
    const double damage = two_attackers_damage(swarm, scale, true, peer_defaults);
    INFO("scale " << scale << ": honest peers' worst distance to the target " << damage << ", fault-free "
                  << fault_free);
    CHECK(damage < 2.0 * fault_free + 1e-3);
  }
}

// Inner-product manipulation inside the radius: each attacker sends every
// neighbour its own copy moved against the attacker's progress by `scale`
// median link gaps. Under 3 medians nothing is clipped and trust stays whole;
// what bounds the harm is the radius itself (γ·w·3 gaps a round against the
// honest peers' own progress). Unclipped, a large drift does push them away,
// so the mode is an attack and not a no-op.
TEST_CASE("training driver: two attackers drifting against progress inside the clipping radius stay within the "
          "fault-free spread",
          "[runtime][training][clip]") {
  const bool peer_defaults = GENERATE(false, true);
  INFO((peer_defaults ? "sign, pairwise" : "top-k 10%, neighbourhood"));
  const double fault_free = fault_free_damage(peer_defaults);
  for (double scale : {2.5, 2.9, 50.0}) {
    Swarm swarm(21);
    const double damage = two_attackers_damage(swarm, scale, true, peer_defaults, ByzantineMode::drift_deltas);
    INFO("drift " << scale << ": honest peers' worst distance to the target " << damage << ", fault-free "
                  << fault_free);
    CHECK(damage < 2.0 * fault_free + 1e-3);
  }
  Swarm unclipped(21);
  const double damage =
      two_attackers_damage(unclipped, 50.0, true, peer_defaults, ByzantineMode::drift_deltas, ClipMode::off);
  INFO("drift 50 unclipped: " << damage << ", fault-free " << fault_free);
  CHECK(damage > 4.0 * fault_free);
}

// Under pairwise mixing half of an attacker's pairings are its neighbours'
// requests: it answered those honestly, so only the pulls on its own
// requests were poisoned (session 41's review). Now its replies carry what
// its rounds carry, and nearly every pull an honest peer takes from it is
// past the radius. Random deltas: 100 of 151 and 114 of 154 before (the
// honest replies' pulls were not); scaled x -10 was clipped either way (an
// honest reply moved the copy back from -10x, itself past the radius).
TEST_CASE("training driver: a poisoning attacker's pair replies are poisoned too", "[runtime][training][clip]") {
  const ByzantineMode mode = GENERATE(ByzantineMode::scaled_deltas, ByzantineMode::random_deltas);
  INFO("mode " << int(mode));
  Swarm swarm(29);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("none");
  config.mixing = Mixing::pairwise;
  config.clip = ClipMode::adaptive;
  build_swarm(swarm, config, 3);
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(2); }, 20));
  swarm.run_for(10);  // the radius learns honest corrections
  SwarmPeer& attacker = *swarm.peers[2];
  const gossip::NodeId attacker_id = attacker.membership().membership().self().node_id;
  auto judged = [&](int i) {
    for (const NeighbourStatus& n : swarm.peers[std::size_t(i)]->training()->status().neighbours)
      if (n.node_id == attacker_id) return std::pair{n.trust_rounds, n.corrections_clipped};
    return std::pair<std::uint64_t, std::uint64_t>{0, 0};
  };
  const auto before = std::array{judged(0), judged(1)};
  const std::uint64_t replies_before = attacker.training()->status().pair_mirrors;
  attacker.training()->set_byzantine(mode, mode == ByzantineMode::scaled_deltas ? -10.0 : 10.0);
  swarm.run_for(10);
  CHECK(attacker.training()->status().pair_mirrors > replies_before + 10);  // it did answer requests
  for (int i = 0; i < 2; ++i) {
    const auto [rounds, clipped] = judged(i);
    const std::uint64_t attack_rounds = rounds - before[std::size_t(i)].first;
    const std::uint64_t attack_clipped = clipped - before[std::size_t(i)].second;
    INFO("honest peer " << i << ": " << attack_clipped << " of " << attack_rounds << " pulls from the attacker clipped");
    REQUIRE(attack_rounds >= 10);
    CHECK(double(attack_clipped) >= 0.9 * double(attack_rounds));
  }
}

namespace {

// Runs the two-attacker swarm once and checks every long-lived link of a peer
// the attackers do not outnumber; returns how many attacker links it checked.
int check_clipped_links(std::uint64_t network_seed) {
  Swarm swarm(network_seed);
  two_attackers_damage(swarm, -10.0, true);
  std::vector<gossip::NodeId> attackers;
  for (int i : {4, 5}) attackers.push_back(swarm.peers[std::size_t(i)]->membership().membership().self().node_id);
  auto is_attacker = [&](const NeighbourStatus& n) {
    return std::find(attackers.begin(), attackers.end(), n.node_id) != attackers.end();
  };
  int attacker_links = 0;
  for (int i = 0; i < 4; ++i) {
    const TrainingDriverStatus status = swarm.peers[std::size_t(i)]->training()->status();
    std::size_t ready = 0, attacking = 0;
    for (const NeighbourStatus& n : status.neighbours) {
      ready += n.ready ? 1 : 0;
      attacking += n.ready && is_attacker(n) ? 1 : 0;
    }
    // Identities are random, so is the overlay: a peer whose links the
    // attackers hold the majority of is past what the rule withstands.
    if (2 * attacking > ready) continue;
    for (const NeighbourStatus& n : status.neighbours) {
      if (!n.ready || n.trust_rounds < 40) continue;  // a link that (re)started just now
      const bool attacker = is_attacker(n);
      INFO("peer " << i << " link to " << n.address << (attacker ? " (attacker)" : " (honest)") << ": trust "
                   << n.trust << ", clipped share " << n.clipped_share << ", norm " << n.correction_norm);
      // The log names a neighbour that lost our trust (a warning, once).
      std::size_t said_distrusted = 0;
      for (const auto& event : swarm.peers[std::size_t(i)]->events) {
        if (event.event != "link.distrusted") continue;
        for (const auto& [key, value] : event.fields) said_distrusted += key == "peer" && value == n.address ? 1 : 0;
      }
      if (attacker) {
        ++attacker_links;
        CHECK(n.trust == 0.0);
        CHECK(n.clipped_share > 0.9);
        CHECK(n.corrections_clipped > 20);
        CHECK(said_distrusted >= 1);
      } else {
        CHECK(said_distrusted == 0);
        CHECK(n.trust == 1.0);
        CHECK(n.clipped_share < 0.25);
      }
    }
    CHECK(std::isfinite(status.clip_radius));
  }
  return attacker_links;
}

}  // namespace

TEST_CASE("training driver: a neighbour whose corrections keep being clipped loses its weight, shown in status",
          "[runtime][training][clip]") {
  // The overlay follows the random identities: now and then (1 run in a few
  // hundred) the attackers end up linked only to peers they outnumber, or
  // their links restarted late, and nothing is left to check. Another swarm
  // is then drawn, at most four; every checked link of every swarm must pass.
  int attacker_links = 0;
  for (std::uint64_t seed = 22; seed < 26 && attacker_links < 2; ++seed) attacker_links = check_clipped_links(seed);
  CHECK(attacker_links >= 2);
}

// issue 13, "capped links must not break learning": every peer's upload capped
// far below what a delta per round needs. Deltas of 12 kB (compressor none,
// 3000 floats) every 50 ms want 240 kB/s per link; the cap is 20 kB/s. With
// no training, consensus must still fall and the average hold; before the fix
// links skipped their deltas but still applied their corrections from frozen
// copies, and the pair drifted apart (the same correction every round).
TEST_CASE("training driver: under an upload cap far below the delta rate, consensus still falls and the average holds",
          "[runtime][training][bandwidth]") {
  for (const char* compressor : {"none", "topk:0.1"}) {
    DYNAMIC_SECTION(compressor) {
      Swarm swarm(23);
      SwarmConfig config;
      config.compressor = *compress::CompressorSpec::parse(compressor);
      build_swarm(swarm, config, 4);
      LinkFaults capped;
      capped.bandwidth_bytes_per_second = 20'000;
      for (const auto& peer : swarm.peers) swarm.network().faults().set_outbound(peer->address, capped);
      REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(2); }, 30));
      const Eigen::VectorXf mean_before = swarm.mean();
      const double before = swarm.consensus_distance();
      double worst = before;
      for (int second = 0; second < 60; ++second) {
        swarm.run_for(1);
        worst = std::max(worst, swarm.consensus_distance());
      }
      const double after = swarm.consensus_distance();
      const double drift = double((swarm.mean() - mean_before).norm()) / double(mean_before.norm());
      std::uint64_t resets = 0;
      for (const auto& peer : swarm.peers) resets += peer->training()->status().link_resets;
      INFO(compressor << ": distance " << before << " -> " << after << " (worst " << worst << "), drift " << drift
                      << ", link resets " << resets);
      CHECK(after < before * 1e-2);
      CHECK(worst <= before * 1.01);
      // Each end applies its half of a link's correction in the rounds it
      // sent a delta, and the two ends skip different rounds: the average is
      // kept only up to that mismatch, a small share of the spread (before
      // the fix: 0.31 of it for `none`, and the distance stalled at 0.16x).
      CHECK(drift < 0.15 * std::sqrt(before));
      CHECK(resets == 0);
    }
  }
}
