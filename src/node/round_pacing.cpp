#include "starling/node/round_pacing.h"

#include <algorithm>
#include <cmath>

namespace starling::node {

std::string_view to_string(RoundWait wait) {
  switch (wait) {
    case RoundWait::steps: return "steps";
    case RoundWait::floor: return "floor";
    case RoundWait::cpu: return "cpu";
    case RoundWait::upload: return "upload";
  }
  return "steps";
}

RoundPacer::RoundPacer(RoundPacingConfig config) : config_(config) {
  if (!(config_.cpu_share > 0.0) || !std::isfinite(config_.cpu_share)) config_.cpu_share = 0.0;
  config_.cpu_share = std::min(config_.cpu_share, 1.0);
  credit_us_ = std::int64_t(config_.cpu_burst_us);
}

std::int64_t RoundPacer::cpu_credit_us(std::uint64_t now_ms) const {
  if (!started_ || now_ms <= last_start_ms_) return credit_us_;
  const std::int64_t refill = std::int64_t(std::min<std::uint64_t>(now_ms - last_start_ms_, 1u << 30)) * 1000;
  return std::min(std::int64_t(config_.cpu_burst_us), credit_us_ + refill);
}

void RoundPacer::on_round(std::uint64_t start_ms, std::uint64_t cost_us, std::int64_t step) {
  constexpr double kWeight = 0.125;
  if (started_ && start_ms >= last_start_ms_) {
    const double interval = double(start_ms - last_start_ms_);
    interval_ms_ = interval_ms_ > 0.0 ? interval_ms_ + kWeight * (interval - interval_ms_) : interval;
    if (step >= 0 && last_step_ >= 0 && step >= last_step_) {
      const double steps = double(step - last_step_);
      steps_per_round_ = steps_per_round_ > 0.0 ? steps_per_round_ + kWeight * (steps - steps_per_round_) : steps;
    }
  }
  // A round may be forced while in debt (the ceiling): the debt deepens and
  // the next rounds wait it out.
  std::int64_t credit = cpu_credit_us(start_ms);
  if (cpu_rule() && cost_us > 0) credit -= std::int64_t(std::llround(double(cost_us) / config_.cpu_share));
  credit_us_ = credit;
  if (cost_us > 0) cost_us_ = cost_us_ > 0.0 ? cost_us_ + kWeight * (double(cost_us) - cost_us_) : double(cost_us);
  started_ = true;
  last_start_ms_ = std::max(last_start_ms_, start_ms);
  last_step_ = step;
}

RoundPause RoundPacer::pause(std::uint64_t now_ms, const UploadBudget& budget, std::uint64_t round_bytes) const {
  RoundPause out;
  const auto hold = [&out](std::uint64_t wait_ms, RoundWait reason) {
    if (wait_ms > out.wait_ms) out = RoundPause{wait_ms, reason};
  };
  if (started_ && config_.floor_ms > 0 && last_start_ms_ + config_.floor_ms > now_ms)
    hold(last_start_ms_ + config_.floor_ms - now_ms, RoundWait::floor);
  if (started_ && cpu_rule()) {
    const std::int64_t credit = cpu_credit_us(now_ms);
    if (credit < 0) hold(std::uint64_t((-credit + 999) / 1000), RoundWait::cpu);
  }
  if (budget.limited() && round_bytes > 0) {
    // A round larger than the bucket could never fit: wait for a full bucket.
    const std::int64_t need = std::int64_t(std::min(round_bytes, budget.burst_bytes()));
    if (budget.tokens() < need) {
      const std::uint64_t missing = std::uint64_t(need - budget.tokens());
      hold((missing * 1000 + budget.bytes_per_second() - 1) / budget.bytes_per_second(), RoundWait::upload);
    }
  }
  return out;
}

}  // namespace starling::node
