#include "starling/node/upload_budget.h"

#include <algorithm>
#include <limits>

namespace starling::node {

UploadBudget::UploadBudget(UploadBudgetConfig config) : config_(config) {
  burst_bytes_ = config_.burst_bytes > 0 ? config_.burst_bytes : config_.bytes_per_second;
  tokens_ = std::int64_t(burst_bytes_);
}

void UploadBudget::advance(std::uint64_t now_ms) {
  if (!started_) {
    started_ = true;
    last_ms_ = now_ms;
    first_ms_ = now_ms;
    return;
  }
  if (now_ms <= last_ms_) return;
  const std::uint64_t elapsed_ms = now_ms - last_ms_;
  last_ms_ = now_ms;
  if (!limited()) return;
  // Exact integer refill: rate x ms / 1000 bytes, the sub-byte remainder
  // carried to the next call, so no rate loses bytes to rounding.
  const std::uint64_t byte_ms = config_.bytes_per_second * elapsed_ms + remainder_byte_ms_;
  const std::uint64_t refill = byte_ms / 1000;
  remainder_byte_ms_ = byte_ms % 1000;
  tokens_ = std::min<std::int64_t>(std::int64_t(burst_bytes_), tokens_ + std::int64_t(refill));
}

void UploadBudget::charge(std::uint64_t bytes, std::uint64_t now_ms) {
  advance(now_ms);
  bytes_charged_ += bytes;
  if (limited()) tokens_ -= std::int64_t(bytes);
  const std::uint64_t second = now_ms / 1000;
  const std::size_t slot = std::size_t(second % kSlots);
  if (bucket_second_[slot] != second) {
    bucket_second_[slot] = second;
    bucket_bytes_[slot] = 0;
  }
  bucket_bytes_[slot] += bytes;
}

std::uint64_t UploadBudget::allowance(std::size_t links_left) const {
  if (!limited()) return std::numeric_limits<std::uint64_t>::max();
  if (tokens_ <= 0) return 0;
  return std::uint64_t(tokens_) / std::max<std::size_t>(1, links_left);
}

double UploadBudget::measured_bytes_per_second(std::uint64_t now_ms) const {
  if (!started_) return 0.0;
  const std::uint64_t current = now_ms / 1000;
  const std::uint64_t first = first_ms_ / 1000;
  // Whole seconds only: [current - window, current), not before the first.
  const std::uint64_t seconds = std::min<std::uint64_t>(kWindowSeconds, current - std::min(current, first));
  if (seconds == 0) return 0.0;
  std::uint64_t total = 0;
  for (std::size_t slot = 0; slot < kSlots; ++slot) {
    const std::uint64_t s = bucket_second_[slot];
    if (s < current && s + seconds >= current && bucket_bytes_[slot] > 0) total += bucket_bytes_[slot];
  }
  return double(total) / double(seconds);
}

DeltaPlan plan_delta(const UploadBudget& budget, std::size_t links_left, std::size_t pending_bytes,
                     std::size_t delta_bytes, bool sparse) {
  DeltaPlan plan;
  // 1. The link's queue: at most one delta's worth may still wait (a link
  // whose size is not known yet must first drain what it holds: a snapshot).
  if (pending_bytes > delta_bytes) return plan;
  // 2. The budget.
  const std::uint64_t allowance = budget.allowance(links_left);
  if (allowance == 0) return plan;
  if (delta_bytes == 0 || allowance >= delta_bytes) {
    plan.send = true;
    return plan;
  }
  if (sparse) {
    const double scale = double(allowance) / double(delta_bytes);
    if (scale < kMinFractionScale) return plan;
    plan.send = true;
    plan.fraction_scale = scale;
    return plan;
  }
  // A dense delta over its equal share goes whole while the tokens cover it
  // (the links after it wait for a later round; the round rotates which
  // link it serves first). One larger than the whole bucket can never be
  // covered: it goes once the bucket is full and leaves a debt that later
  // rounds wait out, so the rate still holds. Without this, a 235 kB first
  // delta (int8) under a 100 kB/s budget was skipped at every round, and so
  // was every delta of that link after it.
  const std::int64_t tokens = budget.tokens();
  plan.send = tokens >= std::int64_t(delta_bytes) || tokens >= std::int64_t(budget.burst_bytes());
  return plan;
}

bool reply_fits(const UploadBudget& budget, std::size_t pending_bytes, std::size_t delta_bytes) {
  if (pending_bytes > delta_bytes) return false;
  if (!budget.limited()) return true;
  return budget.tokens() - std::int64_t(delta_bytes) >= -std::int64_t(budget.burst_bytes());
}

}  // namespace starling::node
