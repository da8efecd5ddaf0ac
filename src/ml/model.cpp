#include "starling/ml/model.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <new>
#include <random>

namespace starling::ml {
std::string model_size_text(const ModelSpec& spec, int inputs, int classes) {
  const std::size_t parameters = Mlp::parameter_count_for(spec, inputs, classes);
  const double bytes = double(parameters) * double(sizeof(float));
  char size[32];
  if (bytes >= 1e9) std::snprintf(size, sizeof size, "~%.1f GB", bytes / 1e9);
  else std::snprintf(size, sizeof size, "~%.1f MB", bytes / 1e6);
  return spec.to_string() + " on " + std::to_string(inputs) + " inputs and " + std::to_string(classes) +
         " classes: " + std::to_string(parameters) + " parameters, " + size + " per copy";
}

Result<ModelSpec> ModelSpec::parse(const std::string& text) {
  ModelSpec spec;
  if (text == "linear") return spec;
  const std::string prefix = "mlp:";
  if (text.rfind(prefix, 0) != 0) {
    return make_error(ErrorKind::invalid_argument,
                      "unknown model spec '" + text + "' (expected 'linear' or 'mlp:H1,H2,...', e.g. mlp:256,128)");
  }
  std::size_t pos = prefix.size();
  while (pos <= text.size()) {
    std::size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    int width = 0;
    auto [ptr, ec] = std::from_chars(text.data() + pos, text.data() + end, width);
    if (ec != std::errc() || ptr != text.data() + end || width <= 0 || width > 65536) {
      return make_error(ErrorKind::invalid_argument, "bad hidden layer size '" + text.substr(pos, end - pos) +
                                                         "' in model spec '" + text +
                                                         "' (each must be an integer in 1..65536)");
    }
    spec.hidden.push_back(width);
    pos = end + 1;
  }
  return spec;
}

std::string ModelSpec::to_string() const {
  if (hidden.empty()) return "linear";
  std::string out = "mlp:";
  for (std::size_t i = 0; i < hidden.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(hidden[i]);
  }
  return out;
}

std::size_t Mlp::parameter_count_for(const ModelSpec& spec, int inputs, int classes) {
  std::size_t count = 0;
  int in = inputs;
  std::vector<int> widths = spec.hidden;
  widths.push_back(classes);
  for (int out : widths) {
    count += DenseShape{in, out, 0}.weight_count() + std::size_t(out);
    in = out;
  }
  return count;
}

Mlp::Mlp(const ModelSpec& spec, int inputs, int classes) : spec_(spec), inputs_(inputs), classes_(classes) {
  STARLING_ASSERT(inputs > 0 && classes > 1);
  std::size_t offset = 0;
  int in = inputs;
  std::vector<int> widths = spec.hidden;
  widths.push_back(classes);
  for (int out : widths) {
    DenseShape layer{in, out, offset};
    layers_.push_back(layer);
    offset += layer.weight_count() + std::size_t(out);
    in = out;
  }
  parameters_ = Vector::Zero(Eigen::Index(offset));
  activations_.resize(spec.hidden.size());
}

void Mlp::initialize(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  // Uniform in [-1, 1) from the top 24 bits: identical on every platform, unlike
  // std::uniform_real_distribution, so two peers with one seed agree bit for bit.
  auto uniform = [&rng] { return float(double(rng() >> 40) * 0x1p-23 - 1.0); };
  for (const DenseShape& layer : layers_) {
    // He-uniform suits ReLU; the output layer uses the same bound, which keeps
    // initial logits small.
    const float bound = std::sqrt(6.0f / float(layer.in));
    auto w = weights(parameters_, layer);
    for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = bound * uniform();
    bias(parameters_, layer).setZero();
  }
}

Eigen::Map<Matrix> Mlp::weights(Vector& flat, const DenseShape& layer) {
  return {flat.data() + layer.offset, layer.out, layer.in};
}
Eigen::Map<const Matrix> Mlp::weights(const Vector& flat, const DenseShape& layer) {
  return {flat.data() + layer.offset, layer.out, layer.in};
}
Eigen::Map<Vector> Mlp::bias(Vector& flat, const DenseShape& layer) {
  return {flat.data() + layer.bias_offset(), layer.out};
}
Eigen::Map<const Vector> Mlp::bias(const Vector& flat, const DenseShape& layer) {
  return {flat.data() + layer.bias_offset(), layer.out};
}

void Mlp::ensure_batch(int batch) {
  if (probabilities_.cols() == batch) return;
  for (std::size_t i = 0; i < activations_.size(); ++i) activations_[i].resize(layers_[i].out, batch);
  probabilities_.resize(classes_, batch);
}

void Mlp::forward_layers(const Eigen::Ref<const Matrix>& features) {
  STARLING_ASSERT(features.rows() == inputs_);
  ensure_batch(int(features.cols()));
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const DenseShape& layer = layers_[i];
    Matrix& out = i + 1 < layers_.size() ? activations_[i] : probabilities_;
    if (i == 0) {
      out.noalias() = weights(parameters_, layer) * features;
    } else {
      out.noalias() = weights(parameters_, layer) * activations_[i - 1];
    }
    auto b = bias(parameters_, layer);
    if (i + 1 < layers_.size()) {
      // Bias and ReLU in one pass over the output.
      out = (out.colwise() + b).cwiseMax(0.0f);
    } else {
      out.colwise() += b;
    }
  }
}

