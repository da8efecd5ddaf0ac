// The training half of `starling peer`. See peer_training.h.
#include "peer_training.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <system_error>
#include <utility>

#include "blas_startup.h"
#include "peer_checkpoint.h"
#include "peer_gossip_options.h"
#include "peer_status.h"
#include "runtime_peer.h"
#include "starling/compress/mlp_layout.h"
#include "starling/compress/spec.h"
#include "starling/node/momentum_default.h"
#include "starling/gossip/messages.h"
#include "starling/ml/checkpoint.h"

namespace starling::apps {
namespace fs = std::filesystem;

// ---- the training thread behind the peer's door ------------------------------------------

// node::Peer's ModelHost is the StepHandoff (the hand-off the embedding API
// serves too); the TrainingWorker thread serves it at its step boundaries.
// What `starling peer` adds on top lives here: the worker's launch when the
// node starts training (from the join download, taken from the hand-off),
// the local average's round trip, the slowdown control.
class PeerTraining::Host {
 public:
  runtime::TrainingWorkerOptions worker_options;  // consumed by start()
  std::shared_ptr<runtime::StepHandoff> handoff;
  std::unique_ptr<runtime::TrainingWorker> worker;
  runtime::EventLoop* loop = nullptr;
  node::Peer** slot = nullptr;
  std::shared_ptr<spdlog::logger> log;
  std::function<void(const Error&)> on_fatal;  // PeerTraining::on_fatal_error
  double pending_slowdown = 1.0;
  bool downloaded = false;
  // The data arrives after the network is up (PeerTraining::begin_loading):
  // a start the node asks for before that waits for it.
  bool data_ready = false;
  bool load_failed = false;  // on_failure heard why: stop() has nothing to add
  bool start_wanted = false;
  bool stopped = false;
  int batch_in_use = 0;  // what the worker steps with, once the data is in (install); 0: not yet
  std::string checkpoint_path;
  RunLayout layout;  // recorded in the checkpoints and checked on --resume: complete once install()ed

  // Loop thread (or before the loop runs): the loaded data goes to the worker.
  // A checkpoint to resume must have been written with the batch and shard
  // size this data makes (known only now): else invalid_argument, and the
  // data is dropped.
  Status install(TrainingData&& data, int asked_batch) {
    const int batch = effective_batch(asked_batch, data.shard.size());
    layout.batch = batch;
    layout.shard_samples = data.shard.size();
    if (worker_options.resume) {
      std::vector<std::string> unrecorded;  // said by prepare()
      if (Status same = check_resume_layout(checkpoint_path, worker_options.resume->metadata, layout, unrecorded);
          !same)
        return same;
      if (auto differs = data_difference(*worker_options.resume, data.data_mean, data.data_std)) {
        return make_error(ErrorKind::invalid_argument,
                          "--resume: checkpoint " + checkpoint_path + " holds " + differs->first + "; this run has " +
                              differs->second + ": resume with the checkpoint's --data, or drop --resume (the peer "
                              "then starts from the swarm's model, or its own, and replaces it)");
      }
    }
    for (auto& [key, value] : run_metadata(layout)) worker_options.checkpoint_metadata[key] = value;
    if (batch != asked_batch) {
      log->info("--batch {} is more than the {} training samples of this shard: each step takes all {}", asked_batch,
                data.shard.size(), batch);
    }
    worker_options.batch = batch;
    batch_in_use = batch;
    worker_options.schedule.steps_per_epoch =
        std::max<std::int64_t>(1, (std::int64_t(data.shard.size()) + batch - 1) / batch);
    worker_options.shard = std::move(data.shard);
    worker_options.data_mean = data.data_mean;
    worker_options.data_std = data.data_std;
    worker_options.data = std::make_shared<const ml::TrainTest>(std::move(data.data));
    data_ready = true;
    if (start_wanted && !stopped) start();
    return ok_status();
  }

