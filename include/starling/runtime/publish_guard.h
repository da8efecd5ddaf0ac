// What a trainer may hand to the gossip (runtime::StepHandoff, trainer thread
// only; `starling peer`'s worker and embed::Peer::after_step() alike). A replica
// whose own training explodes reaches its neighbours through the copies it
// publishes: while it is still finite, each copy pulls every neighbour by up
// to half that neighbour's model norm (clipping's model-norm bound, γ·w with
// two peers), round after round, before their trust in it decays; a 2-peer
// run of bench/embed_vs_ddp.py ended with both replicas at 10% that way
// (docs/embedding.md, "A replica that diverges"). So a copy is withheld when
//   - it holds NaN or Inf (never publishable), or
//   - the user's own move since the last copy (corrections excluded: they are
//     the swarm's, not the user's) is more than kDivergingFactor times the
//     median per-step move of the recent copies: an explosion grows
//     geometrically and is withheld from its first rounds on, while one odd
//     step (a big batch, a reloaded model) costs one round, since the next
//     copy is measured from the withheld one.
// Moves are measured on at most kSampleSize evenly strided coordinates (an
// explosion is global), so the guard holds 256 KiB, not another model copy.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "starling/ml/fpu.h"

namespace starling::runtime {

class PublishGuard {
 public:
  static constexpr double kDivergingFactor = 10.0;
  static constexpr std::size_t kWindow = 16;
  static constexpr std::size_t kMinHistory = 8;  // moves seen before the factor applies
  static constexpr std::size_t kSampleSize = 65'536;

  enum class Verdict { publish, not_finite, diverging };

  // The consensus corrections just added into the buffer: the base moves too.
  void on_corrections(const Eigen::VectorXf& added) {
    if (base_.size() == 0) return;
    for (Eigen::Index k = 0; k < base_.size(); ++k) base_[k] += added[k * stride_];
  }

  // Judges the copy about to be published at `steps`; the base becomes this
  // copy whatever the verdict (so a single jump is withheld once).
  Verdict judge(const Eigen::VectorXf& copy, std::int64_t steps) {
    return judge(copy, steps, ml::all_finite(copy.data(), std::size_t(copy.size())));
  }
  // The same, with the copy's finiteness already known (StepHandoff checks it
  // in the pass that copies: one pass over the model instead of two).
  Verdict judge(const Eigen::VectorXf& copy, std::int64_t steps, bool finite) {
    if (!finite) return Verdict::not_finite;  // base kept: measure from the last finite copy
    Eigen::VectorXf& sample = start_sample(copy.size());
    for (Eigen::Index k = 0; k < sample.size(); ++k) sample[k] = copy[k * stride_];
    return judge_sample(steps);
  }

  // Copies `count` floats from `from` to `to` and judges the copy at `steps`
  // (judge(copy, steps)) in one pass over the model: the finiteness check and
  // the sample are taken strip by strip while the strip is in cache. The
  // same verdict, base and figures as copying, then judge().
  Verdict copy_and_judge(const float* from, float* to, std::size_t count, std::int64_t steps) {
    Eigen::VectorXf& sample = start_sample(Eigen::Index(count));
    constexpr Eigen::Index kStrip = 1024;  // samples per strip: a few pages of the model
    bool finite = true;
    Eigen::Index k = 0;
    for (; k < sample.size(); k += kStrip) {
      const Eigen::Index end = std::min<Eigen::Index>(k + kStrip, sample.size());
      const std::size_t first = std::size_t(k * stride_);
      const std::size_t last = std::size_t(end * stride_);
      finite = ml::copy_all_finite(from + first, to + first, last - first) && finite;
      for (Eigen::Index j = k; j < end; ++j) sample[j] = to[j * stride_];
    }
    const std::size_t done = std::size_t(sample.size() * stride_);
    finite = ml::copy_all_finite(from + done, to + done, count - done) && finite;
    if (!finite) return Verdict::not_finite;
    return judge_sample(steps);
  }

 private:
  // The sample buffer for a copy of `size` values (the last base's: no allocation per copy).
  Eigen::VectorXf& start_sample(Eigen::Index size) {
    const Eigen::Index count = std::min<Eigen::Index>(size, Eigen::Index(kSampleSize));
    stride_ = count > 0 ? size / count : 1;
    spare_.resize(count);
    return spare_;
  }

  // judge() once the sample (spare_) is taken from a finite copy.
  Verdict judge_sample(std::int64_t steps) {
    Eigen::VectorXf& sample = spare_;
    const Eigen::Index count = sample.size();
    Verdict verdict = Verdict::publish;
    if (base_.size() == count && count > 0 && steps > base_steps_) {
      last_move_per_step_ = double((sample - base_).norm()) / double(steps - base_steps_);
      const double usual = median();
      if (count_ >= kMinHistory && usual > 0.0 && last_move_per_step_ > kDivergingFactor * usual) {
        verdict = Verdict::diverging;
      } else {
        moves_[next_] = last_move_per_step_;
        next_ = (next_ + 1) % kWindow;
        count_ = std::min(count_ + 1, kWindow);
      }
    }
    base_.swap(sample);
    base_steps_ = steps;
    return verdict;
  }

 public:
  double last_move_per_step() const { return last_move_per_step_; }
  double usual_move_per_step() const { return median(); }

 private:
  double median() const {
    if (count_ == 0) return 0.0;
    std::array<double, kWindow> sorted{};
    std::copy(moves_.begin(), moves_.begin() + std::ptrdiff_t(count_), sorted.begin());
    std::sort(sorted.begin(), sorted.begin() + std::ptrdiff_t(count_));
    return sorted[(count_ - 1) / 2];
  }

  Eigen::VectorXf base_;  // the sampled last judged finite copy plus the corrections added since
  Eigen::VectorXf spare_;  // the base before it, reused for the next sample
  Eigen::Index stride_ = 1;
  std::int64_t base_steps_ = 0;
  std::array<double, kWindow> moves_{};
  std::size_t next_ = 0;
  std::size_t count_ = 0;
  double last_move_per_step_ = 0.0;
};

}  // namespace starling::runtime
