// Builds the ONNX ModelProto of a checkpoint with the generated protobuf
// classes of Debian's libonnx-dev; protobuf does every byte of the encoding.
//
// Graph (docs/export.md), for an MLP with hidden layers H1..Hk:
//   input [N, inputs]
//   (Mul by 1/255 when raw_pixels)      as the IDX loader scales pixels
//   Sub data_mean, Div data_std          as `starling eval` standardises
//   Gemm(W1^T, b1), Relu, ..., Gemm(Wk+1^T, bk+1) -> logits [N, classes]
//   Softmax(axis 1)                      -> probabilities [N, classes]
#include "starling/export/onnx_export.h"

#include <onnx/onnx_pb.h>

#include <cstdio>
#include <vector>

#include "starling/crypto/hash.h"
#include "starling/ml/model.h"

namespace starling::exporter {
namespace {

// "own" and "local_average" are what trainers write (docs/checkpoints.md).
Result<std::string> model_kind(const ml::Checkpoint& checkpoint) {
  const auto held = checkpoint.metadata.find("model");
  if (held == checkpoint.metadata.end()) return std::string("unknown");
  if (held->second == "own" || held->second == "local_average") return held->second;
  return make_error(ErrorKind::invalid_argument,
                    "checkpoint metadata names an unknown model kind '" + held->second +
                        "' (expected 'own' or 'local_average'); this starling cannot say what it exports");
}

void add_float_initializer(::onnx::GraphProto& graph, const std::string& name, const std::vector<std::int64_t>& dims,
                           const float* values, std::size_t count) {
  ::onnx::TensorProto* tensor = graph.add_initializer();
  tensor->set_name(name);
  tensor->set_data_type(::onnx::TensorProto_DataType_FLOAT);
  for (std::int64_t d : dims) tensor->add_dims(d);
  tensor->mutable_float_data()->Add(values, values + count);
}

::onnx::NodeProto* add_node(::onnx::GraphProto& graph, const std::string& op, const std::string& name,
                            const std::vector<std::string>& inputs, const std::string& output) {
  ::onnx::NodeProto* node = graph.add_node();
  node->set_op_type(op);
  node->set_name(name);
  for (const std::string& input : inputs) node->add_input(input);
  node->add_output(output);
  return node;
}

void add_int_attribute(::onnx::NodeProto& node, const std::string& name, std::int64_t value) {
  ::onnx::AttributeProto* attribute = node.add_attribute();
  attribute->set_name(name);
  attribute->set_type(::onnx::AttributeProto_AttributeType_INT);
  attribute->set_i(value);
}

// A float32 [N, width] value; N is symbolic, so any batch size runs.
void describe_matrix(::onnx::ValueInfoProto& value, const std::string& name, std::int64_t width,
                     const std::string& doc) {
  value.set_name(name);
  value.set_doc_string(doc);
  ::onnx::TypeProto_Tensor* tensor = value.mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(::onnx::TensorProto_DataType_FLOAT);
  ::onnx::TensorShapeProto* shape = tensor->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  shape->add_dim()->set_dim_value(width);
}

void add_property(::onnx::ModelProto& model, const std::string& key, const std::string& value) {
  ::onnx::StringStringEntryProto* entry = model.add_metadata_props();
  entry->set_key(key);
  entry->set_value(value);
}

std::string float_text(float value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", double(value));  // 9 digits: the float round-trips
  return text;
}

}  // namespace

std::string layout_hash_hex(const ml::Checkpoint& checkpoint) {
  // The description `starling peer` and the simulator hash for their links.
  const crypto::Hash256 hash = crypto::hash256(ml::model_description(checkpoint.spec, checkpoint.inputs, checkpoint.classes));
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (std::uint8_t byte : hash) {
    hex += kDigits[byte >> 4];
    hex += kDigits[byte & 15];
  }
  return hex;
}

Result<std::string> onnx_model_bytes(const ml::Checkpoint& checkpoint, const OnnxExportOptions& options) {
  auto kind = model_kind(checkpoint);
  if (!kind) return kind.error();
  // The checkpoint loader checked the length; a checkpoint built in memory
  // with another length is a bug of its maker.
  const ml::Mlp shape(checkpoint.spec, checkpoint.inputs, checkpoint.classes);
  STARLING_ASSERT(std::size_t(checkpoint.parameters.size()) == shape.parameter_count());

  ::onnx::ModelProto model;
  model.set_ir_version(kOnnxIrVersion);
  ::onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  model.set_producer_name("starling");
  model.set_producer_version("0.1.0");
  model.set_model_version(checkpoint.step);
  model.set_doc_string("starling " + checkpoint.spec.to_string() + " (" + *kind + " model) at training step " +
                       std::to_string(checkpoint.step));

  ::onnx::GraphProto& graph = *model.mutable_graph();
  graph.set_name("starling_" + checkpoint.spec.to_string());
  describe_matrix(*graph.add_input(), kOnnxInputName, checkpoint.inputs,
                  options.raw_pixels ? "raw features: pixel values 0..255, scaled by 1/255 in the graph"
                                     : "features as starling's loaders give them (IDX pixels divided by 255)");

  std::string current = kOnnxInputName;
  if (options.raw_pixels) {
    const float scale = 1.0f / 255.0f;  // the IDX loader's factor, bit for bit
    add_float_initializer(graph, "pixel_scale", {}, &scale, 1);
    add_node(graph, "Mul", "scale_pixels", {current, "pixel_scale"}, "scaled");
    current = "scaled";
  }
  // (x - mean) / std, in this order and with a division, as `starling eval` does.
  add_float_initializer(graph, "data_mean", {}, &checkpoint.data_mean, 1);
  add_float_initializer(graph, "data_std", {}, &checkpoint.data_std, 1);
  add_node(graph, "Sub", "centre", {current, "data_mean"}, "centred");
  add_node(graph, "Div", "standardise", {"centred", "data_std"}, "standardised");
  current = "standardised";

  const std::vector<ml::DenseShape>& layers = shape.layers();
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const ml::DenseShape& layer = layers[i];
    const std::string index = std::to_string(i);
    // W is out x in, column-major in the flat vector: the same floats read
    // row-major are W^T, [in, out], which Gemm multiplies without transB.
    add_float_initializer(graph, "dense" + index + ".weight_t", {layer.in, layer.out},
                          checkpoint.parameters.data() + layer.offset, layer.weight_count());
    add_float_initializer(graph, "dense" + index + ".bias", {layer.out},
                          checkpoint.parameters.data() + layer.bias_offset(), std::size_t(layer.out));
    const bool last = i + 1 == layers.size();
    const std::string product = last ? std::string(kOnnxLogitsName) : "dense" + index;
    add_node(graph, "Gemm", "dense" + index, {current, "dense" + index + ".weight_t", "dense" + index + ".bias"},
             product);
    current = product;
    if (!last) {
      add_node(graph, "Relu", "relu" + index, {current}, "relu" + index);
      current = "relu" + index;
    }
  }
  ::onnx::NodeProto* softmax = add_node(graph, "Softmax", "softmax", {current}, kOnnxProbabilitiesName);
  add_int_attribute(*softmax, "axis", 1);

