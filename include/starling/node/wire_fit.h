// Whether a model's link traffic fits the wire: its largest delta one
// message (wire::kMaxMessageBytes, 16 MiB) and a link's whole bf16 snapshot,
// queued at once when a link opens, the transport's send backlog (32 MiB).
// Past either, a peer joined, downloaded the model bit for bit and then never
// mixed: every delta failed to encode and every link closed as its snapshot
// overflowed the backlog, while the API and status said it was training (an
// embedded model of 20M parameters; `--compress none` fails from about 4M).
#pragma once

#include <cstddef>

#include "starling/compress/layout.h"
#include "starling/compress/spec.h"
#include "starling/status.h"

namespace starling::node {

// The payload bytes of the largest delta a link of this compressor sends for
// this layout: its own deltas at their largest fraction (warm-up included)
// and, for compressors that settle a new link with int8, that first delta.
std::size_t largest_delta_bytes(const compress::Layout& layout, const compress::CompressorSpec& spec,
                                const compress::SparsityWarmup& warmup);

// invalid_argument naming the model's size, what does not fit, and about how
// many parameters this compressor can carry, when the model is too large for
// links; ok otherwise.
Status check_links_carry(const compress::Layout& layout, const compress::CompressorSpec& spec,
                         const compress::SparsityWarmup& warmup, std::size_t max_pending_outbound_bytes);

}  // namespace starling::node
