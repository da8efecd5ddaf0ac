// A checkpoint's JSON header (docs/checkpoints.md): written from a Checkpoint,
// read back with every field checked by name and type. Private to src/ml:
// checkpoint.cpp frames it (magic, size line, checksums, payload).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "starling/ml/checkpoint.h"
#include "starling/status.h"

namespace starling::ml::detail {

// What a header says about the payload that follows it.
struct PayloadLayout {
  std::vector<std::int64_t> vector_lengths;  // parameters first, then optimizer state
  std::size_t payload_bytes = 0;
  std::uint32_t payload_crc32 = 0;
};

struct ParsedHeader {
  Checkpoint checkpoint;  // all but its vectors (parameters, optimizer_state)
  PayloadLayout layout;
};

// The header's JSON text for `checkpoint` and the payload described by `layout`.
std::string checkpoint_header_text(const Checkpoint& checkpoint, const PayloadLayout& layout);

// Parses a header. Every failure is Error(corrupt) whose message says what is
// wrong in our words ("the header is not valid JSON (at byte 19)", "field
// 'inputs' is missing", "'optimizer.momentum' is not a number: \"x\""), never
// a JSON library's exception text; the caller adds the file's name. Checks
// the form of each field only: shapes and counters are load_checkpoint's.
Result<ParsedHeader> parse_checkpoint_header(std::string_view text);

}  // namespace starling::ml::detail
