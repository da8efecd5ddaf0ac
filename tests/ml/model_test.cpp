// The MLP: spec parsing, deterministic init, and finite-difference gradient
// checks for every layer type (dense, ReLU, softmax cross-entropy).
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "starling/ml/model.h"

using namespace starling;
using namespace starling::ml;

namespace {

struct Batch {
  Matrix features;
  std::vector<std::int32_t> labels;
};

Batch random_batch(int inputs, int classes, int size, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Batch batch{Matrix(inputs, size), std::vector<std::int32_t>(std::size_t(size))};
  for (Eigen::Index i = 0; i < batch.features.size(); ++i) batch.features.data()[i] = normal(rng);
  for (auto& label : batch.labels) label = std::int32_t(rng() % unsigned(classes));
  return batch;
}

double mean_loss(Mlp& model, const Batch& batch) {
  const BatchStats stats = model.evaluate(batch.features, batch.labels.data());
  return stats.loss_sum / stats.count;
}

// Central differences in double around float parameters: compare every
// parameter's analytic gradient with (L(p+h) - L(p-h)) / 2h.
void check_gradient(const std::string& spec_text, int inputs, int classes) {
  Mlp model(*ModelSpec::parse(spec_text), inputs, classes);
  model.initialize(42);
  // Non-zero biases so the bias path is exercised, not only its zero start.
  for (const auto& layer : model.layers()) Mlp::bias(model.parameters(), layer).setConstant(0.05f);
  const Batch batch = random_batch(inputs, classes, 7, 5);
  Vector gradient = Vector::Zero(Eigen::Index(model.parameter_count()));
  model.forward_backward(batch.features, batch.labels.data(), gradient);

  const float h = 1e-3f;
  int checked = 0;
  for (Eigen::Index i = 0; i < model.parameters().size(); ++i) {
    const float saved = model.parameters()(i);
    model.parameters()(i) = saved + h;
    const double up = mean_loss(model, batch);
    model.parameters()(i) = saved - h;
    const double down = mean_loss(model, batch);
    model.parameters()(i) = saved;
    const double numeric = (up - down) / (2.0 * h);
    INFO(spec_text << " parameter " << i << " analytic " << gradient(i) << " numeric " << numeric);
    REQUIRE(gradient(i) == Approx(numeric).margin(2e-3).epsilon(2e-2));
    ++checked;
  }
  CHECK(checked == int(model.parameter_count()));
}

}  // namespace

TEST_CASE("model specs parse and reject bad input") {
  CHECK(ModelSpec::parse("linear")->hidden.empty());
  CHECK(ModelSpec::parse("mlp:256,128")->hidden == std::vector<int>{256, 128});
  CHECK(ModelSpec::parse("mlp:256,128")->to_string() == "mlp:256,128");
  for (const char* bad : {"", "mlp", "mlp:", "mlp:0", "mlp:-3", "mlp:12,", "mlp:1x", "cnn:3", "mlp:99999999"}) {
    INFO(bad);
    auto spec = ModelSpec::parse(bad);
    REQUIRE_FALSE(spec.ok());
    CHECK(spec.error().kind == ErrorKind::invalid_argument);
  }
}

TEST_CASE("a model past kMaxParameters is refused before anything is allocated, naming its size") {
  // mlp:65536,65536 on Fashion-MNIST: 4.3 G parameters, tried as ~34 GB.
  const ModelSpec huge = *ModelSpec::parse("mlp:65536,65536");
  auto checked = check_model_size(huge, 784, 10);
  REQUIRE_FALSE(checked.ok());
  CHECK(checked.error().kind == ErrorKind::invalid_argument);
  const std::string& message = checked.error().message;
  INFO(message);
  CHECK(message.find("mlp:65536,65536") != std::string::npos);
  CHECK(message.find("4347133962 parameters") != std::string::npos);
  CHECK(message.find("~17.4 GB per copy") != std::string::npos);
  auto made = make_model(huge, 784, 10);
  REQUIRE_FALSE(made.ok());
  CHECK(made.error().message == message);

  auto small = make_model(*ModelSpec::parse("mlp:8"), 4, 2);
  REQUIRE(small.ok());
  CHECK((*small)->parameter_count() == *check_model_size(*ModelSpec::parse("mlp:8"), 4, 2));
}

