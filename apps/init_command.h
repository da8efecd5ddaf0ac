// `starling init DIR` as a function (cmd_init.cpp), so tests and later
// installers can call it without the binary.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "starling/status.h"

namespace starling::apps {

struct InitOptions {
  std::filesystem::path dir;
  // The packaged config's default (packaging/starling.toml): a one-machine
  // swarm until changed. 0.0.0.0, the old default, is refused (the peer
  // advertises its listen address: address_option.h).
  std::string listen = "127.0.0.1:7946";
  std::vector<std::string> seeds;
  std::string swarm_key;  // "" : make a new one
};

struct InitPaths {
  std::filesystem::path dir;  // absolute
  std::filesystem::path config;
  std::filesystem::path swarm_key;
  std::filesystem::path identity;
};
InitPaths init_paths(const std::filesystem::path& dir);

struct InitReport {
  InitPaths paths;
  std::string node_id;      // hex
  std::string fingerprint;  // of the swarm key
};

// Writes DIR/starling.toml, DIR/swarm.key and DIR/identity.key. Refuses
// (invalid_argument) when any of them exists; leaves nothing behind on error.
Result<InitReport> init_machine(const InitOptions& options);

}  // namespace starling::apps
