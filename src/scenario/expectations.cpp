#include "starling/scenario/expectations.h"

#include "membership_checks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace starling::scenario {

const char* to_string(PeerPhase phase) {
  switch (phase) {
    case PeerPhase::running: return "running";
    case PeerPhase::paused: return "paused";
    case PeerPhase::down: return "down";
  }
  return "?";
}

std::vector<const Sample*> live_samples(const Round& round) {
  std::vector<const Sample*> out;
  for (const Sample& s : round.samples) {
    if (s.phase == PeerPhase::running && s.answered) out.push_back(&s);
  }
  return out;
}

// The live samples of a round, of the given peers only when `among` is set.
std::vector<const Sample*> live_among(const Round& round, const std::optional<std::set<int>>& among) {
  std::vector<const Sample*> out = live_samples(round);
  if (among) std::erase_if(out, [&](const Sample* s) { return !among->count(s->peer); });
  return out;
}

// Counted, a swarm whose every replica had diverged passed min_accuracy at
// the accuracies they had before (the simulator's byzantine-one-noclip at
// the peer's defaults: all five at 0.86-0.88, every one failed or downloading).
bool holds_evaluated_model(const Sample& s) {
  return s.training_state != "failed" && s.training_state != "downloading";
}

AccuracySummary summarize_accuracy(const Round& round, const std::optional<std::set<int>>& among, bool served) {
  AccuracySummary out;
  double sum = 0.0;
  for (const Sample* s : live_among(round, among)) {
    ++out.live;
    const std::optional<double>& accuracy = served ? s->local_average_accuracy : s->accuracy;
    if (!accuracy || !holds_evaluated_model(*s)) {
      if (accuracy && out.not_training.empty())
        out.not_training = "peer " + std::to_string(s->peer) + " is " + s->training_state;
      continue;
    }
    const double a = *accuracy;
    if (out.reporting == 0) out.min = out.max = a;
    out.min = std::min(out.min, a);
    out.max = std::max(out.max, a);
    sum += a;
    ++out.reporting;
  }
  if (out.reporting > 0) out.mean = sum / out.reporting;
  return out;
}

std::optional<double> mean_consensus_distance(const Round& round, const std::optional<std::set<int>>& among) {
  double sum = 0.0;
  int count = 0;
  for (const Sample* s : live_among(round, among)) {
    if (!s->consensus_distance) continue;
    sum += *s->consensus_distance;
    ++count;
  }
  if (count == 0) return std::nullopt;
  return sum / count;
}

namespace {

using detail::sample_of;
using detail::selected;

std::string fmt(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}
std::string num(double value) { return fmt("%.3f", value); }
std::string secs(double value) { return fmt("%.1f s", value); }

// The peer's accuracy as of its latest answer at or before t (any life):
// none when that answer said it holds no evaluated model (failed or
// downloading: its last evaluation was of a model it threw away), with the
// state that says so. Counted, the simulator's byzantine-one-noclip passed
// peer_accuracy at 0.858 with every replica diverged.
struct AccuracyAt {
  std::optional<double> accuracy;
  std::string not_held;  // the training state when the latest answer holds no evaluated model
};
AccuracyAt accuracy_at(const Observations& obs, int peer, double t) {
  AccuracyAt found;
  for (const Round& round : obs.rounds) {
    if (round.t > t + 1e-9) break;
    for (const Sample& s : round.samples) {
      if (s.peer != peer || !s.answered) continue;
      if (!holds_evaluated_model(s)) {
        found = AccuracyAt{std::nullopt, s.training_state};
      } else if (s.accuracy) {
        found = AccuracyAt{s.accuracy, ""};
      }
    }
  }
  return found;
}

// Why a round is not converged, or "" when it is: some honest peer runs,
// every honest live peer lists every other honest live peer alive and every
// departed process dead or left (or has forgotten it); every running peer
// answered. A byzantine
// peer's view is its own business, and how honest peers list it (alive,
// suspect or dead) is no disagreement of theirs.
std::string convergence_gap(const Round& round, const Observations& obs) {
  std::set<std::string> departed(round.departed_ids.begin(), round.departed_ids.end());
  for (const Sample& s : round.samples) {
    if (s.phase == PeerPhase::running && !s.answered) return "peer " + std::to_string(s.peer) + " did not answer";
  }
  const std::vector<const Sample*> live = detail::honest_viewers(round, obs);
  // Nobody to agree: an empty swarm has not converged (it read as converged,
  // so a run that lost every peer passed).
  if (live.empty()) return "no honest peer runs";
  for (const Sample* viewer : live) {
    std::map<std::string, std::string> seen;
    for (const MemberSeen& m : viewer->members) seen[m.node_id] = m.state;
    for (const Sample* other : live) {
      if (other == viewer) continue;
      auto found = seen.find(other->node_id);
      if (found == seen.end()) {
        return "peer " + std::to_string(viewer->peer) + " does not list peer " + std::to_string(other->peer);
      }
      if (found->second != "alive") {
        return "peer " + std::to_string(viewer->peer) + " sees peer " + std::to_string(other->peer) + " as " +
               found->second;
      }
    }
    for (const auto& [id, state] : seen) {
      if (departed.count(id) && state != "dead" && state != "left") {
        return "peer " + std::to_string(viewer->peer) + " sees departed " + id.substr(0, 12) + " as " + state;
      }
    }
  }
  return "";
}

class Evaluator {
 public:
  Evaluator(const Scenario& s, const Observations& o) : s_(s), obs_(o) {}

