// The step-boundary hand-off between a swarm peer's loop thread (node::Peer,
// the gossip) and the thread that trains the model. One implementation for
// every trainer: `starling peer`'s built-in runtime::TrainingWorker and the
// embedding API's caller (embed::Peer::after_step(), C++ or Python) both
// serve this object at their step boundaries (docs/embedding.md, "One code
// path").
//
// Loop thread -> trainer (node::ModelHost, the door node::Peer trains through):
//   start_training(init)  the join download (or none): kept for the trainer
//                         (take_initial()), then on_start runs (the built-in
//                         trainer launches its thread there) and waiters of
//                         wait_started() wake.
//   add_correction(c)     refused (counted, logged) when the size is wrong or
//                         an entry is NaN/Inf; else added under a mutex to a
//                         pending sum and an atomic flag raised.
//   hand_over_correction  the same, but a checked correction with nothing
//                         pending is swapped in (no copy).
//   request_parameters(s) an atomic step target; a newer one replaces it.
//
// Trainer thread, at a step boundary (between two optimizer steps):
//   serve(steps, add, parameters)
//     0. the request is read first: the loop thread offers a round's
//        correction before it asks again, so a copy published for a
//        request holds every correction offered before it;
//     1. the pending sum is swapped out (O(1), no allocation: a zeroed spare
//        takes its place) and, if finite, handed to `add`, which adds it to
//        the parameters (a sum that overflowed is dropped: `numerical`);
//     2. when the node asked for the parameters by `steps` steps, a copy is
//        handed to the publish sink (the caller posts it to the loop thread)
//        unless it holds NaN/Inf (`numerical`) or moved far beyond the
//        trainer's usual step (withheld, a warning: publish_guard.h): a
//        diverging replica must not reach its neighbours' link copies (the
//        node asks again at its next round).
//   Costs two atomic loads when there is nothing to do.
//
// Corrections are never lost or applied twice: their sum is what lands.
// Memory: two model-sized vectors (the pending sum and its spare).
#pragma once

#include <Eigen/Core>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <string>

#include "starling/node/training_driver.h"
#include "starling/runtime/publish_guard.h"
#include "starling/status.h"

namespace starling::runtime {

struct StepHandoffOptions {
  std::size_t parameter_count = 0;
  // Trainer thread: a copy of the parameters the node asked for, and their
  // step count. The caller posts it to the loop thread (node::Peer::on_parameters).
  std::function<void(Eigen::VectorXf parameters, std::int64_t step)> publish;
  // Loop thread, inside start_training(), after the download is kept.
  std::function<void()> on_start;
  // Loop thread: a refused correction (why). Keep it short and non-throwing.
  std::function<void(const std::string& message)> on_log;
  // Model-sized bytes the trainer holds besides the hand-off's own two vectors
  // (parameters, optimizer state), for the peer's memory accounting.
  std::size_t trainer_model_bytes = 0;
};

// What one serve() did.
struct BoundaryServed {
  std::int64_t corrections = 0;  // corrections whose sum was added
  bool published = false;
  bool withheld = false;  // a finite copy kept back by the publish guard
  bool refused = false;   // the parameters held NaN/Inf when due: not published
  std::string warning;    // set when a streak of withheld copies starts (log it once)
  Status status = ok_status();   // numerical: a sum dropped or a publish refused
};

class StepHandoff final : public node::ModelHost {
 public:
  static constexpr std::int64_t kNoPublish = std::numeric_limits<std::int64_t>::max();

  explicit StepHandoff(StepHandoffOptions options);
  StepHandoff(const StepHandoff&) = delete;
  StepHandoff& operator=(const StepHandoff&) = delete;

  // ---- loop thread (node::ModelHost) ----
  void start_training(const Eigen::VectorXf* initial) override;
  void request_parameters(std::int64_t at_step) override;
  void add_correction(const Eigen::VectorXf& correction) override;
  // With nothing pending (the usual case) and `finite`, the buffer becomes
  // the pending sum (a swap, no pass over it) and `correction` gets the
  // last spent sum's buffer; otherwise add_correction.
  void hand_over_correction(Eigen::VectorXf& correction, bool finite) override;
  std::size_t model_bytes_held() const override;

