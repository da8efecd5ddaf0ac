// A link's delta (node::LinkDelta) and its wire form (wire::Delta): the one
// conversion, used by the training driver and the round benchmark.
#pragma once

#include <utility>

#include "starling/node/link.h"
#include "starling/wire/messages.h"

namespace starling::node {

// Both conversions take their input by value and move the payload vectors:
// callers pass an rvalue, so a delta's values are not copied on the way to
// the codec or from it (docs/wire.md, "Copies on the delta path").
inline wire::Delta to_wire(LinkDelta in) {
  wire::Delta out;
  out.epoch = in.epoch;
  out.seq = in.seq;
  out.compressor = static_cast<wire::CompressorKind>(in.delta.kind);
  out.dimension = in.delta.dimension;
  out.seed = in.delta.seed;
  out.indices = std::move(in.delta.indices);
  out.values = std::move(in.delta.values);
  out.codes = std::move(in.delta.codes);
  out.scales = std::move(in.delta.scales);
  return out;
}

inline LinkDelta from_wire(wire::Delta in) {
  LinkDelta out;
  out.epoch = in.epoch;
  out.seq = in.seq;
  out.delta.kind = static_cast<compress::CompressorKind>(in.compressor);
  out.delta.dimension = in.dimension;
  out.delta.seed = in.seed;
  out.delta.indices = std::move(in.indices);
  out.delta.values = std::move(in.values);
  out.delta.codes = std::move(in.codes);
  out.delta.scales = std::move(in.scales);
  return out;
}
static_assert(int(compress::CompressorKind::sign) == int(wire::CompressorKind::sign));
static_assert(int(compress::CompressorKind::sign2) == int(wire::CompressorKind::sign2));

}  // namespace starling::node
