// Set-up, clock, and the life of the peer processes (start, kill, stop,
// restart, join, pause).
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include "json_fields.h"
#include "json_text.h"
#include "peer_exit_reason.h"
#include "process_backend.h"
#include "scenario_peer_flags.h"
#include "starling/crypto/keys.h"

namespace starling::apps {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using scenario::PeerPhase;
using scenario::Problem;
using scenario::Problems;

constexpr double kStartTimeoutSeconds = 60.0;  // data loading included
constexpr double kStopGraceSeconds = 15.0;     // a graceful leave, then SIGKILL

bool log_mentions(const fs::path& path, const std::string& text) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

ProcessBackend::ProcessBackend(const scenario::Scenario& scenario, ProcessBackendOptions options)
    : scenario_(scenario),
      options_(std::move(options)),
      processes_(options_.executable),
      t0_(std::chrono::steady_clock::now()) {}

ProcessBackend::~ProcessBackend() { shutdown(); }

double ProcessBackend::now_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

bool ProcessBackend::interrupted() const { return options_.interrupted != nullptr && options_.interrupted->load(); }

// Sleeps in short steps so exits are reaped, stop deadlines kept and an
// interrupt noticed within 0.1 s.
void ProcessBackend::advance_to(double seconds) {
  while (true) {
    for (const auto& exit : processes_.reap()) handle_exit(exit);
    enforce_stop_deadlines();
    enforce_answer_deadlines();
    const double left = seconds - now_seconds();
    if (left <= 0.0 || interrupted()) return;
    std::this_thread::sleep_for(std::chrono::duration<double>(std::min(left, 0.1)));
  }
}

void ProcessBackend::shutdown() {
  processes_.kill_all();
  client_.reset();
}

void ProcessBackend::note(const std::string& kind, const std::string& label, const std::string& fields_json,
                          bool marker) {
  if (log_ != nullptr) log_->note(kind, label, fields_json, marker);
}

// ---- set-up --------------------------------------------------------------------

Status ProcessBackend::prepare() {
  const fs::path& out = options_.out_dir;
  std::error_code ec;
  // `starling scenario` refused a folder holding an earlier run's report
  // before starting (scenario::prepare_report_dir); nothing here is deleted.
  for (const char* ours : {"peers", "logs"}) {
    if (fs::exists(out / ours, ec)) {
      return make_error(ErrorKind::invalid_argument,
                        (out / ours).string() + " exists (an earlier run's?); choose another --out");
    }
  }
  fs::create_directories(out / "logs", ec);
  if (ec) return make_error(ErrorKind::io, "cannot create " + (out / "logs").string() + ": " + ec.message());
  fs::create_directories(out / "peers", ec);
  key_path_ = out / "swarm.key";
  crypto::SwarmKey key = crypto::SwarmKey::generate();
  if (auto saved = key.save(key_path_, crypto::Overwrite::yes); !saved) {
    return make_error(ErrorKind::io, "cannot write " + key_path_.string() + ": " + saved.error().message);
  }
  // The peers apply fault injection from this identity only (--fault-control-from).
  crypto::Identity control = crypto::Identity::generate();
  control_node_id_ = control.node_id().to_hex();
  client_ = std::make_unique<runtime::ControlClient>(key.clone(), std::move(control));
  const int total = scenario_.total_peers();
  slots_.resize(static_cast<std::size_t>(total));
  std::set<int> ports;
  for (int i = 0; i < total; ++i) {
    slot(i).index = i;
    auto port = find_free_port(ports);
    if (!port) return port.error();
    slot(i).port = *port;
    ports.insert(*port);
  }
  return ok_status();
}

std::string ProcessBackend::address(const Slot& s) const { return "127.0.0.1:" + std::to_string(s.port); }

fs::path ProcessBackend::data_dir(const Slot& s) const {
  std::string name = "peer-" + std::to_string(s.index);
  if (s.identity_generation > 0) name += "-id" + std::to_string(s.identity_generation);
  return options_.out_dir / "peers" / name;
}

fs::path ProcessBackend::log_path(const Slot& s) const {
  return options_.out_dir / "logs" / ("peer-" + std::to_string(s.index) + ".log");
}

std::vector<std::string> ProcessBackend::peer_args(const Slot& s, const std::vector<std::string>& seeds) const {
  const scenario::SwarmSpec& w = scenario_.swarm;
  std::vector<std::string> args = {"peer",        "--listen",         address(s), "--data-dir", data_dir(s).string(),
                                   "--swarm-key", key_path_.string(), "--profile", w.profile,
                                   "--fault-control-from", control_node_id_};
  for (const std::string& seed : seeds) {
    args.push_back("--seed");
    args.push_back(seed);
  }
  if (!w.train) {
    args.push_back("--no-train");
  } else {
    // One --random-seed for all: the shards of I/N then partition the data.
    const std::vector<std::string> training = {
        "--data",        w.data,
        "--model",       w.model,
        "--compress",    w.compress,
        "--lr",          fmt::format("{}", w.lr),
        "--batch",       std::to_string(w.batch),
        "--shard",       std::to_string(s.index) + "/" + std::to_string(slots_.size()),
        "--partition",   w.partition,
        "--random-seed", std::to_string(options_.seed),
        "--eval-every",  std::to_string(w.eval_every_steps),
        "--clip",        w.clip,
    };
    args.insert(args.end(), training.begin(), training.end());
    append_swarm_flags(w, args);
  }
  args.insert(args.end(), w.extra_args.begin(), w.extra_args.end());
  return args;
}

// Up to three running peers other than `self`, lowest index first.
std::vector<std::string> ProcessBackend::seeds_for(int self) const {
  std::vector<std::string> seeds;
  for (const Slot& s : slots_) {
    if (s.index != self && s.phase == PeerPhase::running && seeds.size() < 3) seeds.push_back(address(s));
  }
  return seeds;
}

// ---- starting ------------------------------------------------------------------

// Starts one process for the slot.
Status ProcessBackend::launch(Slot& s, const std::vector<std::string>& seeds) {
  {
    std::ofstream marker(log_path(s), std::ios::app);
    marker << "==== starling scenario: starting peer " << s.index << " (life " << s.life + 1 << ") at "
           << fmt::format("{:.1f}", now_seconds() - ready_at_seconds_) << " s on port " << s.port << " ====\n";
  }
  auto pid = processes_.start(peer_args(s, seeds), log_path(s));
  if (!pid) return pid.error();
  s.pid = *pid;
  s.stop_deadline = 0.0;  // a deadline of the previous process must not hit this one
  ++s.life;
  s.phase = PeerPhase::running;
  s.expect_exit = false;
  s.resend_controls = s.network_faulted() || s.training_faulted();
  note("start", "",
       to_json_text(json{{"peer", s.index}, {"pid", s.pid}, {"life", s.life}, {"address", address(s)},
                         {"seeds", seeds}, {"data_dir", data_dir(s).string()}}),
       false);
  return ok_status();
}

// Waits until every listed slot answers its status (bounded). A peer whose
// process ends meanwhile because its port was taken is retried on a new port.
bool ProcessBackend::wait_until_answering(const std::vector<int>& indices, Problems& problems) {
  std::set<int> waiting(indices.begin(), indices.end());
  std::map<int, int> port_retries;
  const double deadline = now_seconds() + kStartTimeoutSeconds;
  while (!waiting.empty()) {
    if (interrupted()) return false;
    for (const auto& exit : processes_.reap()) {
      Slot* s = slot_of(exit.pid);
      if (s == nullptr || !waiting.count(s->index)) {
        handle_exit(exit);
        continue;
      }
      s->phase = PeerPhase::down;
      if (log_mentions(log_path(*s), "in use") && port_retries[s->index]++ < 3 && retry_on_new_port(*s)) continue;
      problems.push_back(Problem{s->index, "peer " + std::to_string(s->index) + " did not start (" + exit.how +
                                               "); see " + log_path(*s).string() + ": " + peer_exit_reason(log_path(*s))});
      return false;
    }
    std::vector<runtime::ControlRequest> requests;
    std::vector<int> order;
    for (int index : waiting) {
      auto parsed = runtime::parse_address(address(slot(index)));
      requests.push_back(runtime::ControlRequest{*parsed, {}});
      order.push_back(index);
    }
    auto answers = client_->exchange(requests, 1000);
    for (std::size_t i = 0; i < answers.size(); ++i) {
      if (!answers[i]) continue;
      auto status = json::parse(*answers[i], nullptr, false);
      if (status.is_object()) slot(order[i]).node_id = text_or(status, "node_id", "");
      waiting.erase(order[i]);
    }
    if (waiting.empty()) break;
    if (now_seconds() > deadline) {
      std::string names;
      for (int index : waiting) names += (names.empty() ? "" : ", ") + std::to_string(index);
      problems.push_back(Problem{-1, "peers " + names + " did not answer within " + fmt::format("{:.0f}", kStartTimeoutSeconds) +
                                         " s of starting (see " + (options_.out_dir / "logs").string() + ")"});
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return true;
}

// Peer 0 first (the seed), then the others through it.
Problems ProcessBackend::start_swarm(int peers, scenario::SwarmLog& log) {
  log_ = &log;
  Problems problems;
  if (auto ready = prepare(); !ready) return {Problem{-1, ready.error().message}};
  if (auto started = launch(slot(0), {}); !started) return {Problem{0, "cannot start peer 0: " + started.error().message}};
  if (!wait_until_answering({0}, problems)) return problems;
  std::vector<int> others;
  for (int i = 1; i < peers; ++i) {
    if (auto started = launch(slot(i), {address(slot(0))}); !started) {
      return {Problem{i, "cannot start peer " + std::to_string(i) + ": " + started.error().message}};
    }
    others.push_back(i);
  }
  wait_until_answering(others, problems);
  ready_at_seconds_ = now_seconds();
  return problems;
}

// ---- ending ----------------------------------------------------------------------

ProcessBackend::Slot* ProcessBackend::slot_of(pid_t pid) {
  for (Slot& s : slots_) {
    if (s.pid == pid && s.life >= 0) return &s;
  }
  return nullptr;
}

// The same slot, same life, on a port nobody holds now (its own was taken
// between prepare() and the start).
bool ProcessBackend::retry_on_new_port(Slot& s) {
  std::set<int> used;
  for (const Slot& other : slots_) used.insert(other.port);
  auto port = find_free_port(used);
  if (!port) return false;
  s.port = *port;
  --s.life;
  return launch(s, seeds_for(s.index)).ok();
}

// How long a restarted or joined peer has to answer: at least two polls,
// since answers are read only when the executor samples.
double ProcessBackend::answer_timeout() const {
  return std::max(kStartTimeoutSeconds, 2.0 * scenario_.poll_interval_seconds);
}

void ProcessBackend::await_answer(Slot& s) {
  s.answer_deadline = now_seconds() + answer_timeout();
  s.port_retries = 0;
}

void ProcessBackend::enforce_answer_deadlines() {
  const double t = now_seconds();
  for (Slot& s : slots_) {
    if (s.pid == 0 || s.answer_deadline <= 0.0 || t <= s.answer_deadline) continue;
    s.answer_deadline = 0.0;
    if (log_ != nullptr)
      log_->problem("peer " + std::to_string(s.index), "did not answer within " +
                                                           fmt::format("{:.0f}", answer_timeout()) +
                                                           " s of its start (see " + log_path(s).string() + ")");
  }
}

void ProcessBackend::handle_exit(const PeerProcesses::Exit& exit) {
  Slot* s = slot_of(exit.pid);
  if (s == nullptr) return;
  const bool expected = s->expect_exit;
  s->phase = PeerPhase::down;
  s->pid = 0;
  s->stop_deadline = 0.0;
  if (!expected && s->answer_deadline > 0.0) {
    // Restarted or joined, and gone before it ever answered: it never ran.
    s->answer_deadline = 0.0;
    if (log_mentions(log_path(*s), "in use") && s->port_retries++ < 3 && retry_on_new_port(*s)) {
      s->answer_deadline = now_seconds() + answer_timeout();
      note("port_retry", "", to_json_text(json{{"peer", s->index}, {"port", s->port}}), false);
      return;
    }
    if (log_ != nullptr)
      log_->problem("peer " + std::to_string(s->index),
                    "did not start (" + exit.how + "); see " + log_path(*s).string() + ": " +
                        peer_exit_reason(log_path(*s)));
  }
  note("peer_exited", expected ? "" : "crash " + std::to_string(s->index),
       to_json_text(json{{"peer", s->index}, {"how", exit.how}, {"expected", expected}}), !expected);
  if (!expected) {
    if (log_ != nullptr) log_->crashed(s->index, exit.how);
    std::fprintf(stderr, "[%6.1f s] peer %d exited on its own: %s (log: %s)\n", now_seconds() - ready_at_seconds_,
                 s->index, exit.how.c_str(), log_path(*s).c_str());
  }
}

void ProcessBackend::enforce_stop_deadlines() {
  const double t = now_seconds();
  for (Slot& s : slots_) {
    if (s.pid != 0 && s.stop_deadline > 0.0 && t > s.stop_deadline) {
      note("stop_timeout", "", to_json_text(json{{"peer", s.index}}), false);
      (void)processes_.signal(s.pid, SIGKILL);
      s.stop_deadline = 0.0;
    }
  }
}

void ProcessBackend::kill_peer(Slot& s) {
  if (s.pid == 0) return;
  s.expect_exit = true;
  (void)processes_.signal(s.pid, SIGKILL);
  s.phase = PeerPhase::down;
}

Problems ProcessBackend::kill(const std::vector<int>& peers) {
  for (int p : peers) kill_peer(slot(p));
  return {};
}

Problems ProcessBackend::stop(const std::vector<int>& peers) {
  for (int p : peers) {
    Slot& s = slot(p);
    if (s.pid == 0 || s.phase == PeerPhase::down) continue;
    s.expect_exit = true;
    if (s.phase == PeerPhase::paused) (void)processes_.signal(s.pid, SIGCONT);
    (void)processes_.signal(s.pid, SIGTERM);
    s.stop_deadline = now_seconds() + kStopGraceSeconds;
    s.phase = PeerPhase::down;
  }
  return {};
}

Problems ProcessBackend::restart(const std::vector<int>& peers, bool new_identity) {
  Problems problems;
  for (int p : peers) {
    Slot& s = slot(p);
    if (s.pid != 0) {
      kill_peer(s);
      // Reaped here, so the exit is recorded here: events.jsonl had no
      // peer_exited line for a restarted peer's old process.
      PeerProcesses::Exit exit;
      if (processes_.wait_for(s.pid, 5000, &exit)) handle_exit(exit);
    }
    if (new_identity) ++s.identity_generation;
    if (auto started = launch(s, seeds_for(p)); !started) {
      problems.push_back(Problem{p, started.error().message});
    } else {
      await_answer(s);
    }
  }
  return problems;
}

Problems ProcessBackend::join(const std::vector<int>& peers) {
  Problems problems;
  for (int p : peers) {
    if (auto started = launch(slot(p), seeds_for(p)); !started) {
      problems.push_back(Problem{p, started.error().message});
    } else {
      await_answer(slot(p));
    }
  }
  return problems;
}

Problems ProcessBackend::pause(const std::vector<int>& peers) {
  Problems problems;
  for (int p : peers) {
    Slot& s = slot(p);
    if (s.pid == 0 || s.phase != PeerPhase::running) continue;
    if (auto sent = processes_.signal(s.pid, SIGSTOP); sent) {
      s.phase = PeerPhase::paused;
    } else {
      problems.push_back(Problem{p, "cannot pause peer " + std::to_string(p) + ": " + sent.error().message});
    }
  }
  return problems;
}

Problems ProcessBackend::resume(const std::vector<int>& peers) {
  Problems problems;
  for (int p : peers) {
    Slot& s = slot(p);
    if (s.pid == 0 || s.phase != PeerPhase::paused) continue;
    if (auto sent = processes_.signal(s.pid, SIGCONT); sent) {
      s.phase = PeerPhase::running;
    } else {
      problems.push_back(Problem{p, "cannot resume peer " + std::to_string(p) + ": " + sent.error().message});
    }
  }
  return problems;
}

}  // namespace starling::apps
