#include "scenario_runner.h"

#include <nlohmann/json.hpp>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "json_text.h"
#include "scenario_processes.h"
#include "starling/crypto/keys.h"
#include "starling/runtime/control_client.h"
#include "starling/scenario/expectations.h"
#include "starling/scenario/timeline.h"

namespace starling::apps {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using scenario::EventKind;
using scenario::PeerPhase;

constexpr std::uint64_t kPollTimeoutMs = 2'000;
constexpr std::uint64_t kControlTimeoutMs = 1'500;
constexpr int kControlAttempts = 4;
constexpr double kStartTimeoutSeconds = 60.0;  // data loading included
constexpr double kStopGraceSeconds = 15.0;     // a graceful leave, then SIGKILL

std::optional<wire::NodeId> node_id_from_hex(const std::string& hex) {
  if (hex.size() != 64) return std::nullopt;
  wire::NodeId out{};
  for (std::size_t i = 0; i < 32; ++i) {
    unsigned value = 0;
    if (std::sscanf(hex.c_str() + 2 * i, "%2x", &value) != 1) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(value);
  }
  return out;
}

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

wire::ByzantineMode to_wire(scenario::ByzantineMode mode) {
  switch (mode) {
    case scenario::ByzantineMode::none: return wire::ByzantineMode::none;
    case scenario::ByzantineMode::random_deltas: return wire::ByzantineMode::random_deltas;
    case scenario::ByzantineMode::scaled_deltas: return wire::ByzantineMode::scaled_deltas;
    case scenario::ByzantineMode::garbage_frames: return wire::ByzantineMode::garbage_frames;
    case scenario::ByzantineMode::membership_lies: return wire::ByzantineMode::membership_lies;
    case scenario::ByzantineMode::membership_flood: return wire::ByzantineMode::membership_flood;
  }
  return wire::ByzantineMode::none;
}

// One peer index over the run: its current process and the faults it carries.
struct Slot {
  int index = 0;
  int port = 0;
  int life = -1;  // -1: never started
  pid_t pid = 0;
  PeerPhase phase = PeerPhase::down;
  bool expect_exit = false;     // we signalled it to end
  double stop_deadline = 0.0;   // SIGTERMed: SIGKILL at this time if still there
  int identity_generation = 0;  // restart with identity = "new" bumps it
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
  // Latest status, for the progress line.
  std::optional<double> accuracy;

  bool network_faulted() const {
    return drop > 0 || duplicate > 0 || delay_ms > 0 || jitter_ms > 0 || bandwidth > 0 || !blocked.empty();
  }
  bool training_faulted() const { return slowdown != 1.0 || byzantine != scenario::ByzantineMode::none; }
};

class Runner {
 public:
  Runner(const scenario::Scenario& s, const RunnerOptions& o)
      : s_(s), o_(o), processes_(o.executable), rng_(o.seed), timeline_(scenario::make_timeline(s)) {}

  RunResult run() {
    result_.observations.interrupted = false;
    if (auto ready = prepare(); !ready) {
      result_.problems.push_back(ready.error().message);
      finish();
      return std::move(result_);
    }
    if (start_swarm()) loop();
    finish();
    return std::move(result_);
  }

 private:
  // ---- set-up ----------------------------------------------------------------

  Status prepare() {
    std::error_code ec;
    // A folder from an earlier run is reused: its peers' identities, models
    // and logs go, so runs do not leak into each other. Anything else that
    // merely has these names is not ours to delete.
    for (const char* ours : {"peers", "logs"}) {
      if (!fs::exists(o_.out_dir / ours, ec)) continue;
      if (!fs::exists(o_.out_dir / "events.jsonl", ec)) {
        return make_error(ErrorKind::invalid_argument, (o_.out_dir / ours).string() +
                                                           " exists but is not from a scenario run; choose another --out");
      }
      fs::remove_all(o_.out_dir / ours, ec);
      if (ec) return make_error(ErrorKind::io, "cannot clear " + (o_.out_dir / ours).string() + ": " + ec.message());
    }
    fs::create_directories(o_.out_dir / "logs", ec);
    if (ec) return make_error(ErrorKind::io, "cannot create " + (o_.out_dir / "logs").string() + ": " + ec.message());
    fs::create_directories(o_.out_dir / "peers", ec);
    key_path_ = o_.out_dir / "swarm.key";
    crypto::SwarmKey key = crypto::SwarmKey::generate();
    if (auto saved = key.save(key_path_, crypto::Overwrite::yes); !saved) {
      return make_error(ErrorKind::io, "cannot write " + key_path_.string() + ": " + saved.error().message);
    }
    client_ = std::make_unique<runtime::ControlClient>(key.clone());
    const int total = s_.total_peers();
    slots_.resize(static_cast<std::size_t>(total));
    std::set<int> ports;
    for (int i = 0; i < total; ++i) {
      slots_[static_cast<std::size_t>(i)].index = i;
      auto port = find_free_port(ports);
      if (!port) return port.error();
      slots_[static_cast<std::size_t>(i)].port = *port;
      ports.insert(*port);
    }
    result_.observations.started_at.assign(static_cast<std::size_t>(total), -1.0);
    result_.observations.faulted.assign(static_cast<std::size_t>(total), false);
    result_.observations.byzantine.assign(static_cast<std::size_t>(total), false);
    return ok_status();
  }

