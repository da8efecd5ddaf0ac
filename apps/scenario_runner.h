// Runs a scenario with real peer processes on loopback: the timeline
// executor (starling/scenario/timeline_runner.h) over the process backend
// (process_backend.h), with live progress on stderr.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "starling/scenario/observations.h"
#include "starling/scenario/scenario.h"
#include "starling/status.h"

namespace starling::apps {

struct RunnerOptions {
  std::filesystem::path executable;  // our own binary, run as `starling peer`
  std::filesystem::path out_dir;
  std::uint64_t seed = 1;
  bool live_progress_tty = false;  // redraw one line in place (a terminal)
  const std::atomic<bool>* interrupted = nullptr;  // set by SIGINT/SIGTERM
};

struct RunResult {
  scenario::Observations observations;
  // Operating failures of the runner itself (a peer that would not start, a
  // control that was not confirmed): reported as failed, with the reason.
  std::vector<std::string> problems;
};

// Runs it to the end (or until *interrupted). Every process it started is
// gone when it returns, also when it fails.
RunResult run_scenario(const scenario::Scenario& scenario, const RunnerOptions& options);

}  // namespace starling::apps
