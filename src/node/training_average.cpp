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
  std::vector<float> link_weights;
  for (const auto& [id, link] : links_) {
    if (!link->state.ready() || std::size_t(link->state.in_copy().size()) != options_.layout.dimension()) continue;
    if (options_.clip == ClipMode::adaptive && trust_weight(link->node_id) < 1.0) continue;
    copies.push_back(&link->state.in_copy());
    link_weights.push_back(mixing_weight(*link));
  }
  if (copies.empty()) return std::size_t{0};

  const float n = float(copies.size());
  // mixing: each copy at its link's Metropolis-Hastings weight
  // 1/(1 + max(d_i, d_j)); x_i keeps the rest, which is > 0 since every
  // weight is at most 1/(1 + d_i).
  if (weights == AverageWeights::uniform) link_weights.assign(copies.size(), 1.0f / (n + 1.0f));
  float own_weight = 1.0f;
  for (float w : link_weights) own_weight -= w;
  model *= own_weight;
  for (std::size_t k = 0; k < copies.size(); ++k) model += link_weights[k] * *copies[k];
  return copies.size();
}

}  // namespace starling::node
