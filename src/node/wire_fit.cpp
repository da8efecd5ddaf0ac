// See wire_fit.h.
#include "starling/node/wire_fit.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "starling/compress/compressor.h"
#include "starling/wire/codec.h"

namespace starling::node {
namespace {

// Room for a message's own structure (Cap'n Proto pointers and headers, the
// epoch, sequence and degree) and for frames queued beside a snapshot.
constexpr std::size_t kMessageOverheadBytes = 64 * 1024;
constexpr std::size_t kBacklogMarginBytes = 1 << 20;

std::size_t bytes_of(const compress::Layout& layout, compress::CompressorKind kind, double fraction) {
  const std::size_t n_c = layout.compressed_count();
  const std::size_t exact = 4 * layout.exact_count();
  const std::size_t blocks = compress::block_count(layout);
  const auto kept = [&] { return std::size_t(std::ceil(std::clamp(fraction, 0.0, 1.0) * double(n_c))); };
  switch (kind) {
    case compress::CompressorKind::none: return 4 * layout.dimension();
    case compress::CompressorKind::int8: return exact + n_c + 4 * blocks;
    case compress::CompressorKind::sign: return exact + (n_c + 7) / 8 + 4 * blocks;
    case compress::CompressorKind::sign2: return exact + (n_c + 3) / 4 + 8 * blocks;
    case compress::CompressorKind::topk: return exact + 8 * kept();
    case compress::CompressorKind::randk: return exact + 4 * kept() + 8;
  }
  return 4 * layout.dimension();
}

std::string megabytes(std::size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MB", double(bytes) / 1e6);
  return text;
}

// The compressor's own largest delta: at its fraction, or the warm-up's
// larger start.
std::size_t own_delta_bytes(const compress::Layout& layout, const compress::CompressorSpec& spec,
                            const compress::SparsityWarmup& warmup) {
  double fraction = spec.fraction;
  if (spec.sparsifies() && warmup.rounds > 0) fraction = std::max(fraction, warmup.start_fraction);
  return bytes_of(layout, spec.kind, fraction);
}

}  // namespace

std::size_t largest_delta_bytes(const compress::Layout& layout, const compress::CompressorSpec& spec,
                                const compress::SparsityWarmup& warmup) {
  std::size_t largest = own_delta_bytes(layout, spec, warmup);
  // LinkState settles each new epoch with one int8 delta (node/link.h).
  if (spec.kind != compress::CompressorKind::none && spec.kind != compress::CompressorKind::int8)
    largest = std::max(largest, bytes_of(layout, compress::CompressorKind::int8, 1.0));
  return largest;
}

Status check_links_carry(const compress::Layout& layout, const compress::CompressorSpec& spec,
                         const compress::SparsityWarmup& warmup, std::size_t max_pending_outbound_bytes) {
  const std::size_t d = layout.dimension();
  if (d == 0) return ok_status();
  const std::size_t delta = largest_delta_bytes(layout, spec, warmup) + kMessageOverheadBytes;
  const std::size_t delta_room = wire::kMaxMessageBytes;
  const std::size_t snapshot = 2 * d + kBacklogMarginBytes;  // bf16, all chunks queued when a link opens
  const std::size_t snapshot_room = max_pending_outbound_bytes;
  if (delta <= delta_room && snapshot <= snapshot_room) return ok_status();
  // About the largest model that fits: both sizes grow in proportion to it.
  const double scale = std::min(double(delta_room) / double(delta), double(snapshot_room) / double(snapshot));
  const auto largest = std::size_t(double(d) * scale);
  const bool settle = own_delta_bytes(layout, spec, warmup) + kMessageOverheadBytes < delta;
  const std::string which =
      settle ? "the int8 delta that opens each link's epoch" : "its largest " + spec.to_string() + " delta";
  const std::string what =
      delta > delta_room ? which + " (" + megabytes(delta) + ") is above the wire's " + megabytes(delta_room) +
                               " message limit"
                         : "a link's snapshot (" + megabytes(snapshot) + " in bf16) is above the " +
                               megabytes(snapshot_room) + " a connection may queue";
  return make_error(ErrorKind::invalid_argument,
                    "the model has " + std::to_string(d) + " parameters: " + what +
                        ", so its links would never mix. With this compressor links carry up to about " +
                        std::to_string(largest) + " parameters" +
                        (spec.kind == compress::CompressorKind::none ? " (a compressor such as int8 or sign carries "
                                                                        "about 4 times more)"
                                                                      : ""));
}

}  // namespace starling::node
