// Why a scenario's peer process ended at start, read from its log: the line
// to quote in the runner's report.
#pragma once

#include <filesystem>
#include <string>

namespace starling::apps {

// The line of the peer's last life (after the runner's last "==== starling
// scenario:" marker) that says what went wrong: the last one that names an
// error, else the last one that is not CLI11's "Run with --help for more
// information." hint (which follows each of its own messages). "" when the
// log holds nothing of that life.
std::string peer_exit_reason(const std::filesystem::path& log);

}  // namespace starling::apps
