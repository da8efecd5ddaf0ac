// libFuzzer target for the message codec (decode of untrusted bytes).
// Property beyond "no crash, no leak, no UB": whatever decodes must re-encode,
// and re-encoding is a fixed point (encode(decode(encode(m))) == encode(m)).
// Bytes are compared rather than structs so NaN payloads compare equal.
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <span>

#include "starling/wire/codec.h"

using namespace starling;
using namespace starling::wire;

namespace {
[[noreturn]] void property_failed(const char* what, const Error* error) {
  std::fprintf(stderr, "fuzz_codec: %s%s%s\n", what, error ? ": " : "", error ? error->message.c_str() : "");
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto decoded = decode(std::span(data, size));
  if (!decoded.ok()) {
    auto kind = decoded.error().kind;
    if (kind != ErrorKind::corrupt && kind != ErrorKind::unsupported && kind != ErrorKind::overloaded) {
      property_failed("unexpected error kind", &decoded.error());
    }
    return 0;
  }
  auto first = encode(*decoded);
  if (!first.ok()) property_failed("a decoded message does not re-encode", &first.error());
  auto again = decode(*first);
  if (!again.ok()) property_failed("a re-encoded message does not decode", &again.error());
  auto second = encode(*again);
  if (!second.ok()) property_failed("second re-encoding failed", &second.error());
  if (*first != *second) property_failed("re-encoding is not a fixed point", nullptr);
  return 0;
}
