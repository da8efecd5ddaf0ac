// never_dead, addresses_stable and true_alive_count: what honest peers
// believe about each other, read from the member lists of every poll. A
// byzantine peer's own view is not evidence (it may lie to itself too), so
// only honest viewers count.
#include "membership_checks.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <string>

namespace starling::scenario::detail {
namespace {

std::string secs(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f s", value);
  return buffer;
}

bool is_byzantine(const Observations& obs, int peer) {
  const auto index = static_cast<std::size_t>(peer);
  return index < obs.byzantine.size() && obs.byzantine[index];
}

// Honest peers when the expectation names none.
std::optional<PeerSelector> or_honest(const std::optional<PeerSelector>& selector) {
  if (selector) return selector;
  PeerSelector honest;
  honest.kind = PeerSelector::Kind::honest;
  return honest;
}

}  // namespace

std::string names(const std::vector<int>& peers) {
  std::string out;
  for (int p : peers) out += (out.empty() ? "" : ",") + std::to_string(p);
  return out;
}

std::vector<int> selected(const std::optional<PeerSelector>& selector, const Observations& obs, bool default_unfaulted) {
  std::vector<int> out;
  const int total = static_cast<int>(obs.started_at.size());
  if (selector && selector->kind == PeerSelector::Kind::list) {
    for (int p : selector->peers) {
      if (p < total) out.push_back(p);
    }
    return out;
  }
  for (int p = 0; p < total; ++p) {
    if (obs.started_at[static_cast<std::size_t>(p)] < 0.0) continue;
    if (!selector && default_unfaulted && obs.faulted[static_cast<std::size_t>(p)]) continue;
    if (selector && selector->kind == PeerSelector::Kind::honest && is_byzantine(obs, p)) continue;
    out.push_back(p);
  }
  return out;
}

const Sample* sample_of(const Round& round, int peer) {
  for (const Sample& s : round.samples) {
    if (s.peer == peer) return &s;
  }
  return nullptr;
}

bool members_listed(const Round& round) {
  return std::all_of(round.samples.begin(), round.samples.end(),
                     [](const Sample& s) { return !s.answered || s.members_listed; });
}

std::vector<const Sample*> honest_viewers(const Round& round, const Observations& obs) {
  std::vector<const Sample*> out;
  for (const Sample* s : live_samples(round)) {
    if (!is_byzantine(obs, s->peer)) out.push_back(s);
  }
  return out;
}

namespace {

// An expectation whose peers are none judges nothing, and passing it would
// say that something held: `never_dead` by default protects the peers no
// event touched, none once `pause peers = "all"` ran. It fails, saying so.
bool judges_nobody(const std::vector<int>& peers, const Expectation& x, Outcome& out) {
  if (!peers.empty()) return false;
  out.passed = false;
  out.measured = x.peers ? "no peer to judge: the peers named never ran"
                         : "no peer to judge: an event faulted every peer; name the peers with peers = [...]";
  return true;
}

}  // namespace

Outcome check_never_dead(const Expectation& x, const Observations& obs) {
  Outcome out;
  const std::vector<int> protect = selected(x.peers, obs, true);
  const bool strict = !(x.max_seconds > 0.0);
  out.requirement = "no honest live peer lists peers [" + names(protect) + "] as dead while they run" +
                    (strict ? std::string() : " for longer than " + secs(x.max_seconds) + " at a stretch");
  if (judges_nobody(protect, x, out)) return out;
  int sightings = 0;
  std::string first;
  double longest = 0.0;
  std::string longest_where;
  // (viewer, subject) -> the first poll of the current stretch; used when a
  // peer does not report how long it has listed the member in that state.
  std::map<std::pair<int, int>, double> dead_since;
  for (const Round& round : obs.rounds) {
    if (!members_listed(round)) continue;
    std::map<std::string, int> protected_ids;
    for (int p : protect) {
      const Sample* s = sample_of(round, p);
      if (s != nullptr && s->phase == PeerPhase::running && !s->node_id.empty()) protected_ids[s->node_id] = p;
    }
    std::set<std::pair<int, int>> dead_now;
    for (const Sample* viewer : honest_viewers(round, obs)) {
      for (const MemberSeen& m : viewer->members) {
        auto found = protected_ids.find(m.node_id);
        if (found == protected_ids.end() || m.state != "dead") continue;
        const std::pair<int, int> key{viewer->peer, found->second};
        dead_now.insert(key);
        const double since = dead_since.emplace(key, round.t).first->second;
        const double stretch = m.state_age_seconds ? *m.state_age_seconds : round.t - since;
        if (sightings++ == 0) {
          first = "at " + secs(round.t) + " peer " + std::to_string(viewer->peer) + " listed peer " +
                  std::to_string(found->second) + " as dead";
        }
        if (stretch >= longest) {
          longest = stretch;
          longest_where = "peer " + std::to_string(viewer->peer) + " listed peer " + std::to_string(found->second) +
                          " dead for " + secs(stretch) + " at " + secs(round.t);
        }
      }
    }
    std::erase_if(dead_since, [&](const auto& entry) { return !dead_now.count(entry.first); });
  }
  out.passed = strict ? sightings == 0 : longest <= x.max_seconds;
  out.measured = sightings == 0 ? "never"
                                : std::to_string(sightings) + " sightings; first " + first + "; longest stretch: " +
                                      longest_where;
  return out;
}

Outcome check_addresses_stable(const Expectation& x, const Observations& obs) {
  Outcome out;
  const std::vector<int> subjects = selected(or_honest(x.peers), obs, false);
  out.requirement = "no honest live peer lists peers [" + names(subjects) + "] at an address other than their own";
  if (judges_nobody(subjects, x, out)) return out;
  int wrong = 0;
  std::string first;
  std::set<std::string> wrong_addresses;
  for (const Round& round : obs.rounds) {
    if (!members_listed(round)) continue;
    std::map<std::string, const Sample*> real;  // node id -> the subject's sample
    for (int p : subjects) {
      const Sample* s = sample_of(round, p);
      if (s != nullptr && !s->node_id.empty() && !s->address.empty()) real[s->node_id] = s;
    }
    for (const Sample* viewer : honest_viewers(round, obs)) {
      for (const MemberSeen& m : viewer->members) {
        auto found = real.find(m.node_id);
        if (found == real.end() || m.address == found->second->address) continue;
        wrong_addresses.insert(m.address);
        if (wrong++ == 0) {
          first = "at " + secs(round.t) + " peer " + std::to_string(viewer->peer) + " listed peer " +
                  std::to_string(found->second->peer) + " at " + m.address + " (" + m.state + "; really " +
                  found->second->address + ")";
        }
      }
    }
  }
  out.passed = wrong == 0;
  out.measured = out.passed ? "always their own"
                            : std::to_string(wrong) + " sightings of " + std::to_string(wrong_addresses.size()) +
                                  " wrong addresses; first " + first;
  return out;
}

Outcome check_true_alive_count(const Expectation& x, const Observations& obs) {
  Outcome out;
  const std::vector<int> chosen = selected(or_honest(x.peers), obs, false);
  const std::set<int> viewers_wanted(chosen.begin(), chosen.end());
  out.requirement = "peers [" + names(chosen) +
                    "] never list more members alive than other peer processes are up (running or paused), and "
                    "at the end every other honest running peer alive or suspected (not dead, not missing)";
  if (judges_nobody(chosen, x, out)) return out;
  int over = 0;
  int worst_excess = 0;
  std::string worst;
  for (const Round& round : obs.rounds) {
    if (!members_listed(round)) continue;
    int up = 0;
    for (const Sample& s : round.samples) up += s.phase != PeerPhase::down;
    for (const Sample* viewer : honest_viewers(round, obs)) {
      if (!viewers_wanted.count(viewer->peer)) continue;
      const auto alive = static_cast<int>(std::count_if(viewer->members.begin(), viewer->members.end(),
                                                        [](const MemberSeen& m) { return m.state == "alive"; }));
      const int excess = alive - (up - 1);
      if (excess <= 0) continue;
      ++over;
      if (excess > worst_excess) {
        worst_excess = excess;
        worst = "peer " + std::to_string(viewer->peer) + " listed " + std::to_string(alive) + " alive at " +
                secs(round.t) + " (" + std::to_string(up - 1) + " others up)";
      }
    }
  }
  std::string end_gap;
  int checked_at_end = 0;
  int suspected_at_end = 0;  // honest peers an honest viewer lists as suspect at the end
  if (!obs.rounds.empty()) {
    const Round& end = obs.rounds.back();
    int running = 0;
    for (const Sample& s : end.samples) running += s.phase == PeerPhase::running;
    // At the end every honest running peer must be listed alive or suspected
    // by every other honest one: neither dead nor pushed out of the view. A
    // suspicion is SWIM at work, not a fault: any member may spread one (a
    // flooder's own probes drown in its flood, and it suspects honest peers),
    // and the accused refutes it within a gossip round. A final poll that
    // fell inside that round failed member-flood once (session 36). A
    // misbehaving peer may rightly be dead or missing, so it is not required.
    const std::vector<const Sample*> honest = honest_viewers(end, obs);
    for (const Sample* viewer : honest) {
      if (!viewers_wanted.count(viewer->peer)) continue;
      ++checked_at_end;
      const auto alive = static_cast<int>(std::count_if(viewer->members.begin(), viewer->members.end(),
                                                        [](const MemberSeen& m) { return m.state == "alive"; }));
      for (const Sample* other : honest) {
        if (other == viewer || other->phase != PeerPhase::running || other->node_id.empty()) continue;
        const bool listed_up = std::any_of(viewer->members.begin(), viewer->members.end(), [&](const MemberSeen& m) {
          return m.node_id == other->node_id && (m.state == "alive" || m.state == "suspect");
        });
        suspected_at_end += std::any_of(viewer->members.begin(), viewer->members.end(), [&](const MemberSeen& m) {
          return m.node_id == other->node_id && m.state == "suspect";
        });
        if (!listed_up && end_gap.empty()) {
          end_gap = "at the end peer " + std::to_string(viewer->peer) + " did not list honest peer " +
                    std::to_string(other->peer) + " alive or suspected (" + std::to_string(alive) + " alive, " +
                    std::to_string(running - 1) + " others run)";
        }
      }
    }
  }
  out.passed = over == 0 && end_gap.empty() && checked_at_end > 0;
  if (checked_at_end == 0) {
    out.measured = "no selected peer answered at the end";
  } else if (out.passed) {
    out.measured = "never above; every honest peer alive at the end (" + std::to_string(checked_at_end) + " viewers)";
    if (suspected_at_end > 0)
      out.measured = "never above; every honest peer alive or suspected at the end (" +
                     std::to_string(checked_at_end) + " viewers, " + std::to_string(suspected_at_end) +
                     " suspicions)";
  } else {
    out.measured = over == 0 ? end_gap
                             : std::to_string(over) + " polls above the true count; worst " + worst +
                                   (end_gap.empty() ? "; equal at the end" : "; " + end_gap);
  }
  return out;
}

}  // namespace starling::scenario::detail
