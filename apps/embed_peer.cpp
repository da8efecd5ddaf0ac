// The embedding API (starling/embed.h) on top of the pieces `starling peer`
// is made of: the same option set (embed_config.h), the same RuntimePeer
// assembly (libuv transport, secure sessions, incarnation file, node::Peer),
// run on a loop thread of its own; the user's thread serves the same
// step-boundary hand-off (runtime::StepHandoff) as `starling peer`'s
// training thread, in after_step().
#include "starling/embed.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "address_option.h"
#include "embed_config.h"
#include "embed_layout.h"
#include "peer_gossip_options.h"
#include "runtime_peer.h"
#include "swarm_key_option.h"
#include "starling/compress/layout.h"
#include "starling/crypto/keys.h"
#include "starling/gossip/messages.h"
#include "starling/runtime/data_dir_lock.h"
#include "starling/runtime/incarnation_file.h"
#include "starling/runtime/event_loop.h"
#include "starling/runtime/step_handoff.h"
#include "starling/text.h"

namespace starling::embed {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint64_t kStatusWaitMs = 2'000;
constexpr std::uint64_t kListenWaitMs = 10'000;

// Tests only: the loop thread waits this long (or until a stop) before it
// makes the peer, as on a machine too loaded to schedule it: a start later
// than join()'s listen wait.
std::chrono::milliseconds test_loop_start_delay() {
  const char* text = std::getenv("STARLING_EMBED_TEST_LOOP_START_DELAY_MS");
  return std::chrono::milliseconds(text ? std::strtoull(text, nullptr, 10) : 0);
}

// Keeps the log lines a link refusal writes (either end), so join() can say
// why no neighbour served a model; forwards everything to stderr.
class MismatchSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string last() {
    std::lock_guard lock(mutex_);
    return last_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string_view text(msg.payload.data(), msg.payload.size());
    // training_link_setup.cpp: "refusing a link with A: <why>" and "link to A refused: <why>"
    if (text.find("refus") != std::string_view::npos && text.find("model") != std::string_view::npos) {
      last_ = std::string(text);
    }
  }
  void flush_() override {}

 private:
  std::string last_;
};

}  // namespace

enum class Phase { created, joining, running, left, failed };

struct Peer::Impl {
  apps::EmbedConfig config;
  node::Address listen;
  gossip::Config membership;
  // A folder made for this peer alone (port 0, no data-dir): removed with
  // its identity once the peer leaves or fails to start. Each Peer() used to
  // leave one, a private key in it, for ever.
  struct OwnFolder {
    fs::path path;
    void remove() {
      std::error_code ec;
      if (!path.empty()) fs::remove_all(path, ec);
      path.clear();
    }
    ~OwnFolder() { remove(); }
  };
  OwnFolder own_data_dir;  // declared before the lock: destroyed after it
  fs::path data_dir;
  std::optional<runtime::DataDirLock> data_dir_lock;  // held until leave() or a failed join()
  std::unique_ptr<runtime::FileIncarnationStore> incarnations;  // handed to the RuntimePeer in run()
  std::optional<crypto::Identity> identity;
  std::optional<crypto::SwarmKey> swarm_key;
  std::string node_id;
  std::shared_ptr<spdlog::logger> log;
  std::shared_ptr<MismatchSink> mismatch;

  float* data = nullptr;
  std::size_t count = 0;
  std::optional<node::TrainingDriverOptions> driver;
  std::shared_ptr<runtime::StepHandoff> host;
  std::atomic<std::int64_t> steps{0};  // after_step() calls; the user's thread writes
  // A buffer that keeps holding NaN/Inf (docs/embedding.md, "A replica that
  // diverges"): after this many due copies in a row refused, the node
  // withdraws from gossip (its last copy pulls on no neighbour), then joins
  // again and copies a neighbour's model in, as `starling peer` does
  // (node::Peer::on_training_failed: up to 3 times, 1, 2, 4 s apart).
  static constexpr int kRefusedBeforeWithdraw = 3;
  int refused_streak = 0;                   // the user's thread
  std::atomic<bool> withdrawn{false};       // the user's thread asked the node to withdraw
  std::atomic<bool> resume_pending{false};  // the loop thread: the rejoin's start_training came
  // Whole models copied into the buffer (the join's download, each
  // recovery's): the user's thread writes, anyone reads.
  std::atomic<std::uint64_t> buffer_replacements{0};