  void make_handoff(std::size_t parameter_count) {
    runtime::StepHandoffOptions h;
    h.parameter_count = parameter_count;
    // Worker thread -> loop thread: the copy travels in the posted closure.
    // The Host outlives every closure the loop runs (PeerTraining is reset
    // after the loop ends).
    // loop and slot are set by attach() (after this, before the worker
    // thread starts), so the sink is made per publish (once per round).
    h.publish = [this](Eigen::VectorXf parameters, std::int64_t step) {
      publish_to_loop([l = loop](std::function<void()> work) { l->post(std::move(work)); }, slot)(std::move(parameters),
                                                                                                 step);
    };
    h.on_start = [this] { start(); };
    h.on_log = [this](const std::string& message) { log->warn("{}", message); };
    handoff = std::make_shared<runtime::StepHandoff>(std::move(h));
  }

  // Loop thread, when the node starts training (StepHandoff::start_training).
  void start() {
    if (stopped) return;
    if (worker) {
      resume_after_failure();
      return;
    }
    if (!data_ready) {
      start_wanted = true;
      log->info("training waits for the data to load");
      return;
    }
    if (auto initial = handoff->take_initial()) {
      worker_options.model->parameters() = std::move(*initial);
      downloaded = true;
    }
    runtime::EventLoop* l = loop;
    node::Peer** s = slot;
    worker_options.handoff = handoff;
    worker_options.on_log = [lg = log](const std::string& message) { lg->warn("training: {}", message); };
    // Worker thread -> loop thread (the driver's link copies live there) ->
    // worker: the vector travels in the closures and is averaged in place.
    worker_options.on_local_average_wanted = [this, l, s](Eigen::VectorXf parameters, std::int64_t step) {
      l->post([this, s, step, parameters = std::move(parameters)]() mutable {
        if (!worker) return;
        std::size_t neighbours = 0;
        node::TrainingDriver* driver = *s ? (*s)->training() : nullptr;
        Result<std::size_t> averaged = driver ? driver->local_average(parameters)
                                              : Result<std::size_t>(make_error(ErrorKind::disconnected, "no peer"));
        if (averaged) {
          neighbours = *averaged;
        } else {
          parameters = Eigen::VectorXf();  // "none this time": the next evaluation asks again
        }
        (void)worker->evaluate_local_average(std::move(parameters), step, neighbours);
      });
    };
    // A failed replica's last model must pull on nobody: the driver closes
    // its links (docs/learning.md, "A replica that fails").
    worker_options.on_failed = [this, l](const std::string& why) { l->post([this, why] { on_failed(why); }); };
    // Out of memory (or a bug) on the training thread: no recovery would
    // fare better in this process, so the caller ends the peer.
    worker_options.on_fatal = [this, l](const std::string& why) {
      l->post([this, why] {
        if (!stopped && on_fatal) on_fatal(make_error(ErrorKind::overloaded, why));
      });
    };
    worker = std::make_unique<runtime::TrainingWorker>(std::move(worker_options));
    if (const runtime::TrainingProgress made = worker->progress(); made.state == "failed") {
      // It would never start (a checkpoint prepare() let through that the
      // loop refuses): said and ended, not a peer gossiping an idle model.
      if (on_fatal) on_fatal(make_error(ErrorKind::invalid_argument, "cannot start training: " + made.error));
      return;
    }
    worker->set_slowdown(pending_slowdown);
    worker->start();
    log->info("training started ({})", downloaded ? "from the downloaded swarm model" : "from our own parameters");
  }

  // Loop thread: the worker's training failed. The node withdraws from
  // gossip at once (our model must pull on nobody), then joins again a few
  // times: it downloads a neighbour's model and start() resumes the worker
  // from it (node::Peer::on_training_failed; docs/learning.md, "A replica
  // that fails").
  void on_failed(const std::string& why) {
    node::Peer* peer = slot ? *slot : nullptr;
    if (stopped || !peer || !peer->training()) return;
    peer->on_training_failed(why, [this] { handoff->rearm(); });
  }

