// Models over one flat, contiguous parameter vector. Layers are Eigen::Map views
// into it, so deltas, compression, averaging, snapshots and checkpoints all work
// on a single span (DESIGN.md, "Layers").
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "starling/status.h"

namespace starling::ml {

using Matrix = Eigen::MatrixXf;  // column-major: one sample per column
using Vector = Eigen::VectorXf;

// What to build: "linear" (softmax regression) or "mlp:H1,H2,..." (ReLU hidden
// layers). Input and class counts come from the data set.
struct ModelSpec {
  std::vector<int> hidden;  // empty for softmax regression

  static Result<ModelSpec> parse(const std::string& text);
  std::string to_string() const;
};

// One dense layer: y = W x + b, W is out x in, stored column-major in the flat
// vector at `offset`, followed by b.
struct DenseShape {
  int in = 0;
  int out = 0;
  std::size_t offset = 0;  // index of W(0,0) in the flat vector
  std::size_t weight_count() const { return std::size_t(in) * std::size_t(out); }
  std::size_t bias_offset() const { return offset + weight_count(); }
};

// Loss and accuracy over a batch.
struct BatchStats {
  double loss_sum = 0.0;  // sum over samples of cross-entropy
  int correct = 0;
  int count = 0;
};

// A multilayer perceptron (zero or more ReLU hidden layers, softmax output) with
// cross-entropy loss. Parameters and gradients are flat vectors of the same
// length; the model owns scratch buffers sized for the largest batch seen, so a
// step allocates nothing once warmed up. Not thread-safe: one per thread.
class Mlp {
 public:
  Mlp(const ModelSpec& spec, int inputs, int classes);

  // The parameter count of this shape, without allocating it: for checking a
  // shape read from a file before building it (inputs > 0, classes > 1).
  static std::size_t parameter_count_for(const ModelSpec& spec, int inputs, int classes);

  // Deterministic initialisation from a seed (He-uniform weights, zero biases).
  void initialize(std::uint64_t seed);

  // Forward + backward on a batch (features: inputs x B, labels: B entries in
  // [0, classes)). Sets gradient = gradient_decay * gradient + d(mean loss)/dθ
  // (same length as the parameters) and returns loss/accuracy of the forward
  // pass. With gradient_decay 0 the old contents are ignored; a non-zero decay
  // lets SGD accumulate straight into its velocity (v = μv + g) inside the
  // matrix products, saving a pass over the parameters per step.
  BatchStats forward_backward(const Eigen::Ref<const Matrix>& features, const std::int32_t* labels,
                              Eigen::Ref<Vector> gradient, float gradient_decay = 0.0f);

  // Forward only: accumulates loss and accuracy over a batch.
  BatchStats evaluate(const Eigen::Ref<const Matrix>& features, const std::int32_t* labels);

  // Forward only, up to the logits (classes x B, before the softmax): what
  // `starling eval --dump-logits` prints and an exported ONNX graph must match.
  Matrix logits(const Eigen::Ref<const Matrix>& features);

  Vector& parameters() { return parameters_; }
  const Vector& parameters() const { return parameters_; }
  std::size_t parameter_count() const { return std::size_t(parameters_.size()); }
  const std::vector<DenseShape>& layers() const { return layers_; }
  const ModelSpec& spec() const { return spec_; }
  int inputs() const { return inputs_; }
  int classes() const { return classes_; }

  // Views of a layer's weights and bias inside any flat vector of this model's
  // length (parameters, gradients, deltas).
  static Eigen::Map<Matrix> weights(Vector& flat, const DenseShape& layer);
  static Eigen::Map<const Matrix> weights(const Vector& flat, const DenseShape& layer);
  static Eigen::Map<Vector> bias(Vector& flat, const DenseShape& layer);
  static Eigen::Map<const Vector> bias(const Vector& flat, const DenseShape& layer);

 private:
  // Runs the forward pass, leaving activations in activations_ and softmax
  // probabilities in probabilities_; returns loss/accuracy.
  BatchStats forward(const Eigen::Ref<const Matrix>& features, const std::int32_t* labels);
  // The layers without the softmax: leaves the logits in probabilities_.
  void forward_layers(const Eigen::Ref<const Matrix>& features);
  void ensure_batch(int batch);

  ModelSpec spec_;
  int inputs_;
  int classes_;
  std::vector<DenseShape> layers_;
  Vector parameters_;
  std::vector<Matrix> activations_;  // output of each hidden layer (post-ReLU)
  Matrix probabilities_;             // classes x B
  Matrix delta_;                     // scratch: gradient w.r.t. a layer's output
  Matrix delta_next_;                // scratch: gradient w.r.t. the previous layer's output
};

// The largest model starling builds: 2^30 parameters, 4 GiB per copy as
// floats, while a training peer holds about ten copies (docs/learning.md,
// "Memory per peer"). A spec past it is a typo or a machine we do not run on.
inline constexpr std::size_t kMaxParameters = std::size_t{1} << 30;

// "mlp:65536,65536 on 784 inputs and 10 classes: 4347133962 parameters,
// ~17.4 GB per copy": what a message about a model's size says.
std::string model_size_text(const ModelSpec& spec, int inputs, int classes);

// The parameter count of `spec` on data of this shape (inputs > 0,
// classes > 1), counted without allocating; invalid_argument naming the
// model, its count and its size per copy when it is above kMaxParameters.
Result<std::size_t> check_model_size(const ModelSpec& spec, int inputs, int classes);

// check_model_size, then the model; overloaded ("not enough memory for model
// mlp:...: N parameters, ~M GB per copy") when the allocation fails, so a
// model too big for this host is a message, not an exception.
Result<std::unique_ptr<Mlp>> make_model(const ModelSpec& spec, int inputs, int classes);

// The text peers hash into the model id of their link hello (and `starling
// export` into the ONNX metadata): the spec, the input and class counts and
// the parameter count. Peers and exports must agree on it byte for byte.
std::string model_description(const ModelSpec& spec, int inputs, int classes);

// The same model for people, e.g. "mlp:16 over 784 inputs and 10 classes":
// what a peer says of its model when a neighbour's differs (LinkHello).
std::string model_shape(const ModelSpec& spec, int inputs, int classes);

}  // namespace starling::ml
