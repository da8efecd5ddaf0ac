// The step-boundary hand-off. See starling/runtime/step_handoff.h.
#include "starling/runtime/step_handoff.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <utility>

#include "starling/ml/fpu.h"

namespace starling::runtime {
StepHandoff::StepHandoff(StepHandoffOptions options)
    : options_(std::move(options)),
      pending_(Eigen::VectorXf::Zero(Eigen::Index(options_.parameter_count))),
      spare_(Eigen::VectorXf::Zero(Eigen::Index(options_.parameter_count))) {}

void StepHandoff::start_training(const Eigen::VectorXf* initial) {
  {
    std::lock_guard lock(start_mutex_);
    if (started_) return;  // once
    if (initial && std::size_t(initial->size()) == options_.parameter_count) initial_ = *initial;
  }
  if (options_.on_start) options_.on_start();
  {
    std::lock_guard lock(start_mutex_);
    started_ = true;
  }
  started_cv_.notify_all();
}

void StepHandoff::request_parameters(std::int64_t at_step) {
  publish_at_.store(at_step < 0 ? 0 : at_step, std::memory_order_release);
}

Status StepHandoff::offer_correction(const Eigen::VectorXf& correction) {
  if (std::size_t(correction.size()) != options_.parameter_count) {
    corrections_refused_.fetch_add(1, std::memory_order_relaxed);
    return make_error(ErrorKind::invalid_argument, "correction has " + std::to_string(correction.size()) +
                                                       " entries, the model " +
                                                       std::to_string(options_.parameter_count));
  }
  std::lock_guard lock(corrections_mutex_);
  bool finite = true;
  float* sum = pending_.data();
  const float* add = correction.data();
  if (pending_count_ == 0) {
    // The usual case (the trainer serves corrections at every step, rounds
    // come far less often): the sum is this correction, copied and checked
    // in one pass. "+ 0.0f" keeps the bits of the old 0 + x (a -0 becomes +0).
    std::uint32_t any = 0;
    for (Eigen::Index i = 0; i < correction.size(); ++i) {
      sum[i] = add[i] + 0.0f;
      any |= ml::non_finite(add[i]);
    }
    finite = any == 0;
    pending_finite_ = true;
  } else {
    finite = ml::all_finite(add, std::size_t(correction.size()));
    if (finite) {
      // Each correction is finite; their sum can still overflow: noted here,
      // in the pass that adds, so the trainer does not check it again.
      std::uint32_t any = 0;
      for (Eigen::Index i = 0; i < correction.size(); ++i) {
        sum[i] += add[i];
        any |= ml::non_finite(sum[i]);
      }
      pending_finite_ = pending_finite_ && any == 0;
    }
  }
  if (!finite) {
    corrections_refused_.fetch_add(1, std::memory_order_relaxed);
    return make_error(ErrorKind::numerical, "correction holds NaN or Inf");
  }
  ++pending_count_;
  correction_pending_.store(true, std::memory_order_release);
  return ok_status();
}

void StepHandoff::add_correction(const Eigen::VectorXf& correction) {
  if (Status added = offer_correction(correction); !added && options_.on_log)
    options_.on_log("dropping a consensus correction: " + added.error().message);
}

void StepHandoff::hand_over_correction(Eigen::VectorXf& correction, bool finite) {
  if (finite && std::size_t(correction.size()) == options_.parameter_count) {
    std::lock_guard lock(corrections_mutex_);
    if (pending_count_ == 0) {
      // Three buffers rotate: the pending sum (under the mutex), the trainer's
      // spare and the caller's; each is touched by one thread at a time.
      pending_.swap(correction);
      pending_finite_ = true;
      ++pending_count_;
      correction_pending_.store(true, std::memory_order_release);
      return;
    }
  }
  add_correction(correction);
}

std::size_t StepHandoff::model_bytes_held() const {
  return 2 * options_.parameter_count * sizeof(float) + options_.trainer_model_bytes;
}

bool StepHandoff::wait_started(std::uint64_t timeout_ms) {
  std::unique_lock lock(start_mutex_);
  return started_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return started_; });
}

void StepHandoff::rearm() {
  std::lock_guard lock(start_mutex_);
  started_ = false;
  initial_.reset();
}

void StepHandoff::drop_pending_corrections() {
  {
    std::lock_guard lock(corrections_mutex_);
    if (pending_count_ > 0) corrections_dropped_.fetch_add(std::uint64_t(pending_count_), std::memory_order_relaxed);
    pending_count_ = 0;
    correction_pending_.store(false, std::memory_order_release);
  }
  guard_ = PublishGuard{};
}

