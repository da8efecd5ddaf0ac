// `--name=` with nothing after the '='.
//
// CLI11 2.1 reads such an argument as `--name` without a value and takes the
// next argument as the value, so `peer --data-dir= --print-config` ran a peer
// whose data dir was a folder named "--print-config". split_empty_values
// turns each `--name=` into the two arguments `--name` and "", so the option's
// own check sees the empty value the user typed (an empty path is refused,
// a number names the option). Arguments after a bare `--` are kept as they
// are.
#pragma once

#include <string>
#include <vector>

namespace starling::apps {

std::vector<std::string> split_empty_values(int argc, const char* const* argv);

}  // namespace starling::apps
