// Checks a scenario's `expect` entries against what the runner observed.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "starling/scenario/observations.h"
#include "starling/scenario/scenario.h"

namespace starling::scenario {

struct Outcome {
  std::string name;         // the expectation kind
  std::string requirement;  // "min accuracy of live peers at the end >= 0.850"
  std::string measured;     // "0.812 (peer 3); short by 0.038"
  bool passed = false;
  int line = 0;             // in the scenario file
};

std::vector<Outcome> evaluate(const Scenario& scenario, const Observations& observations);

// Helpers the live progress line and the report share.
// Live peers of a round: running and answered.
std::vector<const Sample*> live_samples(const Round& round);
// Min, mean of the accuracies of the live peers that report one.
// False for a peer whose training failed, or that is downloading the swarm's
// model again after it failed: it still reports its last evaluation, of a
// model it no longer holds.
bool holds_evaluated_model(const Sample& s);

struct AccuracySummary {
  int live = 0;
  int reporting = 0;
  double min = 0.0;
  double mean = 0.0;
  double max = 0.0;
  // The first peer left out because its training failed or it downloads
  // again ("peer 3 is failed"): its last accuracy is of a model it no longer holds.
  std::string not_training;
};
// `among`, when set: only these peer indices count. `served`: the accuracy
// of the local average each peer serves instead of its own model's.
AccuracySummary summarize_accuracy(const Round& round, const std::optional<std::set<int>>& among = std::nullopt,
                                   bool served = false);
// Mean consensus distance of the live peers that report one.
std::optional<double> mean_consensus_distance(const Round& round,
                                              const std::optional<std::set<int>>& among = std::nullopt);

}  // namespace starling::scenario
