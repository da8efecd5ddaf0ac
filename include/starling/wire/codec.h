// The one codec between plain message structs (messages.h) and bytes. Both
// directions check the same limits, so what one peer encodes another accepts.
// Decoding treats its input as hostile: every failure is a returned Error,
// never an exception or a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "starling/status.h"
#include "starling/wire/messages.h"

namespace starling::wire {

// Largest encoded message accepted by default. Snapshots and model downloads
// travel in chunks well below it; an uncompressed delta of a 4M-parameter
// model still fits.
inline constexpr std::size_t kMaxMessageBytes = std::size_t{16} << 20;

struct Limits {
  std::size_t max_message_bytes = kMaxMessageBytes;  // checked before anything is parsed
  // Cap'n Proto reader limits. Traversal is additionally capped at twice the
  // message size, so pointer aliasing cannot amplify work; nesting in our
  // schemas is at most 5 deep.
  std::uint64_t traversal_limit_words = 2 * (kMaxMessageBytes / 8) + 1024;
  int nesting_limit = 16;
  std::size_t max_members = 16384;           // member records in one message
  std::size_t max_partition_peers = 16384;   // FaultControl::partitioned_from
  std::size_t max_address_bytes = 255;
  std::size_t max_text_bytes = 4096;         // Reset::detail
  std::size_t max_shape_bytes = 256;         // LinkHello::model_shape
  std::size_t max_json_bytes = std::size_t{1} << 20;
  // SealedDatagram::ciphertext: above any UDP datagram, far below a frame.
  std::size_t max_ciphertext_bytes = std::size_t{64} << 10;
};

// Encodes into Cap'n Proto's standard stream format (segment table +
// segments). Fails with invalid_argument when a field breaks a limit a
// receiver would enforce (address too long, probability outside [0, 1], ...)
// and with overloaded when the encoded message exceeds max_message_bytes.
Result<std::vector<std::uint8_t>> encode(const Message& message, const Limits& limits = {});

// Same, into `out` (its capacity is reused; its contents are replaced). On
// error `out` is left empty.
Status encode_into(const Message& message, std::vector<std::uint8_t>& out, const Limits& limits = {});

// Decodes exactly one message that fills `bytes` completely. Errors:
//   overloaded  - larger than max_message_bytes, or a list longer than its limit;
//   corrupt     - truncated, trailing bytes, malformed pointers, a traversal or
//                 nesting limit hit, a fixed-size field of the wrong size,
//                 a missing version, a probability outside [0, 1];
//   unsupported - a newer wire version, or a message kind / enum value this
//                 build does not know (a newer peer sent it).
Result<Message> decode(std::span<const std::uint8_t> bytes, const Limits& limits = {});

}  // namespace starling::wire
