// `starling peer`'s log: --log-level and --log-format, the spdlog logger on
// stderr they make, and node::Peer's log lines (level, event name, message,
// fields) written through it.
//
// human (default): "2026-12-01T03:04:05.123Z info member joined: ..." as ever.
// json: one object per line, {"timestamp","level","node","event","message",
// "fields"}; lines logged straight through spdlog (not node events) carry the
// event "peer" and no fields. docs/cli.md lists the event names.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "starling/node/peer.h"
#include "starling/status.h"

namespace CLI {
class App;
}

namespace starling::apps {

struct LogOptions {
  std::string level = "info";    // trace | debug | info | warn | error
  std::string format = "human";  // human | json
};

void add_log_options(CLI::App& app, LogOptions& options);

// The peer's logger (stderr), in options' format and level.
std::shared_ptr<spdlog::logger> make_peer_logger(const LogOptions& options);

// The node id (hex) json lines carry from now on (empty before it is known).
void set_log_node(spdlog::logger& logger, const LogOptions& options, const std::string& node_hex);

// One node::Peer log line: human shows the message; json adds the event name
// and the fields.
void log_event(spdlog::logger& logger, node::LogLevel level, std::string_view event, const std::string& message,
               const node::LogFields& fields);

// The json line (without newline) for one record; what the json format writes.
std::string json_log_line(std::chrono::system_clock::time_point time, std::string_view level, std::string_view node,
                          std::string_view event, std::string_view message, const node::LogFields& fields);

}  // namespace starling::apps