  // The peers an end-of-run expectation judges: all live ones unless it
  // names some (`peers = "honest"` leaves the attackers' own models out).
  std::optional<std::set<int>> chosen(const Expectation& x) const {
    if (!x.peers) return std::nullopt;
    const std::vector<int> picked = selected(x.peers, obs_, false);
    return std::set<int>(picked.begin(), picked.end());
  }
  static std::string which(const Expectation& x) {
    if (!x.peers) return "";
    switch (x.peers->kind) {
      case PeerSelector::Kind::honest: return " (honest)";
      case PeerSelector::Kind::all: return "";
      case PeerSelector::Kind::fraction: return " (a fraction)";
      case PeerSelector::Kind::list: return " [" + detail::names(x.peers->peers) + "]";
    }
    return "";
  }

  Outcome run(const Expectation& x) {
    Outcome out;
    out.name = to_string(x.kind);
    out.line = x.line;
    if (obs_.rounds.empty()) {
      out.requirement = out.name;
      out.measured = "no observations (the run ended before the first poll)";
      return out;
    }
    const Round& end = obs_.rounds.back();
    switch (x.kind) {
      case ExpectKind::min_accuracy:
      case ExpectKind::mean_accuracy:
      case ExpectKind::max_accuracy_spread: {
        const bool is_min = x.kind == ExpectKind::min_accuracy;
        const bool is_mean = x.kind == ExpectKind::mean_accuracy;
        const auto among = chosen(x);
        out.requirement = std::string(is_min ? "lowest" : is_mean ? "mean" : "spread (highest - lowest) of") +
                          (x.served ? " served" : "") + " test accuracy of live peers" + which(x) + " at the end " +
                          (is_min || is_mean ? ">= " : "<= ") + num(x.value);
        const AccuracySummary a = summarize_accuracy(end, among, x.served);
        for (const Sample& sample : end.samples) {
          if (among && !among->count(sample.peer)) continue;
          if (sample.phase == PeerPhase::running && !sample.answered) {
            out.measured = "peer " + std::to_string(sample.peer) + " runs but did not answer at the end";
            return out;
          }
        }
        if (a.live == 0) {
          out.measured = "no live peer answered at the end";
          return out;
        }
        if (a.reporting < a.live) {
          out.measured = std::to_string(a.live - a.reporting) + " of " + std::to_string(a.live) +
                         " live peers reported no " + (x.served ? "served model's " : "") +
                         "test accuracy of a model they hold (do they train?" +
                         (a.not_training.empty() ? std::string() : " " + a.not_training + ", its last evaluation ignored") +
                         ")";
          return out;
        }
        const double v = is_min ? a.min : is_mean ? a.mean : a.max - a.min;
        out.passed = is_min || is_mean ? v >= x.value : v <= x.value;
        out.measured = num(v) + " over " + std::to_string(a.live) + " peers";
        if (!out.passed) {
          out.measured += (is_min || is_mean ? "; short by " : "; over by ") + fmt("%.4f", std::abs(v - x.value));
        }
        return out;
      }
      case ExpectKind::peer_accuracy: {
        const double at = x.at_seconds.value_or(obs_.end_seconds);
        out.requirement = "test accuracy of each selected peer at " + secs(at) + " >= " + num(x.value);
        std::string worst;
        double worst_value = 2.0;
        int checked = 0;
        for (int p : selected(x.peers, obs_, false)) {
          const AccuracyAt a = accuracy_at(obs_, p, at);
          ++checked;
          if (!a.accuracy) {
            out.measured = "peer " + std::to_string(p) +
                           (a.not_held.empty() ? " reported no accuracy by " + secs(at)
                                               : " held no evaluated model at " + secs(at) + " (it was " + a.not_held +
                                                     ", its last evaluation ignored)");
            return out;
          }
          if (*a.accuracy < worst_value) {
            worst_value = *a.accuracy;
            worst = "peer " + std::to_string(p);
          }
        }
        if (checked == 0) {
          out.measured = "no selected peer was ever started";
          return out;
        }
        out.passed = worst_value >= x.value;
        out.measured = "lowest " + num(worst_value) + " (" + worst + ")";
        if (!out.passed) out.measured += "; short by " + num(x.value - worst_value);
        return out;
      }
      case ExpectKind::keeps_improving: {
        // Single evaluations jitter by about half a point near a plateau, so
        // each side is the mean over a window: [after - window, after] and
        // the last `window` seconds of the run.
        const double w = x.window_seconds;
        out.requirement = "every peer running at " + secs(x.after_seconds) + " and live at the end gains >= " +
                          num(x.value) + " mean" + (x.served ? " served" : "") + " accuracy (" + secs(w) +
                          " windows) in between";
        int checked = 0;
        double worst_gain = 2.0;
        int worst_peer = -1;
        for (const Sample* s : live_samples(end)) {
          auto before = mean_accuracy(s->peer, s->life, x.after_seconds - w, x.after_seconds, x.served);
          auto after = mean_accuracy(s->peer, s->life, end.t - w, end.t, x.served);
          // Only peers that were up then, in the same process, are compared.
          if (!before || !after) continue;
          ++checked;
          const double gain = *after - *before;
          if (gain < worst_gain) {
            worst_gain = gain;
            worst_peer = s->peer;
          }
        }
        if (checked == 0) {
          out.measured = "no peer reported accuracy both before " + secs(x.after_seconds) + " and at the end";
          return out;
        }
        out.passed = worst_gain >= x.value;
        out.measured = "smallest gain " + fmt("%+.4f", worst_gain) + " (peer " + std::to_string(worst_peer) + ", " +
                       std::to_string(checked) + " peers compared)";
        return out;
      }
      case ExpectKind::catch_up: return catch_up(x);
      case ExpectKind::max_consensus_distance: {
        out.requirement = "mean consensus distance of live peers" + which(x) + " at the end <= " + fmt("%.3g", x.value);
        auto d = mean_consensus_distance(end, chosen(x));
        if (!d) {
          out.measured = "no live peer reported a consensus distance";
          return out;
        }
        out.passed = *d <= x.value;
        out.measured = fmt("%.3g", *d);
        if (!out.passed) out.measured += fmt(" (%.1fx the bound)", *d / std::max(x.value, 1e-300));
        return out;
      }
      case ExpectKind::membership_converged: {
        const double from = obs_.last_event_seconds;
        out.requirement = "membership converged within " + secs(x.within_seconds) + " of the last event (at " +
                          secs(from) + ")";
        std::string last_gap = "no poll after the last event";
        // Rounds that did not read the views (a large simulated swarm) say
        // nothing either way; the outcome says how coarse the rest was.
        int judged = 0, skipped = 0;
        const auto resolution = [&] {
          return skipped == 0 ? std::string()
                              : " (views read in " + std::to_string(judged) + " of " + std::to_string(judged + skipped) +
                                    " polls since)";
        };
        // Converged first at some poll, and again in the run's last `within`
        // seconds: a poll taken as a lasting fault began (views still right
        // because nothing had happened yet) passed alone before.
        std::optional<double> first;
        bool converged_late = false;
        std::string late_gap;
        double late_gap_t = 0.0;
        const double late_from = obs_.end_seconds - x.within_seconds;
        for (const Round& round : obs_.rounds) {
          if (round.t + 1e-9 < from) continue;
          if (!detail::members_listed(round)) {
            ++skipped;
            continue;
          }
          ++judged;
          const std::string gap = convergence_gap(round, obs_);
          if (gap.empty()) {
            if (!first) first = round.t;
            if (round.t + 1e-9 >= late_from) converged_late = true;
          } else {
            last_gap = gap;
            if (first) {
              late_gap = gap;
              late_gap_t = round.t;
            }
          }
        }
        if (!first) {
          out.measured = "not converged by the end (" + secs(obs_.end_seconds) + "): " + last_gap + resolution();
          return out;
        }
        const double took = *first - from;
        out.passed = took <= x.within_seconds && converged_late;
        out.measured = "converged " + secs(took) + " after it" + resolution();
        if (took > x.within_seconds) out.measured += "; late by " + secs(took - x.within_seconds);
        if (!converged_late) {
          out.measured += "; but not in the last " + secs(x.within_seconds) + " of the run (at " + secs(late_gap_t) +
                          ": " + late_gap + ")";
        }
        return out;
      }
      case ExpectKind::never_dead:
      case ExpectKind::addresses_stable:
      case ExpectKind::true_alive_count: {
        Outcome found = x.kind == ExpectKind::never_dead         ? detail::check_never_dead(x, obs_)
                        : x.kind == ExpectKind::addresses_stable ? detail::check_addresses_stable(x, obs_)
                                                                 : detail::check_true_alive_count(x, obs_);
        found.name = out.name;
        found.line = out.line;
        return found;
      }
      case ExpectKind::no_crash: {
        out.requirement = "no peer process exited unless the scenario stopped it";
        out.passed = obs_.crashes.empty();
        if (out.passed) {
          out.measured = "none";
        } else {
          for (const Crash& c : obs_.crashes) {
            out.measured += (out.measured.empty() ? "" : "; ") + std::string("peer ") + std::to_string(c.peer) +
                            " at " + secs(c.t) + ": " + c.detail;
          }
        }
        return out;
      }
      case ExpectKind::max_bytes_per_peer: {
        out.requirement = "bytes sent by each peer over the run <= " + fmt("%.0f", x.value);
        // Counters restart with each process: sum each life's highest value.
        std::map<std::pair<int, int>, std::uint64_t> per_life;
        for (const Round& round : obs_.rounds) {
          for (const Sample& s : round.samples) {
            if (!s.answered) continue;
            auto& v = per_life[{s.peer, s.life}];
            v = std::max(v, s.bytes_sent);
          }
        }
        std::map<int, double> per_peer;
        for (const auto& [key, bytes] : per_life) per_peer[key.first] += static_cast<double>(bytes);
        if (per_peer.empty()) {
          out.measured = "no peer answered";
          return out;
        }
        auto worst = std::max_element(per_peer.begin(), per_peer.end(),
                                      [](const auto& a, const auto& b) { return a.second < b.second; });
        out.passed = worst->second <= x.value;
        out.measured = fmt("%.0f", worst->second) + " bytes (peer " + std::to_string(worst->first) + ")";
        if (!out.passed) out.measured += fmt("; %.2fx the bound", worst->second / std::max(x.value, 1.0));
        return out;
      }
    }
    return out;
  }

