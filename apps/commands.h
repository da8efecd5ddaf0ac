// Subcommands of the `starling` binary. Each lives in its own cmd_*.cpp and
// registers itself on the CLI11 app; main() runs the one that was chosen.
#pragma once

#include <functional>
#include <vector>

namespace CLI {
class App;
}

namespace starling::apps {

struct Command {
  CLI::App* app;              // the CLI11 subcommand
  std::function<int()> run;   // runs it after parsing; returns the exit code
};

Command add_train_command(CLI::App& root);
Command add_eval_command(CLI::App& root);
Command add_export_command(CLI::App& root);
Command add_keygen_command(CLI::App& root);
Command add_init_command(CLI::App& root);
Command add_peer_command(CLI::App& root);
Command add_status_command(CLI::App& root);
Command add_top_command(CLI::App& root);
Command add_scenario_command(CLI::App& root);
Command add_simulate_command(CLI::App& root);

}  // namespace starling::apps