  std::mutex phase_mutex;  // phase, error, join_active; the user's calls
  Phase phase = Phase::created;
  // join() runs (phase_mutex); join_done is notified when it returns. A
  // leave() from another thread sets abort_join and waits for join() to
  // return ("left while joining") before it stops the loop.
  bool join_active = false;
  std::condition_variable join_done;
  std::atomic<bool> abort_join{false};
  std::mutex leave_mutex;  // one leave() at a time: the loop thread is joined once
  std::atomic<bool> running{false};  // phase == running, for after_step()'s fast path
  std::string error;
  bool downloaded = false;
  std::string address;

  std::thread thread;
  std::mutex loop_mutex;
  runtime::EventLoop* loop = nullptr;  // set while the loop runs; post() through it under loop_mutex
  // stop_loop() came (loop_mutex): a loop thread that has not published its
  // loop yet must not run it, since nobody would stop it. Notifies loop_stop.
  bool stop_requested = false;
  std::condition_variable loop_stop;
  // Loop thread only.
  node::Peer* slot = nullptr;
  apps::RuntimePeer* runtime_peer = nullptr;

  bool post(std::function<void()> work) {
    std::lock_guard lock(loop_mutex);
    if (!loop) return false;
    loop->post(std::move(work));
    return true;
  }

