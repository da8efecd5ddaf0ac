// `starling peer`: joins (or starts) a swarm, trains its replica on its own
// thread and gossips compressed deltas with its neighbours until SIGINT/SIGTERM,
// then leaves gracefully. --no-train keeps membership only (a bootstrap node).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "commands.h"
#include "json_text.h"
#include "peer_status.h"
#include "peer_training.h"
#include "swarm_key_option.h"
#include "starling/crypto/keys.h"
#include "starling/gossip/config.h"
#include "starling/runtime/crypto_security.h"
#include "starling/runtime/event_loop.h"
#include "starling/runtime/transport.h"
#include "starling/node/hostile_membership.h"
#include "starling/node/training_driver.h"
#include "starling/node/membership_driver.h"
#include "starling/node/record_authority.h"
#include "starling/runtime/uv_transport.h"

namespace starling::apps {
namespace {

namespace fs = std::filesystem;

struct PeerOptions {
  std::string listen;
  std::vector<std::string> seeds;
  std::string swarm_key_path;
  std::string identity_path;
  std::string data_dir;
  std::string profile = "lan";
  PeerTrainingOptions training;
};

int fail(const std::string& message) {
  std::fprintf(stderr, "starling peer: error: %s\n", message.c_str());
  return 1;
}

// Where a peer keeps its identity and incarnation when --data-dir is not given:
// one folder per listen port, so peers on one machine do not share a name.
fs::path default_data_dir(const node::Address& listen) {
  const char* state = std::getenv("XDG_STATE_HOME");
  const char* home = std::getenv("HOME");
  fs::path base = state && *state ? fs::path(state) : fs::path(home && *home ? home : ".") / ".local" / "state";
  return base / "starling" / ("peer-" + std::to_string(listen.port));
}

// The identity: --identity FILE, else DATA_DIR/identity.key, made on first start.
Result<crypto::Identity> load_or_create_identity(const PeerOptions& options, const fs::path& data_dir,
                                                 spdlog::logger& log) {
  if (!options.identity_path.empty()) return crypto::Identity::load(options.identity_path);
  const fs::path path = data_dir / "identity.key";
  std::error_code ec;
  if (fs::exists(path, ec)) return crypto::Identity::load(path);
  crypto::Identity identity = crypto::Identity::generate();
  if (auto saved = identity.save(path); !saved) return saved.error();
  log.info("created identity {} (mode 0600)", path.string());
  return identity;
}

// The incarnation we ran with last time, if any.
std::optional<std::uint64_t> read_incarnation(const fs::path& path) {
  std::ifstream in(path);
  std::uint64_t value = 0;
  if (in >> value) return value;
  return std::nullopt;
}

// Written atomically (temp file + rename), so a crash never leaves half a number.
bool write_incarnation(const fs::path& path, std::uint64_t incarnation) {
  const fs::path temp = path.string() + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << incarnation << '\n';
    if (!out.flush()) return false;
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  return !ec;
}

void log_event(spdlog::logger& log, const gossip::Event& event) {
  const std::string who = gossip::short_hex(event.member.node_id) + " (" + event.member.address + ", incarnation " +
                          std::to_string(event.member.incarnation) + ")";
  switch (event.kind) {
    case gossip::EventKind::joined_swarm: log.info("joined the swarm"); break;
    case gossip::EventKind::join_retry:
      log.warn("no seed answered yet; retrying in {} ms (seeds unreachable, or not started yet)",
               event.retry_after_ms);
      break;
    case gossip::EventKind::member_joined: log.info("member joined: {}", who); break;
    case gossip::EventKind::member_suspected:
      log.warn("member suspected: {} by {}", who, gossip::short_hex(event.source));
      break;
    case gossip::EventKind::member_recovered: log.info("member recovered: {}", who); break;
    case gossip::EventKind::member_dead: log.warn("member dead: {}", who); break;
    case gossip::EventKind::member_left: log.info("member left: {}", who); break;
    case gossip::EventKind::member_reaped: log.info("member forgotten: {}", who); break;
    case gossip::EventKind::self_refuted:
      log.warn("refuted a suspicion about us; incarnation now {}", event.member.incarnation);
      break;
  }
}

int run_peer(const PeerOptions& options) {
  auto log = std::make_shared<spdlog::logger>("peer", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  log->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);

  // Everything the user typed is checked before anything starts.
  auto listen = node::parse_address(options.listen);
  if (!listen) return fail("--listen: " + listen.error().message + " (want IP:PORT, e.g. 127.0.0.1:7946)");
  if (listen->port == 0) return fail("--listen: give a port other than 0; others reach this peer at it");
  for (const auto& seed : options.seeds) {
    auto parsed = node::parse_address(seed);
    if (!parsed) return fail("--seed: " + parsed.error().message + " (want IP:PORT)");
  }
  auto config = gossip::config_for_profile(options.profile);
  if (!config) return fail("--profile: " + config.error().message);

  auto loaded_key = load_swarm_key_option(options.swarm_key_path);
  if (!loaded_key) return fail(loaded_key.error().message);
  crypto::SwarmKey swarm_key = std::move(*loaded_key);

  const fs::path data_dir = options.data_dir.empty() ? default_data_dir(*listen) : fs::path(options.data_dir);
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return fail("cannot create data dir " + data_dir.string() + ": " + ec.message());
  fs::permissions(data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);

  auto identity = load_or_create_identity(options, data_dir, *log);
  if (!identity) {
    return fail("cannot use identity (" + std::string(to_string(identity.error().kind)) +
                "): " + identity.error().message);
  }
  const gossip::NodeId node_id = identity->node_id().bytes();

  // Training: options checked and data loaded before the network starts.
  std::unique_ptr<PeerTraining> training;
  if (!options.training.no_train) {
    log->info("loading {} ...", options.training.training.data);
    auto prepared = PeerTraining::prepare(options.training, data_dir, log);
    if (!prepared) return fail(prepared.error().message);
    training = std::move(*prepared);
    std::uint64_t batch_seed = options.training.training.seed;
    for (std::size_t i = 0; i < 8; ++i) batch_seed = batch_seed * 131 + node_id[i];
    training->set_batch_seed(batch_seed);
  } else {
    log->info("--no-train: membership only");
  }

  const fs::path incarnation_path = data_dir / "incarnation";
  const std::optional<std::uint64_t> last_incarnation = read_incarnation(incarnation_path);
  const std::uint64_t initial_incarnation = last_incarnation ? *last_incarnation + 1 : 0;

  node::TrainingDriver* training_slot = nullptr;  // outlives the loop: posted closures read it
  runtime::EventLoop loop;
  auto faults = std::make_shared<node::FaultPolicy>(std::mt19937_64(std::random_device{}()));
  const std::string self_key = node::to_string(*listen);
  runtime::UvTransportOptions transport_options;
  transport_options.faults = faults;
  transport_options.name = self_key;
  transport_options.limits.idle_timeout_ms = 30'000;  // connections here are short-lived
  auto record_authority = node::make_record_authority(identity->clone());
  transport_options.security = runtime::make_crypto_security(std::move(*identity), swarm_key.clone());
  std::unique_ptr<node::Transport> transport = runtime::make_uv_transport(loop, std::move(transport_options));

  const bool swarm_open = swarm_key.is_open();
  // Scenario fault injection: lies or floods in the membership messages this
  // peer sends, when a TrainingControl asks for it; inert otherwise.
  // Declared before the driver, which calls it, so it outlives it.
  node::HostileMembershipOptions hostile_options;
  hostile_options.random_seed = std::random_device{}();
  hostile_options.authority = record_authority;  // a liar signs its own accusations
  node::HostileMembership hostile(hostile_options);
  std::unique_ptr<node::MembershipDriver> driver;
  node::MembershipDriverOptions driver_options;
  driver_options.config = *config;
  driver_options.random_seed = std::random_device{}();
  driver_options.on_event = [&](const gossip::Event& event) { log_event(*log, event); };
  driver_options.on_log = [&](node::DriverLogLevel level, const std::string& message) {
    switch (level) {
      case node::DriverLogLevel::info: log->info("{}", message); break;
      case node::DriverLogLevel::warning: log->warn("{}", message); break;
      case node::DriverLogLevel::error: log->error("{}", message); break;
    }
  };
  driver_options.on_incarnation = [&](std::uint64_t incarnation) {
    if (!write_incarnation(incarnation_path, incarnation))
      log->warn("cannot write {}: a restart may rejoin below our incarnation", incarnation_path.string());
  };
  driver_options.rewrite_outgoing = [&](const gossip::Outgoing& outgoing) {
    if (!hostile.active()) return std::vector<gossip::Outgoing>{outgoing};
    return hostile.rewrite(outgoing, driver->view());
  };
  driver_options.status_json = [&] {
    nlohmann::json status = status_json(*driver, *transport, swarm_open);
    if (hostile.active()) status["membership_fault"] = node::to_string(hostile.mode());
    if (training) status["training"] = training->status_json(*transport);
    return to_json_text(status);
  };
  driver_options.on_control = [&](const wire::Message& control) {
    if (const auto* fault = std::get_if<wire::FaultControl>(&control)) {
      apply_fault_control(*fault, *faults, self_key, *driver, *log);
    } else if (const auto* train = std::get_if<wire::TrainingControl>(&control)) {
      const auto mode = train->byzantine == wire::ByzantineMode::membership_lies    ? node::HostileMembershipMode::lies
                        : train->byzantine == wire::ByzantineMode::membership_flood ? node::HostileMembershipMode::flood
                                                                                    : node::HostileMembershipMode::none;
      if (mode != hostile.mode()) {
        hostile.set_mode(mode);
        log->warn("control: membership fault {} (this peer now {} on purpose)", node::to_string(mode),
                  mode == node::HostileMembershipMode::none ? "tells the truth again" : "misbehaves");
      }
      if (training) training->apply(*train);
      else if (mode == node::HostileMembershipMode::none)
        log->warn("training control ignored: this peer does not train (--no-train)");
    }
  };
  route_training(driver_options, &training_slot);
  driver = std::make_unique<node::MembershipDriver>(*transport, std::move(driver_options));

  auto bound = transport->listen(*listen);
  if (!bound) {
    driver.reset();
    transport.reset();
    return fail("cannot listen on " + options.listen + ": " + bound.error().message +
                (bound.error().message.find("in use") != std::string::npos
                     ? " (another process holds this port; pick another --listen port)"
                     : ""));
  }

  if (swarm_key.is_open()) {
    log->warn("**************************************************************************");
    log->warn("* NO SWARM KEY: this swarm is OPEN. Anyone who can reach this port can  *");
    log->warn("* join it and read its traffic. Make a key with `starling keygen --swarm *");
    log->warn("* FILE` and start every peer with --swarm-key FILE.                      *");
    log->warn("**************************************************************************");
  } else {
    log->info("swarm key fingerprint {}", swarm_key.fingerprint());
  }

  bool leaving = false;
  if (auto handled = loop.on_shutdown_signal([&](int signal_number) {
        if (leaving) {
          log->warn("second signal: exiting without waiting for the leave to spread");
          loop.stop();
          return;
        }
        leaving = true;
        log->info("signal {}: leaving the swarm", signal_number);
        if (training) {
          log->info("stopping training (final checkpoint)");
          training->stop();
          log->info("{}", "training stopped");
        }
        // The leave broadcast drains within the profile's leave timeout; a hard
        // deadline above it guarantees we exit.
        transport->start_timer(static_cast<std::uint64_t>(config->leave_timeout_ms) + 2000, [&] {
          log->warn("leave did not complete in time; exiting");
          loop.stop();
        });
        driver->leave([&] {
          log->info("left the swarm; draining");
          transport->start_timer(200, [&] { loop.stop(); });
        });
      });
      !handled) {
    log->warn("no graceful leave on SIGINT/SIGTERM: {}", handled.error().message);
  }

  gossip::Identity self;
  self.node_id = node_id;
  self.address = node::to_string(*bound);
  self.initial_incarnation = initial_incarnation;
  self.authority = std::move(record_authority);
  log->info("peer {} listening on {} (profile {}, incarnation {}, data dir {})", gossip::to_hex(node_id),
            self.address, config->profile, initial_incarnation, data_dir.string());
  if (options.seeds.empty()) log->info("no --seed: starting a new swarm");
  driver->start(std::move(self), options.seeds);
  std::function<void()> report_progress;
  if (training) {
    training->start(loop, *transport, *driver, &training_slot, !options.seeds.empty());
    const auto every_ms = static_cast<std::uint64_t>(std::max(2.0, training->eval_every_seconds()) * 1000);
    report_progress = [&, every_ms] {
      if (leaving) return;
      log->info("{}", training->progress_line());
      transport->start_timer(every_ms, report_progress);
    };
    transport->start_timer(every_ms, report_progress);
  }

  loop.run();
  if (training) training->stop();
  training.reset();
  driver.reset();
  transport->shutdown();
  transport.reset();
  log->info("stopped");
  return 0;
}

}  // namespace

Command add_peer_command(CLI::App& root) {
  auto options = std::make_shared<PeerOptions>();
  CLI::App* app = root.add_subcommand(
      "peer", "Join a swarm (or start one) and train with it until stopped (SIGINT/SIGTERM leaves gracefully)");
  app->add_option("--listen", options->listen, "Address to listen on (TCP and UDP), e.g. 127.0.0.1:7946")
      ->type_name("HOST:PORT")
      ->required();
  app->add_option("--seed", options->seeds, "A member to join through (repeatable; none: start a new swarm)")
      ->type_name("HOST:PORT");
  app->add_option("--swarm-key", options->swarm_key_path, "Swarm key file (starling keygen --swarm); none: OPEN swarm")
      ->type_name("FILE");
  app->add_option("--identity", options->identity_path, "Identity file (default: DATA_DIR/identity.key, made if missing)")
      ->type_name("FILE");
  app->add_option("--data-dir", options->data_dir,
                  "Folder for the identity, incarnation and checkpoints (default: ~/.local/state/starling/peer-PORT)")
      ->type_name("DIR");
  app->add_option("--profile", options->profile, "Membership timing: lan or wan")
      ->check(CLI::IsMember({"lan", "wan"}))
      ->default_str("lan");
  add_peer_training_options(*app, options->training);
  return Command{app, [options] { return run_peer(*options); }};
}

}  // namespace starling::apps
