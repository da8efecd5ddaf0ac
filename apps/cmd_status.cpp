// `starling status HOST:PORT`: asks a running peer who it is and whom it sees,
// over a secure session like the peers' own (with an ephemeral identity).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "error_output.h"
#include "number_checks.h"
#include "path_option.h"
#include "starling/runtime/control_client.h"
#include "status_table.h"
#include "swarm_key_option.h"

namespace starling::apps {
namespace {

struct StatusOptions {
  std::string address;
  std::string swarm_key_path;
  bool json = false;
  double timeout_seconds = 5.0;
};

int fail(const std::string& message) {
  print_error("starling status", message);
  return 1;
}

int run_status(const StatusOptions& options) {
  auto address = node::parse_address(options.address);
  if (!address) return fail(address.error().message + " (want IP:PORT of a running peer)");

  auto loaded_key = load_swarm_key_option(options.swarm_key_path);
  if (!loaded_key) return fail(loaded_key.error().message);

  // Cut to the client's longest wait before the cast (1e300 s does not fit).
  const double longest_ms = double(runtime::ControlClient::kMaxExchangeTimeoutMs);
  const auto timeout_ms = static_cast<std::uint64_t>(std::min(options.timeout_seconds * 1000.0, longest_ms));
  runtime::ControlClient client(std::move(*loaded_key));
  auto answer = client.status(*address, timeout_ms);
  if (!answer) return fail(answer.error().message);
  // Written again by us, not passed through: a hostile peer's bytes never
  // reach the terminal or a script as they came.
  const std::string json = status_json(*answer);
  if (json.empty()) return fail("the peer answered with malformed JSON (no JSON object)");
  if (options.json) {
    std::printf("%s\n", json.c_str());
    return 0;
  }
  std::fputs(status_table(nlohmann::json::parse(json)).c_str(), stdout);
  return 0;
}

}  // namespace

Command add_status_command(CLI::App& root) {
  auto options = std::make_shared<StatusOptions>();
  CLI::App* app = root.add_subcommand("status", "Ask a running peer for its view of the swarm");
  app->add_option("address", options->address, "The peer's listen address")->type_name("HOST:PORT")->required();
  app->add_flag("--json", options->json, "Print the peer's answer as one JSON object");
  app->add_option("--swarm-key", options->swarm_key_path, "Swarm key file the peer uses (none: open swarm)")
      ->type_name("FILE")
      ->check(non_empty_path_check("an open swarm"));
  app->add_option("--timeout", options->timeout_seconds, "Seconds to wait for the answer")
      ->check(positive_seconds("24 hours"))
      ->default_str("5");
  return Command{app, [options] { return run_status(*options); }};
}

}  // namespace starling::apps
