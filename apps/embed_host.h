// The embedding API's model host: the user's training thread is the
// "worker". node::Peer (loop thread) talks to it through the ModelHost door;
// the user's thread serves it in after_step(), at its step boundary, like
// runtime::TrainingWorker::serve_boundary does for the built-in trainer:
//
//   add_correction(c)     loop thread: added to a pending sum under a mutex,
//                         an atomic flag raised. after_step() swaps the sum
//                         out (O(1)) and adds it into the user's buffer.
//   request_parameters(s) loop thread: an atomic step target. The first
//                         after_step() with s steps taken copies the buffer
//                         and posts it to the loop (node::Peer::on_parameters).
//   start_training(init)  loop thread: the join download (or none); join()
//                         copies it into the buffer on the user's thread.
//
// Nothing here touches the user's buffer but the user's own thread.
#pragma once

#include <Eigen/Core>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>

#include "embed_publish_guard.h"
#include "starling/node/training_driver.h"

namespace starling::embed {

class EmbedHost final : public node::ModelHost {
 public:
  static constexpr std::int64_t kNoPublish = std::numeric_limits<std::int64_t>::max();

  explicit EmbedHost(std::size_t count)
      : count_(count), pending_(Eigen::VectorXf::Zero(Eigen::Index(count))), spare_(Eigen::VectorXf::Zero(Eigen::Index(count))) {}

  // ---- loop thread (node::ModelHost) ----
  void start_training(const Eigen::VectorXf* initial) override {
    std::lock_guard lock(start_mutex_);
    if (initial && std::size_t(initial->size()) == count_) initial_ = *initial;
    started_ = true;
    started_cv_.notify_all();
  }
  void request_parameters(std::int64_t at_step) override {
    publish_at_.store(at_step < 0 ? 0 : at_step, std::memory_order_release);
  }
  void add_correction(const Eigen::VectorXf& correction) override {
    if (std::size_t(correction.size()) != count_ || !correction.allFinite()) {
      corrections_refused_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    std::lock_guard lock(corrections_mutex_);
    pending_ += correction;
    ++pending_count_;
    correction_pending_.store(true, std::memory_order_release);
  }
  // The pending sum and its spare (the publish guard's sample is small).
  std::size_t model_bytes_held() const override { return 2 * count_ * sizeof(float); }

  // ---- the user's thread ----
  // Waits up to timeout_ms for start_training; true when it came.
  bool wait_started(std::uint64_t timeout_ms) {
    std::unique_lock lock(start_mutex_);
    return started_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return started_; });
  }
  // The downloaded model, once (moved out).
  std::optional<Eigen::VectorXf> take_initial() {
    std::lock_guard lock(start_mutex_);
    std::optional<Eigen::VectorXf> out;
    out.swap(initial_);
    return out;
  }
  bool correction_pending() const { return correction_pending_.load(std::memory_order_acquire); }
  // Adds the pending sum into `buffer`; false when the sum is not finite
  // (dropped: each part was finite, only their sum overflowed).
  bool apply_corrections(Eigen::Map<Eigen::VectorXf> buffer) {
    std::int64_t count = 0;
    {
      std::lock_guard lock(corrections_mutex_);
      pending_.swap(spare_);
      count = pending_count_;
      pending_count_ = 0;
      correction_pending_.store(false, std::memory_order_relaxed);
    }
    if (count == 0) return true;
    const bool finite = spare_.allFinite();
    if (finite) {
      buffer += spare_;
      guard.on_corrections(spare_);
    }
    spare_.setZero();
    if (finite) corrections_applied_.fetch_add(std::uint64_t(count), std::memory_order_relaxed);
    return finite;
  }
  // True (once per request) when the node asked for the parameters by `taken` steps.
  bool publish_due(std::int64_t taken) {
    std::int64_t target = publish_at_.load(std::memory_order_acquire);
    return target != kNoPublish && taken >= target &&
           publish_at_.compare_exchange_strong(target, kNoPublish, std::memory_order_acq_rel);
  }

  std::atomic<std::int64_t> steps{0};
  std::atomic<std::uint64_t> publishes{0};
  std::atomic<std::uint64_t> publishes_withheld{0};  // copies the guard kept back
  PublishGuard guard;                                // user thread only
  bool withholding = false;                          // user thread: warned for this streak
  std::uint64_t corrections_applied() const { return corrections_applied_.load(std::memory_order_relaxed); }
  std::uint64_t corrections_refused() const { return corrections_refused_.load(std::memory_order_relaxed); }
  std::size_t count() const { return count_; }

 private:
  const std::size_t count_;
  std::mutex start_mutex_;
  std::condition_variable started_cv_;
  bool started_ = false;
  std::optional<Eigen::VectorXf> initial_;

  std::mutex corrections_mutex_;
  Eigen::VectorXf pending_;
  std::int64_t pending_count_ = 0;
  std::atomic<bool> correction_pending_{false};
  Eigen::VectorXf spare_;  // user thread: swapped with the pending sum, zero between uses
  std::atomic<std::uint64_t> corrections_applied_{0};
  std::atomic<std::uint64_t> corrections_refused_{0};
  std::atomic<std::int64_t> publish_at_{kNoPublish};
};

}  // namespace starling::embed
