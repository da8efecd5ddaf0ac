// See embed_layout.h.
#include "embed_layout.h"

#include "starling/crypto/keys.h"
#include "starling/node/training_driver.h"
#include "starling/text.h"

namespace starling::apps {
namespace {

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
  return text + "]";
}

}  // namespace

std::string layout_description(const embed::ModelLayout& layout) {
  std::string text = "starling-embed-1 name " + layout.name + " shapes";
  for (const auto& shape : layout.shapes) text += " " + shape_text(shape);
  return text;
}

std::string layout_shape(const embed::ModelLayout& layout) {
  std::string text = layout.name + (layout.name.empty() ? "" : ": ") + "tensors";
  for (const auto& shape : layout.shapes) text += " " + shape_text(shape);
  if (text.size() > 200 || !is_valid_utf8(text)) return std::to_string(layout.shapes.size()) + " tensors";
  return text;
}

std::optional<std::size_t> tensor_count(const std::vector<std::int64_t>& shape) {
  std::size_t n = 1;
  for (std::int64_t d : shape) {
    if (d <= 0 || __builtin_mul_overflow(n, std::size_t(d), &n)) return std::nullopt;
  }
  return n;
}

std::string layout_problem(const embed::ModelLayout& layout, std::size_t count) {
  if (layout.shapes.empty()) return "the layout has no shapes (give one per tensor, e.g. {{784, 128}, {128}})";
  std::size_t total = 0;
  for (std::size_t i = 0; i < layout.shapes.size(); ++i) {
    const auto& shape = layout.shapes[i];
    for (std::int64_t d : shape) {
      if (d <= 0) return "shape " + std::to_string(i) + " " + shape_text(shape) + ": sizes must be at least 1";
    }
    const std::optional<std::size_t> n = tensor_count(shape);
    if (!n || __builtin_add_overflow(total, *n, &total)) {
      return "shape " + std::to_string(i) + " " + shape_text(shape) +
             ": the layout describes more values than a buffer can hold";
    }
  }
  if (total != count) {
    return "the buffer holds " + std::to_string(count) + " floats, the layout's shapes describe " +
           std::to_string(total);
  }
  return {};
}

}  // namespace starling::apps

namespace starling::embed {

std::size_t ModelLayout::parameter_count() const {
  std::size_t total = 0;
  for (const auto& shape : shapes) {
    const std::optional<std::size_t> n = apps::tensor_count(shape);
    if (!n || __builtin_add_overflow(total, *n, &total)) return 0;
  }
  return total;
}

std::string ModelLayout::model_id() const {
  return crypto::to_hex(node::model_hash(apps::layout_description(*this)));
}

}  // namespace starling::embed
