// The simulator as a scenario::SwarmBackend: the timeline executor
// (scenario/timeline_runner.h) drives it exactly as it drives real peer
// processes, with time = virtual time (advance_to runs the event queue).
// It also keeps the fault bookkeeping the invariants need and checks them as
// the run goes (invariants.h).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <vector>

#include "starling/scenario/swarm_backend.h"
#include "starling/sim/invariants.h"
#include "starling/sim/simulate.h"
#include "starling/sim/world.h"

namespace starling::sim {

class SimulationBackend final : public scenario::SwarmBackend {
 public:
  // `options` must outlive the backend.
  SimulationBackend(const scenario::Scenario& scenario, const SimulateOptions& options, WorldOptions world);
  ~SimulationBackend() override;

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
  scenario::Problems set_byzantine(const std::vector<int>& peers, scenario::ByzantineMode mode, double scale) override;

  std::vector<scenario::Sample> sample(const scenario::SampleRequest& request) override;

  // After the run: what the invariants found, and the trace.
  const std::vector<Violation>& violations() const { return checker_.violations(); }
  // Set once a peer's event handler ran out of memory (MemoryNetwork::out_of_memory).
  const std::optional<std::string>& out_of_memory() const { return world_->network().out_of_memory(); }
  // Finishes the trace hash (once); the counts stay readable.
  std::string finish_trace();
  std::uint64_t messages() const { return world_->trace().messages(); }
  std::uint64_t message_bytes() const { return world_->trace().message_bytes(); }
  std::uint64_t trace_events() const { return world_->trace().events(); }
  int peers_started() const;
  // Every evaluation of a peer's own model, and the replicas' spread per poll round.
  const std::vector<EvaluationRecord>& evaluations() const { return evaluations_; }
  const std::vector<SpreadRecord>& spread() const { return spread_; }
  // Every running training peer's life has had stop_window evaluations in a
  // row averaging at least stop_at_accuracy (SimulateOptions); false when no
  // peer trains or no target is set.
  bool every_peer_reached() const;

 private:
  // Network faults of one peer, on what it sends (as the runtime's FaultControl).
  struct PeerFaults {
    node::LinkFaults outbound;
    std::set<int> blocked;  // peers it must not send to
    double slowdown = 1.0;
    scenario::ByzantineMode byzantine = scenario::ByzantineMode::none;
    double byzantine_scale = 1.0;
    bool network_faulted() const { return !outbound.is_perfect() || !blocked.empty(); }
  };

  double now() const { return now_seconds(); }
  PeerFaults& faults(int p) { return faults_.at(std::size_t(p)); }
  void start_peer(int index, const std::vector<int>& seeds, bool joining);
  std::vector<int> seeds_for(int self) const;
  void apply_network_faults(const std::vector<int>& changed);
  void apply_training_faults(int p);
  void on_member_event(int observer, const gossip::Event& event);
  void run_side_schedule();
  void read_peer(const SimPeer& p, scenario::Sample& sample, bool members);
  void on_evaluation(int peer, std::int64_t step, double accuracy);
  void record_spread(double t, const std::vector<std::pair<std::pair<int, int>, const Eigen::VectorXf*>>& replicas);

  const scenario::Scenario& s_;
  const SimulateOptions& o_;
  InvariantChecker checker_;
  std::unique_ptr<World> world_;
  std::mt19937_64 seeds_random_;
  scenario::SwarmLog* log_ = nullptr;
  std::vector<PeerFaults> faults_;
  std::map<gossip::NodeId, int> node_ids_;
  std::map<std::pair<int, int>, int> failures_reported_;  // training failures noted, per peer and life
  bool byzantine_run_ = false;
  // Clogs (random mode) and the deliberate breakage, on the backend's clock.
  std::size_t next_clog_ = 0;
  std::vector<std::pair<double, int>> unclogs_;
  static constexpr double kBreakAtSeconds = 3.0;
  bool broken_ = false;
  bool fault_free_ = true;
  bool previous_round_quiet_ = true;
  std::uint64_t polls_ = 0;  // poll rounds sampled so far (views_read)
  bool shut_down_ = false;
  // Evaluation records, and per peer the reach test's state for its current life.
  std::vector<EvaluationRecord> evaluations_;
  std::vector<std::vector<double>> recent_accuracy_;  // per peer: this life's last stop_window accuracies
  std::vector<bool> reached_;                         // per peer: this life reached the stop target
  std::vector<SpreadRecord> spread_;
  std::vector<std::pair<int, int>> spread_members_;
  Eigen::VectorXf spread_reference_;
};

}  // namespace starling::sim
