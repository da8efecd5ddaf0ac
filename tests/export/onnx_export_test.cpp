// ONNX writer: the bytes parse back as the graph docs/export.md describes,
// with the checkpoint's parameters in the right layout, and running that graph
// (a small evaluator over its nodes, below) gives the model's own logits.
#include <catch2/catch.hpp>
#include <onnx/onnx_pb.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "starling/export/onnx_export.h"

using namespace starling;
namespace fs = std::filesystem;

namespace {

ml::Checkpoint sample_checkpoint(const std::string& spec) {
  ml::Checkpoint c;
  c.spec = *ml::ModelSpec::parse(spec);
  c.inputs = 6;
  c.classes = 3;
  ml::Mlp model(c.spec, c.inputs, c.classes);
  model.initialize(5);
  // Non-zero biases, so a bias in the wrong place shows.
  for (const auto& layer : model.layers()) ml::Mlp::bias(model.parameters(), layer).setRandom();
  c.parameters = model.parameters();
  c.step = 42;
  c.data_mean = 0.25f;
  c.data_std = 0.5f;
  c.metadata = {{"model", "local_average"}, {"local_average_neighbours", "3"}, {"data", "fashion-mnist"}};
  return c;
}

onnx::ModelProto parse(const std::string& bytes) {
  onnx::ModelProto model;
  REQUIRE(model.ParseFromString(bytes));
  return model;
}

std::map<std::string, std::string> properties(const onnx::ModelProto& model) {
  std::map<std::string, std::string> out;
  for (const auto& entry : model.metadata_props()) out[entry.key()] = entry.value();
  return out;
}

// Evaluates the graph for the ops the writer emits, with ONNX's semantics:
// values are row-major [N, width] matrices, a scalar initializer broadcasts.
using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
std::map<std::string, RowMatrix> run_graph(const onnx::GraphProto& graph, const RowMatrix& input) {
  std::map<std::string, RowMatrix> values;
  values[graph.input(0).name()] = input;
  for (const auto& tensor : graph.initializer()) {
    REQUIRE(tensor.data_type() == onnx::TensorProto_DataType_FLOAT);
    const Eigen::Index rows = tensor.dims_size() == 2 ? tensor.dims(0) : 1;
    const Eigen::Index cols = tensor.dims_size() == 2 ? tensor.dims(1) : tensor.dims_size() == 1 ? tensor.dims(0) : 1;
    REQUIRE(tensor.float_data_size() == rows * cols);
    values[tensor.name()] = Eigen::Map<const RowMatrix>(tensor.float_data().data(), rows, cols);
  }
  for (const auto& node : graph.node()) {
    const RowMatrix& a = values.at(node.input(0));
    RowMatrix out;
    const std::string& op = node.op_type();
    if (op == "Sub" || op == "Div" || op == "Mul") {
      const RowMatrix& b = values.at(node.input(1));
      REQUIRE(b.size() == 1);
      const float s = b(0, 0);
      out = op == "Sub" ? RowMatrix(a.array() - s) : op == "Div" ? RowMatrix(a.array() / s) : RowMatrix(a.array() * s);
    } else if (op == "Gemm") {
      REQUIRE(node.attribute_size() == 0);  // no transposes, alpha = beta = 1
      const RowMatrix& bias = values.at(node.input(2));
      out = a * values.at(node.input(1));
      out.rowwise() += bias.row(0);
    } else if (op == "Relu") {
      out = a.cwiseMax(0.0f);
    } else if (op == "Softmax") {
      REQUIRE(node.attribute(0).name() == "axis");
      REQUIRE(node.attribute(0).i() == 1);
      out = (a.colwise() - a.rowwise().maxCoeff()).array().exp();
      out.array().colwise() /= out.rowwise().sum().array();
    } else {
      FAIL("op the evaluator does not know: " << op);
    }
    values[node.output(0)] = out;
  }
  return values;
}

}  // namespace

