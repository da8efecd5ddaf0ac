// A command's flags from a TOML file (`starling peer --config FILE`), and the
// effective configuration back as TOML (`--print-config`).
//
// The mapping is generic over the CLI11 options of the command, so a flag
// added later is a config key without touching this code:
// - a key is the long flag name without its leading dashes (`swarm-key`);
// - a flag (no value) is a TOML boolean; a repeatable option (--seed) is a
//   TOML array; an option whose CLI11 type is INT/UINT wants an integer, FLOAT
//   an integer or a float, anything else a string;
// - the option's own checks (ranges, choices) run on file values too;
// - flags given on the command line win over the file.
// Unknown keys, sections and wrong types are errors naming FILE:LINE.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "starling/status.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace starling::apps {

struct ConfigFlags {
  std::string path;           // --config FILE ("" : none)
  bool print = false;         // --print-config
  // Options CLI11 would require on the command line; they may come from the
  // file instead, so they are checked after it is read (check_required).
  std::shared_ptr<std::vector<CLI::Option*>> required = std::make_shared<std::vector<CLI::Option*>>();
};

// Adds --config and --print-config to `app`. Call once, after or before the
// command's other options (required options are relaxed just before parsing).
void add_config_options(CLI::App& app, ConfigFlags& flags);

// Gives every option of `app` not set on the command line its value from the
// TOML file at `path`. Errors (invalid_argument / io): "FILE:LINE: what".
Status apply_config_file(CLI::App& app, const std::filesystem::path& path);

// Options that are required but were set neither on the command line nor in
// the file.
Status check_required(const ConfigFlags& flags);

// The effective configuration of `app` (file + flags + defaults) as TOML that
// apply_config_file accepts back unchanged; every option with its help text
// as a comment, options without a value commented out. `title` heads it.
std::string effective_config_toml(const CLI::App& app, const std::string& title);

// The whole --config/--print-config step of a command, for its run closure:
// applies the file, checks required options, prints the configuration when
// asked. Returns an exit code when the command must stop here (printed, or an
// error already reported on stderr as "`command`: error: ..."), nullopt to run.
// `check`, when given, runs the command's own checks of the values that need
// no file or network after printing: a configuration the command would refuse
// prints, then exits as the command would (2 for a refused value, else 1)
// with the reason, so `--print-config` vouches for what it shows.
std::optional<int> finish_config(CLI::App& app, const ConfigFlags& flags, const std::string& command,
                                 const std::function<Status()>& check = {});

}  // namespace starling::apps
