// The process backend of `starling scenario`: every peer is a real
// `starling peer` process on loopback, started from our own binary. Kill,
// stop and pause are signals; network and training faults are control
// messages (FaultControl, TrainingControl) confirmed by the status answer
// that follows; sampling asks each peer its status over the control port.
// The timeline executor (starling/scenario/timeline_runner.h) drives it.
//
// process_backend.cpp: set-up, clock, starting and ending processes.
// process_faults.cpp: the fault setters and the control messages.
// process_sample.cpp: status answers into observation samples.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "scenario_processes.h"
#include "starling/runtime/control_client.h"
#include "starling/scenario/swarm_backend.h"
#include "starling/wire/messages.h"

namespace starling::apps {

struct ProcessBackendOptions {
  std::filesystem::path executable;  // our own binary, run as `starling peer`
  std::filesystem::path out_dir;     // logs/, peers/ and swarm.key go here
  std::uint64_t seed = 1;            // every peer's --random-seed (the shards of I/N then partition the data)
  const std::atomic<bool>* interrupted = nullptr;  // set by SIGINT/SIGTERM: start-up and advance_to return early
};

class ProcessBackend final : public scenario::SwarmBackend {
 public:
  ProcessBackend(const scenario::Scenario& scenario, ProcessBackendOptions options);
  ~ProcessBackend() override;
  ProcessBackend(const ProcessBackend&) = delete;
  ProcessBackend& operator=(const ProcessBackend&) = delete;

  double now_seconds() const override;
  void advance_to(double seconds) override;
  scenario::Problems start_swarm(int peers, scenario::SwarmLog& log) override;
  void shutdown() override;

  scenario::Problems kill(const std::vector<int>& peers) override;
  scenario::Problems stop(const std::vector<int>& peers) override;
  scenario::Problems restart(const std::vector<int>& peers, bool new_identity) override;
  scenario::Problems join(const std::vector<int>& peers) override;
  scenario::Problems pause(const std::vector<int>& peers) override;
  scenario::Problems resume(const std::vector<int>& peers) override;
  scenario::Problems partition(const std::vector<std::vector<int>>& groups, bool one_way) override;
  scenario::Problems heal(const std::vector<int>& peers) override;
  scenario::Problems set_loss(const std::vector<int>& peers, double fraction) override;
  scenario::Problems set_duplicate(const std::vector<int>& peers, double fraction) override;
  scenario::Problems set_delay(const std::vector<int>& peers, double delay_ms, double jitter_ms) override;
  scenario::Problems set_bandwidth(const std::vector<int>& peers, std::uint64_t bytes_per_second) override;
  scenario::Problems clear_faults(const std::vector<int>& peers) override;
  scenario::Problems set_straggler(const std::vector<int>& peers, double factor) override;
  scenario::Problems set_byzantine(const std::vector<int>& peers, scenario::ByzantineMode mode,
                                   double scale) override;

  std::vector<scenario::Sample> sample(const scenario::SampleRequest& request) override;

 private:
  // One peer index over the run: its current process and the faults it carries.
  struct Slot {
    int index = 0;
    int port = 0;
    int life = -1;  // -1: never started
    pid_t pid = 0;
    scenario::PeerPhase phase = scenario::PeerPhase::down;
    bool expect_exit = false;     // we signalled it to end
    double stop_deadline = 0.0;   // SIGTERMed: SIGKILL at this time if still there
    int identity_generation = 0;  // restart with a new identity bumps it
    std::string node_id;
    // Network faults (one FaultControl carries all of them) and training faults.
    double drop = 0.0, duplicate = 0.0;
    std::uint32_t delay_ms = 0, jitter_ms = 0;
    std::uint64_t bandwidth = 0;
    std::set<int> blocked;  // peers it must not send to
    double slowdown = 1.0;
    scenario::ByzantineMode byzantine = scenario::ByzantineMode::none;
    double byzantine_scale = 1.0;
    bool resend_controls = false;  // a new process: its faults must be sent again
    // Started by a restart or a join and not answered yet: a runner problem
    // if it ends first, or is still silent at this time (0: none awaited).
    // Unwatched, a restarted peer that could not listen counted as a crash
    // only, and the run passed.
    double answer_deadline = 0.0;
    int port_retries = 0;  // of this start: a port taken meanwhile is retried on another

    bool network_faulted() const {
      return drop > 0 || duplicate > 0 || delay_ms > 0 || jitter_ms > 0 || bandwidth > 0 || !blocked.empty();
    }
    bool training_faulted() const { return slowdown != 1.0 || byzantine != scenario::ByzantineMode::none; }
  };

  // process_backend.cpp
  Status prepare();
  std::string address(const Slot& slot) const;
  std::filesystem::path data_dir(const Slot& slot) const;
  std::filesystem::path log_path(const Slot& slot) const;
  std::vector<std::string> peer_args(const Slot& slot, const std::vector<std::string>& seeds) const;
  std::vector<std::string> seeds_for(int self) const;
  Status launch(Slot& slot, const std::vector<std::string>& seeds);
  bool wait_until_answering(const std::vector<int>& indices, scenario::Problems& problems);
  bool interrupted() const;
  Slot* slot_of(pid_t pid);
  Slot& slot(int index) { return slots_.at(static_cast<std::size_t>(index)); }
  void handle_exit(const PeerProcesses::Exit& exit);
  void enforce_stop_deadlines();
  void enforce_answer_deadlines();
  double answer_timeout() const;
  void await_answer(Slot& slot);
  bool retry_on_new_port(Slot& slot);
  void kill_peer(Slot& s);
  void note(const std::string& kind, const std::string& label, const std::string& fields_json, bool marker);

  // process_faults.cpp
  wire::FaultControl fault_control(const Slot& s) const;
  wire::TrainingControl training_control(const Slot& s) const;
  scenario::Problems send_controls(const std::vector<int>& targets, bool training);

  // process_sample.cpp
  void read_status(const std::string& answer, Slot& s, scenario::Sample& sample);

  const scenario::Scenario& scenario_;
  ProcessBackendOptions options_;
  PeerProcesses processes_;
  std::unique_ptr<runtime::ControlClient> client_;
  std::string control_node_id_;  // client_'s node id, hex: the peers' --fault-control-from
  std::vector<Slot> slots_;
  std::filesystem::path key_path_;
  std::chrono::steady_clock::time_point t0_;
  double ready_at_seconds_ = 0.0;  // when start_swarm returned: t = 0 of the scenario, for messages
  scenario::SwarmLog* log_ = nullptr;
};

}  // namespace starling::apps
