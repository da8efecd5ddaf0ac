// The check of options that name a file or folder and have a default when
// left out (--data-dir, --swarm-key, --identity): an empty value is refused
// like any bad flag (exit 105; from a --config file, exit 1 naming
// FILE:LINE), where it used to read as "not given" and fall back to the
// default without a word (`--data-dir "$UNSET_VARIABLE"`).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace starling::apps {

// `without_it`: what leaving the option out gives, for the message
// ("the default ~/.local/state/starling/peer-PORT").
CLI::Validator non_empty_path_check(const std::string& without_it);
// For a path with no default (an input, an output): "give one".
CLI::Validator non_empty_path_check();

}  // namespace starling::apps