  // ---- any thread ----
  // add_correction with the reason as a Status: invalid_argument (size) or
  // numerical (NaN/Inf); refused ones are counted.
  Status offer_correction(const Eigen::VectorXf& correction);
  // request_parameters under the trainer's name (0: the next boundary).
  void request_publish(std::int64_t at_step) { request_parameters(at_step); }
  // start_training() may come again (after a failed trainer withdrew and its
  // node downloads a model for it: docs/learning.md, "A replica that
  // fails"); on_start then runs again. Loop thread.
  void rearm();
  // Waits up to timeout_ms for start_training(); true once it came.
  bool wait_started(std::uint64_t timeout_ms);
  bool started() const;

  // ---- trainer thread ----
  // The downloaded model, once (moved out); nullopt: none (or taken).
  std::optional<Eigen::VectorXf> take_initial();
  // The step boundary (see the header comment). `add` runs only with a
  // finite sum of the model's size; `parameters` is read after it.
  BoundaryServed serve(std::int64_t steps, const std::function<Status(const Eigen::VectorXf&)>& add,
                       const Eigen::Ref<const Eigen::VectorXf>& parameters);
  // Step 1 of serve() alone (e.g. the corrections still pending at stop).
  BoundaryServed apply_corrections(const std::function<Status(const Eigen::VectorXf&)>& add);
  // The corrections not applied yet are dropped (counted as dropped) and
  // the publish guard forgets its history: a trainer that recovers from a
  // failure starts over from another model. Call it while no serve() runs
  // (TrainingWorker::restart, between its threads).
  void drop_pending_corrections();
  // Step 2 of serve() alone (e.g. join() answers the node's first request).
  BoundaryServed publish_if_due(std::int64_t steps, const Eigen::Ref<const Eigen::VectorXf>& parameters);

  // Counters, any thread.
  std::uint64_t corrections_applied() const { return corrections_applied_.load(std::memory_order_relaxed); }
  std::uint64_t corrections_refused() const { return corrections_refused_.load(std::memory_order_relaxed); }
  std::uint64_t corrections_dropped() const { return corrections_dropped_.load(std::memory_order_relaxed); }
  std::uint64_t publishes() const { return publishes_.load(std::memory_order_relaxed); }
  std::uint64_t publishes_refused() const { return publishes_refused_.load(std::memory_order_relaxed); }
  std::uint64_t publishes_withheld() const { return publishes_withheld_.load(std::memory_order_relaxed); }
  std::size_t parameter_count() const { return options_.parameter_count; }
  // The step count of the last serve() (the trainer's steps, for status answers).
  std::int64_t steps_served() const { return steps_served_.load(std::memory_order_relaxed); }

 private:
  // publish_if_due with the request already read (serve() reads it before
  // the corrections: see there).
  BoundaryServed publish_if_asked(std::int64_t target, std::int64_t steps,
                                  const Eigen::Ref<const Eigen::VectorXf>& parameters);

  StepHandoffOptions options_;

  mutable std::mutex start_mutex_;
  std::condition_variable started_cv_;
  bool started_ = false;
  std::optional<Eigen::VectorXf> initial_;

  std::mutex corrections_mutex_;
  // The sum of the pending corrections; its values mean nothing while
  // pending_count_ is 0 (the first offer overwrites them, so no thread
  // zeroes a model-sized vector per round).
  Eigen::VectorXf pending_;
  std::int64_t pending_count_ = 0;
  bool pending_finite_ = true;  // the sum is finite (each correction is; the sum can overflow)
  std::atomic<bool> correction_pending_{false};
  Eigen::VectorXf spare_;  // trainer thread: swapped with the pending sum (the last sum applied)

  std::atomic<std::int64_t> publish_at_{kNoPublish};

  std::atomic<std::uint64_t> corrections_applied_{0};
  std::atomic<std::uint64_t> corrections_refused_{0};
  std::atomic<std::uint64_t> corrections_dropped_{0};
  std::atomic<std::uint64_t> publishes_{0};
  std::atomic<std::uint64_t> publishes_refused_{0};
  std::atomic<std::uint64_t> publishes_withheld_{0};
  PublishGuard guard_;       // trainer thread only
  bool withholding_ = false;  // trainer thread: a streak of withheld copies is on
  std::atomic<std::int64_t> steps_served_{0};
};

}  // namespace starling::runtime
