#include "starling/node/download_pace.h"

#include <algorithm>
#include <cmath>

namespace starling::node {

DownloadPace::DownloadPace(std::uint32_t largest)
    : largest_(std::max<std::uint32_t>(largest, 4)), ask_(std::min(kFirstBytes, largest_)) {}

std::uint64_t DownloadPace::wait_ms() const {
  // Three times what the answer should take at the measured rate, so jitter
  // and a slower moment do not count as silence; doubled per silence.
  double expected = rate_ ? 3.0 * double(ask_) / *rate_ : 0.0;
  expected = std::clamp(expected, double(kMinWaitMs), double(kMaxWaitMs));
  const double backed_off = expected * std::pow(2.0, double(std::min(silences_, 4u)));
  return std::uint64_t(std::min(backed_off, double(kMaxWaitMs)));
}

void DownloadPace::on_answer(std::uint64_t bytes, std::uint64_t elapsed_ms, bool full) {
  silences_ = 0;
  if (!full || bytes == 0) return;
  const double rate = double(bytes) / double(std::max<std::uint64_t>(elapsed_ms, 1));
  // The wait follows a smoothed rate, so one lucky answer does not make the
  // next slow one count as silence.
  rate_ = rate_ ? 0.75 * *rate_ + 0.25 * rate : rate;
  // Slow start: an answer within half the target doubles the ask; a slower
  // one sizes it to what this answer's rate carries in the target time
  // (never more than twice the last ask).
  const double fits = 2 * elapsed_ms <= kTargetMs ? 2.0 * double(ask_) : rate * double(kTargetMs);
  const double next = std::min(fits, 2.0 * double(ask_));
  ask_ = std::uint32_t(std::clamp(next, double(std::min(kMinBytes, largest_)), double(largest_)));
}

void DownloadPace::on_silence() {
  ++silences_;
  ask_ = std::max(ask_ / 2, std::min(kMinBytes, largest_));
}

}  // namespace starling::node
