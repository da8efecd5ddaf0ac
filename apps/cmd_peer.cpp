// `starling peer`: joins (or starts) a swarm, trains its replica on its own
// thread and gossips compressed deltas with its neighbours until SIGINT/SIGTERM/SIGHUP,
// then leaves gracefully. --no-train keeps membership only (a bootstrap node).
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "address_option.h"
#include "commands.h"
#include "config_file.h"
#include "error_output.h"
#include "log_setup.h"
#include "parsed_check.h"
#include "path_option.h"
#include "peer_gossip_options.h"
#include "peer_metrics.h"
#include "peer_status.h"
#include "peer_training.h"
#include "runtime_peer.h"
#include "starling/compress/layout.h"
#include "starling/crypto/keys.h"
#include "starling/gossip/config.h"
#include "starling/node/peer.h"
#include "starling/runtime/data_dir_lock.h"
#include "starling/runtime/event_loop.h"
#include "starling/runtime/incarnation_file.h"
#include "starling/runtime/numeric_address.h"
#include "swarm_key_option.h"

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
  std::string metrics;  // HOST:PORT of the Prometheus endpoint; empty: none
  bool outbound_only = false;
  std::string fault_control_from;  // NODE_ID in hex; empty: no fault injection
  PeerTrainingOptions training;
  LogOptions log;
};

