#include "starling/compress/layout.h"

#include <cstdint>
#include <limits>
#include <string>

namespace starling::compress {

Layout Layout::whole(std::size_t dimension) {
  auto layout = make(dimension, {Segment{0, dimension}}, LayoutPolicy{0});
  STARLING_ASSERT_MSG(layout.ok(), "dimension beyond uint32 indices");
  return std::move(layout).value();
}

Result<Layout> Layout::make(std::size_t dimension, const std::vector<Segment>& segments, LayoutPolicy policy) {
  if (dimension > std::numeric_limits<std::uint32_t>::max())
    return make_error(ErrorKind::invalid_argument,
                      "layout: " + std::to_string(dimension) + " values do not fit 32-bit indices");
  Layout layout;
  layout.dimension_ = dimension;
  std::size_t next = 0;
  for (const Segment& segment : segments) {
    if (segment.offset != next)
      return make_error(ErrorKind::invalid_argument, "layout: segment at " + std::to_string(segment.offset) +
                                                         " should start at " + std::to_string(next) +
                                                         " (segments must tile the vector in order)");
    if (segment.length == 0) continue;
    if (segment.length > dimension - next)
      return make_error(ErrorKind::invalid_argument, "layout: segment at " + std::to_string(segment.offset) +
                                                         " runs past the end (" + std::to_string(dimension) + ")");
    next += segment.length;
    if (segment.length < policy.exact_below) {
      layout.exact_.push_back(segment);
      layout.exact_count_ += segment.length;
    } else {
      layout.compressed_.push_back(segment);
      layout.compressed_count_ += segment.length;
    }
  }
  if (next != dimension)
    return make_error(ErrorKind::invalid_argument, "layout: segments cover " + std::to_string(next) + " of " +
                                                       std::to_string(dimension) + " values");
  return layout;
}

}  // namespace starling::compress