 private:
  Outcome catch_up(const Expectation& x) {
    Outcome out;
    out.name = to_string(x.kind);
    out.line = x.line;
    out.requirement = "peer " + std::to_string(x.peer) + " reaches the other live peers' mean accuracy minus " +
                      num(x.value) + " within " + secs(x.within_seconds) + " of starting";
    const std::size_t index = static_cast<std::size_t>(x.peer);
    if (index >= obs_.started_at.size() || obs_.started_at[index] < 0.0) {
      out.measured = "peer " + std::to_string(x.peer) + " never started";
      return out;
    }
    const double start = obs_.started_at[index];
    std::optional<double> last_gap;
    for (const Round& round : obs_.rounds) {
      if (round.t < start) continue;
      if (round.t > start + x.within_seconds + 1e-9) break;
      const Sample* mine = sample_of(round, x.peer);
      if (mine == nullptr || !mine->answered || !mine->accuracy || !holds_evaluated_model(*mine)) continue;
      double sum = 0.0;
      int count = 0;
      for (const Sample* s : live_samples(round)) {
        if (s->peer == x.peer || !s->accuracy || !holds_evaluated_model(*s)) continue;
        sum += *s->accuracy;
        ++count;
      }
      if (count == 0) continue;
      const double gap = sum / count - *mine->accuracy;
      last_gap = gap;
      if (gap <= x.value) {
        out.passed = true;
        out.measured = "within " + num(std::max(gap, 0.0)) + " after " + secs(round.t - start);
        return out;
      }
    }
    out.measured = last_gap ? "still " + num(*last_gap) + " behind at the end of the window"
                            : "no accuracy from it (or the others) within the window";
    return out;
  }

  // The mean of a peer's accuracies in [from, to], from one process (life).
  std::optional<double> mean_accuracy(int peer, int life, double from, double to, bool served) const {
    double sum = 0.0;
    int count = 0;
    for (const Round& round : obs_.rounds) {
      if (round.t + 1e-9 < from || round.t > to + 1e-9) continue;
      const Sample* s = sample_of(round, peer);
      if (s == nullptr || s->life != life || !s->answered) continue;
      const std::optional<double>& accuracy = served ? s->local_average_accuracy : s->accuracy;
      if (!accuracy || !holds_evaluated_model(*s)) continue;
      sum += *accuracy;
      ++count;
    }
    if (count == 0) return std::nullopt;
    return sum / count;
  }

  const Scenario& s_;
  const Observations& obs_;
};

}  // namespace

std::vector<Outcome> evaluate(const Scenario& scenario, const Observations& observations) {
  Evaluator evaluator(scenario, observations);
  std::vector<Outcome> out;
  for (const Expectation& x : scenario.expectations) out.push_back(evaluator.run(x));
  return out;
}

}  // namespace starling::scenario
