// LogBudget and remote_text. See log_budget.h.
#include "starling/node/log_budget.h"

#include <algorithm>

namespace starling::node {

bool LogBudget::allow(std::string_view kind, std::uint64_t now_ms, std::uint64_t* left_out) {
  *left_out = 0;
  auto found = kinds_.find(kind);
  if (found == kinds_.end()) found = kinds_.emplace(std::string(kind), Kind{}).first;
  Kind& k = found->second;
  if (!k.seen) {
    k = Kind{double(burst_), now_ms, 0, true};
  } else if (now_ms > k.refilled_ms) {
    const double earned = interval_ms_ == 0 ? double(burst_) : double(now_ms - k.refilled_ms) / double(interval_ms_);
    k.tokens = std::min(double(burst_), k.tokens + earned);
    k.refilled_ms = now_ms;
  }
  if (k.tokens < 1.0) {
    ++k.left_out;
    ++left_out_total_;
    return false;
  }
  k.tokens -= 1.0;
  *left_out = k.left_out;
  k.left_out = 0;
  return true;
}

std::string remote_text(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t cut = max_bytes;
  // Back to the start of a UTF-8 sequence (its continuation bytes are 10xxxxxx).
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "... (" + std::to_string(text.size()) + " bytes)";
}

}  // namespace starling::node
