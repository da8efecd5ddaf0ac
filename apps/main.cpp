// starling: a peer-to-peer decentralized trainer.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App root{"starling: peer-to-peer decentralized training with compressed delta gossip"};
  root.require_subcommand(1);
  root.set_version_flag("--version", "starling 0.1.0");

  std::vector<starling::apps::Command> commands = {
      starling::apps::add_train_command(root),
      starling::apps::add_eval_command(root),
      starling::apps::add_keygen_command(root),
      starling::apps::add_peer_command(root),
      starling::apps::add_status_command(root),
      starling::apps::add_scenario_command(root),
  };

  CLI11_PARSE(root, argc, argv);
  for (auto& command : commands) {
    if (command.app->parsed()) {
      try {
        return command.run();
      } catch (const std::exception& e) {
        // Operating errors are handled inside each command; reaching this means
        // something unexpected, which we still report instead of aborting.
        std::fprintf(stderr, "starling: error: %s\n", e.what());
        return 1;
      }
    }
  }
  return 1;
}
