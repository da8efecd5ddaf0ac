// The report a scenario run leaves in its out dir: events.jsonl, metrics.csv
// and report.html (plots as inline SVG: opens in any browser, no network, no
// scripts). Pure functions from observations to text, so tests read them.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "starling/scenario/expectations.h"
#include "starling/scenario/observations.h"
#include "starling/scenario/scenario.h"
#include "starling/status.h"

namespace starling::scenario {

struct RunSummary {
  std::uint64_t seed = 0;
  double speed = 1.0;
  std::string command;  // how to replay it
  bool passed = false;
};

// One JSON object per line, in time order.
std::string events_jsonl(const Observations& observations);
// Header: time_s,peer,life,phase,answered,node_id,accuracy,loss,consensus_distance,
// step,bytes_sent,bytes_received,members_alive,training_state. Empty cells for unknowns.
std::string metrics_csv(const Observations& observations);
std::string report_html(const Scenario& scenario, const Observations& observations,
                        const std::vector<Outcome>& outcomes, const RunSummary& summary);

// Writes the three files into dir (created if needed). Errors: io.
Status write_report(const std::filesystem::path& dir, const Scenario& scenario, const Observations& observations,
                    const std::vector<Outcome>& outcomes, const RunSummary& summary);

// The files write_report() writes into a report folder.
inline constexpr std::string_view kReportFiles[] = {"events.jsonl", "metrics.csv", "report.html"};

// Makes `dir` ready for one run's report before the run starts, so that a
// run never ends in "cannot create DIR" after all its work and never mixes
// its files with an earlier run's: creates `dir` (and its parents) if
// missing, and refuses a path that is not a folder, a folder it cannot write
// into, and a folder that already holds an entry `is_report_entry` accepts
// (the files and folders the run writes there), naming the first such entry
// (in name order) and how to go on. An empty folder, or one holding only
// other files, is fine. Errors: invalid_argument (not a folder, holds a
// report), io (cannot create, read or write it).
Status prepare_report_dir(const std::filesystem::path& dir,
                          const std::function<bool(const std::string& name)>& is_report_entry);

// An SVG line plot; exposed for tests.
struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (t, value); a gap in t over `gap` breaks the line
};
struct Marker {
  double t = 0.0;
  std::string label;
};
struct PlotSpec {
  std::string title;
  std::string y_label;
  bool log_y = false;
  double x_max = 0.0;
};
std::string svg_plot(const PlotSpec& spec, const std::vector<Series>& series, const std::vector<Marker>& markers);

}  // namespace starling::scenario