TEST_CASE("the ONNX graph holds the model's layers, versions and metadata", "[export]") {
  const ml::Checkpoint checkpoint = sample_checkpoint("mlp:5,4");
  auto bytes = exporter::onnx_model_bytes(checkpoint, {});
  REQUIRE(bytes);
  const onnx::ModelProto model = parse(*bytes);
  CHECK(model.ir_version() == 7);
  REQUIRE(model.opset_import_size() == 1);
  CHECK(model.opset_import(0).domain().empty());
  CHECK(model.opset_import(0).version() == 13);
  CHECK(model.producer_name() == "starling");

  const onnx::GraphProto& graph = model.graph();
  REQUIRE(graph.input_size() == 1);
  CHECK(graph.input(0).name() == "input");
  const auto& input_shape = graph.input(0).type().tensor_type().shape();
  REQUIRE(input_shape.dim_size() == 2);
  CHECK(input_shape.dim(0).dim_param() == "N");
  CHECK(input_shape.dim(1).dim_value() == 6);
  REQUIRE(graph.output_size() == 2);
  CHECK(graph.output(0).name() == "logits");
  CHECK(graph.output(1).name() == "probabilities");
  CHECK(graph.output(1).type().tensor_type().shape().dim(1).dim_value() == 3);

  std::vector<std::string> ops;
  for (const auto& node : graph.node()) ops.push_back(node.op_type());
  CHECK(ops == std::vector<std::string>{"Sub", "Div", "Gemm", "Relu", "Gemm", "Relu", "Gemm", "Softmax"});

  // Every weight lands transposed ([in, out]) and every bias whole.
  ml::Mlp shape(checkpoint.spec, checkpoint.inputs, checkpoint.classes);
  std::map<std::string, const onnx::TensorProto*> tensors;
  for (const auto& tensor : graph.initializer()) tensors[tensor.name()] = &tensor;
  for (std::size_t i = 0; i < shape.layers().size(); ++i) {
    const ml::DenseShape& layer = shape.layers()[i];
    const onnx::TensorProto& w = *tensors.at("dense" + std::to_string(i) + ".weight_t");
    REQUIRE(w.dims_size() == 2);
    CHECK(w.dims(0) == layer.in);
    CHECK(w.dims(1) == layer.out);
    REQUIRE(std::size_t(w.float_data_size()) == layer.weight_count());
    const auto weights = ml::Mlp::weights(checkpoint.parameters, layer);
    for (int in = 0; in < layer.in; ++in) {
      for (int out = 0; out < layer.out; ++out) REQUIRE(w.float_data(in * layer.out + out) == weights(out, in));
    }
    const onnx::TensorProto& b = *tensors.at("dense" + std::to_string(i) + ".bias");
    REQUIRE(b.float_data_size() == layer.out);
    CHECK(b.float_data(layer.out - 1) == ml::Mlp::bias(checkpoint.parameters, layer)(layer.out - 1));
  }

  const auto props = properties(model);
  CHECK(props.at("starling.model") == "local_average");
  CHECK(props.at("starling.local_average_neighbours") == "3");
  CHECK(props.at("starling.model_spec") == "mlp:5,4");
  CHECK(props.at("starling.step") == "42");
  CHECK(props.at("starling.input") == "loader_features");
  CHECK(props.at("starling.layout_hash").size() == 64);
  CHECK(props.at("starling.layout_hash") == exporter::layout_hash_hex(checkpoint));
  // The hash pins the layout: another shape, another hash.
  CHECK(exporter::layout_hash_hex(sample_checkpoint("mlp:5,5")) != props.at("starling.layout_hash"));
}

TEST_CASE("running the exported graph gives the model's logits", "[export]") {
  for (const std::string spec : {"linear", "mlp:7", "mlp:5,4"}) {
    for (const bool raw_pixels : {false, true}) {
      CAPTURE(spec, raw_pixels);
      const ml::Checkpoint checkpoint = sample_checkpoint(spec);
      auto bytes = exporter::onnx_model_bytes(checkpoint, {.raw_pixels = raw_pixels});
      REQUIRE(bytes);
      const onnx::ModelProto model = parse(*bytes);

      // Raw features as `starling eval` sees them, 0..255 when raw_pixels.
      RowMatrix raw = (RowMatrix::Random(4, checkpoint.inputs).array() + 1.0f) * (raw_pixels ? 127.5f : 0.5f);
      if (raw_pixels) raw = raw.array().round();
      ml::Matrix features = raw.transpose();  // starling: one sample per column
      if (raw_pixels) features *= 1.0f / 255.0f;
      features = (features.array() - checkpoint.data_mean) / checkpoint.data_std;
      ml::Mlp reference(checkpoint.spec, checkpoint.inputs, checkpoint.classes);
      reference.parameters() = checkpoint.parameters;
      const ml::Matrix expected = reference.logits(features);

      const auto values = run_graph(model.graph(), raw);
      const RowMatrix& logits = values.at("logits");
      REQUIRE(logits.rows() == 4);
      REQUIRE(logits.cols() == 3);
      CHECK((logits - RowMatrix(expected.transpose())).cwiseAbs().maxCoeff() < 1e-5f);
      const RowMatrix& probabilities = values.at("probabilities");
      CHECK((probabilities.rowwise().sum().array() - 1.0f).abs().maxCoeff() < 1e-6f);
      CHECK(properties(model).at("starling.input") == (raw_pixels ? "raw_pixels" : "loader_features"));
    }
  }
}

TEST_CASE("an unknown model kind is refused, a missing one is exported as unknown", "[export]") {
  ml::Checkpoint checkpoint = sample_checkpoint("linear");
  checkpoint.metadata["model"] = "swarm_average";
  auto refused = exporter::onnx_model_bytes(checkpoint, {});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::invalid_argument);
  CHECK_THAT(refused.error().message, Catch::Contains("unknown model kind 'swarm_average'"));

  checkpoint.metadata.erase("model");
  auto bytes = exporter::onnx_model_bytes(checkpoint, {});
  REQUIRE(bytes);
  CHECK(properties(parse(*bytes)).at("starling.model") == "unknown");
}

TEST_CASE("write_onnx_model writes the bytes whole or not at all", "[export]") {
  std::string pattern = (fs::temp_directory_path() / "starling-export-test-XXXXXX").string();
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  const fs::path dir = pattern;
  const ml::Checkpoint checkpoint = sample_checkpoint("mlp:7");

  const fs::path good = dir / "model.onnx";
  REQUIRE(exporter::write_onnx_model(good.string(), checkpoint, {}));
  std::ifstream in(good, std::ios::binary);
  const std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(written == *exporter::onnx_model_bytes(checkpoint, {}));

  const fs::path missing_folder = dir / "no-such-folder" / "model.onnx";
  auto status = exporter::write_onnx_model(missing_folder.string(), checkpoint, {});
  REQUIRE_FALSE(status);
  CHECK(status.error().kind == ErrorKind::io);
  CHECK_FALSE(fs::exists(missing_folder));

  ml::Checkpoint unknown = checkpoint;
  unknown.metadata["model"] = "mystery";
  const fs::path refused = dir / "refused.onnx";
  REQUIRE_FALSE(exporter::write_onnx_model(refused.string(), unknown, {}));
  CHECK_FALSE(fs::exists(refused));
  // Nothing but the one good file: no temporary left behind.
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
  fs::remove_all(dir);
}
