#include "starling/scenario/timeline_runner.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include "fault_layers.h"
#include "starling/assert.h"
#include "starling/scenario/timeline.h"

namespace starling::scenario {
namespace {

using nlohmann::json;

// Never throws: a record may quote text a peer reported (invalid UTF-8).
std::string json_text(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string fmt(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

std::string list_text(const std::vector<int>& peers) {
  std::string out;
  for (int p : peers) out += (out.empty() ? "" : ",") + std::to_string(p);
  return out;
}

// Below the backends' clock resolution (the simulator counts microseconds).
constexpr double kClockSlackSeconds = 1e-7;

class Executor final : public SwarmLog {
 public:
  Executor(const Scenario& s, SwarmBackend& b, const TimelineOptions& o)
      : s_(s), b_(b), o_(o), rng_(o.seed), timeline_(make_timeline(s)), next_join_(s.swarm.peers) {
    const auto total = static_cast<std::size_t>(s.total_peers());
    obs().started_at.assign(total, -1.0);
    obs().faulted.assign(total, false);
    obs().byzantine.assign(total, false);
    phase_.assign(total, PeerPhase::down);
  }

  TimelineResult run() {
    if (start()) loop();
    finish();
    return std::move(result_);
  }

  // ---- SwarmLog --------------------------------------------------------------

  void note(const std::string& kind, const std::string& label, const std::string& fields_json, bool marker) override {
    json record = json::parse(fields_json, nullptr, false);
    if (!record.is_object()) record = json{{"fields", fields_json}};
    log(kind, label, std::move(record), marker);
  }

  void crashed(int peer, const std::string& detail) override {
    obs().crashes.push_back(Crash{peer, now(), detail});
    if (peer >= 0 && peer < static_cast<int>(phase_.size())) phase_[static_cast<std::size_t>(peer)] = PeerPhase::down;
  }

  void problem(const std::string& what, const std::string& why) override {
    const std::string text = what + " at " + fmt("%.1f s", now()) + ": " + why;
    result_.problems.push_back(text);
    if (o_.on_problem) o_.on_problem(text);
    log("runner_problem", "", json{{"what", what}, {"why", why}}, false);
  }

 private:
  Observations& obs() { return result_.observations; }
  const Observations& obs() const { return result_.observations; }
  // Scenario time: the backend's clock from the moment the swarm was ready.
  double now() const { return b_.now_seconds() - origin_; }
  bool stop_requested() const { return o_.stop_requested && o_.stop_requested(); }

  void log(const std::string& kind, const std::string& label, json record, bool marker) {
    const double t = now();
    record["t"] = std::round(t * 1000.0) / 1000.0;
    if (!record.contains("event")) record["event"] = kind;
    obs().events.push_back(LoggedEvent{t, kind, label, json_text(record), marker});
  }

  // Peers 0..peers-1; t = 0 once all are ready.
  bool start() {
    const Problems problems = b_.start_swarm(s_.swarm.peers, *this);
    if (!problems.empty()) {
      for (const Problem& p : problems) result_.problems.push_back(p.why);
      return false;
    }
    const double startup = b_.now_seconds();
    origin_ = startup;
    for (int p = 0; p < s_.swarm.peers; ++p) {
      obs().started_at[static_cast<std::size_t>(p)] = 0.0;
      phase_[static_cast<std::size_t>(p)] = PeerPhase::running;
    }
    // Start-up happened before t = 0; its records keep when, relative to the first start.
    for (LoggedEvent& e : obs().events) {
      json record = json::parse(e.json);
      record["startup_t"] = record["t"];
      record["t"] = 0.0;
      e.json = json_text(record);
      e.t = 0.0;
    }
    if (o_.on_ready) o_.on_ready(startup);
    log("swarm_ready", "", json{{"peers", s_.swarm.peers}, {"startup_seconds", startup}}, false);
    return true;
  }

  void loop() {
    double next_poll = 0.0;
    while (true) {
      if (stop_requested()) {
        obs().interrupted = true;
        log("interrupted", "interrupted", json::object(), true);
        return;
      }
      // now() is the backend's clock minus the start-up time: after
      // advance_to(x + origin_) it may read a hair below x (floating point;
      // seen with 200 simulated peers, whose start-up took 0.199 s), and the
      // loop would then wait for x forever. Within a microsecond is there.
      const double t = now() + kClockSlackSeconds;
      while (next_ < timeline_.size() && timeline_[next_].at_seconds <= t) {
        execute(timeline_[next_]);
        obs().last_event_seconds = now();
        ++next_;
      }
      if (t >= s_.duration_seconds) break;
      if (t >= next_poll) {
        sample(now(), false);
        if (o_.end_early && o_.end_early()) break;
        next_poll += s_.poll_interval_seconds;
        if (next_poll < now()) next_poll = now() + s_.poll_interval_seconds / 2;  // rounds never pile up
      }
      double wake = std::min(next_poll, s_.duration_seconds);
      if (next_ < timeline_.size()) wake = std::min(wake, timeline_[next_].at_seconds);
      b_.advance_to(wake + origin_);
    }
    // The final round: what the expectations "at the end" read.
    sample(now(), true);
  }

  void finish() {
    obs().end_seconds = now();
    b_.shutdown();
    log("end", "", json{{"interrupted", obs().interrupted}, {"problems", result_.problems}}, false);
  }

  // ---- sampling ----------------------------------------------------------------

  void sample(double t, bool final_round) {
    SampleRequest request;
    request.final_round = final_round;
    if (next_ < timeline_.size()) request.next_action_seconds = timeline_[next_].at_seconds + origin_;
    Round round;
    round.t = t;
    round.samples = b_.sample(request);
    // A node id once seen and now not held by a peer that runs (or is
    // paused) belongs to a process that ended or was replaced by a new identity.
    std::set<std::string> held;
    Progress progress;
    for (const Sample& s : round.samples) {
      if (s.node_id.empty()) continue;
      seen_ids_.insert(s.node_id);
      if (s.phase != PeerPhase::down) held.insert(s.node_id);
    }
    for (const std::string& id : seen_ids_) {
      if (!held.count(id)) round.departed_ids.push_back(id);
    }
    for (const Sample& s : round.samples) {
      progress.running += s.phase == PeerPhase::running;
      progress.paused += s.phase == PeerPhase::paused;
    }
    for (const Sample& s : round.samples) member_entries_ += s.members.size();
    obs().rounds.push_back(std::move(round));
    thin_views();
    if (!o_.on_progress) return;
    progress.round = &obs().rounds.back();
    progress.final_round = final_round;
    if (next_ < timeline_.size()) {
      const Action& a = timeline_[next_];
      progress.next_action = action_name(s_.events[a.event].kind, a.undo) + fmt(" at %.0f s", a.at_seconds);
    }
    o_.on_progress(progress);
  }

  static constexpr std::size_t kMinViewRounds = 8;
  static bool has_views(const Round& r) {
    for (const Sample& sample : r.samples)
      if (sample.members_listed) return true;
    return false;
  }

  // Rounds keep their views only at multiples of a stride (the newest one
  // always, for the progress line and the end); past the budget the stride
  // doubles and the rounds off it let go of theirs, so the record stays
  // evenly spaced, coarser the longer the run.
  void thin_views() {
    std::vector<Round>& rounds = obs().rounds;
    const auto drop_views = [this](Round& r) {
      for (Sample& s : r.samples) {
        member_entries_ -= s.members.size();
        std::vector<MemberSeen>().swap(s.members);
        s.members_listed = false;
      }
    };
    const std::size_t newest = rounds.size() - 1;
    if (newest > 0 && (newest - 1) % view_stride_ != 0) drop_views(rounds[newest - 1]);  // kept as the newest only
    if (o_.max_member_entries == 0) return;
    // Rounds that would keep their views at twice the stride (the newest aside).
    const auto kept_at = [&](std::size_t stride) {
      std::size_t kept = 0;
      for (std::size_t i = 0; i < newest; i += stride) kept += has_views(rounds[i]) ? 1 : 0;
      return kept;
    };
    // Never fewer than kMinViewRounds: at 1,024 peers one round is ~1 M
    // entries, and the budget alone left only the first round's views, so
    // membership_converged could not be judged after any event.
    while (member_entries_ > o_.max_member_entries && view_stride_ < rounds.size() &&
           kept_at(view_stride_ * 2) >= kMinViewRounds) {
      view_stride_ *= 2;
      for (std::size_t i = 0; i < newest; ++i)
        if (i % view_stride_ != 0) drop_views(rounds[i]);
    }
  }

  // ---- events ------------------------------------------------------------------

  std::vector<int> live() const {
    std::vector<int> out;
    for (std::size_t i = 0; i < phase_.size(); ++i) {
      if (phase_[i] == PeerPhase::running) out.push_back(static_cast<int>(i));
    }
    return out;
  }

  // Every process that exists, running or paused: what a kill's or stop's
  // "all" and "fraction" draw from. Drawn from the running ones, `kill
  // "all"` left a paused peer to resume and run on, while the parser warned
  // that every peer was down from then.
  std::vector<int> up() const {
    std::vector<int> out;
    for (std::size_t i = 0; i < phase_.size(); ++i) {
      if (phase_[i] != PeerPhase::down) out.push_back(static_cast<int>(i));
    }
    return out;
  }

  // Every peer started so far, running or not: what a restart's "all" and
  // "fraction" draw from, since a restart brings back peers that are down
  // (drawn from the running ones, `kill "all"` then `restart "all"` left
  // the swarm empty and every expectation judged nobody).
  std::vector<int> started() const {
    std::vector<int> out;
    for (std::size_t i = 0; i < obs().started_at.size(); ++i) {
      if (obs().started_at[i] >= 0.0) out.push_back(static_cast<int>(i));
    }
    return out;
  }

  void set_phase(const std::vector<int>& peers, PeerPhase to, const Problems& failed) {
    std::set<int> skip;
    for (const Problem& p : failed) skip.insert(p.peer);
    for (int p : peers) {
      if (!skip.count(p)) phase_[static_cast<std::size_t>(p)] = to;
    }
  }

  std::vector<int> targets_of(const Action& action, const Event& e) {
    std::vector<int> targets;
    if (action.undo) return resolved_[action.event];
    switch (e.kind) {
      case EventKind::seed_down: targets = {0}; break;
      case EventKind::partition:
        for (const auto& group : e.groups) targets.insert(targets.end(), group.begin(), group.end());
        break;
      case EventKind::join:
        for (int i = 0; i < e.count; ++i) targets.push_back(next_join_ + i);
        break;
      case EventKind::heal: break;  // whoever holds a block (below)
      case EventKind::restart: targets = resolve(e.targets, started(), rng_); break;
      case EventKind::kill:
      case EventKind::stop: targets = resolve(e.targets, up(), rng_); break;
      default: targets = resolve(e.targets, live(), rng_);
    }
    resolved_[action.event] = targets;
    return targets;
  }

  void execute(const Action& action) {
    const Event& e = s_.events[action.event];
    const std::vector<int> targets = targets_of(action, e);
    for (int p : targets) {
      if (e.kind == EventKind::join || e.kind == EventKind::restart || p >= static_cast<int>(phase_.size())) continue;
      obs().faulted[static_cast<std::size_t>(p)] = true;
      if (e.kind == EventKind::byzantine) obs().byzantine[static_cast<std::size_t>(p)] = true;
    }
    const std::string name = action_name(e.kind, action.undo);
    const std::string label = name + (targets.empty() ? "" : " " + list_text(targets));
    if (o_.on_action) o_.on_action(now(), label, e.line);
    json record{{"peers", targets}, {"line", e.line}};
    const Problems problems = apply(action, e, targets, record);
    for (const Problem& p : problems) problem(label, p.why);
    // "all" or a fraction of the running peers when none runs: the file asks
    // for something that cannot happen, which must not pass unnoticed.
    const bool selects = e.kind != EventKind::join && e.kind != EventKind::partition &&
                         e.kind != EventKind::heal && e.kind != EventKind::seed_down;
    if (!action.undo && selects && targets.empty()) {
      problem(label, std::string("peers = \"all\" or a fraction names no peer: none was running then (line ") +
                         std::to_string(e.line) + ")");
    }
    record["event"] = name;
    log(name, label, std::move(record), true);
  }

  // Carries the action out on the backend; adds what it means to `record`.
  Problems apply(const Action& action, const Event& e, const std::vector<int>& targets, json& record) {
    const bool undo = action.undo;
    if (e.kind == EventKind::heal) {
      const std::vector<int> healed(blocking_.begin(), blocking_.end());
      blocking_.clear();
      layers_.clear(EventKind::partition);
      record["peers"] = healed;
      return healed.empty() ? Problems{} : b_.heal(healed);
    }
    if (targets.empty()) return {};
    switch (e.kind) {
      case EventKind::kill:
      case EventKind::seed_down:
        set_phase(targets, PeerPhase::down, {});
        layers_.clear({EventKind::pause}, targets);  // a process that ended is paused by nobody
        return b_.kill(targets);
      case EventKind::stop:
        set_phase(targets, PeerPhase::down, {});
        layers_.clear({EventKind::pause}, targets);
        return b_.stop(targets);
      case EventKind::restart: {
        layers_.clear({EventKind::pause}, targets);
        Problems problems = b_.restart(targets, e.new_identity);
        set_phase(targets, PeerPhase::running, problems);
        return problems;
      }
      case EventKind::join: {
        const double t = std::max(0.0, now());
        Problems problems = b_.join(targets);
        set_phase(targets, PeerPhase::running, problems);
        for (int p : targets) {
          auto& started = obs().started_at[static_cast<std::size_t>(p)];
          if (started < 0.0 && phase_[static_cast<std::size_t>(p)] == PeerPhase::running) started = t;
        }
        next_join_ += e.count;
        return problems;
      }
      case EventKind::pause: return pause(action, targets, record);
      case EventKind::partition:
        record["groups"] = e.groups;
        record["one_way"] = e.one_way;
        return undo ? end_partition(action.event, targets, record) : start_partition(action.event, e);
      case EventKind::heal: return {};  // above
      case EventKind::clear_faults:
        for (int p : targets) blocking_.erase(p);
        layers_.clear({EventKind::loss, EventKind::duplicate, EventKind::delay, EventKind::bandwidth,
                       EventKind::partition},
                      targets);
        return b_.clear_faults(targets);
      case EventKind::loss:
      case EventKind::duplicate: record["percent"] = e.percent; break;
      case EventKind::delay:
        record["ms"] = e.delay_ms;
        record["jitter_ms"] = e.jitter_ms;
        break;
      case EventKind::bandwidth: record["bytes_per_second"] = e.bytes_per_second; break;
      case EventKind::straggler: record["factor"] = e.factor; break;
      case EventKind::byzantine:
        // The mode too: a membership_flood was recorded as {"scale": 1.0} alone.
        record["mode"] = to_string(e.mode);
        if (takes_scale(e.mode)) record["scale"] = e.scale;
        break;
    }
    // A fault that sets a value: on top of the others at its start; at its
    // end back to the one still in force below it (fault_layers.h).
    if (!undo) {
      layers_.push(e.kind, action.event, targets);
      return set_value(e.kind, &e, targets);
    }
    Problems problems;
    for (const auto& [top, peers] : layers_.pop(e.kind, action.event, targets)) {
      if (top) record["falls_back_to_line"] = s_.events[*top].line;
      const Problems more = set_value(e.kind, top ? &s_.events[*top] : nullptr, peers);
      problems.insert(problems.end(), more.begin(), more.end());
    }
    return problems;
  }

  // Gives `peers` the value `source` sets for `kind` (nullptr: no fault).
  Problems set_value(EventKind kind, const Event* source, const std::vector<int>& peers) {
    switch (kind) {
      case EventKind::loss: return b_.set_loss(peers, source ? source->percent / 100.0 : 0.0);
      case EventKind::duplicate: return b_.set_duplicate(peers, source ? source->percent / 100.0 : 0.0);
      case EventKind::delay:
        return source ? b_.set_delay(peers, source->delay_ms, source->jitter_ms) : b_.set_delay(peers, 0.0, 0.0);
      case EventKind::bandwidth: return b_.set_bandwidth(peers, source ? source->bytes_per_second : 0);
      case EventKind::straggler: return b_.set_straggler(peers, source ? source->factor : 1.0);
      case EventKind::byzantine:
        return source ? b_.set_byzantine(peers, source->mode, source->scale)
                      : b_.set_byzantine(peers, ByzantineMode::none, 1.0);
      default: STARLING_ASSERT_MSG(false, "not a fault with a value"); return {};
    }
  }

  // A pause holds its peers until its end, and a peer another pause still
  // holds stays paused. The record names the peers it paused or resumed; a
  // peer that was down is listed as such (its pause and resume did nothing).
  Problems pause(const Action& action, const std::vector<int>& targets, json& record) {
    std::vector<int> change;
    if (!action.undo) {
      std::vector<int> held;
      std::vector<int> down;
      for (int p : targets) {
        const PeerPhase phase = phase_[static_cast<std::size_t>(p)];
        if (phase == PeerPhase::running) change.push_back(p);
        (phase == PeerPhase::down ? down : held).push_back(p);
      }
      layers_.push(EventKind::pause, action.event, held);
      record["peers"] = held;
      if (!down.empty()) record["down"] = down;
      if (change.empty()) return {};
      Problems problems = b_.pause(change);
      set_phase(change, PeerPhase::paused, problems);
      return problems;
    }
    for (const auto& [top, peers] : layers_.pop(EventKind::pause, action.event, targets)) {
      if (top) {
        record["still_paused_by_line"] = s_.events[*top].line;
        continue;
      }
      for (int p : peers) {
        if (phase_[static_cast<std::size_t>(p)] == PeerPhase::paused) change.push_back(p);
      }
    }
    record["peers"] = change;
    std::vector<int> down;
    for (int p : targets) {
      if (phase_[static_cast<std::size_t>(p)] == PeerPhase::down) down.push_back(p);
    }
    if (!down.empty()) record["down"] = down;
    if (change.empty()) return {};
    Problems problems = b_.resume(change);
    set_phase(change, PeerPhase::running, problems);
    return problems;
  }

  Problems start_partition(std::size_t index, const Event& e) {
    std::vector<int> members;
    for (const auto& group : e.groups) members.insert(members.end(), group.begin(), group.end());
    layers_.push(EventKind::partition, index, members);
    if (e.one_way) {
      blocking_.insert(e.groups[0].begin(), e.groups[0].end());
    } else if (e.groups.size() > 1) {
      blocking_.insert(members.begin(), members.end());
    }
    return b_.partition(e.groups, e.one_way);
  }

  // The end of one partition heals its peers, then puts back the blocks of
  // the partitions still in force among them.
  Problems end_partition(std::size_t index, const std::vector<int>& targets, json& record) {
    layers_.pop(EventKind::partition, index, targets);
    for (int p : targets) blocking_.erase(p);
    Problems problems = b_.heal(targets);
    const std::set<int> healed(targets.begin(), targets.end());
    for (std::size_t other : layers_.in_force(EventKind::partition)) {
      const Event& o = s_.events[other];
      std::vector<std::vector<int>> groups;
      bool touches = false;
      for (const auto& group : o.groups) {
        std::vector<int> kept;
        for (int p : group) {
          if (!layers_.holds(EventKind::partition, other, p)) continue;
          kept.push_back(p);
          touches = touches || healed.count(p) != 0;
        }
        if (!kept.empty()) groups.push_back(std::move(kept));
      }
      if (!touches || groups.size() < 2 || (o.one_way && groups.size() != o.groups.size())) continue;
      if (o.one_way) {
        blocking_.insert(groups[0].begin(), groups[0].end());
      } else {
        for (const auto& group : groups) blocking_.insert(group.begin(), group.end());
      }
      record["kept_partition_lines"].push_back(o.line);
      const Problems more = b_.partition(groups, o.one_way);
      problems.insert(problems.end(), more.begin(), more.end());
    }
    return problems;
  }

  const Scenario& s_;
  SwarmBackend& b_;
  const TimelineOptions& o_;
  std::mt19937_64 rng_;
  std::vector<Action> timeline_;
  std::size_t next_ = 0;
  int next_join_ = 0;
  double origin_ = 0.0;
  std::vector<PeerPhase> phase_;                       // as the executor's actions left them
  std::map<std::size_t, std::vector<int>> resolved_;   // event index -> peers it applied to
  std::set<int> blocking_;                             // peers that hold a partition block
  detail::FaultLayers layers_;                         // timed faults in force, per kind and peer
  std::set<std::string> seen_ids_;
  std::size_t member_entries_ = 0;  // MemberSeen entries held in obs().rounds (thin_views)
  std::size_t view_stride_ = 1;     // rounds keep views at multiples of it (thin_views)
  TimelineResult result_;
};

}  // namespace

std::string action_name(EventKind kind, bool undo) {
  if (!undo) return to_string(kind);
  switch (kind) {
    case EventKind::pause: return "resume";
    case EventKind::partition: return "heal";
    default: return std::string("end_") + to_string(kind);
  }
}

TimelineResult run_timeline(const Scenario& scenario, SwarmBackend& backend, const TimelineOptions& options) {
  Executor executor(scenario, backend, options);
  return executor.run();
}

}  // namespace starling::scenario