  std::string address(const Slot& slot) const { return "127.0.0.1:" + std::to_string(slot.port); }

  fs::path data_dir(const Slot& slot) const {
    std::string name = "peer-" + std::to_string(slot.index);
    if (slot.identity_generation > 0) name += "-id" + std::to_string(slot.identity_generation);
    return o_.out_dir / "peers" / name;
  }

  std::vector<std::string> peer_args(const Slot& slot, const std::vector<std::string>& seeds) const {
    const scenario::SwarmSpec& w = s_.swarm;
    std::vector<std::string> args = {"peer",       "--listen",   address(slot), "--data-dir", data_dir(slot).string(),
                                     "--swarm-key", key_path_.string(), "--profile", w.profile};
    for (const std::string& seed : seeds) {
      args.push_back("--seed");
      args.push_back(seed);
    }
    if (!w.train) {
      args.push_back("--no-train");
    } else {
      // One --random-seed for all: the shards of I/N then partition the data.
      const std::vector<std::string> training = {
          "--data",      w.data,
          "--model",     w.model,
          "--compress",  w.compress,
          "--lr",        fmt("%g", w.lr),
          "--batch",     std::to_string(w.batch),
          "--shard",     std::to_string(slot.index) + "/" + std::to_string(slots_.size()),
          "--partition", w.partition,
          "--random-seed", std::to_string(o_.seed),
          "--eval-every", fmt("%g", w.eval_every_seconds),
          "--clip",      w.clip,
      };
      args.insert(args.end(), training.begin(), training.end());
      if (w.gamma) {
        args.push_back("--gamma");
        args.push_back(fmt("%g", *w.gamma));
      }
      if (w.neighbours) {
        args.push_back("--neighbours");
        args.push_back(std::to_string(*w.neighbours));
      }
    }
    args.insert(args.end(), w.extra_args.begin(), w.extra_args.end());
    return args;
  }

  // Up to three running peers other than `self`, lowest index first.
  std::vector<std::string> seeds_for(int self) const {
    std::vector<std::string> seeds;
    for (const Slot& slot : slots_) {
      if (slot.index != self && slot.phase == PeerPhase::running && seeds.size() < 3) seeds.push_back(address(slot));
    }
    return seeds;
  }

  double now() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }

  // Starts one process for the slot; a port taken meanwhile gets a new one.
  Status launch(Slot& slot, const std::vector<std::string>& seeds) {
    const fs::path log_path = o_.out_dir / "logs" / ("peer-" + std::to_string(slot.index) + ".log");
    {
      std::ofstream marker(log_path, std::ios::app);
      marker << "==== starling scenario: starting peer " << slot.index << " (life " << slot.life + 1 << ") at "
             << fmt("%.1f", now()) << " s on port " << slot.port << " ====\n";
    }
    auto pid = processes_.start(peer_args(slot, seeds), log_path);
    if (!pid) return pid.error();
    slot.pid = *pid;
    slot.stop_deadline = 0.0;  // a deadline of the previous process must not hit this one
    ++slot.life;
    slot.phase = PeerPhase::running;
    slot.expect_exit = false;
    slot.resend_controls = slot.network_faulted() || slot.training_faulted();
    auto& started = result_.observations.started_at[static_cast<std::size_t>(slot.index)];
    if (started < 0.0) started = std::max(0.0, now());
    log_event("start", "", json{{"peer", slot.index}, {"pid", slot.pid}, {"life", slot.life},
                                {"address", address(slot)}, {"seeds", seeds}, {"data_dir", data_dir(slot).string()}},
              false);
    return ok_status();
  }

