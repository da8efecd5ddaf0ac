// The embedding API's settings (starling/embed.h) read with the very option
// set of `starling peer`: the same CLI11 options (network flags here, the
// gossip flags from add_peer_training_options), so a key means what the flag
// means, with the same checks and messages. Each key/value pair becomes
// `--key value` (a flag: `--key=true|false`); flags of the built-in trainer are
// refused, since an embedded peer trains the caller's model.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "peer_training.h"
#include "starling/status.h"

namespace starling::apps {

// The longest join: the join-timeout setting's bound and join()'s (24 h).
inline constexpr std::uint64_t kJoinTimeoutMaxMs = 24ull * 3600 * 1000;

struct EmbedConfig {
  std::string listen = "127.0.0.1:0";
  std::vector<std::string> seeds;
  std::string swarm_key_path;
  std::string identity_path;
  std::string data_dir;
  std::string profile = "lan";
  PeerTrainingOptions training;  // only the gossip fields are read
  std::uint64_t join_timeout_ms = 60'000;
  bool download = true;
};

// Errors: invalid_argument, with the key and CLI11's reason. The keys: the
// network options declared here and add_peer_training_options' flags of the
// group kGossipOptionGroup. `extra` adds options before parsing (tests: a
// flag added to the peer later).
Result<EmbedConfig> parse_embed_settings(const std::vector<std::pair<std::string, std::string>>& settings,
                                         const std::function<void(CLI::App&)>& extra = {});

}  // namespace starling::apps
