// `starling status HOST:PORT`: asks a running peer who it is and whom it sees,
// over a secure session like the peers' own (with an ephemeral identity).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "json_numbers.h"
#include "path_option.h"
#include "swarm_key_option.h"
#include "starling/runtime/control_client.h"

namespace starling::apps {
namespace {

struct StatusOptions {
  std::string address;
  std::string swarm_key_path;
  bool json = false;
  double timeout_seconds = 5.0;
};

int fail(const std::string& message) {
  std::fprintf(stderr, "starling status: error: %s\n", message.c_str());
  return 1;
}

std::string short_id(const std::string& hex) { return hex.substr(0, 12); }

// The readable form: who answered, then one line per member.
void print_table(const nlohmann::json& status) {
  std::printf("node      %s\n", status.value("node_id", "?").c_str());
  std::printf("address   %s\n", status.value("address", "?").c_str());
  std::printf("uptime    %.1f s   incarnation %llu   health %d   %s\n",
              number_as<double>(status, "uptime_seconds").value_or(0.0),
              static_cast<unsigned long long>(number_as<std::uint64_t>(status, "incarnation").value_or(0)),
              number_as<int>(status, "health_score").value_or(0),
              status.value("joined", false) ? "joined" : "not joined yet");
  std::printf("traffic   %llu bytes sent, %llu received, %llu datagrams rejected\n",
              static_cast<unsigned long long>(number_as<std::uint64_t>(status, "bytes_sent").value_or(0)),
              static_cast<unsigned long long>(number_as<std::uint64_t>(status, "bytes_received").value_or(0)),
              static_cast<unsigned long long>(number_as<std::uint64_t>(status, "datagrams_rejected").value_or(0)));
  const auto members = status.value("members", nlohmann::json::array());
  std::printf("\n%-14s %-24s %-8s %11s %9s\n", "MEMBER", "ADDRESS", "STATE", "INCARNATION", "SINCE(s)");
  for (const auto& member : members) {
    std::printf("%-14s %-24s %-8s %11llu %9.1f\n", short_id(member.value("node_id", "?")).c_str(),
                member.value("address", "?").c_str(), member.value("state", "?").c_str(),
                static_cast<unsigned long long>(number_as<std::uint64_t>(member, "incarnation").value_or(0)),
                number_as<double>(member, "state_age_seconds").value_or(0.0));
  }
  std::printf("(%zu other member%s)\n", members.size(), members.size() == 1 ? "" : "s");
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
  if (options.json) {
    std::printf("%s\n", answer->c_str());
    return 0;
  }
  auto parsed = nlohmann::json::parse(*answer, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) return fail("the peer answered with malformed JSON");
  print_table(parsed);
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
      ->check(CLI::PositiveNumber)
      ->default_str("5");
  return Command{app, [options] { return run_status(*options); }};
}

}  // namespace starling::apps
