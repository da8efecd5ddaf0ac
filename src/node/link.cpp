#include "starling/node/link.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <span>
#include <utility>

namespace starling::node {

float bf16_round(float value) {
  std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  if ((bits & 0x7F800000u) == 0x7F800000u && (bits & 0x007FFFFFu) != 0) {
    // NaN: keep sign and the top of the payload, force it quiet so it stays NaN.
    return std::bit_cast<float>((bits | 0x00400000u) & 0xFFFF0000u);
  }
  // Round to nearest, ties to even: add 0x7FFF plus the lowest kept bit. A
  // carry into the exponent is correct (rounds up to the next binade or to inf).
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return std::bit_cast<float>(bits & 0xFFFF0000u);
}

crypto::Hash256 copy_digest(const Eigen::VectorXf& values) {
  // The float bytes as they are in memory: the wire carries floats
  // little-endian, so both ends hash the same bytes.
  static_assert(std::endian::native == std::endian::little, "copy_digest hashes little-endian floats");
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(values.data());
  return crypto::hash256(std::span<const std::uint8_t>(bytes, std::size_t(values.size()) * sizeof(float)));
}

AdaptiveClip::AdaptiveClip(Config config) : config_(config) {
  STARLING_ASSERT(config_.window > 0 && config_.min_samples <= config_.window && config_.multiplier > 0.0);
  history_.reserve(config_.window);
}

double AdaptiveClip::radius() const {
  if (history_.size() < std::max<std::size_t>(config_.min_samples, 1)) return config_.initial_radius;
  std::vector<double> sorted = history_;
  const std::size_t mid = sorted.size() / 2;
  std::nth_element(sorted.begin(), sorted.begin() + std::ptrdiff_t(mid), sorted.end());
  return config_.multiplier * sorted[mid];
}

void AdaptiveClip::observe(double correction_norm) {
  if (!std::isfinite(correction_norm)) correction_norm = std::numeric_limits<double>::max();
  const double kept = std::min(correction_norm, radius());
  if (history_.size() < config_.window) {
    history_.push_back(kept);
  } else {
    history_[next_] = kept;
    next_ = (next_ + 1) % config_.window;
  }
}

LinkState::LinkState(compress::Layout layout, compress::CompressorSpec spec, std::uint64_t seed,
                     compress::SparsityWarmup warmup)
    : layout_(layout),
      compressor_(spec, layout, seed, warmup) {
  if (spec.kind != compress::CompressorKind::none && spec.kind != compress::CompressorKind::int8) {
    settle_.emplace(compress::CompressorSpec{compress::CompressorKind::int8, 1.0}, std::move(layout), seed);
  }
}

std::size_t LinkState::model_bytes_held() const {
  return std::size_t(out_copy_.size() + in_copy_.size()) * sizeof(float);
}

void LinkState::drop_copies() {
  // Swap with empty vectors: resize(0) may keep the allocation.
  Eigen::VectorXf().swap(out_copy_);
  Eigen::VectorXf().swap(in_copy_);
}

Error LinkState::fail(ErrorKind kind, std::string message) {
  sending_ = false;
  receiving_ = false;
  drop_copies();
  last_error_ = message;
  return make_error(kind, std::move(message));
}

Result<LinkSnapshot> LinkState::start(const Eigen::VectorXf& x_i, std::uint64_t new_epoch) {
  if (std::size_t(x_i.size()) != dimension()) {
    return make_error(ErrorKind::invalid_argument, "link start: model has " + std::to_string(x_i.size()) +
                                                       " values, link expects " + std::to_string(dimension()));
  }
  if (Status s = check_epoch(new_epoch, "link start"); !s) return s.error();
  if (new_epoch > epoch_) receiving_ = false;  // the neighbour's old-epoch copy is void
  epoch_ = new_epoch;
  LinkSnapshot snapshot;
  snapshot.epoch = new_epoch;
  snapshot.values.resize(dimension());
  out_copy_.resize(Eigen::Index(dimension()));
  for (std::size_t k = 0; k < dimension(); ++k) {
    snapshot.values[k] = bf16_round(x_i[Eigen::Index(k)]);
    out_copy_[Eigen::Index(k)] = snapshot.values[k];
  }
  next_send_seq_ = 0;
  settle_deltas_ = 1;
  sending_ = true;
  return snapshot;
}

Status LinkState::check_epoch(std::uint64_t new_epoch, const char* what) const {
  if (new_epoch >= epoch_) return ok_status();
  return make_error(ErrorKind::invalid_argument, std::string(what) + ": epoch " + std::to_string(new_epoch) +
                                                     " is older than the link's " + std::to_string(epoch_));
}

Status LinkState::check_snapshot_epoch(std::uint64_t epoch) const {
  if (epoch >= epoch_) return ok_status();
  return make_error(ErrorKind::invalid_argument, "link snapshot: stale epoch " + std::to_string(epoch) +
                                                     " (link is at " + std::to_string(epoch_) + ")");
}

Status LinkState::start_from_base(const Eigen::VectorXf& base, std::uint64_t new_epoch) {
  if (std::size_t(base.size()) != dimension()) {
    return make_error(ErrorKind::invalid_argument, "link start: base model has " + std::to_string(base.size()) +
                                                       " values, link expects " + std::to_string(dimension()));
  }
  if (!base.allFinite()) return make_error(ErrorKind::numerical, "link start: base model is not finite");
  if (Status s = check_epoch(new_epoch, "link start"); !s) return s;
  if (new_epoch > epoch_) receiving_ = false;
  epoch_ = new_epoch;
  out_copy_ = base;
  settle_deltas_ = 2;
  next_send_seq_ = 0;
  sending_ = true;
  return ok_status();
}

Status LinkState::on_snapshot(const LinkSnapshot& snapshot) {
  if (Status s = check_snapshot_epoch(snapshot.epoch); !s) return s;
  if (snapshot.values.size() != dimension()) {
    return fail(ErrorKind::corrupt, "link snapshot: " + std::to_string(snapshot.values.size()) +
                                        " values, expected " + std::to_string(dimension()));
  }
  for (float v : snapshot.values) {
    if (!std::isfinite(v) || (std::bit_cast<std::uint32_t>(v) & 0xFFFFu) != 0) {
      return fail(ErrorKind::corrupt, "link snapshot: a value is not finite or not bf16-rounded");
    }
  }
  return adopt_in_copy(snapshot.epoch, snapshot.values.data());
}

Status LinkState::on_based_snapshot(std::uint64_t epoch, const Eigen::VectorXf& base) {
  if (Status s = check_snapshot_epoch(epoch); !s) return s;
  if (std::size_t(base.size()) != dimension() || !base.allFinite()) {
    return fail(ErrorKind::corrupt, "link snapshot: the base model is not finite or has the wrong size");
  }
  return adopt_in_copy(epoch, base.data());
}

Status LinkState::adopt_in_copy(std::uint64_t epoch, const float* values) {
  if (epoch > epoch_) {
    sending_ = false;  // our out copy belongs to the old epoch: answer with start()
    epoch_ = epoch;
  }
  in_copy_.resize(Eigen::Index(dimension()));
  std::copy(values, values + dimension(), in_copy_.data());
  next_receive_seq_ = 0;
  receiving_ = true;
  return ok_status();
}

Result<LinkDelta> LinkState::make_delta(const Eigen::VectorXf& x_i, std::span<float> scratch, double fraction_scale) {
  if (!sending_) return make_error(ErrorKind::disconnected, "link delta: link not started (send a snapshot first)");
  if (std::size_t(x_i.size()) != dimension()) {
    return make_error(ErrorKind::invalid_argument, "link delta: model size does not match the link");
  }
  LinkDelta out;
  out.epoch = epoch_;
  out.seq = next_send_seq_;
  const std::span<const float> x(x_i.data(), dimension());
  const std::span<float> x_hat(out_copy_.data(), dimension());
  // q = C(x_i − x̂) and x̂ += q in one call (fewer passes over the model than
  // compressing, then decoding the delta like a receiver would).
  compress::Compressor& compressor = (next_send_seq_ < settle_deltas_ && settle_) ? *settle_ : compressor_;
  if (&compressor == &compressor_) compressor_.scale_next_fraction(fraction_scale);
  if (Status s = compressor.compress_and_apply(x, x_hat, out.delta, scratch); !s) {
    if (s.error().kind != ErrorKind::corrupt) return s.error();  // NaN/Inf in x_i: the link is fine
    // Our model is finite (a non-finite one fails as another kind, above), so
    // the difference from the link's copy of it is not: values past float's
    // range, as a hostile neighbour's pair deltas leave in the copies (the
    // message used to blame our compressor).
    return fail(s.error().kind, "link delta: our delta to this neighbour overflows (the link's copy of our model "
                                "holds values out of range): " + s.error().message);
  }
  ++next_send_seq_;
  return out;
}

Status LinkState::on_delta(const LinkDelta& delta) {
  if (!receiving_) return fail(ErrorKind::corrupt, "link delta: no snapshot for this epoch yet");
  if (delta.epoch != epoch_) {
    return fail(ErrorKind::corrupt, "link delta: epoch " + std::to_string(delta.epoch) + ", link is at " +
                                        std::to_string(epoch_));
  }
  if (delta.seq != next_receive_seq_) {
    const char* what = delta.seq < next_receive_seq_ ? "duplicate or replayed" : "gap (lost delta)";
    return fail(ErrorKind::corrupt, std::string("link delta: ") + what + ": seq " + std::to_string(delta.seq) +
                                        ", expected " + std::to_string(next_receive_seq_));
  }
  if (Status s = compress::decompress_add(layout_, delta.delta, std::span<float>(in_copy_.data(), dimension())); !s) {
    return fail(ErrorKind::corrupt, "link delta: " + s.error().message);
  }
  ++next_receive_seq_;
  return ok_status();
}

LinkDigest LinkState::make_digest() const { return LinkDigest{epoch_, next_send_seq_, copy_digest(out_copy_)}; }

Status LinkState::on_digest(const LinkDigest& digest) {
  if (!receiving_) return fail(ErrorKind::corrupt, "link digest: no snapshot for this epoch yet");
  if (digest.epoch != epoch_ || digest.seq != next_receive_seq_) {
    return fail(ErrorKind::corrupt, "link digest: for epoch " + std::to_string(digest.epoch) + " seq " +
                                        std::to_string(digest.seq) + ", link is at epoch " + std::to_string(epoch_) +
                                        " seq " + std::to_string(next_receive_seq_));
  }
  if (digest.hash != copy_digest(in_copy_)) {
    return fail(ErrorKind::corrupt, "link digest: copies differ (epoch " + std::to_string(epoch_) + " seq " +
                                        std::to_string(digest.seq) + ")");
  }
  return ok_status();
}

LinkReset LinkState::make_reset(std::string reason, std::uint64_t void_epoch) {
  epoch_ = std::max(epoch_, void_epoch);
  sending_ = false;
  receiving_ = false;
  drop_copies();
  last_error_ = reason;
  return LinkReset{epoch_, std::move(reason)};
}

void LinkState::on_reset(const LinkReset& reset) {
  if (reset.epoch < epoch_) return;  // about an epoch already replaced
  sending_ = false;
  receiving_ = false;
  drop_copies();
  last_error_ = "reset by neighbour: " + reset.reason;
}

Result<ConsensusStep> LinkState::consensus_step(Eigen::VectorXf& x_i, float gamma, float weight,
                                                double clip_radius, double known_norm) const {
  if (!ready()) return make_error(ErrorKind::disconnected, "consensus step: link not ready");
  if (std::size_t(x_i.size()) != dimension()) {
    return make_error(ErrorKind::invalid_argument, "consensus step: model size does not match the link");
  }
  ConsensusStep step;
  step.correction_norm = known_norm >= 0.0 ? known_norm : *correction_norm();
  // A copy that overflowed (a neighbour's deltas summed past float range)
  // would turn x_i into NaN/Inf whatever the clip or weight: refuse it.
  if (!std::isfinite(step.correction_norm)) {
    return make_error(ErrorKind::numerical, "consensus step: the correction is not finite");
  }
  const PullFactor pull = pull_factor(gamma, weight, step.correction_norm, clip_radius);
  x_i.noalias() += pull.factor * (in_copy_ - out_copy_);
  step.clipped = pull.clipped;
  step.applied_norm = pull.applied_norm;
  return step;
}

PullFactor pull_factor(float gamma, float weight, double correction_norm, double clip_radius) {
  PullFactor pull;
  pull.factor = gamma * weight;
  if (correction_norm > clip_radius) {
    // Scale so that the clipped correction has norm clip_radius (slightly
    // less, so float rounding of the update cannot overshoot it).
    const double shrink = clip_radius / correction_norm * (1.0 - 1e-6);
    pull.factor = float(double(pull.factor) * shrink);
    pull.clipped = true;
  }
  pull.applied_norm = std::abs(double(pull.factor)) * correction_norm;
  return pull;
}

namespace {

// What a pass over the copies writes to the correction.
enum class PullMode { measure, overwrite, add };

// correction (+)= factor·(a − b), returning Σ(a − b)² with the differences
// in float and the squares summed in double on eight lanes (a plain double
// sum would be a serial chain: the compiler may not reorder it).
template <PullMode kMode>
double pull_pass(const float* a, const float* b, float* correction, float factor, std::size_t n) {
  double partial[8] = {};
  double tail = 0.0;
  std::size_t i = 0;
  const auto one = [&](std::size_t at, double& sum) {
    const float d = a[at] - b[at];
    if constexpr (kMode == PullMode::overwrite) correction[at] = factor * d;
    if constexpr (kMode == PullMode::add) correction[at] += factor * d;
    sum += double(d) * double(d);
  };
  for (; i + 8 <= n; i += 8)
    for (std::size_t lane = 0; lane < 8; ++lane) one(i + lane, partial[lane]);
  for (; i < n; ++i) one(i, tail);
  return tail + (((partial[0] + partial[1]) + (partial[2] + partial[3])) +
                 ((partial[4] + partial[5]) + (partial[6] + partial[7])));
}

}  // namespace

Result<double> LinkState::pull(Eigen::VectorXf& correction, float factor, bool overwrite) const {
  if (!ready()) return make_error(ErrorKind::disconnected, "consensus pull: link not ready");
  STARLING_ASSERT(std::size_t(correction.size()) == dimension());
  const double squares =
      overwrite ? pull_pass<PullMode::overwrite>(in_copy_.data(), out_copy_.data(), correction.data(), factor,
                                                 dimension())
                : pull_pass<PullMode::add>(in_copy_.data(), out_copy_.data(), correction.data(), factor, dimension());
  return std::sqrt(squares);
}

Result<ConsensusStep> LinkState::consensus_step(Eigen::VectorXf& x_i, float gamma, float weight,
                                                AdaptiveClip& clip) const {
  Result<ConsensusStep> step = consensus_step(x_i, gamma, weight, clip.radius());
  if (step) clip.observe(step->correction_norm);
  return step;
}

void LinkState::pair_shift(float factor) {
  if (!ready()) return;
  // One coordinate at a time, the same expressions at both ends (with the
  // copies' roles swapped), so both round alike.
  for (Eigen::Index k = 0; k < out_copy_.size(); ++k) {
    const float s = factor * (in_copy_[k] - out_copy_[k]);
    out_copy_[k] += s;
    in_copy_[k] -= s;
  }
}

Result<double> LinkState::correction_norm() const {
  if (!ready()) return make_error(ErrorKind::disconnected, "correction norm: link not ready");
  // Squares in double so huge corrections do not overflow, on SIMD lanes
  // (a scalar loop was a serial chain of adds, about 0.15 ms per call for
  // the MLP); the same arithmetic as pull(), so both give the same norm.
  return std::sqrt(pull_pass<PullMode::measure>(in_copy_.data(), out_copy_.data(), nullptr, 0.0f, dimension()));
}

double LinkState::tracking_error(const Eigen::VectorXf& x_i) const {
  const double norm = double(x_i.squaredNorm());
  if (norm == 0.0) return 0.0;
  if (out_copy_.size() != x_i.size()) return 1.0;  // no copy: as far as a zero one
  return double((x_i - out_copy_).squaredNorm()) / norm;
}

}  // namespace starling::node