int fail(const std::string& message) {
  print_error("starling peer", message);
  return 1;
}
// A refused option or checkpoint (invalid_argument) exits 2, as in `starling
// train`; other failures to start (a busy port, a damaged file) exit 1.
int fail(const Error& error) {
  print_error("starling peer", error.message);
  return error.kind == ErrorKind::invalid_argument ? 2 : 1;
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

// The checks of run_peer and PeerTraining::prepare that need no file,
// address or network: what `--print-config` runs after printing.
Status check_peer_options(const PeerOptions& options) {
  if (auto config = gossip::config_for_profile(options.profile); !config)
    return make_error(ErrorKind::invalid_argument, "--profile: " + config.error().message);
  if (auto gossip = gossip_driver_options(options.training, compress::Layout::whole(1), {}); !gossip)
    return gossip.error();
  if (options.training.no_train) return ok_status();
  return check_peer_training_options(options.training);
}

int run_peer(const PeerOptions& options) {
  auto log = make_peer_logger(options.log);

  // Everything the user typed is checked before anything starts.
  // Checked by the option already; this is the run's own guard.
  auto listen = parse_listen_address(options.listen);
  if (!listen) return fail(make_error(ErrorKind::invalid_argument, "--listen: " + listen.error().message));
  for (const auto& seed : options.seeds) {  // checked by the option already; this is the run's own guard
    auto parsed = parse_seed_address(seed);
    if (!parsed) return fail("--seed: " + parsed.error().message);
    if (Status same = check_seed_family(*listen, *parsed, seed); !same)
      return fail(make_error(ErrorKind::invalid_argument, "--seed: " + same.error().message));
  }
  if (!options.metrics.empty()) {
    auto parsed = node::parse_address(options.metrics);
    if (!parsed) return fail("--metrics: " + parsed.error().message + " (want IP:PORT, e.g. 127.0.0.1:9464)");
    // The peer binds --listen's TCP port first, so the metrics server would
    // fail with "address in use (another process holds this port)" though
    // the process holding it is this one.
    const bool overlaps = parsed->port == listen->port &&
                          (parsed->host == listen->host || !runtime::unreachable_address_kind(*parsed).empty());
    if (overlaps)
      return fail(make_error(ErrorKind::invalid_argument,
                             "--metrics " + options.metrics + " is the TCP port of this peer's own --listen " +
                                 options.listen + ", which its swarm sessions use: give the metrics another port "
                                 "(9464 is the usual one)"));
  }
  if (options.outbound_only && options.seeds.empty())
    return fail("--outbound-only needs a --seed: nobody can reach this peer to join it");
  auto config = gossip::config_for_profile(options.profile);
  if (!config) return fail("--profile: " + config.error().message);
  // The gossip flags together (each alone was checked as it was read).
  if (auto gossip = gossip_driver_options(options.training, compress::Layout::whole(1), {}); !gossip)
    return fail(gossip.error().message);

  auto loaded_key = load_swarm_key_option(options.swarm_key_path);
  if (!loaded_key) return fail(loaded_key.error().message);
  crypto::SwarmKey swarm_key = std::move(*loaded_key);

  const fs::path data_dir = options.data_dir.empty() ? default_data_dir(*listen) : fs::path(options.data_dir);
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return fail("cannot create data dir " + data_dir.string() + ": " + ec.message());
  fs::permissions(data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  // Held until the process ends: a second peer on this data dir would take
  // the same node id and write the same incarnation file and checkpoint.
  auto data_dir_lock = runtime::DataDirLock::acquire(data_dir);
  if (!data_dir_lock) return fail(data_dir_lock.error().message);
  // The incarnation this peer ran with: a damaged file stops it here, before
  // it could rejoin at a guessed one.
  auto incarnations = runtime::FileIncarnationStore::open(data_dir / "incarnation");
  if (!incarnations) return fail(incarnations.error().message);

  auto identity = load_or_create_identity(options, data_dir, *log);
  if (!identity) {
    return fail("cannot use identity (" + std::string(to_string(identity.error().kind)) +
                "): " + identity.error().message);
  }
  const gossip::NodeId node_id = identity->node_id().bytes();
  set_log_node(*log, options.log, gossip::to_hex(node_id));

  // Training: options checked and the model built before the network starts;
  // the data loads while the peer joins (begin_loading below).
  std::unique_ptr<PeerTraining> training;
  if (!options.training.no_train) {
    auto prepared = PeerTraining::prepare(options.training, data_dir, log);
    if (!prepared) return fail(prepared.error());
    training = std::move(*prepared);
    std::uint64_t batch_seed = options.training.training.seed;
    for (std::size_t i = 0; i < 8; ++i) batch_seed = batch_seed * 131 + node_id[i];
    training->set_batch_seed(batch_seed);
  } else {
    log->info("--no-train: membership only");
  }

  const bool swarm_open = swarm_key.is_open();
  if (swarm_open) {
    log->warn("**************************************************************************");
    log->warn("* NO SWARM KEY: this swarm is OPEN. Anyone who can reach this port can  *");
    log->warn("* join it and read its traffic. Make a key with `starling keygen --swarm *");
    log->warn("* FILE` and start every peer with --swarm-key FILE.                      *");
    log->warn("**************************************************************************");
  } else {
    log->info("swarm key fingerprint {}", swarm_key.fingerprint());
  }

  node::Peer* peer_slot = nullptr;  // outlives the loop: posted closures read it
  runtime::EventLoop loop;
  RuntimePeerConfig peer_config;
  peer_config.listen = *listen;
  peer_config.membership = *config;
  peer_config.incarnations = std::move(*incarnations);
  peer_config.training = training.get();
  peer_config.log = log;
  peer_config.slot = &peer_slot;
  peer_config.outbound_only = options.outbound_only;
  if (!options.fault_control_from.empty()) {
    // Checked as the flag was read (parsed_check below).
    peer_config.fault_control_from = crypto::NodeId::from_hex(options.fault_control_from)->bytes();
    log->warn("fault injection on: the client with node id {} may make this peer drop, delay or corrupt what "
              "it sends (--fault-control-from; starling scenario sets it for its own peers)",
              options.fault_control_from);
  }
  auto made = RuntimePeer::create(loop, std::move(peer_config), std::move(*identity), std::move(swarm_key));
  if (!made) {
    return fail("cannot listen on " + options.listen + ": " + made.error().message +
                (made.error().message.find("in use") != std::string::npos
                     ? " (another process holds this port; pick another --listen port)"
                     : ""));
  }
  std::unique_ptr<RuntimePeer> runtime_peer = std::move(*made);
  node::Peer& peer = runtime_peer->peer();
  node::Transport& transport = runtime_peer->transport();
  std::unique_ptr<runtime::MetricsServer> metrics;
  if (!options.metrics.empty()) {
    auto served = serve_peer_metrics(loop, options.metrics, peer, training.get());
    if (!served) return fail("--metrics: " + served.error().message);
    metrics = std::move(*served);
    log->info("metrics at http://{}/metrics", node::to_string(metrics->address()));
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
          // Before the training thread runs, stop() says why there is no checkpoint.
          log->info("stopping training{}", training->started() ? " (final checkpoint)" : "");
          training->stop();
          log->info("{}", "training stopped");
        }
        // The leave broadcast drains within the profile's leave timeout; a hard
        // deadline above it guarantees we exit.
        transport.start_timer(static_cast<std::uint64_t>(config->leave_timeout_ms) + 2000, [&] {
          log->warn("leave did not complete in time; exiting");
          loop.stop();
        });
        peer.leave([&] {
          log->info("left the swarm; draining");
          transport.start_timer(200, [&] { loop.stop(); });
        });
      });
      !handled) {
    log->warn("no graceful leave on SIGINT/SIGTERM/SIGHUP: {}", handled.error().message);
  }

  int exit_code = 0;
  if (training) {
    // Training cannot go on (the data did not load, the training thread ran
    // out of memory): say why, leave as on a signal, so the others need not
    // time us out, and exit 1.
    auto end_on_training_error = [&](const std::string& message) {
      log->error("{}", message);
      exit_code = 1;
      if (leaving) return;
      leaving = true;
      transport.start_timer(static_cast<std::uint64_t>(config->leave_timeout_ms) + 2000, [&] { loop.stop(); });
      peer.leave([&] { transport.start_timer(200, [&] { loop.stop(); }); });
    };
    training->on_fatal_error([=](const Error& error) { end_on_training_error(error.message + "; leaving the swarm"); });
    training->begin_loading(
        [=](const Error& error) { end_on_training_error(error.message); });
  }
  if (options.seeds.empty()) log->info("no --seed: starting a new swarm");
  const bool joining = !options.seeds.empty();
  peer.start(options.seeds, training ? training->download_on_join(joining) : false);
  log->info("peer {} listening on {} (profile {}, incarnation {}, data dir {})", gossip::to_hex(node_id),
            peer.address(), config->profile, peer.incarnation(), data_dir.string());
  // A progress line every 5 s, with or without training (evaluations follow
  // steps, --eval-every): a quiet membership-only peer logged nothing once
  // it had joined, so its operator could not tell it was still up.
  constexpr std::uint64_t every_ms = 5'000;
  std::function<void()> report_progress = [&] {
    if (leaving) return;
    const node::PeerStatus status = peer.status();
    log->info("{}", training ? training->progress_line(status) : membership_progress_line(status));
    transport.start_timer(every_ms, report_progress);
  };
  transport.start_timer(every_ms, report_progress);

  loop.run();
  metrics.reset();  // no scrape reads the peer from here on
  if (training) {
    training->stop();
    if (const std::optional<std::string> lost = training->final_checkpoint_error()) {
      // The run's model is not on disk: exit 1, so a script or a service
      // manager notices rather than reading a clean stop.
      log->error("the final checkpoint was not written ({}): this run's training since the last checkpoint is lost",
                 *lost);
      exit_code = 1;
    }
  }
  runtime_peer.reset();
  training.reset();
  log->info("stopped");
  return exit_code;
}

}  // namespace

