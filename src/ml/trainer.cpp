#include "starling/ml/trainer.h"

#include <cmath>

namespace starling::ml {

Evaluation evaluate(Mlp& model, const Dataset& data, int batch) {
  STARLING_ASSERT(batch > 0);
  Evaluation result;
  double loss_sum = 0.0;
  std::size_t correct = 0;
  for (std::size_t start = 0; start < data.size(); start += std::size_t(batch)) {
    const int count = int(std::min<std::size_t>(std::size_t(batch), data.size() - start));
    const BatchStats stats =
        model.evaluate(data.features.middleCols(Eigen::Index(start), count), data.labels.data() + start);
    loss_sum += stats.loss_sum;
    correct += std::size_t(stats.correct);
  }
  result.samples = data.size();
  if (result.samples > 0) {
    result.accuracy = double(correct) / double(result.samples);
    result.loss = loss_sum / double(result.samples);
  }
  return result;
}

Trainer::Trainer(Mlp& model, Optimizer& optimizer, Batcher& batcher, LrSchedule schedule)
    : model_(model), optimizer_(optimizer), batcher_(batcher), schedule_(schedule) {
  if (!optimizer.fuses_momentum()) gradient_ = Eigen::VectorXf::Zero(Eigen::Index(model.parameter_count()));
}

Result<BatchStats> Trainer::step() {
  const int count = batcher_.next();
  const float lr = float(schedule_.at(steps_));
  const bool fused = optimizer_.fuses_momentum();
  if (fused) optimizer_.prepare_fused_step();
  const BatchStats stats =
      fused ? model_.forward_backward(batcher_.features(), batcher_.labels(), optimizer_.velocity(),
                                      float(optimizer_.config().momentum))
            : model_.forward_backward(batcher_.features(), batcher_.labels(), gradient_);
  if (!std::isfinite(stats.loss_sum)) {
    // The forward pass already saw NaN/Inf: do not let it into the parameters.
    // (Fused SGD has touched its velocity by now; training stops here anyway.)
    return make_error(ErrorKind::numerical,
                      "training diverged: loss is " + std::to_string(stats.loss_sum / std::max(1, count)) +
                          " at step " + std::to_string(steps_) + " (try a smaller --lr)");
  }
  if (fused) {
    optimizer_.step_with_velocity(model_.parameters(), lr);
  } else {
    optimizer_.step(model_.parameters(), gradient_, lr);
  }
  ++steps_;
  samples_ += count;
  return stats;
}

double Trainer::epoch() const {
  return batcher_.size() == 0 ? 0.0 : double(samples_) / double(batcher_.size());
}

}  // namespace starling::ml