  // Waits up to kStatusWaitMs for work posted to the loop. `stopped`: the
  // loop ended meanwhile, so the work may never run (a status() posted just
  // as leave() stopped the loop waited the whole 2 s, then said the loop did
  // not answer).
  enum class Awaited { ready, stopped, timeout };
  template <class Future>
  Awaited await_loop(const Future& future) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kStatusWaitMs);
    while (true) {
      if (future.wait_for(std::chrono::milliseconds(20)) == std::future_status::ready) return Awaited::ready;
      bool looping = false;
      {
        std::lock_guard lock(loop_mutex);
        looping = loop != nullptr;
      }
      if (!looping) {
        return future.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready ? Awaited::ready
                                                                                            : Awaited::stopped;
      }
      if (std::chrono::steady_clock::now() >= deadline) return Awaited::timeout;
    }
  }

  // A stop before the loop ran: the start is abandoned, the loop never runs.
  Status stopped_before_start() {
    return make_error(ErrorKind::disconnected, "the peer was stopped before its loop started");
  }

  void run(std::promise<Status> listening) {
    if (const auto delay = test_loop_start_delay(); delay.count() > 0) {
      std::unique_lock lock(loop_mutex);
      loop_stop.wait_for(lock, delay, [this] { return stop_requested; });
    }
    {
      std::lock_guard lock(loop_mutex);
      if (stop_requested) return listening.set_value(stopped_before_start());
    }
    runtime::EventLoop own_loop;
    apps::RuntimePeerConfig c;
    c.listen = listen;
    c.membership = membership;
    c.incarnations = std::move(incarnations);
    c.log = log;
    c.slot = &slot;
    if (host) {
      c.host = host.get();
      c.driver = driver;
    }
    auto made = apps::RuntimePeer::create(own_loop, std::move(c), std::move(*identity), std::move(*swarm_key));
    if (!made) {
      listening.set_value(make_error(made.error().kind, "cannot listen on " + config.listen + ": " + made.error().message));
      return;
    }
    std::unique_ptr<apps::RuntimePeer> rp = std::move(*made);
    runtime_peer = rp.get();
    address = rp->address();
    rp->peer().start(config.seeds, host && config.download && !config.seeds.empty());
    {
      // Published and checked under one lock: either stop_loop() sees the
      // loop (and stops it) or this sees stop_requested (and never runs it).
      std::lock_guard lock(loop_mutex);
      if (stop_requested) {
        runtime_peer = nullptr;
        listening.set_value(stopped_before_start());
        return;  // rp goes before own_loop: its handles close on a loop that is still there
      }
      loop = &own_loop;
    }
    listening.set_value(ok_status());
    own_loop.run();
    {
      std::lock_guard lock(loop_mutex);
      loop = nullptr;
    }
    runtime_peer = nullptr;
    rp.reset();
  }

  // The user's thread: the buffer held NaN/Inf at kRefusedBeforeWithdraw due
  // publishes in a row. The node withdraws now and rejoins later.
  void withdraw(const std::string& why) {
    log->error("after_step(): {} ({} due publishes in a row): withdrawing from gossip", why, kRefusedBeforeWithdraw);
    post([this, why] {
      if (!slot || slot->on_training_failed(why, [h = host] { h->rearm(); })) return;
      // false and still withdrawn: every recovery is used up (not a peer
      // that stopped or never trained). after_step() says so from now on.
      if (!slot->training() || !slot->training()->withdrawn()) return;
      std::lock_guard lock(phase_mutex);
      if (phase != Phase::running) return;
      phase = Phase::failed;
      error = "the parameters kept holding NaN or Inf after " + std::to_string(node::Peer::kMaxTrainingRecoveries) +
              " recoveries from a neighbour's model";
      running.store(false, std::memory_order_release);
    });
  }

  // The user's thread, at the step boundary after the rejoin's download: the
  // neighbour's model replaces the diverged buffer, and what was pending
  // for the old values is dropped.
  void resume() {
    resume_pending.store(false, std::memory_order_relaxed);
    host->drop_pending_corrections();
    std::optional<Eigen::VectorXf> initial = host->take_initial();
    if (initial) {
      std::memcpy(data, initial->data(), count * sizeof(float));
      buffer_replacements.fetch_add(1, std::memory_order_release);
    }
    refused_streak = 0;
    withdrawn.store(false, std::memory_order_release);
    log->warn("after_step(): training again {}",
              initial ? "from a neighbour's model (copied into the buffer; buffer_replacements() counts it: reset your "
                        "optimizer's state)"
                      : "from the buffer's own values: no neighbour served a model");
  }

  // The user's thread: the graceful leave on the loop, then the loop thread
  // joined. Never while join() runs on another thread (leave() waits for it).
  void stop_loop() {
    if (!thread.joinable()) return;
    {
      std::lock_guard lock(loop_mutex);
      stop_requested = true;
    }
    loop_stop.notify_all();
    Impl* impl = this;
    if (!post([impl] { impl->leave_on_loop(); })) {
      std::lock_guard lock(loop_mutex);
      if (loop) loop->stop();
    }
    thread.join();
  }

  // Once the peer has left or failed: its data dir is free for another peer
  // (of this process too: a `with` block's peer object outlives the block).
  void stop_and_unlock() {
    stop_loop();
    data_dir_lock.reset();
    own_data_dir.remove();
  }

  // Loop thread: the graceful leave, bounded as `starling peer`'s.
  void leave_on_loop() {
    runtime::EventLoop* l = loop;
    if (!slot || !runtime_peer) {
      l->stop();
      return;
    }
    node::Transport& transport = runtime_peer->transport();
    transport.start_timer(std::uint64_t(membership.leave_timeout_ms) + 2000, [l] { l->stop(); });
    slot->leave([l, &transport] { transport.start_timer(200, [l] { l->stop(); }); });
  }

  void fill_status(PeerStatus& s) const {
    const node::PeerStatus ps = slot->status();
    s.joined = ps.joined;
    // The view keeps left and dead members for a while (so a late rumour
    // cannot revive them): they are not members any more.
    s.members = std::size_t(std::count_if(ps.view.members.begin(), ps.view.members.end(), [](const auto& member) {
      return member.record.state == gossip::MemberState::alive || member.record.state == gossip::MemberState::suspect;
    }));
    s.bytes_sent = ps.transport.bytes_sent;
    s.bytes_received = ps.transport.bytes_received;
    s.recoveries = std::uint64_t(slot->training_recoveries());
    if (ps.training) {
      const node::TrainingDriverStatus& d = *ps.training;
      if (d.state == "downloading" && ps.joined) s.state = "downloading";  // before: still joining
      if (d.state == "failed" && s.state == "training") s.state = "withdrawn";
      s.rounds = d.rounds;
      s.deltas_sent = d.deltas_sent;
      s.deltas_received = d.deltas_received;
      s.link_resets = d.link_resets;
      s.gossip_bytes_sent = d.delta_bytes_sent;
      s.model_bytes_downloaded = d.model_bytes_downloaded;
      s.model_bytes_served = d.model_bytes_served;
      s.consensus_distance = d.consensus_distance;
      for (const auto& n : d.neighbours) {
        s.neighbours.push_back(NeighbourStatus{gossip::to_hex(n.node_id), n.address, n.ready, n.outbound,
                                               n.deltas_sent, n.deltas_received, n.resets});
      }
    }
  }
};

