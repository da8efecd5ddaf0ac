#include "starling/scenario/report.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <system_error>

namespace starling::scenario {

std::string escape_html(const std::string& text);  // svg_plot.cpp

namespace {

std::string cell(const std::optional<double>& v) {
  if (!v) return "";
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.6g", *v);
  return buffer;
}

// Text another process reported (a node id, a training state) as one CSV
// cell: a comma or a line break in it shifted every later column of the row.
std::string csv_text(const std::string& text) {
  std::string out = text;
  for (char& c : out) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                       c == '_' || c == '.';
    if (!plain) c = '?';
  }
  return out;
}

std::string fixed(double v, const char* format = "%.1f") {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, format, v);
  return buffer;
}

// How many members the peer lists alive, when its view was read.
std::optional<double> members_alive(const Sample& s) {
  if (!s.answered || !s.members_listed) return std::nullopt;
  int count = 0;
  for (const MemberSeen& m : s.members) count += m.state == "alive";
  return count;
}

// How many training neighbours the peer trusts less than fully, and its
// lowest trust (nothing when it reported no neighbour).
std::optional<double> distrusted_neighbours(const Sample& s) {
  if (!s.answered || s.neighbour_trust.empty()) return std::nullopt;
  int count = 0;
  for (const auto& [id, trust] : s.neighbour_trust) count += trust < 1.0;
  return count;
}
std::optional<double> lowest_trust(const Sample& s) {
  if (!s.answered || s.neighbour_trust.empty()) return std::nullopt;
  double lowest = 1.0;
  for (const auto& [id, trust] : s.neighbour_trust) lowest = std::min(lowest, trust);
  return lowest;
}

// Who the peers distrust in the last round: one row per distrusted node id,
// named by its peer index when it is one of the run's peers.
std::string distrust_section(const Observations& obs) {
  if (obs.rounds.empty()) return {};
  const Round& last = obs.rounds.back();
  std::map<std::string, int> peer_of;
  for (const Sample& s : last.samples) peer_of[s.node_id] = s.peer;
  struct Distrust {
    std::vector<int> by;
    double lowest = 1.0;
  };
  std::map<std::string, Distrust> distrusted;
  for (const Sample& s : last.samples) {
    if (!s.answered) continue;
    for (const auto& [id, trust] : s.neighbour_trust) {
      if (trust >= 1.0) continue;
      Distrust& d = distrusted[id];
      if (d.by.empty() || d.by.back() != s.peer) d.by.push_back(s.peer);  // one neighbour listed twice counts once
      d.lowest = std::min(d.lowest, trust);
    }
  }
  std::string html = "<h2>Distrusted neighbours at the end</h2>\n";
  if (distrusted.empty()) return html + "<p>none: every peer trusts each of its neighbours fully.</p>\n";
  html += "<table><tr><th>neighbour</th><th>distrusted by peers</th><th>lowest trust</th></tr>\n";
  // The most distrusted first: an attacker distrusts the honest peers it
  // drifted from too, each by one peer, while they all distrust it.
  std::vector<std::pair<std::string, Distrust>> rows(distrusted.begin(), distrusted.end());
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.second.by.size() > b.second.by.size(); });
  for (const auto& [id, d] : rows) {
    const auto peer = peer_of.find(id);
    std::string by;
    for (int p : d.by) by += (by.empty() ? "" : ", ") + std::to_string(p);
    html += "<tr><td>" + (peer != peer_of.end() ? "peer " + std::to_string(peer->second) + " " : std::string()) +
            "<code>" + escape_html(id.substr(0, 16)) + "</code></td><td>" + by + "</td><td>" + fixed(d.lowest, "%.3f") +
            "</td></tr>\n";
  }
  return html + "</table>\n";
}

std::vector<Marker> markers(const Observations& obs) {
  std::vector<Marker> out;
  for (const LoggedEvent& e : obs.events) {
    if (e.marker) out.push_back(Marker{e.t, e.label});
  }
  return out;
}

