// The embedding API's settings. See embed_config.h.
#include "embed_config.h"

#include "address_option.h"
#include "config_file.h"
#include "number_checks.h"
#include "path_option.h"
#include "starling/text.h"

#include <CLI/CLI.hpp>

#include <algorithm>

namespace starling::apps {
namespace {

// The options this file declares (network, join) carry this group; with
// the gossip's group they are the keys. The rest of `starling peer`'s flags
// drive its built-in trainer.
constexpr const char* kEmbedOptionGroup = "Embedded peer";

bool is_embed_key(const CLI::Option& option) {
  return option.get_group() == kGossipOptionGroup || option.get_group() == kEmbedOptionGroup;
}

std::string normalised(std::string key) {
  if (key.rfind("--", 0) == 0) key.erase(0, 2);
  std::replace(key.begin(), key.end(), '_', '-');
  if (key == "seeds") key = "seed";
  return key;
}

}  // namespace

Result<EmbedConfig> parse_embed_settings(const std::vector<std::pair<std::string, std::string>>& settings,
                                         const std::function<void(CLI::App&)>& extra) {
  EmbedConfig config;
  // A user's buffer may hold more than weights (counters, step numbers) that
  // bf16 rounding would change: an embedded peer downloads f32 unless told
  // (docs/embedding.md). Set before the options, so --help shows it.
  config.training.download_precision = "f32";
  CLI::App app{"starling embedded peer", "peer"};
  // The same options, names and checks as `starling peer` (apps/cmd_peer.cpp).
  app.add_option("--listen", config.listen)->check(embed_listen_address_check())->group(kEmbedOptionGroup);
  app.add_option("--seed", config.seeds)->check(seed_address_check())->group(kEmbedOptionGroup);
  app.add_option("--swarm-key", config.swarm_key_path)
      ->check(non_empty_path_check("an open swarm"))
      ->group(kEmbedOptionGroup);
  app.add_option("--identity", config.identity_path)
      ->check(non_empty_path_check("the default identity"))
      ->group(kEmbedOptionGroup);
  app.add_option("--data-dir", config.data_dir)
      ->check(non_empty_path_check("the default data dir"))
      ->group(kEmbedOptionGroup);
  app.add_option("--profile", config.profile)->check(CLI::IsMember({"lan", "wan"}))->group(kEmbedOptionGroup);
  add_peer_training_options(app, config.training);
  app.add_option("--join-timeout", config.join_timeout_ms)
      ->check(CLI::Range(std::uint64_t(1), kJoinTimeoutMaxMs))
      ->group(kEmbedOptionGroup);
  std::string download = "true";
  app.add_option("--download", download)->check(CLI::IsMember({"true", "false"}))->group(kEmbedOptionGroup);
  if (extra) extra(app);
  check_numbers(app);

  std::vector<std::string> args;
  std::string config_path;  // "config": a TOML file with the same keys, as `starling peer --config`
  for (const auto& [raw_key, value] : settings) {
    const std::string key = normalised(raw_key);
    if (key == "config") {
      config_path = value;
      continue;
    }
    const CLI::Option* option = app.get_option_no_throw("--" + key);
    if (!option) {
      return make_error(ErrorKind::invalid_argument, "unknown setting " + quoted_text(raw_key) + " (the keys are those of "
                                                     "`starling peer`'s flags, e.g. listen, seed, swarm-key, compress)");
    }
    if (!is_embed_key(*option)) {
      return make_error(ErrorKind::invalid_argument,
                        "setting '" + raw_key + "' drives starling's built-in trainer; an embedded peer trains your "
                        "model in your loop (docs/embedding.md)");
    }
    if (option->get_expected_max() == 0) {
      args.push_back("--" + key + "=" + value);  // a flag: true or false
    } else {
      args.push_back("--" + key);
      args.push_back(value);
    }
  }
  std::reverse(args.begin(), args.end());  // CLI11 parses a vector from its back
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return make_error(ErrorKind::invalid_argument, std::string("bad setting: ") + e.what());
  }
  if (!config_path.empty()) {
    // The settings win over the file, as flags do over `starling peer --config`.
    if (Status applied = apply_config_file(app, config_path); !applied) return applied.error();
    for (const CLI::Option* option : app.get_options()) {
      if (option->count() == 0 || option->get_lnames().empty()) continue;
      const std::string& name = option->get_lnames().front();
      if (!is_embed_key(*option)) {
        return make_error(ErrorKind::invalid_argument,
                          config_path + ": key '" + name + "' drives starling's built-in trainer; an embedded peer "
                          "trains your model in your loop: leave it out of this file (docs/embedding.md)");
      }
    }
  }
  config.download = download == "true";
  return config;
}

}  // namespace starling::apps