BatchStats Mlp::forward(const Eigen::Ref<const Matrix>& features, const std::int32_t* labels) {
  forward_layers(features);
  const int batch = int(features.cols());
  // Softmax cross-entropy, stable: subtract each column's max before exp.
  BatchStats stats;
  stats.count = batch;
  for (int c = 0; c < batch; ++c) {
    auto column = probabilities_.col(c);
    Eigen::Index argmax = 0;
    const float max_logit = column.maxCoeff(&argmax);
    const int label = labels[c];
    STARLING_ASSERT_MSG(label >= 0 && label < classes_, "label out of range for the model's classes");
    const float label_logit = column(label);
    column = (column.array() - max_logit).exp();
    const float sum = column.sum();
    column /= sum;
    stats.loss_sum += double(std::log(sum) - (label_logit - max_logit));
    stats.correct += int(argmax == label);
  }
  return stats;
}

BatchStats Mlp::evaluate(const Eigen::Ref<const Matrix>& features, const std::int32_t* labels) {
  return forward(features, labels);
}

Matrix Mlp::logits(const Eigen::Ref<const Matrix>& features) {
  forward_layers(features);
  return probabilities_;
}

BatchStats Mlp::forward_backward(const Eigen::Ref<const Matrix>& features, const std::int32_t* labels,
                                 Eigen::Ref<Vector> gradient, float gradient_decay) {
  STARLING_ASSERT(gradient.size() == parameters_.size());
  BatchStats stats = forward(features, labels);
  const int batch = int(features.cols());
  // d(mean loss)/d(logits) = (softmax - onehot) / B, computed in place.
  delta_ = probabilities_;
  for (int c = 0; c < batch; ++c) delta_(labels[c], c) -= 1.0f;
  delta_ *= 1.0f / float(batch);

  for (std::size_t i = layers_.size(); i-- > 0;) {
    const DenseShape& layer = layers_[i];
    Eigen::Map<Matrix> grad_w(gradient.data() + layer.offset, layer.out, layer.in);
    Eigen::Map<Vector> grad_b(gradient.data() + layer.bias_offset(), layer.out);
    const auto& layer_input = i == 0 ? features : Eigen::Ref<const Matrix>(activations_[i - 1]);
    if (gradient_decay == 0.0f) {
      grad_w.noalias() = delta_ * layer_input.transpose();
      grad_b.noalias() = delta_.rowwise().sum();
    } else {
      grad_w *= gradient_decay;
      grad_w.noalias() += delta_ * layer_input.transpose();
      grad_b = gradient_decay * grad_b + delta_.rowwise().sum();
    }
    if (i == 0) break;  // no gradient w.r.t. the input data: saves a whole GEMM
    delta_next_.noalias() = weights(parameters_, layer).transpose() * delta_;
    // ReLU backward: pass the gradient only where the unit was active.
    delta_ = (activations_[i - 1].array() > 0.0f).select(delta_next_, 0.0f);
  }
  return stats;
}

Result<std::size_t> check_model_size(const ModelSpec& spec, int inputs, int classes) {
  const std::size_t parameters = Mlp::parameter_count_for(spec, inputs, classes);
  if (parameters > kMaxParameters) {
    return make_error(ErrorKind::invalid_argument,
                      "model " + model_size_text(spec, inputs, classes) + "; the most starling builds is " +
                          std::to_string(kMaxParameters) + " parameters (a training peer holds about ten copies)");
  }
  return parameters;
}

Result<std::unique_ptr<Mlp>> make_model(const ModelSpec& spec, int inputs, int classes) {
  auto parameters = check_model_size(spec, inputs, classes);
  if (!parameters) return parameters.error();
  try {
    return std::make_unique<Mlp>(spec, inputs, classes);
  } catch (const std::bad_alloc&) {
    return make_error(ErrorKind::overloaded, "not enough memory for model " + model_size_text(spec, inputs, classes));
  }
}

std::string model_description(const ModelSpec& spec, int inputs, int classes) {
  return "starling-model-1 " + spec.to_string() + " inputs " + std::to_string(inputs) + " classes " +
         std::to_string(classes) + " params " + std::to_string(Mlp::parameter_count_for(spec, inputs, classes));
}

std::string model_shape(const ModelSpec& spec, int inputs, int classes) {
  return spec.to_string() + " over " + std::to_string(inputs) + " inputs and " + std::to_string(classes) + " classes";
}

}  // namespace starling::ml
