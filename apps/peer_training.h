// The training half of `starling peer`: its options, the training thread
// (runtime::TrainingWorker) behind node::Peer's ModelHost door, the delta
// gossip options, checkpoints, the `training` status object and the training
// speed control. node::Peer owns the TrainingDriver; runtime_peer.h assembles.
#pragma once

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <functional>

#include "starling/runtime/event_loop.h"
#include "starling/ml/optimizer.h"
#include "starling/node/defaults.h"
#include "starling/node/faults.h"
#include "starling/node/membership_driver.h"
#include "starling/node/peer.h"
#include "starling/node/training_driver.h"
#include "starling/runtime/step_handoff.h"
#include "starling/runtime/training_worker.h"
#include "starling/status.h"
#include "training_options.h"

namespace CLI {
class App;
}

namespace starling::apps {

// --checkpoint-every's bounds in seconds (0 is allowed too: only at stop). A
// checkpoint is written whole and fsynced; below a second apart (1e-300 was
// accepted) the peer would do little else.
inline constexpr double kMinCheckpointEverySeconds = 1.0;
inline constexpr double kMaxCheckpointEverySeconds = 1e7;

struct PeerTrainingOptions {
  bool no_train = false;
  TrainingOptions training;
  // The defaults and why: node/defaults.h (scenarios and the simulator read them too).
  std::string compress{node::defaults::kCompress};
  double gamma = 0.0;  // 0: the compressor's default
  std::string clip = "auto";
  int neighbours = node::defaults::kNeighbours;
  int max_links = node::defaults::kMaxLinks;
  int round_steps = 0;            // 0: the compressor's default
  std::string mixing{node::defaults::kMixing};
  int gossip_interval_ms = node::defaults::kGossipIntervalMs;  // longest time between rounds
  int round_floor_ms = node::defaults::kRoundFloorMs;  // shortest time between rounds in ms; 0: none (k and the CPU rule pace)
  double round_cpu_share = 0.25;  // share of the loop thread's time rounds may take (0: no limit)
  bool consensus_control = false; // adapt k to the disagreement (docs/learning.md)
  double consensus_target = 2.0;  // the disagreement to stay under, in local steps
  std::string momentum_mode;  // what SGD's velocity makes of a consensus correction; empty: the compressor's default
  double absorb_share = 0.0;  // absorb's cap on the velocity's share of a correction; 0: 1 - momentum
  // Steps between evaluations, as typed (parse_eval_every: a count of steps;
  // the old seconds form is refused with a message).
  std::string eval_every = std::to_string(node::kDefaultEvalEverySteps);
  // The local average is evaluated after every Nth evaluation of the own model (0: never).
  int local_average_every = 1;
  // Which model the final checkpoint holds: "own" or "local-average".
  std::string export_model = "local-average";
  // What a joining peer asks its neighbour's model in: "bf16" (half the bytes;
  // the joiner starts from every value rounded to bf16, what `starling peer`'s
  // built-in models lose nothing to) or "f32" (bit for bit; an embedded
  // peer's default: its buffer may hold values rounding would change, such as
  // counters; apps/embed_config.cpp).
  std::string download_precision = "bf16";
  std::uint64_t max_upload = node::defaults::kMaxUploadBytesPerSecond;  // gossip bytes per second; 0: no budget
  double checkpoint_every = 60.0;  // seconds; 0 or kMinCheckpointEverySeconds..kMaxCheckpointEverySeconds
  bool resume = false;
};

// The CLI11 group (->group) of the flags that configure the gossip rather
// than the built-in trainer: declared with it, each is a setting of the
// embedding API too (apps/embed_config.cpp), so the two cannot drift.
inline constexpr const char* kGossipOptionGroup = "Gossip";

void add_peer_training_options(CLI::App& app, PeerTrainingOptions& options);

// The training object's fields that come from the worker's progress (state,
// step, losses, both accuracies: the own model's and the local average's).
nlohmann::json progress_json(const runtime::TrainingProgress& progress, const std::string& export_model);

// The delta gossip's part of the training object (links, rounds, bytes,
// consensus), the same for `starling peer` and an embedded peer.
nlohmann::json gossip_status_json(const node::PeerStatus& status, const node::TrainingDriverOptions& options);
// An embedded peer's training object: what its step-boundary hand-off counts
// (steps, corrections, publishes; "trainer": "embedded") and the gossip part.
// The built-in trainer's is PeerTraining::status_json ("trainer": "built-in").
nlohmann::json handoff_status_json(const node::PeerStatus& status, const node::TrainingDriverOptions& options,
                                   const runtime::StepHandoff& handoff);

// The progress line's local average: its accuracy, "at step N" when that is
// not the own model's evaluated step (`--local-average-every N` evaluates it
// less often, and the two numbers read as one model's), and how many
// neighbour copies it averaged (none: it was the own model). "-" before one.
std::string local_average_progress_text(const runtime::TrainingProgress& progress);

// `--eval-every`: a whole number of steps, 0 (never) or >= 10. Refuses "5s",
// fractions and 1..9 (values that were seconds before issue 13 would now
// evaluate nearly every step) with a message that says so.
Result<std::int64_t> parse_eval_every(const std::string& text);

// Every check of the training options that needs no file: one training
// thread, --eval-every, and the trainer's own (check_training_options). Run
// first by PeerTraining::prepare, and by `--print-config`, which must not
// call a configuration good that the peer would then refuse.
Status check_peer_training_options(const PeerTrainingOptions& options);

class PeerTraining {
 public:
  // Checks the options, reads the data's shape from its headers and builds
  // the model (before the network starts), so a bad flag or a missing data
  // set fails fast with a clear message. The data itself loads in
  // begin_loading() (a text-format data set, which has no header, loads here).
  static Result<std::unique_ptr<PeerTraining>> prepare(const PeerTrainingOptions& options,
                                                       const std::filesystem::path& data_dir,
                                                       std::shared_ptr<spdlog::logger> log);
  ~PeerTraining();