TEST_CASE("the flat layout: layers are views into one vector") {
  Mlp model(*ModelSpec::parse("mlp:5,4"), 3, 2);
  REQUIRE(model.layers().size() == 3);
  CHECK(model.parameter_count() == std::size_t(3 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2));
  CHECK(model.layers()[1].offset == std::size_t(3 * 5 + 5));
  Mlp::weights(model.parameters(), model.layers()[1])(0, 0) = 7.0f;
  CHECK(model.parameters()(Eigen::Index(model.layers()[1].offset)) == 7.0f);
}

TEST_CASE("initialisation is deterministic by seed") {
  Mlp a(*ModelSpec::parse("mlp:16"), 8, 3), b(*ModelSpec::parse("mlp:16"), 8, 3), c(*ModelSpec::parse("mlp:16"), 8, 3);
  a.initialize(9);
  b.initialize(9);
  c.initialize(10);
  CHECK(a.parameters() == b.parameters());
  CHECK(a.parameters() != c.parameters());
  // Biases start at zero; weights within the He-uniform bound.
  CHECK(Mlp::bias(a.parameters(), a.layers()[0]).isZero());
  CHECK(Mlp::weights(a.parameters(), a.layers()[0]).cwiseAbs().maxCoeff() <= std::sqrt(6.0f / 8.0f));
}

TEST_CASE("gradient check: softmax regression (dense + cross-entropy)") { check_gradient("linear", 6, 4); }

TEST_CASE("gradient check: MLP (dense + ReLU hidden layers)") { check_gradient("mlp:9,5", 6, 3); }

TEST_CASE("loss and accuracy of a known case") {
  Mlp model(*ModelSpec::parse("linear"), 2, 2);
  model.parameters().setZero();
  Matrix x(2, 2);
  x << 1, 0, 0, 1;
  std::vector<std::int32_t> y = {0, 1};
  // Zero weights: uniform softmax, loss log(2) per sample.
  BatchStats stats = model.evaluate(x, y.data());
  CHECK(stats.loss_sum == Approx(2 * std::log(2.0)));
  // W = identity: each sample scores its own class higher.
  Mlp::weights(model.parameters(), model.layers()[0]) = Matrix::Identity(2, 2) * 3.0f;
  stats = model.evaluate(x, y.data());
  CHECK(stats.correct == 2);
  CHECK(stats.loss_sum == Approx(2 * std::log(1 + std::exp(-3.0))).epsilon(1e-5));
}

TEST_CASE("logits are the forward pass before the softmax") {
  // Checked by hand for one layer, and against evaluate()'s loss and accuracy
  // (which go through the softmax) for a deeper model.
  Mlp linear(*ModelSpec::parse("linear"), 3, 2);
  linear.initialize(4);
  Mlp::bias(linear.parameters(), linear.layers()[0]).setConstant(0.5f);
  const Batch one = random_batch(3, 2, 5, 11);
  const Matrix expected = (Mlp::weights(linear.parameters(), linear.layers()[0]) * one.features).colwise() +
                          Vector(Mlp::bias(linear.parameters(), linear.layers()[0]));
  CHECK((linear.logits(one.features) - expected).cwiseAbs().maxCoeff() < 1e-6f);

  Mlp model(*ModelSpec::parse("mlp:8,5"), 6, 4);
  model.initialize(9);
  for (const auto& layer : model.layers()) Mlp::bias(model.parameters(), layer).setConstant(0.1f);
  const Batch batch = random_batch(6, 4, 32, 12);
  const Matrix logits = model.logits(batch.features);
  REQUIRE(logits.rows() == 4);
  REQUIRE(logits.cols() == 32);
  double loss_sum = 0.0;
  int correct = 0;
  for (Eigen::Index c = 0; c < logits.cols(); ++c) {
    Eigen::Index argmax = 0;
    const double max_logit = logits.col(c).maxCoeff(&argmax);
    const double log_sum = std::log((logits.col(c).cast<double>().array() - max_logit).exp().sum()) + max_logit;
    loss_sum += log_sum - logits(batch.labels[std::size_t(c)], c);
    correct += int(argmax == batch.labels[std::size_t(c)]);
  }
  const BatchStats stats = model.evaluate(batch.features, batch.labels.data());
  CHECK(stats.correct == correct);
  CHECK(stats.loss_sum == Approx(loss_sum).epsilon(1e-5));
}
