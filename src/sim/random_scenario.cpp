#include "starling/sim/random_scenario.h"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

namespace starling::sim {
namespace {

// The documented ranges (docs/simulator.md, "Randomized mode").
constexpr int kPeersMin = 4, kPeersMax = 24;
constexpr double kDurationSeconds = 60.0;
constexpr double kFaultsFromSeconds = 2.0, kFaultsUntilSeconds = 30.0;  // every fault starts and ends in here
constexpr int kEventsMin = 1, kEventsMax = 6;
constexpr double kTrainingShare = 0.3;  // of seeds train (synthetic objective), the rest membership only
constexpr double kByzantineShare = 0.2;  // of seeds get one hostile member
constexpr double kMinAccuracy = 0.3, kMaxConsensusDistance = 1.0;  // training runs, at the end

class Draw {
 public:
  explicit Draw(std::uint64_t seed) : random_(seed ^ 0xA11D'0F5E'ED00'0001ULL) {}
  double uniform(double low, double high) {
    return low + (high - low) * (double(random_() >> 11) * 0x1.0p-53);
  }
  int integer(int low, int high) { return low + int(random_() % std::uint64_t(high - low + 1)); }
  bool chance(double p) { return uniform(0.0, 1.0) < p; }
  double seconds(double low, double high) { return std::round(uniform(low, high) * 10.0) / 10.0; }

 private:
  std::mt19937_64 random_;
};

struct DrawnEvent {
  double at = 0.0;
  toml::table table;
  std::string text;
};

// A hostile member: it lies or floods in membership, or (training runs)
// sends random deltas, its deltas x -10, garbage frames or a drift inside
// the clipping radius; half of them
// for good, half for 1..10 s.
DrawnEvent draw_byzantine(Draw& draw, int peers, bool train) {
  static const char* const modes[] = {"membership_lies", "membership_flood", "random", "scaled", "garbage", "drift"};
  const char* mode = modes[draw.integer(0, train ? 5 : 1)];
  DrawnEvent e;
  e.at = draw.seconds(kFaultsFromSeconds, kFaultsUntilSeconds - 8.0);
  const int peer = draw.integer(0, peers - 1);
  e.table.insert("at", e.at);
  e.table.insert("kind", "byzantine");
  e.table.insert("peer", peer);
  e.table.insert("mode", mode);
  if (std::string(mode) == "scaled") e.table.insert("scale", -10.0);
  e.text = std::string("byzantine ") + mode + " " + std::to_string(peer);
  if (draw.chance(0.5)) {
    const double length = draw.seconds(1.0, std::min(10.0, kFaultsUntilSeconds - e.at));
    e.table.insert("duration", length);
    e.text += " for " + std::to_string(int(length)) + " s";
  }
  return e;
}

// The [swarm] table. Training runs take the peer's own defaults (sign,
// pairwise mixing, a 1 MB/s upload budget: node/defaults.h) most often and
// each documented alternative some of the time; `summary` gets what was drawn.
toml::table draw_swarm(Draw& draw, int peers, bool train, std::string& summary) {
  toml::table swarm;
  swarm.insert("peers", peers);
  swarm.insert("train", train);
  if (!train) {
    summary += "membership only";
    return swarm;
  }
  static const char* const compressors[] = {"sign", "sign", "none", "topk:0.1", "int8"};
  const std::string compress = compressors[draw.integer(0, 4)];
  swarm.insert("data", "synthetic:200");
  swarm.insert("compress", compress);
  swarm.insert("eval_every", std::int64_t(200));  // steps: 2 s at 10 ms a step
  summary += "training (synthetic), " + compress;
  if (const int mixing = draw.integer(0, 3); mixing >= 2) {  // else the default, pairwise
    const std::string name = mixing == 2 ? "on-delta" : "neighbourhood";
    swarm.insert("mixing", name);
    summary += ", " + name;
  }
  if (draw.chance(0.3)) {
    // 20-200 kB/s, or none at all (0) one time in ten.
    const int thousands = draw.integer(0, 200);
    const int budget = thousands < 20 ? 0 : thousands * 1000;
    swarm.insert("max_upload", budget);
    summary += budget == 0 ? ", no upload budget" : ", max upload " + std::to_string(budget) + " B/s";
  }
  if (draw.chance(0.2)) {
    swarm.insert("consensus_control", true);
    summary += ", consensus control";
  }
  return swarm;
}

}  // namespace

RandomRun draw_random_run(std::uint64_t seed, std::optional<int> peers_override) {
  Draw draw(seed);
  const int peers = peers_override.value_or(draw.integer(kPeersMin, kPeersMax));
  const bool train = draw.chance(kTrainingShare);
  std::vector<DrawnEvent> events;
  int joined = 0;
  std::vector<int> killed;
  const int count = draw.integer(kEventsMin, kEventsMax);
  for (int i = 0; i < count; ++i) {
    DrawnEvent e;
    const double at = draw.seconds(kFaultsFromSeconds, kFaultsUntilSeconds - 8.0);
    const double length = draw.seconds(1.0, std::min(10.0, kFaultsUntilSeconds - at));
    const int peer = draw.integer(0, peers - 1);
    e.at = at;
    e.table.insert("at", at);
    switch (draw.integer(0, 9)) {
      case 0:
        e.table.insert("kind", "kill");
        e.table.insert("peer", peer);
        e.text = "kill " + std::to_string(peer);
        killed.push_back(peer);
        break;
      case 1:
        e.table.insert("kind", "pause");
        e.table.insert("peer", peer);
        e.table.insert("duration", length);
        e.text = "pause " + std::to_string(peer);
        break;
      case 2: {
        const int split = draw.integer(1, peers - 1);
        toml::array low, high;
        for (int p = 0; p < peers; ++p) (p < split ? low : high).push_back(p);
        e.table.insert("kind", "partition");
        const bool one_way = draw.chance(0.3);
        if (one_way) {
          e.table.insert("from", low);
          e.table.insert("to", high);
        } else {
          e.table.insert("groups", toml::array{low, high});
        }
        e.table.insert("duration", length);
        e.text = std::string(one_way ? "one-way " : "") + "partition at " + std::to_string(split);
        break;
      }
      case 3: {
        const int percent = draw.integer(5, 30);
        e.table.insert("kind", "loss");
        e.table.insert("peer", peer);
        e.table.insert("percent", percent);
        e.table.insert("duration", length);
        e.text = "loss " + std::to_string(percent) + "% " + std::to_string(peer);
        break;
      }
      case 4: {
        const int ms = draw.integer(5, 200);
        const int jitter = draw.integer(0, 50);
        e.table.insert("kind", "delay");
        e.table.insert("peers", "all");
        e.table.insert("ms", ms);
        e.table.insert("jitter_ms", jitter);
        e.table.insert("duration", length);
        e.text = "delay " + std::to_string(ms) + "+" + std::to_string(jitter) + " ms all";
        break;
      }
      case 5: {
        const int percent = draw.integer(5, 20);
        e.table.insert("kind", "duplicate");
        e.table.insert("peer", peer);
        e.table.insert("percent", percent);
        e.table.insert("duration", length);
        e.text = "duplicate " + std::to_string(percent) + "% " + std::to_string(peer);
        break;
      }
      case 6: {
        const int rate = draw.integer(20, 200) * 1000;
        e.table.insert("kind", "bandwidth");
        e.table.insert("peer", peer);
        e.table.insert("bytes_per_second", rate);
        e.table.insert("duration", length);
        e.text = "bandwidth " + std::to_string(rate) + " B/s " + std::to_string(peer);
        break;
      }
      case 7: {
        const int how_many = draw.integer(1, 3);
        e.table.insert("kind", "join");
        e.table.insert("count", how_many);
        e.text = "join " + std::to_string(how_many);
        joined += how_many;
        break;
      }
      case 8:
        e.table.insert("kind", "stop");
        e.table.insert("peer", peer);
        e.text = "stop " + std::to_string(peer);
        break;
      default:
        e.table.insert("kind", "straggler");
        e.table.insert("peer", peer);
        e.table.insert("factor", draw.seconds(1.5, 5.0));
        e.table.insert("duration", length);
        e.text = "straggler " + std::to_string(peer);
        break;
    }
    events.push_back(std::move(e));
  }
  // Half of the killed peers come back (same identity or a new one).
  for (int peer : killed) {
    if (!draw.chance(0.5)) continue;
    DrawnEvent e;
    e.at = kFaultsUntilSeconds;
    e.table.insert("at", e.at);
    e.table.insert("kind", "restart");
    e.table.insert("peer", peer);
    const bool fresh = draw.chance(0.3);
    if (fresh) e.table.insert("identity", "new");
    e.text = "restart " + std::to_string(peer) + (fresh ? " (new identity)" : "");
    events.push_back(std::move(e));
  }
  std::stable_sort(events.begin(), events.end(), [](const DrawnEvent& a, const DrawnEvent& b) { return a.at < b.at; });

  std::string summary = std::to_string(peers) + " peers, ";
  toml::table swarm = draw_swarm(draw, peers, train, summary);
  // Drawn last, so the draws above stay what they were for every seed.
  if (draw.chance(kByzantineShare)) {
    events.push_back(draw_byzantine(draw, peers, train));
    std::stable_sort(events.begin(), events.end(),
                     [](const DrawnEvent& a, const DrawnEvent& b) { return a.at < b.at; });
  }
  for (const auto& e : events) summary += "; " + e.text + " at " + std::to_string(int(e.at)) + " s";
  toml::table root;
  root.insert("name", "random-" + std::to_string(seed));
  root.insert("description", "Drawn by starling simulate --random, seed " + std::to_string(seed) + ": " + summary);
  root.insert("duration", kDurationSeconds);
  root.insert("seed", std::int64_t(seed));
  root.insert("poll_interval", 1.0);
  root.insert("swarm", std::move(swarm));
  toml::array event_tables;
  for (auto& e : events) event_tables.push_back(std::move(e.table));
  root.insert("events", std::move(event_tables));
  toml::array expectations;
  expectations.push_back(toml::table{{"kind", "membership_converged"}, {"within", 25.0}});
  expectations.push_back(toml::table{{"kind", "no_crash"}});
  if (train) {
    // Learning did not break: no divergence, no NaN, nobody left behind.
    // Loose on purpose: the synthetic targets are scattered, so a weak
    // consensus (topk:0.1) settles at accuracy ~0.5 and distance ~0.5 even
    // without faults, the other compressors at ~0.75 and <= 0.1. A model
    // that diverges or goes NaN ends near 0. Only honest peers are judged:
    // a hostile member's own model is its business (a scaled attacker's
    // reads 0.28 while every honest peer reads >= 0.74, seed 700214).
    expectations.push_back(
        toml::table{{"kind", "min_accuracy"}, {"value", kMinAccuracy}, {"peers", "honest"}});
    expectations.push_back(toml::table{
        {"kind", "max_consensus_distance"}, {"value", kMaxConsensusDistance}, {"peers", "honest"}});
  }
  root.insert("expect", std::move(expectations));

  std::ostringstream text;
  text << "# Drawn by `starling simulate --random`, seed " << seed << " (docs/simulator.md).\n"
       << "# Replay: starling simulate THIS_FILE --seed " << seed << "\n"
       << root << "\n";
  (void)joined;
  return RandomRun{seed, text.str(), summary};
}

Status save_random_run(const RandomRun& run, const std::filesystem::path& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << run.toml;
  out.close();
  if (!out) return make_error(ErrorKind::io, "cannot write " + path.string());
  return ok_status();
}

}  // namespace starling::sim
