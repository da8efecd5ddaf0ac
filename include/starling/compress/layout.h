// Which parts of the flat parameter vector are compressed and which are sent
// exactly. Biases and other small tensors are a tiny share of the bytes but
// matter to the model, so they go uncompressed (DESIGN.md, "Learning").
#pragma once

#include <cstddef>
#include <vector>

#include "starling/status.h"

namespace starling::compress {

// A run [offset, offset + length) of the flat vector, usually one tensor.
struct Segment {
  std::size_t offset = 0;
  std::size_t length = 0;
  bool operator==(const Segment&) const = default;
};

struct LayoutPolicy {
  // Segments shorter than this are sent exactly; the rest are compressed.
  std::size_t exact_below = 1024;
};

// The segments of a flat vector, split into exact and compressed ones. Both
// ends of a link must build the same Layout (same model, same policy): the
// payload does not describe it, the decoder relies on it.
class Layout {
 public:
  // One compressed segment covering everything: for vectors with no structure.
  static Layout whole(std::size_t dimension);

  // `segments` must tile [0, dimension) in order, without gaps or overlaps, and
  // dimension must fit a uint32 index; otherwise invalid_argument.
  static Result<Layout> make(std::size_t dimension, const std::vector<Segment>& segments,
                             LayoutPolicy policy = {});

  std::size_t dimension() const { return dimension_; }
  const std::vector<Segment>& exact() const { return exact_; }
  const std::vector<Segment>& compressed() const { return compressed_; }
  std::size_t exact_count() const { return exact_count_; }
  std::size_t compressed_count() const { return compressed_count_; }

 private:
  std::size_t dimension_ = 0;
  std::vector<Segment> exact_;
  std::vector<Segment> compressed_;
  std::size_t exact_count_ = 0;
  std::size_t compressed_count_ = 0;
};

}  // namespace starling::compress
