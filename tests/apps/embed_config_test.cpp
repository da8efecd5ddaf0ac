// The embedding API's settings are `starling peer`'s gossip flags, read off
// the options' group (apps/embed_config.cpp): a flag declared in that group
// is a setting at once, a trainer flag is refused, so the two cannot drift.
#include <catch2/catch.hpp>

#include <CLI/CLI.hpp>

#include <string>

#include "embed_config.h"
#include "peer_gossip_options.h"
#include "peer_training.h"

using namespace starling;

TEST_CASE("embed settings: every gossip flag of `starling peer` is a setting, trainer flags are not", "[embed][config]") {
  // Each flag of the gossip group parses as a setting (with a valid value);
  // round-floor and the consensus-control pair were missing from the old
  // hand-written list.
  CLI::App peer_app;
  apps::PeerTrainingOptions options;
  apps::add_peer_training_options(peer_app, options);
  int gossip_flags = 0;
  for (const CLI::Option* option : peer_app.get_options()) {
    const std::string name = option->get_lnames().empty() ? "" : option->get_lnames().front();
    if (option->get_group() != apps::kGossipOptionGroup) {
      if (name == "lr" || name == "data" || name == "model" || name == "eval-every" || name == "resume") {
        auto refused = apps::parse_embed_settings({{name, "1"}});
        REQUIRE_FALSE(refused);
        CHECK_THAT(refused.error().message, Catch::Contains("built-in trainer"));
      }
      continue;
    }
    ++gossip_flags;
    INFO("gossip flag --" << name);
    std::string value = option->get_default_str();
    if (name == "consensus-control") value = "true";
    if (value.empty()) value = "1";  // a flag without a shown default
    auto parsed = apps::parse_embed_settings({{name, value}});
    CHECK(parsed);
  }
  CHECK(gossip_flags >= 12);
  auto parsed = apps::parse_embed_settings({{"round-floor", "7"}, {"consensus-control", "true"}, {"consensus-target", "3"}});
  REQUIRE(parsed);
  CHECK(parsed->training.round_floor_ms == 7);
  CHECK(parsed->training.consensus_control);
  CHECK(parsed->training.consensus_target == 3.0);
  auto off = apps::parse_embed_settings({{"consensus-control", "false"}});
  REQUIRE(off);
  CHECK_FALSE(off->training.consensus_control);
}

// An embedded peer's buffer may hold values bf16 rounding would change
// (counters): it downloads f32 unless the user asks for bf16, where `starling
// peer` asks for bf16 (docs/embedding.md).
TEST_CASE("embed settings: the download is f32 unless download-precision says bf16", "[embed][config]") {
  auto defaults = apps::parse_embed_settings({});
  REQUIRE(defaults);
  CHECK(defaults->training.download_precision == "f32");
  auto driver = apps::gossip_driver_options(defaults->training, compress::Layout::whole(1), {});
  REQUIRE(driver);
  CHECK_FALSE(driver->download_bf16);

  auto asked = apps::parse_embed_settings({{"download_precision", "bf16"}});
  REQUIRE(asked);
  CHECK(asked->training.download_precision == "bf16");
  driver = apps::gossip_driver_options(asked->training, compress::Layout::whole(1), {});
  REQUIRE(driver);
  CHECK(driver->download_bf16);

  for (const char* bad : {"f16", "BF16", "", "bf16 "}) {
    INFO("download-precision '" << bad << "'");
    auto refused = apps::parse_embed_settings({{"download-precision", bad}});
    REQUIRE_FALSE(refused);
    CHECK_THAT(refused.error().message, Catch::Contains("download-precision"));
  }
  apps::PeerTrainingOptions unchecked;  // set in code, past the CLI's check
  unchecked.download_precision = "f16";
  auto refused = apps::gossip_driver_options(unchecked, compress::Layout::whole(1), {});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::invalid_argument);
}

TEST_CASE("embed settings: a flag added to the gossip group later is a setting without another list", "[embed][config]") {
  int later = 0;
  std::string trainer_only;
  const auto add_flags = [&](CLI::App& app) {
    // As another engineer adds a flag to add_peer_training_options.
    app.add_option("--gossip-later", later, "a new gossip flag")->group(apps::kGossipOptionGroup);
    app.add_option("--trainer-later", trainer_only, "a new trainer flag");
  };
  auto parsed = apps::parse_embed_settings({{"gossip-later", "42"}}, add_flags);
  REQUIRE(parsed);
  CHECK(later == 42);
  auto refused = apps::parse_embed_settings({{"trainer-later", "x"}}, add_flags);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message, Catch::Contains("built-in trainer"));
  // The network settings declared by the embedded peer stay keys.
  CHECK(apps::parse_embed_settings({{"listen", "127.0.0.1:0"}, {"seed", "127.0.0.1:1"}, {"profile", "wan"},
                                    {"join-timeout", "5"}, {"download", "false"}}));
}

// The embedded peer advertises its listen address as `starling peer` does: a
// wildcard was accepted and advertised, so every member dialled itself.
// Port 0 stays (a free port, for tests and notebooks).
TEST_CASE("embed settings: a wildcard or multicast listen or seed is refused, port 0 is not", "[embed][config]") {
  for (const char* listen : {"0.0.0.0:0", "[::]:7946", "224.0.0.1:7946"}) {
    INFO(listen);
    auto refused = apps::parse_embed_settings({{"listen", listen}});
    REQUIRE_FALSE(refused);
    CHECK_THAT(refused.error().message, Catch::Contains("give this machine's own address as the others reach it"));
  }
  auto seed = apps::parse_embed_settings({{"listen", "127.0.0.1:0"}, {"seed", "0.0.0.0:7946"}});
  REQUIRE_FALSE(seed);
  CHECK_THAT(seed.error().message, Catch::Contains("names no machine to dial"));
  CHECK(apps::parse_embed_settings({{"listen", "127.0.0.1:0"}}));
  CHECK(apps::parse_embed_settings({{"listen", "[::1]:0"}}));
}

TEST_CASE("embed settings: an empty path is refused, not read as the default", "[embed][config]") {
  // An empty swarm-key was the OPEN swarm, an empty identity or data-dir the default one.
  const std::string name = GENERATE("data-dir", "swarm-key", "identity");
  auto refused = apps::parse_embed_settings({{name, ""}});
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message, Catch::Contains(name) && Catch::Contains("empty path"));
  auto given = apps::parse_embed_settings({{"data_dir", "some/folder"}});
  REQUIRE(given);
  CHECK(given->data_dir == "some/folder");
}