bool StepHandoff::started() const {
  std::lock_guard lock(start_mutex_);
  return started_;
}

std::optional<Eigen::VectorXf> StepHandoff::take_initial() {
  std::lock_guard lock(start_mutex_);
  std::optional<Eigen::VectorXf> out;
  out.swap(initial_);
  return out;
}

BoundaryServed StepHandoff::apply_corrections(const std::function<Status(const Eigen::VectorXf&)>& add) {
  BoundaryServed served;
  if (!correction_pending_.load(std::memory_order_acquire)) return served;
  std::int64_t count = 0;
  bool finite = true;
  {
    std::lock_guard lock(corrections_mutex_);
    pending_.swap(spare_);  // O(1): the pending sum moves out; the next offer overwrites the old one
    count = pending_count_;
    finite = pending_finite_;
    pending_count_ = 0;
    correction_pending_.store(false, std::memory_order_relaxed);
  }
  if (count == 0) return served;
  // Each correction was finite; only their sum can have overflowed (noted by offer_correction).
  Status added = finite ? add(spare_) : Status(make_error(ErrorKind::numerical, "their sum holds NaN or Inf"));
  if (added) guard_.on_corrections(spare_);  // the swarm's move, not the trainer's
  if (!added) {
    corrections_dropped_.fetch_add(std::uint64_t(count), std::memory_order_relaxed);
    served.status = make_error(ErrorKind::numerical,
                               std::to_string(count) + " corrections dropped: " + added.error().message);
    return served;
  }
  corrections_applied_.fetch_add(std::uint64_t(count), std::memory_order_relaxed);
  served.corrections = count;
  return served;
}

BoundaryServed StepHandoff::publish_if_due(std::int64_t steps, const Eigen::Ref<const Eigen::VectorXf>& parameters) {
  return publish_if_asked(publish_at_.load(std::memory_order_acquire), steps, parameters);
}

BoundaryServed StepHandoff::publish_if_asked(std::int64_t target, std::int64_t steps,
                                             const Eigen::Ref<const Eigen::VectorXf>& parameters) {
  BoundaryServed served;
  // Only the trainer clears a request; a newer one stored meanwhile survives the failed exchange.
  if (target == kNoPublish || steps < target ||
      !publish_at_.compare_exchange_strong(target, kNoPublish, std::memory_order_acq_rel)) {
    return served;
  }
  Eigen::VectorXf copy(parameters.size());
  switch (guard_.copy_and_judge(parameters.data(), copy.data(), std::size_t(parameters.size()), steps)) {
    case PublishGuard::Verdict::not_finite:
      publishes_refused_.fetch_add(1, std::memory_order_relaxed);
      served.refused = true;
      served.status = make_error(ErrorKind::numerical, "the parameters hold NaN or Inf (training diverged): not published");
      return served;
    case PublishGuard::Verdict::diverging:
      publishes_withheld_.fetch_add(1, std::memory_order_relaxed);
      served.withheld = true;
      if (!std::exchange(withholding_, true)) {
        char text[200];
        std::snprintf(text, sizeof text,
                      "the parameters moved %.3g per step against a usual %.3g (training diverging?): not "
                      "published while that lasts",
                      guard_.last_move_per_step(), guard_.usual_move_per_step());
        served.warning = text;
      }
      return served;
    case PublishGuard::Verdict::publish: break;
  }
  withholding_ = false;
  if (options_.publish) options_.publish(std::move(copy), steps);
  publishes_.fetch_add(1, std::memory_order_relaxed);
  served.published = true;
  return served;
}

BoundaryServed StepHandoff::serve(std::int64_t steps, const std::function<Status(const Eigen::VectorXf&)>& add,
                                  const Eigen::Ref<const Eigen::VectorXf>& parameters) {
  steps_served_.store(steps, std::memory_order_relaxed);
  // The request first: the loop thread hands a round's correction over
  // before it asks for the next round's parameters, so a request seen here
  // (acquire) makes every correction offered before it visible to the apply
  // below, and the copy holds all the corrections the driver counts in its
  // own x. Read the other way round, a correction and a request landing
  // between the two reads would publish a copy without it (the driver's next
  // delta would pull its neighbours' copy of us back by that correction).
  const std::int64_t target = publish_at_.load(std::memory_order_acquire);
  BoundaryServed served = apply_corrections(add);
  BoundaryServed published = publish_if_asked(target, steps, parameters);
  served.published = published.published;
  served.withheld = published.withheld;
  served.refused = published.refused;
  served.warning = std::move(published.warning);
  if (!published.status) served.status = published.status;  // both failing: the publish refusal is the graver
  return served;
}

}  // namespace starling::runtime
