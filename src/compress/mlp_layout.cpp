#include "starling/compress/mlp_layout.h"

namespace starling::compress {

Layout layout_for(const ml::Mlp& model, LayoutPolicy policy) {
  std::vector<Segment> segments;
  for (const ml::DenseShape& layer : model.layers()) {
    segments.push_back(Segment{layer.offset, layer.weight_count()});
    segments.push_back(Segment{layer.bias_offset(), std::size_t(layer.out)});
  }
  auto layout = Layout::make(model.parameter_count(), segments, policy);
  STARLING_ASSERT_MSG(layout.ok(), layout.ok() ? "" : layout.error().message.c_str());
  return std::move(layout).value();
}

}  // namespace starling::compress
