// The training half of `starling peer`. See peer_training.h.
#include "peer_training.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <system_error>
#include <utility>

#include "starling/compress/mlp_layout.h"
#include "starling/gossip/messages.h"
#include "starling/ml/checkpoint.h"

namespace starling::apps {
namespace fs = std::filesystem;

void add_peer_training_options(CLI::App& app, PeerTrainingOptions& o) {
  app.add_flag("--no-train", o.no_train, "Keep membership only (a bootstrap or relay node): no data, no model");
  add_training_options(app, o.training, "--random-seed");
  app.add_option("--compress", o.compress, "Delta compressor: none | topk:F | randk:F | int8 | sign")
      ->capture_default_str();
  app.add_option("--gamma", o.gamma, "Consensus step size (0: the compressor's default, see docs/learning.md)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--clip", o.clip, "Clip each neighbour's correction: auto (adaptive radius) | off | RADIUS")
      ->capture_default_str();
  app.add_option("--neighbours", o.neighbours, "Links this peer dials (others dial it too)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--max-links", o.max_links, "Links kept at most; sets the mixing weight 1/(max-links+1)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--gossip-interval", o.gossip_interval_ms, "Milliseconds between delta rounds")
      ->capture_default_str()
      ->check(CLI::Range(10, 60'000));
  app.add_option("--max-upload", o.max_upload,
                 "Upload budget for the gossip traffic in bytes per second (0: none); membership and status are not "
                 "counted (docs/learning.md, \"Bandwidth\")")
      ->capture_default_str();
  app.add_option("--eval-every", o.eval_every, "Seconds between test-set evaluations (0: never)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--checkpoint-every", o.checkpoint_every,
                 "Seconds between checkpoints to DATA_DIR/model.ckpt (0: only at stop)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e7));
  app.add_flag("--resume", o.resume, "Continue from DATA_DIR/model.ckpt if it exists (no model download)");
}

// ---- the training thread behind the peer's door ------------------------------------------

class PeerTraining::Host : public node::ModelHost {
 public:
  runtime::TrainingWorkerOptions worker_options;  // consumed by start_training
  std::unique_ptr<runtime::TrainingWorker> worker;
  runtime::EventLoop* loop = nullptr;
  node::Peer** slot = nullptr;
  std::shared_ptr<spdlog::logger> log;
  double pending_slowdown = 1.0;
  bool downloaded = false;

  void start_training(const Eigen::VectorXf* initial) override {
    if (worker) return;
    if (initial) {
      worker_options.model->parameters() = *initial;
      downloaded = true;
    }
    runtime::EventLoop* l = loop;
    node::Peer** s = slot;
    // Worker thread -> loop thread: the copy travels in the posted closure.
    worker_options.on_publish = [l, s](Eigen::VectorXf parameters, std::int64_t) {
      l->post([s, parameters = std::move(parameters)]() mutable {
        if (*s) (*s)->on_parameters(std::move(parameters));
      });
    };
    worker_options.on_log = [lg = log](const std::string& message) { lg->warn("training: {}", message); };
    worker = std::make_unique<runtime::TrainingWorker>(std::move(worker_options));
    worker->set_slowdown(pending_slowdown);
    worker->start();
    log->info("training started ({})", downloaded ? "from the downloaded swarm model" : "from our own parameters");
  }
  void request_parameters() override {
    if (worker) worker->request_publish();
  }
  void add_correction(const Eigen::VectorXf& correction) override {
    if (!worker) return;
    if (Status added = worker->add_correction(correction); !added)
      log->warn("dropping a consensus correction: {}", added.error().message);
  }
};

Result<std::unique_ptr<PeerTraining>> PeerTraining::prepare(const PeerTrainingOptions& options,
                                                            const fs::path& data_dir,
                                                            std::shared_ptr<spdlog::logger> log) {
  auto compressor = compress::CompressorSpec::parse(options.compress);
  if (!compressor) return make_error(ErrorKind::invalid_argument, "--compress: " + compressor.error().message);
  node::ClipMode clip = node::ClipMode::adaptive;
  double clip_radius = 0.0;
  if (options.clip == "off") {
    clip = node::ClipMode::off;
  } else if (options.clip != "auto") {
    char* end = nullptr;
    clip_radius = std::strtod(options.clip.c_str(), &end);
    if (end == options.clip.c_str() || *end != '\0' || !(clip_radius > 0.0) || !std::isfinite(clip_radius))
      return make_error(ErrorKind::invalid_argument, "--clip: want auto, off or a positive radius, got '" + options.clip + "'");
    clip = node::ClipMode::fixed;
  }
  if (options.training.threads != 1)
    return make_error(ErrorKind::invalid_argument, "--threads: a peer trains on one thread (run more peers instead)");

  auto setup = prepare_training(options.training);
  if (!setup) return setup.error();

  std::unique_ptr<PeerTraining> self(new PeerTraining());
  self->options_ = options;
  self->log_ = log;
  self->checkpoint_path_ = data_dir / "model.ckpt";
  ml::Mlp& model = *setup->model;
  const compress::Layout layout = compress::layout_for(model);
  const std::string description = "starling-model-1 " + model.spec().to_string() + " inputs " +
                                  std::to_string(model.inputs()) + " classes " + std::to_string(model.classes()) +
                                  " params " + std::to_string(model.parameter_count());

  auto host = std::make_unique<Host>();
  host->log = log;
  runtime::TrainingWorkerOptions& w = host->worker_options;
  w.optimizer = setup->optimizer_config;
  w.schedule = setup->schedule;
  w.schedule.steps_per_epoch =
      std::max<std::int64_t>(1, (std::int64_t(setup->shard.size()) + options.training.batch - 1) / options.training.batch);
  w.shard = std::move(setup->shard);
  w.batch = options.training.batch;
  w.seed = options.training.seed;  // cmd_peer mixes in the node id (set_batch_seed)
  w.eval_every_seconds = options.eval_every;
  w.checkpoint_path = self->checkpoint_path_.string();
  w.checkpoint_every_seconds = options.checkpoint_every;
  w.checkpoint_metadata = {{"data", options.training.data}, {"compress", options.compress}};
  w.data_mean = setup->data_mean;
  w.data_std = setup->data_std;
  w.data = std::make_shared<const ml::TrainTest>(std::move(setup->data));

  if (options.resume) {
    std::error_code ec;
    if (fs::exists(self->checkpoint_path_, ec)) {
      auto loaded = ml::load_checkpoint(self->checkpoint_path_.string());
      if (!loaded) return make_error(loaded.error().kind, "--resume: " + loaded.error().message);
      if (loaded->spec.to_string() != model.spec().to_string() || loaded->inputs != model.inputs() ||
          loaded->classes != model.classes()) {
        return make_error(ErrorKind::invalid_argument, "--resume: " + self->checkpoint_path_.string() + " holds model " +
                                                           loaded->spec.to_string() + ", not " +
                                                           model.spec().to_string() + " on this data");
      }
      log->info("resuming from {} at step {}", self->checkpoint_path_.string(), loaded->step);
      w.resume = std::move(*loaded);
      self->resumed_ = true;
    } else {
      log->warn("--resume: no checkpoint at {} yet; starting fresh", self->checkpoint_path_.string());
    }
  }
  w.model = std::move(setup->model);

  node::TrainingDriverOptions& d = self->driver_options_;
  d.layout = layout;
  d.compressor = *compressor;
  d.model_hash = node::model_hash(description);
  d.gamma = float(options.gamma);
  d.neighbours = std::size_t(options.neighbours);
  d.max_links = std::size_t(options.max_links);
  d.round_interval_ms = std::uint64_t(options.gossip_interval_ms);
  d.upload_budget.bytes_per_second = options.max_upload;
  d.clip = clip;
  d.clip_radius = clip_radius;
  self->host_ = std::move(host);
  return self;
}

PeerTraining::~PeerTraining() { stop(); }

void PeerTraining::set_batch_seed(std::uint64_t seed) { host_->worker_options.seed = seed; }

node::ModelHost& PeerTraining::host() { return *host_; }

void PeerTraining::attach(runtime::EventLoop& loop, node::Peer** slot) {
  slot_ = slot;
  host_->loop = &loop;
  host_->slot = slot;
}

bool PeerTraining::download_on_join(bool joining) const {
  if (resumed_ && joining) log_->info("resumed from a checkpoint: not downloading the swarm's model");
  return joining && !resumed_;
}

void PeerTraining::stop() {
  if (host_ && host_->worker) host_->worker->stop();  // joins; writes the final checkpoint
  if (slot_) *slot_ = nullptr;
}

void PeerTraining::apply(const wire::TrainingControl& control) {
  const double slowdown = std::isfinite(control.slowdown) ? std::max(1.0, control.slowdown) : 1.0;
  host_->pending_slowdown = slowdown;
  if (host_->worker) host_->worker->set_slowdown(slowdown);
  log_->warn("control: slowdown x{:.1f}, byzantine mode {} (scale {})", slowdown, int(control.byzantine),
             control.byzantine_scale);
}

namespace {

nlohmann::json number_or_null(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json PeerTraining::status_json(const node::PeerStatus& status) const {
  runtime::TrainingProgress progress;
  if (host_->worker) progress = host_->worker->progress();
  const node::TrainingDriverStatus d = status.training ? *status.training : node::TrainingDriverStatus{};
  const node::TransportStats& stats = status.transport;
  nlohmann::json neighbours = nlohmann::json::array();
  for (const auto& n : d.neighbours) {
    neighbours.push_back({{"node_id", gossip::to_hex(n.node_id)},
                          {"address", n.address},
                          {"outbound", n.outbound},
                          {"ready", n.ready},
                          {"link_epoch", n.link_epoch},
                          {"tracking_error", n.tracking_error},
                          {"deltas_sent", n.deltas_sent},
                          {"deltas_received", n.deltas_received},
                          {"resets", n.resets},
                          {"correction_norm", number_or_null(n.correction_norm)},
                          {"trust_rounds", n.trust_rounds},
                          {"corrections_clipped", n.corrections_clipped},
                          {"clipped_share", n.clipped_share},
                          {"trust", n.trust}});
  }
  std::string state = progress.state;
  if (d.state == "downloading") state = "downloading";
  if (!host_->worker && d.state != "downloading") state = "starting";
  return {{"state", state},
          {"error", progress.error},
          {"step", progress.step},
          {"samples", progress.samples},
          {"epoch", progress.epoch},
          {"train_loss", number_or_null(progress.train_loss)},
          {"test_accuracy", progress.evaluated ? number_or_null(progress.test_accuracy) : nlohmann::json(nullptr)},
          {"test_loss", progress.evaluated ? number_or_null(progress.test_loss) : nlohmann::json(nullptr)},
          {"evaluated_at_step", progress.evaluated_at_step},
          {"steps_per_second", progress.steps_per_second},
          {"slowdown", progress.slowdown_factor},
          {"bytes_sent", stats.bytes_sent},
          {"bytes_received", stats.bytes_received},
          {"gossip_bytes_sent", d.delta_bytes_sent},
          {"upload_budget_bytes_per_second", d.upload_budget_bytes_per_second},
          {"upload_bytes_per_second", d.upload_bytes_per_second},
          {"upload_tokens", d.upload_tokens},
          {"deltas_skipped_queue", d.deltas_skipped_queue},
          {"deltas_skipped_budget", d.deltas_skipped_budget},
          {"deltas_shrunk", d.deltas_shrunk},
          {"rounds", d.rounds},
          {"deltas_sent", d.deltas_sent},
          {"deltas_received", d.deltas_received},
          {"link_resets", d.link_resets},
          {"corrections_clipped", d.corrections_clipped},
          {"clip_radius", number_or_null(d.clip_radius)},
          {"own_displacement", d.own_displacement},
          {"links_distrusted", d.links_distrusted},
          {"corrections_applied", progress.corrections_applied},
          {"model_bytes_downloaded", d.model_bytes_downloaded},
          {"model_bytes_served", d.model_bytes_served},
          {"model_requests_refused", d.model_requests_refused},
          {"consensus_distance", d.consensus_distance ? nlohmann::json(*d.consensus_distance) : nlohmann::json(nullptr)},
          {"compressor", driver_options_.compressor.to_string()},
          {"gamma", d.gamma},
          {"mixing_weight", d.mixing_weight},
          {"checkpoints_written", progress.checkpoints_written},
          {"neighbours", std::move(neighbours)}};
}

std::string PeerTraining::progress_line(const node::PeerStatus& status) const {
  runtime::TrainingProgress progress;
  if (host_->worker) progress = host_->worker->progress();
  const node::TrainingDriverStatus d = status.training ? *status.training : node::TrainingDriverStatus{};
  std::size_t ready = 0;
  for (const auto& n : d.neighbours) ready += n.ready ? 1 : 0;
  if (d.state == "downloading") return "downloading the swarm's model from a neighbour";
  return fmt::format("step {} ({:.2f} epochs, {:.0f} steps/s) | train loss {:.4f} | test accuracy {} | links {}/{} ready | "
                     "consensus distance {}",
                     progress.step, progress.epoch, progress.steps_per_second, progress.train_loss,
                     progress.evaluated ? fmt::format("{:.2f}%", 100.0 * progress.test_accuracy) : std::string("-"),
                     ready, d.neighbours.size(),
                     d.consensus_distance ? fmt::format("{:.2e}", *d.consensus_distance) : std::string("-"));
}

void apply_fault_control(const wire::FaultControl& control, node::FaultPolicy& policy, const std::string& self_key,
                         const node::MembershipDriver& membership, spdlog::logger& log) {
  node::LinkFaults faults;
  faults.drop_probability = control.drop_probability;
  faults.duplicate_probability = control.duplicate_probability;
  faults.delay_us = std::uint64_t(control.delay_ms) * 1000;
  faults.jitter_us = std::uint64_t(control.jitter_ms) * 1000;
  faults.bandwidth_bytes_per_second = control.bandwidth_bytes_per_second;
  auto address_of = [&](const wire::NodeId& id) -> std::optional<std::string> {
    if (!membership.started()) return std::nullopt;
    const gossip::MemberRecord* record = membership.membership().find(id);
    if (!record) return std::nullopt;
    return record->address;
  };
  if (control.peer) {
    auto address = address_of(*control.peer);
    if (!address) {
      log.warn("fault control: unknown peer {}; ignored", gossip::to_hex(*control.peer));
      return;
    }
    policy.set_link(self_key, *address, faults);
  } else {
    policy.set_default(faults);
  }
  // The runner's own connection (status answers) stays perfect: the faults
  // are for the swarm, not for the observer.
  policy.set_link(self_key, node::kControlPeerLabel, node::LinkFaults{});
  policy.heal();
  for (const auto& id : control.partitioned_from) {
    auto address = address_of(id);
    if (!address) {
      log.warn("fault control: cannot partition from unknown peer {}", gossip::short_hex(id));
      continue;
    }
    policy.block(self_key, *address);
  }
  log.warn("fault control: drop {:.0f}%, delay {} ms (+{} ms jitter), duplicate {:.0f}%, bandwidth {} B/s, "
           "blocked towards {} peers{}",
           100 * control.drop_probability, control.delay_ms, control.jitter_ms, 100 * control.duplicate_probability,
           control.bandwidth_bytes_per_second, control.partitioned_from.size(),
           control.peer ? " (one link)" : "");
}

}  // namespace starling::apps