  // Batch order (and the driver's randomness): mix the node id in, so peers
  // on the same shard still see different batches.
  void set_batch_seed(std::uint64_t seed);

  // The door node::Peer trains through, and the delta gossip options for it.
  node::ModelHost& host();
  const node::TrainingDriverOptions& driver_options() const { return driver_options_; }
  // Published parameters reach *slot on the loop thread (null: dropped).
  void attach(runtime::EventLoop& loop, node::Peer** slot);
  // Loads the data on a thread of its own while the peer joins and downloads
  // the swarm's model; training starts when both are done. A failure (a
  // damaged file, a shape unlike the headers', a --resume checkpoint written
  // with another batch or shard size) reaches `on_failure` on the loop thread. Call after attach(); nothing to do if prepare() loaded it.
  void begin_loading(std::function<void(const Error&)> on_failure);
  // When the training thread ends on an exception (out of memory: "out of
  // memory while training: ..."), `handler` hears it on the loop thread:
  // training cannot go on in this process (a NaN divergence is not this: the
  // peer recovers from that itself). Call before the training starts.
  void on_fatal_error(std::function<void(const Error&)> handler);
  // `joining`: the peer was given seeds; a resumed peer does not download.
  bool download_on_join(bool joining) const;
  // Waits for a load in flight, joins the training thread and writes the final checkpoint (the own
  // model, or the local average with --export-model local-average, made
  // from the links still held); the caller stops the peer's delta gossip
  // afterwards. Before the training thread ran (the data still loading),
  // there is nothing to save: it says so in the log, and the checkpoint
  // file stays as it was. Loop thread; idempotent.
  void stop();
  // Whether the training thread runs (or ran): only then has stop() a model to save.
  bool started() const;
  // After stop(): why the final checkpoint was not written (nullopt: it was,
  // or none was due), so the process can exit non-zero.
  std::optional<std::string> final_checkpoint_error() const;

  nlohmann::json status_json(const node::PeerStatus& status) const;
  // The training thread's progress (default-constructed before it starts),
  // and the minibatch size (for samples per second): --batch, or the shard's
  // size when that is smaller. Loop thread.
  runtime::TrainingProgress progress() const;
  // The training state as status and /metrics both say it: the driver's
  // download, else "starting" until the worker runs, else the worker's.
  std::string state(const node::PeerStatus& status) const;
  int batch_size() const;
  // A line for the log: step, loss, accuracy, members, links, consensus
  // (before training: what it waits for, and members).
  std::string progress_line(const node::PeerStatus& status) const;

  // The training-speed part of a TrainingControl (node::Peer applies the
  // byzantine modes).
  void apply(const wire::TrainingControl& control);

 private:
  PeerTraining() = default;
  class Host;

  PeerTrainingOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  std::filesystem::path checkpoint_path_;
  std::unique_ptr<Host> host_;
  std::optional<std::string> average_checkpoint_error_;  // the local average's final checkpoint
  node::Peer** slot_ = nullptr;
  node::TrainingDriverOptions driver_options_;
  bool resumed_ = false;
  bool export_local_average_ = false;
  bool stopped_ = false;
  ml::DatasetShape shape_;
  ml::ShardSpec shard_spec_;
  ml::Partition partition_;
  std::thread loader_;
  void write_local_average_checkpoint();
  // The log line for a stop() before the training thread ran (nothing to save).
  void say_no_final_checkpoint(bool data_was_ready);
};

// Applies a scenario runner's FaultControl to what this peer sends.
// `self_key` is this peer's fault-layer name (its listen address).
void apply_fault_control(const wire::FaultControl& control, node::FaultPolicy& policy, const std::string& self_key,
                         const node::MembershipDriver& membership, spdlog::logger& log);

}  // namespace starling::apps