Command add_peer_command(CLI::App& root) {
  auto options = std::make_shared<PeerOptions>();
  CLI::App* app = root.add_subcommand(
      "peer", "Join a swarm (or start one) and train with it until stopped (SIGINT, SIGTERM or SIGHUP leaves gracefully)");
  app->add_option("--listen", options->listen, "Address to listen on (TCP and UDP), e.g. 127.0.0.1:7946")
      ->type_name("HOST:PORT")
      ->check(listen_address_check())
      ->required();
  app->add_option("--seed", options->seeds,
                  "A member to join through, by numeric IP (repeatable; none: start a new swarm)")
      ->type_name("HOST:PORT")
      ->check(seed_address_check());
  app->add_option("--swarm-key", options->swarm_key_path, "Swarm key file (starling keygen --swarm); none: OPEN swarm")
      ->type_name("FILE")
      ->check(non_empty_path_check("an OPEN swarm"));
  app->add_option("--identity", options->identity_path, "Identity file (default: DATA_DIR/identity.key, made if missing)")
      ->type_name("FILE")
      ->check(non_empty_path_check("the default DATA_DIR/identity.key"));
  app->add_option("--data-dir", options->data_dir,
                  "Folder for the identity, incarnation and checkpoints (default: ~/.local/state/starling/peer-PORT)")
      ->type_name("DIR")
      ->check(non_empty_path_check("the default ~/.local/state/starling/peer-PORT"));
  app->add_option("--profile", options->profile, "Membership timing: lan or wan")
      ->check(CLI::IsMember({"lan", "wan"}))
      ->default_str("lan");
  app->add_option("--metrics", options->metrics,
                  "Serve Prometheus metrics at http://HOST:PORT/metrics (docs/metrics.md); none: off")
      ->type_name("HOST:PORT");
  app->add_flag("--outbound-only", options->outbound_only,
                "This host accepts no inbound connection or datagram (NAT, firewall): reach the swarm over "
                "connections it opens (docs/membership.md, \"Outbound-only members\"; needs --seed)");
  app->add_option("--fault-control-from", options->fault_control_from,
                  "Accept fault injection (network faults, byzantine modes, slowdowns) from the client with this "
                  "node id only; `starling scenario` sets it for the peers it runs. none: refused from everyone")
      ->type_name("NODE_ID")
      ->check(parsed_check([](const std::string& text) { return crypto::NodeId::from_hex(text); }, ""));
  add_peer_training_options(*app, options->training);
  add_log_options(*app, options->log);
  auto config = std::make_shared<ConfigFlags>();
  add_config_options(*app, *config);  // every option above is also a config key
  return Command{app, [options, app, config] {
                   if (auto done = finish_config(*app, *config, "starling peer",
                                                 [options] { return check_peer_options(*options); }))
                     return *done;
                   return run_peer(*options);
                 }};
}

}  // namespace starling::apps