// One series per peer index from a sample field.
template <typename Get>
std::vector<Series> per_peer(const Observations& obs, Get get) {
  std::map<int, Series> series;
  for (const Round& round : obs.rounds) {
    for (const Sample& s : round.samples) {
      Series& line = series[s.peer];
      line.name = "peer " + std::to_string(s.peer);
      if (s.phase != PeerPhase::running || !s.answered) continue;
      if (auto v = get(s)) line.points.emplace_back(round.t, *v);
    }
  }
  std::vector<Series> out;
  for (auto& [peer, line] : series) out.push_back(std::move(line));
  return out;
}

}  // namespace

std::string events_jsonl(const Observations& obs) {
  std::string out;
  for (const LoggedEvent& e : obs.events) out += e.json + "\n";
  return out;
}

std::string metrics_csv(const Observations& obs) {
  std::string out =
      "time_s,peer,life,phase,answered,node_id,accuracy,loss,consensus_distance,step,bytes_sent,bytes_received,"
      "members_alive,training_state,local_average_accuracy,distrusted_neighbours,lowest_trust\n";
  for (const Round& round : obs.rounds) {
    for (const Sample& s : round.samples) {
      out += fixed(round.t, "%.3f") + "," + std::to_string(s.peer) + "," + std::to_string(s.life) + "," +
             to_string(s.phase) + "," + (s.answered ? "1" : "0") + "," + csv_text(s.node_id) + "," + cell(s.accuracy) + "," +
             cell(s.loss) + "," + cell(s.consensus_distance) + "," + (s.step ? std::to_string(*s.step) : "") + "," +
             (s.answered ? std::to_string(s.bytes_sent) : "") + "," +
             (s.answered ? std::to_string(s.bytes_received) : "") + "," +
             cell(members_alive(s)) + "," + csv_text(s.training_state) + "," +
             cell(s.local_average_accuracy) + "," + cell(distrusted_neighbours(s)) + "," + cell(lowest_trust(s)) +
             "\n";
    }
  }
  return out;
}

std::string report_html(const Scenario& scenario, const Observations& obs, const std::vector<Outcome>& outcomes,
                        const RunSummary& summary) {
  const std::vector<Marker> marks = markers(obs);
  const double x_max = std::max(obs.end_seconds, scenario.duration_seconds);
  std::string html = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>starling scenario " +
                     escape_html(scenario.name) + "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:"
                     "1000px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:"
                     "left;vertical-align:top}.pass{color:#080}.fail{color:#c00;font-weight:bold}code{background:"
                     "#f4f4f4;padding:1px 4px}</style></head><body>\n";
  html += "<h1>Scenario " + escape_html(scenario.name) + ": <span class=\"" + (summary.passed ? "pass\">PASSED" : "fail\">FAILED") +
          "</span></h1>\n";
  if (!scenario.description.empty()) html += "<p>" + escape_html(scenario.description) + "</p>\n";
  html += "<p>File <code>" + escape_html(scenario.source) + "</code>, seed " + std::to_string(summary.seed) +
          ", speed " + fixed(summary.speed, "%g") + ", ran " + fixed(obs.end_seconds) + " s of " +
          fixed(scenario.duration_seconds) + " s, " + std::to_string(obs.started_at.size()) + " peers" +
          (obs.interrupted ? " <b>(interrupted)</b>" : "") + ". Replay: <code>" + escape_html(summary.command) +
          "</code></p>\n";

  html += "<h2>Expectations</h2>\n<table><tr><th></th><th>kind</th><th>requirement</th><th>measured</th></tr>\n";
  for (const Outcome& o : outcomes) {
    html += std::string("<tr><td class=\"") + (o.passed ? "pass\">pass" : "fail\">FAIL") + "</td><td>" +
            escape_html(o.name) + " (line " + std::to_string(o.line) + ")</td><td>" + escape_html(o.requirement) +
            "</td><td>" + escape_html(o.measured) + "</td></tr>\n";
  }
  if (outcomes.empty()) html += "<tr><td colspan=\"4\">none</td></tr>\n";
  html += "</table>\n";

  html += "<h2>Plots</h2>\n";
  auto accuracy = per_peer(obs, [](const Sample& s) { return s.accuracy; });
  html += svg_plot(PlotSpec{"Test accuracy of every peer (dashed: events)", "accuracy", false, x_max}, accuracy, marks);
  std::vector<Series> consensus = per_peer(obs, [](const Sample& s) { return s.consensus_distance; });
  Series swarm{"swarm mean", {}};
  for (const Round& round : obs.rounds) {
    if (auto d = mean_consensus_distance(round)) swarm.points.emplace_back(round.t, *d);
  }
  consensus.insert(consensus.begin(), std::move(swarm));
  html += svg_plot(PlotSpec{"Consensus distance (log scale)", "distance", true, x_max}, consensus, marks);
  auto bytes = per_peer(obs, [](const Sample& s) { return std::optional<double>(static_cast<double>(s.bytes_sent)); });
  html += svg_plot(PlotSpec{"Bytes sent by every peer (counters restart with the process)", "bytes", false, x_max},
                   bytes, marks);
  auto alive = per_peer(obs, [](const Sample& s) { return members_alive(s); });
  html += svg_plot(PlotSpec{"Members each peer sees alive", "members", false, x_max}, alive, marks);
  auto loss = per_peer(obs, [](const Sample& s) { return s.loss; });
  html += svg_plot(PlotSpec{"Training loss", "loss", false, x_max}, loss, marks);
  auto trust = per_peer(obs, [](const Sample& s) { return lowest_trust(s); });
  const bool any_distrust = std::any_of(trust.begin(), trust.end(), [](const Series& line) {
    return std::any_of(line.points.begin(), line.points.end(), [](const auto& point) { return point.second < 1.0; });
  });
  if (any_distrust)
    html += svg_plot(PlotSpec{"Lowest trust each peer gives a neighbour (1: full trust)", "trust", false, x_max},
                     trust, marks);

  html += distrust_section(obs);
  html += "<h2>Events</h2>\n<table><tr><th>t (s)</th><th>event</th></tr>\n";
  for (const LoggedEvent& e : obs.events) {
    html += "<tr><td>" + fixed(e.t) + "</td><td><code>" + escape_html(e.json) + "</code></td></tr>\n";
  }
  html += "</table>\n<p>Data: <a href=\"metrics.csv\">metrics.csv</a>, <a href=\"events.jsonl\">events.jsonl</a>, "
          "peer logs in <code>logs/</code>.</p>\n</body></html>\n";
  return html;
}