  // Waits until every listed slot answers its status (bounded). Peers whose
  // process ends meanwhile (port taken: retried on a new port) are reported.
  bool wait_until_answering(const std::vector<int>& indices) {
    std::set<int> waiting(indices.begin(), indices.end());
    std::map<int, int> port_retries;
    const double deadline = now() + kStartTimeoutSeconds;
    while (!waiting.empty()) {
      if (interrupted()) return false;
      for (const auto& exit : processes_.reap()) {
        Slot* slot = slot_of(exit.pid);
        if (slot == nullptr || !waiting.count(slot->index)) {
          handle_exit(exit);
          continue;
        }
        slot->phase = PeerPhase::down;
        const fs::path log_path = o_.out_dir / "logs" / ("peer-" + std::to_string(slot->index) + ".log");
        if (log_mentions(log_path, "in use") && port_retries[slot->index]++ < 3) {
          std::set<int> used;
          for (const Slot& other : slots_) used.insert(other.port);
          auto port = find_free_port(used);
          if (port) {
            slot->port = *port;
            --slot->life;
            if (launch(*slot, seeds_for(slot->index))) continue;
          }
        }
        result_.problems.push_back("peer " + std::to_string(slot->index) + " did not start (" + exit.how + "); see " +
                                   log_path.string() + ": " + last_line(log_path));
        return false;
      }
      std::vector<runtime::ControlRequest> requests;
      std::vector<int> order;
      for (int index : waiting) {
        auto parsed = node::parse_address(address(slots_[static_cast<std::size_t>(index)]));
        requests.push_back(runtime::ControlRequest{*parsed, {}});
        order.push_back(index);
      }
      auto answers = client_->exchange(requests, 1000);
      for (std::size_t i = 0; i < answers.size(); ++i) {
        if (!answers[i]) continue;
        auto status = json::parse(*answers[i], nullptr, false);
        if (status.is_object()) slots_[static_cast<std::size_t>(order[i])].node_id = status.value("node_id", "");
        waiting.erase(order[i]);
      }
      if (waiting.empty()) break;
      if (now() > deadline) {
        std::string names;
        for (int index : waiting) names += (names.empty() ? "" : ", ") + std::to_string(index);
        result_.problems.push_back("peers " + names + " did not answer within " + fmt("%.0f", kStartTimeoutSeconds) +
                                   " s of starting (see " + (o_.out_dir / "logs").string() + ")");
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return true;
  }

  // Peer 0 first (the seed), then the others through it; t = 0 once all answer.
  bool start_swarm() {
    t0_ = std::chrono::steady_clock::now();
    Slot& seed = slots_[0];
    if (auto started = launch(seed, {}); !started) {
      result_.problems.push_back("cannot start peer 0: " + started.error().message);
      return false;
    }
    if (!wait_until_answering({0})) return false;
    std::vector<int> others;
    for (int i = 1; i < s_.swarm.peers; ++i) {
      if (auto started = launch(slots_[static_cast<std::size_t>(i)], {address(seed)}); !started) {
        result_.problems.push_back("cannot start peer " + std::to_string(i) + ": " + started.error().message);
        return false;
      }
      others.push_back(i);
    }
    if (!wait_until_answering(others)) return false;
    const double startup = now();
    std::fprintf(stderr, "scenario %s: %d peers up in %.1f s; running for %.0f s\n", s_.name.c_str(), s_.swarm.peers,
                 startup, s_.duration_seconds);
    // The scenario's clock starts now.
    t0_ = std::chrono::steady_clock::now();
    for (double& started : result_.observations.started_at) {
      if (started >= 0.0) started = 0.0;
    }
    for (LoggedEvent& e : result_.observations.events) {
      // Start-up happened before t = 0; keep when, relative to the first start.
      json record = json::parse(e.json);
      record["startup_t"] = record["t"];
      record["t"] = 0.0;
      e.json = to_json_text(record);
      e.t = 0.0;
    }
    log_event("swarm_ready", "", json{{"peers", s_.swarm.peers}, {"startup_seconds", startup}}, false);
    return true;
  }

  using LoggedEvent = scenario::LoggedEvent;

  // ---- the run ---------------------------------------------------------------

  void loop() {
    std::size_t& next_action = next_action_;
    double next_poll = 0.0;
    double last_progress = -1e9;
    while (true) {
      if (interrupted()) {
        result_.observations.interrupted = true;
        std::fprintf(stderr, "\nscenario: interrupted; stopping every peer\n");
        log_event("interrupted", "interrupted", json::object(), true);
        return;
      }
      const double t = now();
      for (const auto& exit : processes_.reap()) handle_exit(exit);
      enforce_stop_deadlines(t);
      while (next_action < timeline_.size() && timeline_[next_action].at_seconds <= t) {
        execute(timeline_[next_action]);
        result_.observations.last_event_seconds = now();
        ++next_action;
      }
      if (t >= s_.duration_seconds) break;
      if (t >= next_poll) {
        poll(t);
        next_poll += s_.poll_interval_seconds;
        if (next_poll < now()) next_poll = now() + s_.poll_interval_seconds / 2;  // polls never pile up
        const bool due = o_.live_progress_tty || now() - last_progress >= 5.0;
        if (due) {
          progress(next_action);
          last_progress = now();
        }
      }
      double wake = std::min(next_poll, s_.duration_seconds);
      if (next_action < timeline_.size()) wake = std::min(wake, timeline_[next_action].at_seconds);
      const double sleep = std::clamp(wake - now(), 0.0, 0.1);
      if (sleep > 0.0) std::this_thread::sleep_for(std::chrono::duration<double>(sleep));
    }
    // The final round: what the expectations "at the end" read. A lossy peer
    // may lose its answer, so the ones missing are asked again.
    poll(now(), 4);
    progress(timeline_.size());
    if (o_.live_progress_tty) std::fprintf(stderr, "\n");
  }

  void finish() {
    result_.observations.end_seconds = t0_.time_since_epoch().count() == 0 ? 0.0 : now();
    processes_.kill_all();
    client_.reset();
    log_event("end", "", json{{"interrupted", result_.observations.interrupted}, {"problems", result_.problems}},
              false);
  }

  bool interrupted() const { return o_.interrupted != nullptr && o_.interrupted->load(); }

  Slot* slot_of(pid_t pid) {
    for (Slot& slot : slots_) {
      if (slot.pid == pid && slot.life >= 0) return &slot;
    }
    return nullptr;
  }

  void handle_exit(const PeerProcesses::Exit& exit) {
    Slot* slot = slot_of(exit.pid);
    if (slot == nullptr) return;
    const bool expected = slot->expect_exit;
    if (slot->phase != PeerPhase::down || !expected) depart(*slot);
    slot->pid = 0;
    slot->stop_deadline = 0.0;
    log_event("peer_exited", expected ? "" : "crash " + std::to_string(slot->index),
              json{{"peer", slot->index}, {"how", exit.how}, {"expected", expected}}, !expected);
    if (!expected) {
      result_.observations.crashes.push_back(scenario::Crash{slot->index, now(), exit.how});
      std::fprintf(stderr, "[%6.1f s] peer %d exited on its own: %s (log: %s)\n", now(), slot->index, exit.how.c_str(),
                   (o_.out_dir / "logs" / ("peer-" + std::to_string(slot->index) + ".log")).c_str());
    }
  }

  // The slot's process is gone (or going): its node id is now a departed one.
  void depart(Slot& slot) {
    slot.phase = PeerPhase::down;
    if (!slot.node_id.empty()) departed_.insert(slot.node_id);
  }

  void enforce_stop_deadlines(double t) {
    for (Slot& slot : slots_) {
      if (slot.pid != 0 && slot.stop_deadline > 0.0 && t > slot.stop_deadline) {
        log_event("stop_timeout", "", json{{"peer", slot.index}}, false);
        (void)processes_.signal(slot.pid, SIGKILL);
        slot.stop_deadline = 0.0;
      }
    }
  }

  std::vector<int> live_indices() const {
    std::vector<int> live;
    for (const Slot& slot : slots_) {
      if (slot.phase == PeerPhase::running) live.push_back(slot.index);
    }
    return live;
  }

  // ---- events ----------------------------------------------------------------

  void execute(const scenario::Action& action) {
    const scenario::Event& e = s_.events[action.event];
    const std::string kind = scenario::to_string(e.kind);
    std::vector<int> targets;
    if (action.undo) {
      targets = resolved_[action.event];
    } else if (e.kind == EventKind::seed_down) {
      targets = {0};
    } else if (e.kind == EventKind::partition) {
      for (const auto& group : e.groups) targets.insert(targets.end(), group.begin(), group.end());
    } else if (e.kind == EventKind::join) {
      for (int i = 0; i < e.count; ++i) targets.push_back(next_join_ + i);
    } else if (e.kind != EventKind::heal) {
      targets = scenario::resolve(e.targets, live_indices(), rng_);
    }
    if (!action.undo) resolved_[action.event] = targets;
    for (int p : targets) {
      if (e.kind != EventKind::join && e.kind != EventKind::restart && p < static_cast<int>(slots_.size())) {
        result_.observations.faulted[static_cast<std::size_t>(p)] = true;
        if (e.kind == EventKind::byzantine) result_.observations.byzantine[static_cast<std::size_t>(p)] = true;
      }
    }
    std::string name = action.undo ? undo_name(e.kind) : kind;
    const std::string label = name + (targets.empty() ? "" : " " + list_text(targets));
    std::fprintf(stderr, "%s[%6.1f s] %s (line %d)\n", o_.live_progress_tty ? "\r\033[K" : "", now(), label.c_str(),
                 e.line);
    json record{{"peers", targets}, {"line", e.line}};
    std::vector<int> control_targets;  // peers whose fault state changed

    switch (e.kind) {
      case EventKind::kill:
      case EventKind::seed_down:
        for (int p : targets) kill_peer(slot(p));
        break;
      case EventKind::stop:
        for (int p : targets) {
          Slot& s = slot(p);
          if (s.pid == 0 || s.phase == PeerPhase::down) continue;
          s.expect_exit = true;
          if (s.phase == PeerPhase::paused) (void)processes_.signal(s.pid, SIGCONT);
          (void)processes_.signal(s.pid, SIGTERM);
          s.stop_deadline = now() + kStopGraceSeconds;
          depart(s);
        }
        break;
      case EventKind::restart:
        for (int p : targets) {
          Slot& s = slot(p);
          if (s.pid != 0) {
            kill_peer(s);
            PeerProcesses::Exit exit;
            if (processes_.wait_for(s.pid, 5000, &exit)) s.pid = 0;
          }
          if (e.new_identity) {
            ++s.identity_generation;
            if (!s.node_id.empty()) departed_.insert(s.node_id);
          }
          if (auto started = launch(s, seeds_for(p)); !started) problem(label, started.error().message);
        }
        break;
      case EventKind::join:
        for (int p : targets) {
          if (auto started = launch(slot(p), seeds_for(p)); !started) problem(label, started.error().message);
        }
        next_join_ += e.count;
        break;
      case EventKind::pause:
        for (int p : targets) {
          Slot& s = slot(p);
          if (s.pid == 0 || s.phase == PeerPhase::down) continue;
          if (!action.undo && s.phase == PeerPhase::running) {
            if (processes_.signal(s.pid, SIGSTOP)) s.phase = PeerPhase::paused;
          } else if (action.undo && s.phase == PeerPhase::paused) {
            if (processes_.signal(s.pid, SIGCONT)) s.phase = PeerPhase::running;
          }
        }
        break;
      case EventKind::partition:
        if (action.undo) {
          for (int p : targets) slot(p).blocked.clear();
        } else if (e.one_way) {
          for (int p : e.groups[0]) slot(p).blocked.insert(e.groups[1].begin(), e.groups[1].end());
        } else {
          for (std::size_t g = 0; g < e.groups.size(); ++g) {
            for (int p : e.groups[g]) {
              for (std::size_t h = 0; h < e.groups.size(); ++h) {
                if (h != g) slot(p).blocked.insert(e.groups[h].begin(), e.groups[h].end());
              }
            }
          }
        }
        record["groups"] = e.groups;
        record["one_way"] = e.one_way;
        control_targets = targets;
        break;
      case EventKind::heal:
        for (Slot& s : slots_) {
          if (s.blocked.empty()) continue;
          s.blocked.clear();
          control_targets.push_back(s.index);
        }
        record["peers"] = control_targets;
        break;
      case EventKind::loss:
        for (int p : targets) slot(p).drop = action.undo ? 0.0 : e.percent / 100.0;
        record["percent"] = e.percent;
        control_targets = targets;
        break;
      case EventKind::duplicate:
        for (int p : targets) slot(p).duplicate = action.undo ? 0.0 : e.percent / 100.0;
        record["percent"] = e.percent;
        control_targets = targets;
        break;
      case EventKind::delay:
        for (int p : targets) {
          slot(p).delay_ms = action.undo ? 0u : static_cast<std::uint32_t>(std::lround(e.delay_ms));
          slot(p).jitter_ms = action.undo ? 0u : static_cast<std::uint32_t>(std::lround(e.jitter_ms));
        }
        record["ms"] = e.delay_ms;
        record["jitter_ms"] = e.jitter_ms;
        control_targets = targets;
        break;
      case EventKind::bandwidth:
        for (int p : targets) slot(p).bandwidth = action.undo ? 0 : e.bytes_per_second;
        record["bytes_per_second"] = e.bytes_per_second;
        control_targets = targets;
        break;
      case EventKind::clear_faults:
        for (int p : targets) {
          Slot& s = slot(p);
          s.drop = s.duplicate = 0.0;
          s.delay_ms = s.jitter_ms = 0;
          s.bandwidth = 0;
          s.blocked.clear();
        }
        control_targets = targets;
        break;
      case EventKind::straggler:
        for (int p : targets) slot(p).slowdown = action.undo ? 1.0 : e.factor;
        record["factor"] = e.factor;
        control_targets = targets;
        break;
      case EventKind::byzantine:
        for (int p : targets) {
          slot(p).byzantine = action.undo ? scenario::ByzantineMode::none : e.mode;
          slot(p).byzantine_scale = e.scale;
        }
        record["scale"] = e.scale;
        control_targets = targets;
        break;
    }
    if (!control_targets.empty()) {
      const bool training = e.kind == EventKind::straggler || e.kind == EventKind::byzantine;
      send_controls(control_targets, training, label);
    }
    record["event"] = name;
    log_event(name, label, std::move(record), true);
  }

  static std::string undo_name(EventKind kind) {
    switch (kind) {
      case EventKind::pause: return "resume";
      case EventKind::partition: return "heal";
      default: return std::string("end_") + scenario::to_string(kind);
    }
  }

  Slot& slot(int index) { return slots_.at(static_cast<std::size_t>(index)); }

  void kill_peer(Slot& s) {
    if (s.pid == 0) return;
    s.expect_exit = true;
    (void)processes_.signal(s.pid, SIGKILL);
    depart(s);
  }

  wire::FaultControl fault_control(const Slot& s) const {
    wire::FaultControl control;
    control.drop_probability = s.drop;
    control.duplicate_probability = s.duplicate;
    control.delay_ms = s.delay_ms;
    control.jitter_ms = s.jitter_ms;
    control.bandwidth_bytes_per_second = s.bandwidth;
    for (int p : s.blocked) {
      if (auto id = node_id_from_hex(slots_[static_cast<std::size_t>(p)].node_id)) {
        control.partitioned_from.push_back(*id);
      }
    }
    return control;
  }

  wire::TrainingControl training_control(const Slot& s) const {
    return wire::TrainingControl{s.slowdown, to_wire(s.byzantine), s.byzantine_scale};
  }

  // Sends each target its whole fault state, confirmed by the status answer
  // that follows on the same connection. Peers not running get it on restart.
  void send_controls(const std::vector<int>& targets, bool training, const std::string& label) {
    std::vector<runtime::ControlRequest> requests;
    std::vector<int> order;
    for (int p : targets) {
      Slot& s = slot(p);
      if (s.phase != PeerPhase::running) {
        s.resend_controls = true;
        continue;
      }
      auto parsed = node::parse_address(address(s));
      wire::Message control = training ? wire::Message{training_control(s)} : wire::Message{fault_control(s)};
      requests.push_back(runtime::ControlRequest{*parsed, {std::move(control)}});
      order.push_back(p);
    }
    // A lossy peer may lose its own answer (faults apply to all it sends);
    // the control is still applied, and sending the whole state again is
    // harmless, so unconfirmed ones are retried.
    for (int attempt = 1; !requests.empty(); ++attempt) {
      auto answers = client_->exchange(requests, kControlTimeoutMs);
      std::vector<runtime::ControlRequest> retry;
      std::vector<int> retry_order;
      for (std::size_t i = 0; i < answers.size(); ++i) {
        if (answers[i]) continue;
        if (attempt < kControlAttempts && answers[i].error().kind == ErrorKind::timeout) {
          retry.push_back(requests[i]);
          retry_order.push_back(order[i]);
          continue;
        }
        problem(label, "peer " + std::to_string(order[i]) + " did not confirm after " + std::to_string(attempt) +
                           " attempts: " + answers[i].error().message);
      }
      requests = std::move(retry);
      order = std::move(retry_order);
    }
  }

  void problem(const std::string& what, const std::string& why) {
    const std::string text = what + " at " + fmt("%.1f s", now()) + ": " + why;
    result_.problems.push_back(text);
    std::fprintf(stderr, "scenario: %s\n", text.c_str());
    log_event("runner_problem", "", json{{"what", what}, {"why", why}}, false);
  }

  // ---- polling -----------------------------------------------------------------

  void poll(double t, int attempts = 1) {
    std::vector<runtime::ControlRequest> requests;
    std::vector<int> order;
    for (Slot& s : slots_) {
      if (s.phase != PeerPhase::running || s.pid == 0) continue;
      auto parsed = node::parse_address(address(s));
      runtime::ControlRequest request{*parsed, {}};
      if (s.resend_controls) {
        if (s.network_faulted()) request.controls.push_back(fault_control(s));
        if (s.training_faulted()) request.controls.push_back(training_control(s));
      }
      requests.push_back(std::move(request));
      order.push_back(s.index);
    }
    // Bounded by the next timeline action, so a silent peer delays no event
    // by more than about half a second.
    double until_next = 1e9;
    if (next_action_ < timeline_.size()) until_next = timeline_[next_action_].at_seconds - now();
    const auto timeout_ms = static_cast<std::uint64_t>(
        std::clamp(until_next * 1000.0, 500.0, static_cast<double>(kPollTimeoutMs)));
    std::map<int, json> statuses;
    for (int attempt = 0; attempt < attempts && !requests.empty(); ++attempt) {
      auto answers = client_->exchange(requests, timeout_ms);
      std::vector<runtime::ControlRequest> missing;
      std::vector<int> missing_order;
      for (std::size_t i = 0; i < answers.size(); ++i) {
        json status = answers[i] ? json::parse(*answers[i], nullptr, false) : json();
        if (!status.is_object()) {
          missing.push_back(requests[i]);
          missing_order.push_back(order[i]);
          continue;
        }
        slot(order[i]).resend_controls = false;
        statuses[order[i]] = std::move(status);
      }
      requests = std::move(missing);
      order = std::move(missing_order);
    }

    scenario::Round round;
    round.t = t;
    std::set<std::string> running_ids;
    for (Slot& s : slots_) {
      if (s.life < 0) continue;
      scenario::Sample sample;
      sample.peer = s.index;
      sample.life = s.life;
      sample.phase = s.phase;
      auto found = statuses.find(s.index);
      if (found != statuses.end()) read_status(found->second, s, sample);
      sample.node_id = s.node_id;
      sample.address = address(s);
      if (s.phase != PeerPhase::down && !s.node_id.empty()) running_ids.insert(s.node_id);
      round.samples.push_back(std::move(sample));
    }
    for (const std::string& id : departed_) {
      if (!running_ids.count(id)) round.departed_ids.push_back(id);
    }
    result_.observations.rounds.push_back(std::move(round));
  }

  static std::optional<double> number(const json& object, const char* key) {
    auto found = object.find(key);
    if (found == object.end() || !found->is_number()) return std::nullopt;
    return found->get<double>();
  }

  void read_status(const json& status, Slot& s, scenario::Sample& sample) {
    sample.answered = true;
    const std::string id = status.value("node_id", "");
    if (!id.empty() && id != s.node_id) {
      if (!s.node_id.empty()) departed_.insert(s.node_id);  // a new identity
      s.node_id = id;
    }
    departed_.erase(s.node_id);  // back (same identity)
    sample.bytes_sent = status.value("bytes_sent", std::uint64_t{0});
    sample.bytes_received = status.value("bytes_received", std::uint64_t{0});
    if (auto members = status.find("members"); members != status.end() && members->is_array()) {
      for (const json& m : *members) {
        if (!m.is_object()) continue;
        sample.members.push_back({m.value("node_id", ""), m.value("state", ""), m.value("address", ""),
                                  number(m, "state_age_seconds")});
      }
    }
    if (auto training = status.find("training"); training != status.end() && training->is_object()) {
      sample.accuracy = number(*training, "test_accuracy");
      sample.loss = number(*training, "train_loss");
      sample.consensus_distance = number(*training, "consensus_distance");
      if (auto step = number(*training, "step")) sample.step = static_cast<std::uint64_t>(*step);
      sample.training_state = training->value("state", "");
    }
    s.accuracy = sample.accuracy;
  }

  // ---- output ------------------------------------------------------------------

  void progress(std::size_t next_action) {
    if (result_.observations.rounds.empty()) return;
    const scenario::Round& round = result_.observations.rounds.back();
    const auto accuracy = scenario::summarize_accuracy(round);
    const auto consensus = scenario::mean_consensus_distance(round);
    int running = 0, paused = 0;
    for (const Slot& s : slots_) {
      running += s.phase == PeerPhase::running;
      paused += s.phase == PeerPhase::paused;
    }
    std::string line = fmt("t %6.1f", round.t) + fmt("/%.0f s", s_.duration_seconds);
    if (next_action < timeline_.size()) {
      const auto& action = timeline_[next_action];
      const auto& e = s_.events[action.event];
      line += " | next: " + (action.undo ? undo_name(e.kind) : std::string(scenario::to_string(e.kind))) +
              fmt(" at %.0f s", action.at_seconds);
    } else {
      line += " | no more events";
    }
    line += " | peers " + std::to_string(accuracy.live) + " answering, " + std::to_string(running) + " running";
    if (paused > 0) line += ", " + std::to_string(paused) + " paused";
    if (accuracy.reporting > 0) {
      line += fmt(" | acc min %.3f", accuracy.min) + fmt(" mean %.3f", accuracy.mean) + " [";
      std::string per_peer;
      for (const auto& sample : round.samples) {
        if (!sample.answered) continue;
        per_peer += (per_peer.empty() ? "" : " ") + std::to_string(sample.peer) + ":" +
                    (sample.accuracy ? fmt("%.2f", *sample.accuracy) : std::string("-"));
      }
      line += per_peer + "]";
    } else if (s_.swarm.train) {
      line += " | acc -";
    }
    if (consensus) line += fmt(" | consensus %.2e", *consensus);
    int min_alive = 1 << 30, max_alive = 0;
    for (const auto* sample : scenario::live_samples(round)) {
      int alive = 0;
      for (const auto& m : sample->members) alive += m.state == "alive";
      min_alive = std::min(min_alive, alive);
      max_alive = std::max(max_alive, alive);
    }
    if (!s_.swarm.train && min_alive != (1 << 30)) line += " | fewest members seen alive " + std::to_string(min_alive);
    // More than there are processes: made-up members (a flood) got in.
    if (max_alive > running + paused - 1) line += " | most members seen alive " + std::to_string(max_alive);
    if (o_.live_progress_tty) {
      std::fprintf(stderr, "\r\033[K%s", line.c_str());
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::fflush(stderr);
  }

  void log_event(const std::string& kind, const std::string& label, json record, bool marker) {
    const double t = t0_.time_since_epoch().count() == 0 ? 0.0 : now();
    record["t"] = std::round(t * 1000.0) / 1000.0;
    if (!record.contains("event")) record["event"] = kind;
    result_.observations.events.push_back(LoggedEvent{t, kind, label, to_json_text(record), marker});
  }

  static bool log_mentions(const fs::path& path, const std::string& text) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }

  static std::string last_line(const fs::path& path) {
    std::ifstream in(path);
    std::string line, last;
    while (std::getline(in, line)) {
      if (!line.empty()) last = line;
    }
    return last;
  }

  const scenario::Scenario& s_;
  const RunnerOptions& o_;
  PeerProcesses processes_;
  std::unique_ptr<runtime::ControlClient> client_;
  std::mt19937_64 rng_;
  std::vector<scenario::Action> timeline_;
  std::vector<Slot> slots_;
  std::map<std::size_t, std::vector<int>> resolved_;  // event index -> peers it applied to
  std::set<std::string> departed_;
  int next_join_ = 0;
  std::size_t next_action_ = 0;
  fs::path key_path_;
  std::chrono::steady_clock::time_point t0_{};
  RunResult result_;

 public:
  void set_first_join(int index) { next_join_ = index; }
};

}  // namespace

RunResult run_scenario(const scenario::Scenario& scenario, const RunnerOptions& options) {
  Runner runner(scenario, options);
  runner.set_first_join(scenario.swarm.peers);
  return runner.run();
}

}  // namespace starling::apps
