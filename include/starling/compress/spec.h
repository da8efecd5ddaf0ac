// Which compressor a link uses, parsed from the command line ("topk:0.01"),
// and the optional sparsity warm-up that starts denser and decays to it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "starling/status.h"

namespace starling::compress {

// Same numbering as wire::CompressorKind (include/starling/wire/messages.h), so
// the node maps one onto the other with a cast; compress does not depend on wire.
enum class CompressorKind : std::uint8_t { none, topk, randk, int8, sign, sign2 };

const char* to_string(CompressorKind kind);

struct CompressorSpec {
  CompressorKind kind = CompressorKind::none;
  double fraction = 1.0;  // topk/randk: share of the compressed coordinates sent, in (0, 1]

  // "none", "topk:F", "randk:F", "int8", "sign", "sign2"; F a decimal in (0, 1].
  // Anything else is invalid_argument with a message naming the accepted forms.
  static Result<CompressorSpec> parse(std::string_view text);
  std::string to_string() const;
  bool sparsifies() const { return kind == CompressorKind::topk || kind == CompressorKind::randk; }
};

// Sparsity warm-up (Lin et al. 2018, "Deep Gradient Compression"): the first
// `rounds` deltas of a top-k/random-k link send a larger fraction, decaying
// geometrically from `start_fraction` to the spec's fraction. rounds == 0 is off.
// Only the sender reads it: the receiver learns k from the payload sizes.
struct SparsityWarmup {
  double start_fraction = 0.25;
  std::uint64_t rounds = 0;

  // The fraction to use for delta number `round` (0-based) of a link.
  double fraction_at(double target_fraction, std::uint64_t round) const;
};

}  // namespace starling::compress