  // Loop thread, from start(): the node's new download is in (or none came).
  void resume_after_failure() {
    std::optional<Eigen::VectorXf> initial = handoff->take_initial();
    if (Status resumed = worker->restart(initial ? &*initial : nullptr); !resumed) {
      log->error("cannot resume training after the failure: {}", resumed.error().message);
      return;
    }
    log->info("training again ({})",
              initial ? "from a neighbour's model" : "from our last finite parameters: no neighbour served a model");
  }
};

Status check_peer_training_options(const PeerTrainingOptions& options) {
  if (options.training.threads != 1)
    return make_error(ErrorKind::invalid_argument, "--threads: a peer trains on one thread (run more peers instead)");
  if (auto eval_every = parse_eval_every(options.eval_every); !eval_every) return eval_every.error();
  return check_training_options(options.training);
}

Result<std::unique_ptr<PeerTraining>> PeerTraining::prepare(const PeerTrainingOptions& options,
                                                            const fs::path& data_dir,
                                                            std::shared_ptr<spdlog::logger> log) {
  // The gossip flags were checked by run_peer before the data dir was made
  // (gossip_driver_options with a stand-in layout); below they are turned
  // into the driver's options with the model's layout.
  // Before the data is probed: `--classes 1` used to be reported as a label
  // of the data that did not fit one class.
  if (Status checked = check_peer_training_options(options); !checked) return checked.error();
  auto eval_every = parse_eval_every(options.eval_every);
  if (!eval_every) return eval_every.error();
  if (options.neighbours > options.max_links)  // not an error: scenario files raise neighbours alone
    log->warn("--neighbours {} is above --max-links {}: this peer keeps at most {} links (dialled and accepted)",
              options.neighbours, options.max_links, options.max_links);
  // The checkpoint file before any data loads or the network starts: it used
  // to fail (a folder, a read-only one) or overwrite (a `train` checkpoint, any
  // file) only at the first checkpoint, a minute or an hour in.
  const fs::path checkpoint_path = data_dir / "model.ckpt";
  std::string notice;
  if (Status target = check_peer_checkpoint_target(checkpoint_path.string(), options.resume, notice); !target)
    return target.error();
  if (!notice.empty()) log->warn("{}", notice);
  if (const std::size_t removed = ml::remove_stale_temporaries(checkpoint_path.string()); removed > 0)
    log->info("removed {} temporary file(s) that checkpoint writes cut short (a killed peer) left in {}", removed,
              data_dir.string());

  // The model's shape from the data's headers; the data itself loads once
  // the network is up (begin_loading). Text formats have no header: they
  // load here.
  auto probed = ml::probe_dataset(options.training.data, options.training.classes);
  if (!probed) return probed.error();
  std::optional<TrainingData> loaded_now;
  ml::DatasetShape shape;
  if (*probed) {
    shape = **probed;
  } else {
    log->info("loading {} ...", options.training.data);
    auto data = check_options_and_load(options.training);
    if (!data) return data.error();
    if (!data->label_warning.empty()) log->warn("{}: {}", options.training.data, data->label_warning);
    shape = shape_of(*data);
    keep_only_shard(*data);
    loaded_now = std::move(*data);
  }
  auto setup = prepare_model(options.training, shape);
  if (!setup) return setup.error();
  std::unique_ptr<PeerTraining> self(new PeerTraining());
  self->options_ = options;
  self->log_ = log;
  self->checkpoint_path_ = checkpoint_path;
  ml::Mlp& model = *setup->model;
  const compress::Layout layout = compress::layout_for(model);
  const std::string description = ml::model_description(model.spec(), model.inputs(), model.classes());

  auto host = std::make_unique<Host>();
  host->log = log;
  runtime::TrainingWorkerOptions& w = host->worker_options;
  w.optimizer = setup->optimizer_config;
  if (options.momentum_mode.empty()) {
    auto compressor = compress::CompressorSpec::parse(options.compress);
    if (!compressor) return compressor.error();
    w.optimizer.momentum_mode = node::default_momentum_mode(compressor->kind);
  } else if (auto mode = ml::OptimizerConfig::parse_momentum_mode(options.momentum_mode); mode) {
    w.optimizer.momentum_mode = *mode;
  } else {
    return mode.error();
  }
  w.optimizer.absorb_share = options.absorb_share;
  w.schedule = setup->schedule;
  w.batch = options.training.batch;
  w.seed = options.training.seed;  // cmd_peer mixes in the node id (set_batch_seed)
  w.eval_every_steps = *eval_every;
  w.local_average_every = options.local_average_every;
  w.checkpoint_path = self->checkpoint_path_.string();
  w.checkpoint_every_seconds = options.checkpoint_every;
  // The local average needs the loop thread's link copies: the final one is
  // written there (stop()), the periodic ones hold the own model.
  self->export_local_average_ = options.export_model == "local-average";
  w.final_checkpoint = !self->export_local_average_;
  w.checkpoint_metadata = {{"data", options.training.data}, {"compress", options.compress}};
  self->shape_ = shape;
  self->shard_spec_ = setup->shard_spec;
  self->partition_ = setup->partition;
  host->checkpoint_path = checkpoint_path.string();
  host->layout = peer_run_layout(options.training, setup->shard_spec, setup->partition);

  if (options.resume) {
    std::error_code ec;
    if (fs::exists(checkpoint_path, ec) && fs::file_size(checkpoint_path, ec) > 0) {
      auto loaded = ml::load_checkpoint(checkpoint_path.string());
      if (!loaded) return make_error(loaded.error().kind, "--resume: " + loaded.error().message);
      // What can be checked before the data loads; the batch and the shard's
      // size once it has (Host::install).
      std::vector<std::string> unrecorded;
      if (Status same = check_peer_resume(checkpoint_path.string(), *loaded, model, w.optimizer, host->layout,
                                          unrecorded);
          !same)
        return same.error();
      if (!unrecorded.empty()) {
        std::string keys;
        for (const auto& key : unrecorded) keys += (keys.empty() ? "" : ", ") + key;
        log->warn("--resume: checkpoint {} does not record its run's {} (an older starling wrote it): taking this "
                  "run's", checkpoint_path.string(), keys);
      }
      w.resume = std::move(*loaded);
      self->resumed_ = true;
    } else {
      log->warn("--resume: no checkpoint at {} yet; starting fresh", checkpoint_path.string());
    }
  }
  if (loaded_now) {
    if (Status installed = host->install(std::move(*loaded_now), options.training.batch); !installed)
      return installed.error();
  }
  if (w.resume) log->info("resuming from {} at step {}", checkpoint_path.string(), w.resume->step);
  w.model = std::move(setup->model);
  host->make_handoff(w.model->parameter_count());

  // The same gossip options as an embedded peer's (peer_gossip_options.h).
  auto driver = gossip_driver_options(options, layout, node::model_hash(description));
  if (!driver) return driver.error();
  driver->model_shape = ml::model_shape(model.spec(), model.inputs(), model.classes());
  self->driver_options_ = std::move(*driver);
  self->host_ = std::move(host);
  return self;
}

PeerTraining::~PeerTraining() { stop(); }

void PeerTraining::set_batch_seed(std::uint64_t seed) { host_->worker_options.seed = seed; }

node::ModelHost& PeerTraining::host() { return *host_->handoff; }

void PeerTraining::on_fatal_error(std::function<void(const Error&)> handler) { host_->on_fatal = std::move(handler); }

void PeerTraining::attach(runtime::EventLoop& loop, node::Peer** slot) {
  slot_ = slot;
  host_->loop = &loop;
  host_->slot = slot;
}

bool PeerTraining::download_on_join(bool joining) const {
  if (resumed_ && joining) log_->info("resumed from a checkpoint: not downloading the swarm's model");
  return joining && !resumed_;
}

void PeerTraining::begin_loading(std::function<void(const Error&)> on_failure) {
  if (host_->data_ready || loader_.joinable() || !host_->loop) return;
  runtime::EventLoop* loop = host_->loop;
  Host* host = host_.get();
  const int batch = options_.training.batch;
  log_->info("loading {} ...", options_.training.data);
  loader_ = std::thread([loop, host, batch, on_failure = std::move(on_failure), training = options_.training,
                         shard = shard_spec_, partition = partition_, shape = shape_, log = log_] {
    Result<TrainingData> data = make_error(ErrorKind::io, "not loaded");
    try {
      data = load_training_data(training, shard, partition);
    } catch (const std::exception& e) {  // bad_alloc on a data set too big for this host
      data = make_error(ErrorKind::overloaded, std::string("loading the data failed: ") + e.what());
    }
    Status shaped = data ? check_shape(*data, shape) : Status(data.error());
    if (!shaped) {
      loop->post([host, on_failure, error = shaped.error()] {
        host->load_failed = true;
        on_failure(make_error(error.kind, "cannot load the training data: " + error.message));
      });
      return;
    }
    log->info("loaded {}: {} training samples ({} in this shard, the only ones kept), {} test samples",
              training.data, data->train_samples, data->shard.size(), data->data.test.size());
    if (!data->label_warning.empty()) log->warn("{}: {}", training.data, data->label_warning);
    keep_only_shard(*data);
    // The loop thread owns the worker's options: the data travels in the closure.
    auto moved = std::make_shared<TrainingData>(std::move(*data));
    loop->post([host, batch, moved, on_failure] {
      if (Status installed = host->install(std::move(*moved), batch); !installed) {
        host->load_failed = true;
        on_failure(installed.error());
      }
    });
  });
}

void PeerTraining::stop() {
  const bool data_was_ready = host_ && host_->data_ready;  // before the join: a late load is dropped
  if (loader_.joinable()) loader_.join();  // a load in flight finishes (its result is then dropped)
  if (host_) host_->stopped = true;
  if (host_ && host_->worker) {
    host_->worker->stop();  // joins; writes the final checkpoint of the own model unless we export the average
    if (export_local_average_ && !stopped_) write_local_average_checkpoint();
  } else if (host_ && !stopped_ && !host_->load_failed) {
    say_no_final_checkpoint(data_was_ready);
  }
  stopped_ = true;
  if (slot_) *slot_ = nullptr;
}

// Stopped before the training thread ran (the data still loading, or the
// peer still joining): no model of this run to save. It said "stopping
// training (final checkpoint)" and nothing more, and exited 0, so an operator
// looked for a checkpoint that was never written.
void PeerTraining::say_no_final_checkpoint(bool data_was_ready) {
  std::error_code ec;
  const bool earlier = fs::exists(checkpoint_path_, ec) && fs::file_size(checkpoint_path_, ec) > 0 && !ec;
  log_->warn("no final checkpoint written: training had not started ({}), so this run has no model to save; {}",
             data_was_ready ? "the peer was still joining the swarm" : "the data was still loading",
             earlier ? checkpoint_path_.string() + " keeps its earlier checkpoint, untouched"
                     : "there is no " + checkpoint_path_.string());
}

bool PeerTraining::started() const { return host_ && host_->worker; }

std::optional<std::string> PeerTraining::final_checkpoint_error() const {
  if (average_checkpoint_error_) return average_checkpoint_error_;
  if (host_ && host_->worker && stopped_) return host_->worker->final_checkpoint_error();
  return std::nullopt;
}

void PeerTraining::write_local_average_checkpoint() {
  std::optional<ml::Checkpoint> checkpoint = host_->worker->checkpoint_after_stop();
  if (!checkpoint) {
    log_->warn("no final checkpoint: training failed ({} keeps the last good one)", checkpoint_path_.string());
    return;
  }
  // The links are still up: stop() comes before the peer leaves.
  node::TrainingDriver* driver = slot_ && *slot_ ? (*slot_)->training() : nullptr;
  std::size_t neighbours = 0;
  if (driver) {
    if (auto averaged = driver->local_average(checkpoint->parameters)) neighbours = *averaged;
  }
  checkpoint->metadata["model"] = neighbours > 0 ? "local_average" : "own";
  checkpoint->metadata["local_average_neighbours"] = std::to_string(neighbours);
  if (const Status saved = ml::save_checkpoint(checkpoint_path_.string(), *checkpoint); !saved) {
    log_->warn("final checkpoint to {} failed: {}", checkpoint_path_.string(), saved.error().message);
    average_checkpoint_error_ = saved.error().message;
    return;
  }
  if (neighbours > 0) {
    log_->info("final checkpoint {}: the local average of our model and {} neighbour copies",
               checkpoint_path_.string(), neighbours);
  } else {
    log_->info("final checkpoint {}: our own model (no ready neighbour link to average with)",
               checkpoint_path_.string());
  }
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

nlohmann::json progress_json(const runtime::TrainingProgress& progress, const std::string& export_model) {
  return {{"state", progress.state},
          {"error", progress.error},
          {"step", progress.step},
          {"samples", progress.samples},
          {"epoch", progress.epoch},
          {"train_loss", number_or_null(progress.train_loss)},
          {"test_accuracy", progress.evaluated ? number_or_null(progress.test_accuracy) : nlohmann::json(nullptr)},
          {"test_loss", progress.evaluated ? number_or_null(progress.test_loss) : nlohmann::json(nullptr)},
          {"evaluated_at_step", progress.evaluated_at_step},
          {"local_average_accuracy",
           progress.local_average_evaluated ? number_or_null(progress.local_average_accuracy) : nlohmann::json(nullptr)},
          {"local_average_loss",
           progress.local_average_evaluated ? number_or_null(progress.local_average_loss) : nlohmann::json(nullptr)},
          {"local_average_at_step", progress.local_average_at_step},
          {"local_average_neighbours", progress.local_average_neighbours},
          {"export_model", export_model},
          {"steps_per_second", progress.steps_per_second},
          {"blas_kernels", blas_kernels_note()},
          {"recoveries", progress.recoveries},
          {"slowdown", progress.slowdown_factor}};
}

int PeerTraining::batch_size() const {
  return host_->batch_in_use > 0 ? host_->batch_in_use : options_.training.batch;
}

runtime::TrainingProgress PeerTraining::progress() const {
  return host_->worker ? host_->worker->progress() : runtime::TrainingProgress{};
}

nlohmann::json gossip_status_json(const node::PeerStatus& status, const node::TrainingDriverOptions& options) {
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
  return {{"bytes_sent", stats.bytes_sent},
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
          {"model_bytes_downloaded", d.model_bytes_downloaded},
          {"model_bytes_served", d.model_bytes_served},
          {"model_requests_refused", d.model_requests_refused},
          {"links_started_from_download", d.links_started_from_download},
          {"links_refused_model", d.links_refused_model},
          {"model_mismatch", d.model_mismatch.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.model_mismatch)},
          {"consensus_distance", d.consensus_distance ? nlohmann::json(*d.consensus_distance) : nlohmann::json(nullptr)},
          {"compressor", options.compressor.to_string()},
          {"gamma", d.gamma},
          {"mixing_weight", d.mixing_weight},
          {"round_every_steps", d.round_every_steps},
          {"consensus_control", options.consensus_control},
          {"consensus_ratio", d.consensus_ratio},
          {"mixing", node::to_string(options.mixing)},
          {"pair_mirrors", d.pair_mirrors},
          {"delta_pulls", d.delta_pulls},
          {"delta_pulls_skipped", d.delta_pulls_skipped},
          {"pairs_unanswered", d.pairs_unanswered},
          {"pairs_too_soon", d.pairs_too_soon},
          {"deltas_unmade", d.deltas_unmade},
          {"pair_crossings", d.pair_crossings},
          {"rounds_pair_open", d.rounds_pair_open},
          {"pair_rtt_ms", d.pair_rtt_ms ? nlohmann::json(*d.pair_rtt_ms) : nlohmann::json(nullptr)},
          {"pairs_declined", d.pairs_declined},
          {"pair_declines_received", d.pair_declines_received},
          {"pacing", round_pacing_json(d)},
          {"neighbours", std::move(neighbours)}};
}

nlohmann::json handoff_status_json(const node::PeerStatus& status, const node::TrainingDriverOptions& options,
                                   const runtime::StepHandoff& handoff) {
  const bool downloading = status.training && status.training->state == "downloading";
  nlohmann::json out = {{"trainer", "embedded"},
                        {"state", downloading ? "downloading" : handoff.started() ? "training" : "starting"},
                        {"step", handoff.steps_served()},
                        {"corrections_applied", handoff.corrections_applied()},
                        {"corrections_refused", handoff.corrections_refused()},
                        {"corrections_dropped", handoff.corrections_dropped()},
                        {"publishes", handoff.publishes()},
                        {"publishes_refused", handoff.publishes_refused()}};
  out.update(gossip_status_json(status, options));
  return out;
}

std::string PeerTraining::state(const node::PeerStatus& status) const {
  if (status.training && status.training->state == "downloading") return "downloading";
  if (!host_->worker) return "starting";
  return host_->worker->progress().state;
}

nlohmann::json PeerTraining::status_json(const node::PeerStatus& status) const {
  runtime::TrainingProgress progress;
  if (host_->worker) progress = host_->worker->progress();
  nlohmann::json out = progress_json(progress, options_.export_model);
  out["state"] = state(status);
  out["trainer"] = "built-in";
  out["data_loaded"] = host_->data_ready;
  out.update(gossip_status_json(status, driver_options_));
  out.update(nlohmann::json{{"corrections_applied", progress.corrections_applied},
                            {"checkpoints_written", progress.checkpoints_written}});
  return out;
}

std::string local_average_progress_text(const runtime::TrainingProgress& progress) {
  if (!progress.local_average_evaluated) return "-";
  std::string text = fmt::format("{:.2f}%", 100.0 * progress.local_average_accuracy);
  const bool earlier = progress.evaluated && progress.local_average_at_step != progress.evaluated_at_step;
  if (earlier) text += fmt::format(" at step {}", progress.local_average_at_step);
  if (progress.local_average_neighbours == 0) return text + " of no neighbour: the own model" + (earlier ? " then" : "");
  return fmt::format("{} of {} neighbour{}", text, progress.local_average_neighbours,
                     progress.local_average_neighbours == 1 ? "" : "s");
}

std::string PeerTraining::progress_line(const node::PeerStatus& status) const {
  runtime::TrainingProgress progress;
  if (host_->worker) progress = host_->worker->progress();
  const node::TrainingDriverStatus d = status.training ? *status.training : node::TrainingDriverStatus{};
  std::size_t ready = 0;
  for (const auto& n : d.neighbours) ready += n.ready ? 1 : 0;
  const std::string members = members_text(status.view);
  if (d.state == "downloading" && !d.model_mismatch.empty())
    return "waiting for a neighbour with this peer's model: the swarm's model has a different shape (" +
           d.model_mismatch + ") | " + members;
  if (d.state == "downloading") return "downloading the swarm's model from a neighbour | " + members;
  if (!host_->data_ready) return "loading the data | " + members;
  return fmt::format("step {} ({:.2f} epochs, {:.0f} steps/s) | train loss {:.4f} | test accuracy {} (local average {}) | "
                     "{} | links {}/{} ready | consensus distance {}",
                     progress.step, progress.epoch, progress.steps_per_second, progress.train_loss,
                     progress.evaluated ? fmt::format("{:.2f}%", 100.0 * progress.test_accuracy) : std::string("-"),
                     local_average_progress_text(progress), members,
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
