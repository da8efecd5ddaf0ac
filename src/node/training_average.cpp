// TrainingDriver, the local average: a peer's model averaged with the copies
// of its neighbours' models it already holds (docs/learning.md, "The model a
// peer serves"). See training_driver.h.
#include <string>
#include <vector>

#include "training_internal.h"

namespace starling::node {

Result<std::size_t> TrainingDriver::local_average(Eigen::VectorXf& model, AverageWeights weights) const {
  if (std::size_t(model.size()) != options_.layout.dimension()) {
    return make_error(ErrorKind::invalid_argument, "local average of " + std::to_string(model.size()) +
                                                       " parameters, the model has " +
                                                       std::to_string(options_.layout.dimension()));
  }
  // Only copies that mean something now: a ready link's x̂(j→i) tracks j's
  // model; a distrusted neighbour's copy would bring its poison along.
  std::vector<const Eigen::VectorXf*> copies;
  for (const auto& [id, link] : links_) {
    if (!link->state.ready() || std::size_t(link->state.in_copy().size()) != options_.layout.dimension()) continue;
    if (options_.clip == ClipMode::adaptive) {
      const auto trust = trust_.find(link->node_id);
      if (trust != trust_.end() && trust->second.weight(options_.clipped_gossip) < 1.0) continue;
    }
    copies.push_back(&link->state.in_copy());
  }
  if (copies.empty()) return std::size_t{0};

  const float n = float(copies.size());
  // mixing: the weight of the consensus step (1/(max_links+1) today), which
  // keeps 1 − n·w > 0 for x_i since n <= max_links.
  const float copy_weight = weights == AverageWeights::uniform ? 1.0f / (n + 1.0f) : weight_;
  const float own_weight = weights == AverageWeights::uniform ? copy_weight : 1.0f - n * copy_weight;
  model *= own_weight;
  for (const Eigen::VectorXf* copy : copies) model += copy_weight * *copy;
  return copies.size();
}

}  // namespace starling::node
