// `starling top HOST:PORT`: a live terminal view of a peer and its swarm,
// polled over the control channel exactly as `starling status` asks (an
// ephemeral identity, --swarm-key). top_frame.h draws, top_terminal.h runs.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "commands.h"
#include "error_output.h"
#include "number_checks.h"
#include "path_option.h"
#include "starling/runtime/control_client.h"
#include "swarm_key_option.h"
#include "top_frame.h"
#include "top_terminal.h"

namespace starling::apps {
namespace {

struct TopOptions {
  std::string address;
  std::string swarm_key_path;
  double interval_seconds = 1.0;
  double timeout_seconds = 3.0;
  bool once = false;
};

int fail(const std::string& message) {
  print_error("starling top", message);
  return 1;
}

class ControlSource final : public StatusSource {
 public:
  ControlSource(crypto::SwarmKey key, node::Address address, std::uint64_t timeout_ms)
      : client_(std::move(key)), address_(std::move(address)), timeout_ms_(timeout_ms) {}
  Result<std::string> fetch() override { return client_.status(address_, timeout_ms_); }
  void cancel() override { client_.cancel(); }

 private:
  runtime::ControlClient client_;
  node::Address address_;
  std::uint64_t timeout_ms_;
};

double unix_now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// One frame as plain text. Two answers --interval apart when the peer
// answers, so the frame has rates; exit 1 when it does not answer.
int run_once(const TopOptions& options, ControlSource& source) {
  const double asked = unix_now_seconds();
  Result<std::string> first = source.fetch();
  std::optional<nlohmann::json> previous, current;
  if (first) {
    current = nlohmann::json::parse(*first, nullptr, /*allow_exceptions=*/false);
    std::this_thread::sleep_for(std::chrono::duration<double>(options.interval_seconds));
    Result<std::string> second = source.fetch();
    auto later = second ? nlohmann::json::parse(*second, nullptr, /*allow_exceptions=*/false) : nlohmann::json();
    if (later.is_object()) {
      previous = std::move(current);
      current = std::move(later);
    }
  }
  TopFrameInput input;
  input.address = options.address;
  input.now_unix_seconds = unix_now_seconds();
  input.interval_seconds = options.interval_seconds;
  input.last_answer_unix_seconds = input.now_unix_seconds;
  input.live = false;
  if (current && current->is_object()) {
    input.current = &*current;
    if (previous && previous->is_object()) input.previous = &*previous;
  } else {
    input.error = first ? std::string("the peer answered with malformed JSON") : first.error().message;
    input.unreachable_since_unix_seconds = asked;
  }
  // On a terminal the frame fits it; in a pipe nothing is cut.
  TerminalSize size{1 << 20, 1 << 20};
  terminal_size(STDOUT_FILENO, size);
  input.width = size.width;
  input.height = size.height;
  for (const std::string& line : render_top_frame(input)) std::printf("%s\n", line.c_str());
  return input.error ? 1 : 0;
}

int run_top(const TopOptions& options) {
  auto address = node::parse_address(options.address);
  if (!address) return fail(address.error().message + " (want IP:PORT of a running peer)");
  auto loaded_key = load_swarm_key_option(options.swarm_key_path);
  if (!loaded_key) return fail(loaded_key.error().message);
  // Cut to the client's longest wait before the cast (1e300 s does not fit), as `status` does.
  const double longest_ms = double(runtime::ControlClient::kMaxExchangeTimeoutMs);
  const auto timeout_ms = static_cast<std::uint64_t>(std::min(options.timeout_seconds * 1000.0, longest_ms));
  if (options.once) {
    ControlSource source(std::move(*loaded_key), *address, timeout_ms);
    return run_once(options, source);
  }
  TopLiveOptions live;
  live.address = options.address;
  live.interval_seconds = options.interval_seconds;
  // The key moves into the polling thread's source; the factory runs once.
  auto key = std::make_shared<crypto::SwarmKey>(std::move(*loaded_key));
  live.make_source = [key, address = *address, timeout_ms]() -> std::unique_ptr<StatusSource> {
    return std::make_unique<ControlSource>(std::move(*key), address, timeout_ms);
  };
  return run_top_live(live);
}

}  // namespace

Command add_top_command(CLI::App& root) {
  auto options = std::make_shared<TopOptions>();
  CLI::App* app = root.add_subcommand("top", "Watch a running peer and its swarm live in the terminal (q quits)");
  app->add_option("address", options->address, "The peer's listen address")->type_name("HOST:PORT")->required();
  app->add_option("--swarm-key", options->swarm_key_path, "Swarm key file the peer uses (none: open swarm)")
      ->type_name("FILE")
      ->check(non_empty_path_check("an open swarm"));
  app->add_option("--interval", options->interval_seconds, "Seconds between two polls of the peer")
      ->check(CLI::Range(0.1, 3600.0))
      ->default_str("1");
  app->add_option("--timeout", options->timeout_seconds, "Seconds to wait for each answer")
      ->check(positive_seconds("24 hours"))
      ->default_str("3");
  app->add_flag("--once", options->once,
                "Print one frame as text and exit (two polls --interval apart, for the rates); exit 1 if the peer "
                "does not answer");
  return Command{app, [options] { return run_top(*options); }};
}

}  // namespace starling::apps