Peer::Peer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Peer::~Peer() { (void)leave(); }

Result<std::unique_ptr<Peer>> Peer::create(const Settings& settings) {
  auto parsed = apps::parse_embed_settings(settings);
  if (!parsed) return parsed.error();
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(*parsed);
  const apps::EmbedConfig& c = impl->config;

  auto listen = apps::parse_embed_listen_address(c.listen);  // the setting's check ran already: create()'s own guard
  if (!listen) return make_error(ErrorKind::invalid_argument, "listen: " + listen.error().message);
  impl->listen = *listen;
  for (const auto& seed : c.seeds) {  // the setting's check ran already; this is create()'s own guard
    auto p = apps::parse_seed_address(seed);
    if (!p) return make_error(ErrorKind::invalid_argument, "seed: " + p.error().message);
    if (Status same = apps::check_seed_family(*listen, *p, seed); !same)
      return make_error(ErrorKind::invalid_argument, "seed: " + same.error().message);
  }
  auto membership = gossip::config_for_profile(c.profile);
  if (!membership) return make_error(ErrorKind::invalid_argument, "profile: " + membership.error().message);
  impl->membership = *membership;
  // The gossip options are checked now, with a stand-in layout: a bad
  // compress or clip fails here, not at attach().
  if (auto checked = apps::gossip_driver_options(c.training, compress::Layout::whole(1), {}); !checked)
    return checked.error();

  auto key = apps::load_swarm_key_option(c.swarm_key_path);
  if (!key) return key.error();
  impl->swarm_key = std::move(*key);

  // The data dir as `starling peer` picks it; with port 0 (any port) a fresh
  // folder, since the port does not name this peer.
  if (!c.data_dir.empty()) {
    impl->data_dir = c.data_dir;
  } else if (impl->listen.port != 0) {
    const char* state = std::getenv("XDG_STATE_HOME");
    const char* home = std::getenv("HOME");
    fs::path base = state && *state ? fs::path(state) : fs::path(home && *home ? home : ".") / ".local" / "state";
    impl->data_dir = base / "starling" / ("peer-" + std::to_string(impl->listen.port));
  } else {
    std::random_device random;
    impl->data_dir = fs::temp_directory_path() / ("starling-embed-" + std::to_string(random()) + std::to_string(random()));
  }
  std::error_code ec;
  const bool made_dir = fs::create_directories(impl->data_dir, ec);
  if (ec) return make_error(ErrorKind::io, "cannot create data dir " + impl->data_dir.string() + ": " + ec.message());
  if (made_dir && c.data_dir.empty() && impl->listen.port == 0) impl->own_data_dir.path = impl->data_dir;
  fs::permissions(impl->data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  auto locked = runtime::DataDirLock::acquire(impl->data_dir);  // one peer per data dir, as `starling peer`
  if (!locked) return locked.error();
  impl->data_dir_lock.emplace(std::move(*locked));
  auto incarnations = runtime::FileIncarnationStore::open(impl->data_dir / "incarnation");  // as `starling peer`
  if (!incarnations) return incarnations.error();
  impl->incarnations = std::move(*incarnations);

  impl->mismatch = std::make_shared<MismatchSink>();
  auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  // Quiet by default inside someone else's program: warnings and errors.
  const char* level = std::getenv("STARLING_LOG");
  err->set_level(level && std::string(level) == "info" ? spdlog::level::info : spdlog::level::warn);
  impl->log = std::make_shared<spdlog::logger>("embed", spdlog::sinks_init_list{err, impl->mismatch});
  impl->log->set_level(spdlog::level::info);
  impl->log->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ starling %l %v", spdlog::pattern_time_type::utc);

  if (!c.identity_path.empty()) {
    auto loaded = crypto::Identity::load(c.identity_path);
    if (!loaded) return make_error(loaded.error().kind, "identity: " + loaded.error().message);
    impl->identity = std::move(*loaded);
  } else {
    const fs::path path = impl->data_dir / "identity.key";
    if (fs::exists(path, ec)) {
      auto loaded = crypto::Identity::load(path);
      if (!loaded) return make_error(loaded.error().kind, "identity " + path.string() + ": " + loaded.error().message);
      impl->identity = std::move(*loaded);
    } else {
      crypto::Identity made = crypto::Identity::generate();
      if (auto saved = made.save(path); !saved) return saved.error();
      impl->identity = std::move(made);
    }
  }
  impl->node_id = gossip::to_hex(impl->identity->node_id().bytes());
  if (impl->swarm_key->is_open() && !c.seeds.empty())
    impl->log->warn("no swarm-key: this swarm is OPEN (anyone who reaches the port joins and reads it)");
  return std::unique_ptr<Peer>(new Peer(std::move(impl)));
}

Status Peer::attach(float* data, std::size_t count, ModelLayout layout) {
  Impl& m = *impl_;
  std::lock_guard lock(m.phase_mutex);
  if (m.phase != Phase::created || m.host) return make_error(ErrorKind::invalid_argument, "attach(): once, before join()");
  if (!data || count == 0) return make_error(ErrorKind::invalid_argument, "attach(): an empty buffer");
  if (std::string problem = apps::layout_problem(layout, count); !problem.empty())
    return make_error(ErrorKind::invalid_argument, "attach(): " + problem);
  std::vector<compress::Segment> segments;
  std::size_t offset = 0;
  for (const auto& shape : layout.shapes) {
    const std::size_t n = *apps::tensor_count(shape);  // layout_problem() checked it
    segments.push_back({offset, n});
    offset += n;
  }
  auto made = compress::Layout::make(count, segments);
  if (!made) return made.error();
  auto driver = apps::gossip_driver_options(m.config.training, std::move(*made),
                                            node::model_hash(apps::layout_description(layout)));
  if (!driver) return driver.error();
  driver->model_shape = apps::layout_shape(layout);
  driver->download_model = m.config.download;
  m.driver = std::move(*driver);
  m.data = data;
  m.count = count;
  runtime::StepHandoffOptions handoff;
  handoff.parameter_count = count;
  // The user's thread -> the loop thread: the copy travels in the posted closure.
  Impl* impl = &m;
  handoff.publish = apps::publish_to_loop([impl](std::function<void()> work) { impl->post(std::move(work)); },
                                          &impl->slot);
  handoff.on_log = [log = m.log](const std::string& message) { log->warn("{}", message); };
  // Loop thread, at every start after join()'s: a rejoin after a withdrawal.
  handoff.on_start = [impl] {
    if (impl->withdrawn.load(std::memory_order_acquire)) impl->resume_pending.store(true, std::memory_order_release);
  };
  m.host = std::make_shared<runtime::StepHandoff>(std::move(handoff));
  return ok_status();
}

Status Peer::join(std::uint64_t timeout_ms) {
  Impl& m = *impl_;
  // The join-timeout setting's range: a larger one would overflow the deadline's clock.
  if (timeout_ms > apps::kJoinTimeoutMaxMs) {
    return make_error(ErrorKind::invalid_argument, "join(): timeout_ms " + std::to_string(timeout_ms) +
                                                       " is out of range (1 to " +
                                                       std::to_string(apps::kJoinTimeoutMaxMs) +
                                                       " ms, or 0 for the join-timeout setting)");
  }
  {
    std::lock_guard lock(m.phase_mutex);
    if (m.phase == Phase::running) return ok_status();
    if (m.phase == Phase::left) return make_error(ErrorKind::disconnected, "join(): the peer has left");
    if (m.phase == Phase::failed) return make_error(ErrorKind::disconnected, "join(): " + m.error);
    if (m.phase == Phase::joining) return make_error(ErrorKind::invalid_argument, "join(): already joining");
    m.phase = Phase::joining;
    m.join_active = true;
  }
  struct JoinDone {
    Impl& m;
    ~JoinDone() {
      std::lock_guard lock(m.phase_mutex);
      m.join_active = false;
      m.join_done.notify_all();
    }
  } join_done{m};
  const auto fail = [&](Error error) -> Status {
    m.stop_and_unlock();
    std::lock_guard lock(m.phase_mutex);
    m.phase = Phase::failed;
    m.error = error.message;
    return error;
  };
  // leave() from another thread: it stops the loop once this returns.
  const auto left = [] {
    return make_error(ErrorKind::disconnected, "join(): left while joining (leave() was called)");
  };
  if (timeout_ms == 0) timeout_ms = m.config.join_timeout_ms;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);

  std::promise<Status> listening;
  std::future<Status> listened = listening.get_future();
  m.thread = std::thread([&m, p = std::move(listening)]() mutable { m.run(std::move(p)); });
  // In slices, so a leave() from another thread is not kept waiting by a
  // slow start (it stops the loop thread once this returns).
  const auto listen_deadline = Clock::now() + std::chrono::milliseconds(kListenWaitMs);
  while (listened.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
    if (m.abort_join.load(std::memory_order_acquire)) return left();
    if (Clock::now() >= listen_deadline)
      return fail(make_error(ErrorKind::timeout, "the peer's loop did not start within 10 s"));
  }
  if (Status up = listened.get(); !up) {
    m.thread.join();
    m.data_dir_lock.reset();
    std::lock_guard lock(m.phase_mutex);
    m.phase = Phase::failed;
    m.error = up.error().message;
    return up;
  }

  // Membership first: a seed must answer (a dead seed is a timeout, not a hang).
  if (!m.config.seeds.empty()) {
    for (;;) {
      auto s = status();
      if (s && s->joined) break;
      if (m.abort_join.load(std::memory_order_acquire)) return left();
      if (Clock::now() >= deadline) {
        std::string seeds;
        for (const auto& seed : m.config.seeds) seeds += (seeds.empty() ? "" : ", ") + seed;
        return fail(make_error(ErrorKind::timeout, "no seed answered within " + std::to_string(timeout_ms) +
                                                       " ms (seeds: " + seeds + ")"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  bool downloaded = false;
  if (m.host) {
    // Then the model: downloaded into the buffer before the first step.
    for (;;) {
      if (m.host->wait_started(20)) break;
      if (m.abort_join.load(std::memory_order_acquire)) return left();
      if (std::string why = m.mismatch->last(); !why.empty() && m.config.download && !m.config.seeds.empty())
        return fail(make_error(ErrorKind::invalid_argument, "the swarm trains another model: " + why));
      if (Clock::now() >= deadline)
        return fail(make_error(ErrorKind::timeout, "no neighbour served the model within " +
                                                       std::to_string(timeout_ms) + " ms"));
    }
    if (auto initial = m.host->take_initial()) {
      std::memcpy(m.data, initial->data(), m.count * sizeof(float));
      m.buffer_replacements.fetch_add(1, std::memory_order_release);
      downloaded = true;
    } else if (std::string why = m.mismatch->last(); !why.empty() && m.config.download && !m.config.seeds.empty()) {
      return fail(make_error(ErrorKind::invalid_argument, "the swarm trains another model: " + why));
    }
  }
  // The node asks for the parameters as training starts: answer now, so a
  // peer that waits before its first step (or starts a swarm) can already
  // serve its model to joiners.
  if (m.host) {
    const runtime::BoundaryServed served =
        m.host->publish_if_due(0, Eigen::Map<const Eigen::VectorXf>(m.data, Eigen::Index(m.count)));
    if (!served.status) return fail(make_error(ErrorKind::numerical, "join(): " + served.status.error().message));
  }
  std::lock_guard lock(m.phase_mutex);
  if (m.abort_join.load(std::memory_order_acquire)) return left();
  m.phase = Phase::running;
  m.downloaded = downloaded;
  m.running.store(true, std::memory_order_release);
  return ok_status();
}

Status Peer::after_step() {
  Impl& m = *impl_;
  if (!m.host) return make_error(ErrorKind::invalid_argument, "after_step(): attach() a buffer first");
  if (!m.running.load(std::memory_order_acquire)) {
    std::unique_lock lock(m.phase_mutex);
    if (m.phase != Phase::running) {
      if (m.phase == Phase::created) {
        lock.unlock();
        if (Status joined = join(); !joined) return joined;
      } else if (m.phase == Phase::failed) {
        return make_error(ErrorKind::disconnected, "after_step(): the peer failed: " + m.error);
      } else if (m.phase == Phase::joining) {
        // join() runs on another thread: not a peer that left (it said so).
        return make_error(ErrorKind::invalid_argument,
                          "after_step(): join() is still running on another thread; step once it returns");
      } else {
        return make_error(ErrorKind::disconnected, "after_step(): the peer has left");
      }
    }
  }
  if (m.resume_pending.load(std::memory_order_acquire)) m.resume();
  // The step boundary: the same hand-off as `starling peer`'s training thread.
  const std::int64_t steps = m.steps.load(std::memory_order_relaxed) + 1;
  m.steps.store(steps, std::memory_order_relaxed);
  Eigen::Map<Eigen::VectorXf> buffer(m.data, Eigen::Index(m.count));
  const runtime::BoundaryServed served = m.host->serve(
      steps,
      [&buffer](const Eigen::VectorXf& sum) {
        buffer += sum;
        return ok_status();
      },
      buffer);
  if (!served.warning.empty()) m.log->warn("after_step(): {}", served.warning);
  if (served.refused) {
    if (++m.refused_streak >= Impl::kRefusedBeforeWithdraw && !m.withdrawn.exchange(true, std::memory_order_acq_rel))
      m.withdraw(served.status.error().message);
  } else if (served.published) {
    m.refused_streak = 0;
  }
  if (!served.status) return make_error(ErrorKind::numerical, "after_step(): " + served.status.error().message);
  return ok_status();
}

std::uint64_t Peer::buffer_replacements() const {
  return impl_->buffer_replacements.load(std::memory_order_acquire);
}

Result<PeerStatus> Peer::status() const {
  Impl& m = *impl_;
  PeerStatus s;
  {
    std::lock_guard lock(m.phase_mutex);
    static constexpr const char* kNames[] = {"created", "joining", "training", "left", "failed"};
    s.state = kNames[int(m.phase)];
    if (m.phase == Phase::running && !m.host) s.state = "member";
    s.error = m.error;
    s.downloaded = m.downloaded;
    s.buffer_replacements = m.buffer_replacements.load(std::memory_order_acquire);
  }
  s.node_id = m.node_id;
  s.model_mismatch = m.mismatch->last();
  s.trains = m.host != nullptr;
  if (m.host) {
    s.steps = m.steps.load(std::memory_order_relaxed);
    s.corrections_applied = m.host->corrections_applied();
    s.publishes = m.host->publishes();
    s.publishes_withheld = m.host->publishes_withheld() + m.host->publishes_refused();
  }
  auto answer = std::make_shared<std::promise<PeerStatus>>();
  auto future = answer->get_future();
  Impl* impl = &m;
  if (!m.post([impl, answer, s]() mutable {
        if (impl->slot) {
          s.address = impl->address;
          impl->fill_status(s);
        }
        answer->set_value(std::move(s));
      })) {
    return s;  // not running: what the user's side knows
  }
  switch (m.await_loop(future)) {
    case Impl::Awaited::timeout:
      return make_error(ErrorKind::timeout, "status(): the peer's loop did not answer within 2 s");
    case Impl::Awaited::stopped: return s;  // the loop ended: what the user's side knows
    case Impl::Awaited::ready: break;
  }
  try {
    return future.get();
  } catch (const std::future_error&) {
    return s;  // the work was dropped with the loop (a broken promise)
  }
}

Result<std::size_t> Peer::local_average(float* out, std::size_t count) const {
  Impl& m = *impl_;
  if (!m.host) return make_error(ErrorKind::invalid_argument, "local_average(): attach() a buffer first");
  if (!out || count != m.count) {
    return make_error(ErrorKind::invalid_argument, "local_average(): the output holds " + std::to_string(count) +
                                                       " floats, the attached buffer " + std::to_string(m.count));
  }
  if (!m.running.load(std::memory_order_acquire)) {
    std::lock_guard lock(m.phase_mutex);
    const char* why = m.phase == Phase::left      ? "the peer has left"
                      : m.phase == Phase::failed  ? "the peer failed"
                      : m.phase == Phase::joining ? "join() is still running"
                                                  : "the peer is not training (join() first)";
    return make_error(ErrorKind::disconnected, std::string("local_average(): ") + why);
  }
  // The user's thread reads its buffer; the loop thread (the links' copies) averages the copy in place.
  auto work = std::make_shared<std::pair<Eigen::VectorXf, Result<std::size_t>>>(
      Eigen::Map<const Eigen::VectorXf>(m.data, Eigen::Index(m.count)),
      make_error(ErrorKind::disconnected, "local_average(): no training driver"));
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  Impl* impl = &m;
  if (!m.post([impl, work, done] {
        if (impl->slot && impl->slot->training()) work->second = impl->slot->training()->local_average(work->first);
        done->set_value();
      })) {
    return make_error(ErrorKind::disconnected, "local_average(): the peer's loop has stopped");
  }
  switch (m.await_loop(finished)) {
    case Impl::Awaited::timeout:
      return make_error(ErrorKind::timeout, "local_average(): the peer's loop did not answer within 2 s");
    case Impl::Awaited::stopped:
      return make_error(ErrorKind::disconnected, "local_average(): the peer's loop has stopped");
    case Impl::Awaited::ready: break;
  }
  try {
    finished.get();
  } catch (const std::future_error&) {
    return make_error(ErrorKind::disconnected, "local_average(): the peer's loop has stopped");
  }
  if (!work->second) return work->second.error();
  std::memcpy(out, work->first.data(), m.count * sizeof(float));
  return *work->second;
}

Status Peer::leave() {
  Impl& m = *impl_;
  std::lock_guard leaving(m.leave_mutex);
  {
    std::unique_lock lock(m.phase_mutex);
    m.running.store(false, std::memory_order_release);
    if (m.phase == Phase::left) return ok_status();
    if (m.join_active) {  // join() on another thread: it returns within ~20 ms of this
      m.abort_join.store(true, std::memory_order_release);
      m.join_done.wait(lock, [&m] { return !m.join_active; });
    }
    if (m.phase != Phase::failed) m.phase = Phase::left;
  }
  m.stop_and_unlock();
  return ok_status();
}

}  // namespace starling::embed
