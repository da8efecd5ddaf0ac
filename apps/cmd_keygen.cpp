// `starling keygen`: makes the swarm key and identity files a peer starts with,
// and checks existing ones.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "commands.h"
#include "error_output.h"
#include "path_option.h"
#include "starling/crypto/keys.h"
#include "starling/text.h"

namespace starling::apps {
namespace {

struct KeygenOptions {
  std::string swarm_path;
  std::string identity_path;
  std::string check_path;
  bool force = false;
};

int report(const Error& error) {
  std::fprintf(stderr, "starling keygen: error (%s): %s\n", to_string(error.kind), printable(error.message).c_str());
  return 1;
}

crypto::Overwrite overwrite_mode(const KeygenOptions& options) {
  return options.force ? crypto::Overwrite::yes : crypto::Overwrite::no;
}

// A key file that could not be written. Where FILE exists, --force replaces
// a regular file only: the hint says so only where it would help.
int report_not_saved(const Error& error, const std::string& path, const KeygenOptions& options) {
  if (options.force || error.kind != ErrorKind::invalid_argument) return report(error);
  std::error_code ignored;
  const std::filesystem::file_status status = std::filesystem::status(path, ignored);
  if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    print_error("starling keygen", path + " is a " +
                                       (std::filesystem::is_directory(status) ? "folder" : "special file") +
                                       ", not a key file: give the path of the file to write");
    return 1;
  }
  print_error("starling keygen", error.message + " (pass --force to replace it)");
  return 1;
}

int make_swarm_key(const KeygenOptions& options) {
  crypto::SwarmKey key = crypto::SwarmKey::generate();
  if (Status saved = key.save(options.swarm_path, overwrite_mode(options)); !saved)
    return report_not_saved(saved.error(), options.swarm_path, options);
  std::printf("wrote swarm key to %s (mode 0600)\nfingerprint: %s\n", options.swarm_path.c_str(),
              key.fingerprint().c_str());
  std::printf("give this file only to swarm members, over a secure channel\n");
  return 0;
}

int make_identity(const KeygenOptions& options) {
  crypto::Identity identity = crypto::Identity::generate();
  if (Status saved = identity.save(options.identity_path, overwrite_mode(options)); !saved)
    return report_not_saved(saved.error(), options.identity_path, options);
  std::printf("wrote identity to %s (mode 0600)\nnode id: %s\n", options.identity_path.c_str(),
              identity.node_id().to_hex().c_str());
  return 0;
}

// Loads a key file of either kind and says what it holds.
int check_key_file(const KeygenOptions& options) {
  Result<crypto::SwarmKey> swarm = crypto::SwarmKey::load(options.check_path);
  if (swarm.ok()) {
    std::printf("%s: swarm key, fingerprint %s\n", options.check_path.c_str(), swarm->fingerprint().c_str());
    return 0;
  }
  // A swarm-key load refuses an identity file as invalid_argument: try that.
  if (swarm.error().kind != ErrorKind::invalid_argument) return report(swarm.error());
  Result<crypto::Identity> identity = crypto::Identity::load(options.check_path);
  if (!identity.ok()) return report(identity.error());
  std::printf("%s: identity, node id %s\n", options.check_path.c_str(), identity->node_id().to_hex().c_str());
  return 0;
}

}  // namespace

Command add_keygen_command(CLI::App& root) {
  auto options = std::make_shared<KeygenOptions>();
  CLI::App* app = root.add_subcommand("keygen", "Create a swarm key or an identity file (mode 0600), or check one");
  CLI::Option_group* what = app->add_option_group("action", "what keygen does");
  what->add_option("--swarm", options->swarm_path, "Write a new random swarm key to FILE")
      ->type_name("FILE")
      ->check(non_empty_path_check());
  what->add_option("--identity", options->identity_path, "Write a new Ed25519 identity to FILE and print its node id")
      ->type_name("FILE")
      ->check(non_empty_path_check());
  what->add_option("--check", options->check_path, "Load FILE (swarm key or identity) and print what it holds")
      ->type_name("FILE")
      ->check(non_empty_path_check());
  what->require_option(1);
  app->add_flag("--force", options->force, "Replace FILE if it already exists");

  return Command{app, [options] {
                   if (!options->swarm_path.empty()) return make_swarm_key(*options);
                   if (!options->identity_path.empty()) return make_identity(*options);
                   return check_key_file(*options);
                 }};
}

}  // namespace starling::apps