  describe_matrix(*graph.add_output(), kOnnxLogitsName, checkpoint.classes, "class scores before the softmax");
  describe_matrix(*graph.add_output(), kOnnxProbabilitiesName, checkpoint.classes, "softmax of the logits");

  add_property(model, "starling.model", *kind);
  if (const auto n = checkpoint.metadata.find("local_average_neighbours"); n != checkpoint.metadata.end()) {
    add_property(model, "starling.local_average_neighbours", n->second);
  }
  add_property(model, "starling.model_spec", checkpoint.spec.to_string());
  add_property(model, "starling.layout_hash", layout_hash_hex(checkpoint));
  add_property(model, "starling.step", std::to_string(checkpoint.step));
  add_property(model, "starling.inputs", std::to_string(checkpoint.inputs));
  add_property(model, "starling.classes", std::to_string(checkpoint.classes));
  add_property(model, "starling.data_mean", float_text(checkpoint.data_mean));
  add_property(model, "starling.data_std", float_text(checkpoint.data_std));
  add_property(model, "starling.input", options.raw_pixels ? "raw_pixels" : "loader_features");
  if (const auto data = checkpoint.metadata.find("data"); data != checkpoint.metadata.end()) {
    add_property(model, "starling.data", data->second);
  }

  std::string bytes;
  if (!model.SerializeToString(&bytes)) {
    // protobuf refuses messages over 2 GiB: a model that large is a valid
    // request ONNX's single-file format cannot hold.
    return make_error(ErrorKind::unsupported, "the ONNX model is too large for one protobuf message (2 GiB limit)");
  }
  return bytes;
}

Status write_onnx_model(const std::string& path, const ml::Checkpoint& checkpoint, const OnnxExportOptions& options) {
  auto bytes = onnx_model_bytes(checkpoint, options);
  if (!bytes) return bytes.error();
  return ml::write_file_atomically(path, *bytes);
}

}  // namespace starling::exporter