Status prepare_report_dir(const std::filesystem::path& dir,
                          const std::function<bool(const std::string& name)>& is_report_entry) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(dir, ec);
  if (fs::exists(status) && !fs::is_directory(status)) {
    return make_error(ErrorKind::invalid_argument,
                      "the report folder " + dir.string() + " exists and is not a folder; give another --out DIR");
  }
  fs::create_directories(dir, ec);
  if (ec) return make_error(ErrorKind::io, "cannot create the report folder " + dir.string() + ": " + ec.message());
  std::set<std::string> found;  // sorted: the message names the same entry every time
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (is_report_entry(name)) found.insert(std::move(name));
  }
  if (ec) return make_error(ErrorKind::io, "cannot read the report folder " + dir.string() + ": " + ec.message());
  if (!found.empty()) {
    return make_error(ErrorKind::invalid_argument,
                      "the report folder " + dir.string() + " already holds a run's report (" +
                          (dir / *found.begin()).string() +
                          " exists), and a second run would mix its files with it: give another --out DIR, or "
                          "remove that folder first");
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return make_error(ErrorKind::io, "cannot write into the report folder " + dir.string() + ": " +
                                         std::strerror(errno));
  }
  return ok_status();
}

Status write_report(const std::filesystem::path& dir, const Scenario& scenario, const Observations& obs,
                    const std::vector<Outcome>& outcomes, const RunSummary& summary) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error(ErrorKind::io, "cannot create " + dir.string() + ": " + ec.message());
  const std::pair<const char*, std::string> files[] = {
      {"events.jsonl", events_jsonl(obs)},
      {"metrics.csv", metrics_csv(obs)},
      {"report.html", report_html(scenario, obs, outcomes, summary)},
  };
  for (const auto& [name, text] : files) {
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) return make_error(ErrorKind::io, "cannot write " + (dir / name).string());
  }
  return ok_status();
}

}  // namespace starling::scenario
