// Checks on text that comes from outside (the wire, files, other members):
// is it valid UTF-8, is it a HOST:PORT address. Header-only and free of any
// third-party library, so every layer may use it: src/wire validates decoded
// messages with it, src/runtime parses addresses with it, and gossip/ can
// re-check what it is handed. A string that passed here can be logged, put
// into JSON or compared without surprises.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace starling {

// The longest host part of an address (a DNS name is at most 253 characters).
inline constexpr std::size_t kMaxHostBytes = 253;

// True when text is well-formed UTF-8 (RFC 3629): no overlong forms, no
// surrogates, nothing above U+10FFFF, no truncated sequence.
inline bool is_valid_utf8(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  std::size_t i = 0;
  while (i < size) {
    const unsigned char lead = bytes[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;   // overlong
      if (lead == 0xED) high = 0x9F;  // surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;   // overlong
      if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
    } else {
      return false;  // a continuation byte, C0/C1 or F5..FF as a lead
    }
    if (size - i < length) return false;
    if (bytes[i + 1] < low || bytes[i + 1] > high) return false;
    for (std::size_t k = 2; k < length; ++k) {
      if (bytes[i + k] < 0x80 || bytes[i + k] > 0xBF) return false;
    }
    i += length;
  }
  return true;
}

// `text` made safe to print on one line of a terminal or log: each control
// character (C0, DEL) and each byte that is not part of valid UTF-8 becomes
// \xNN, each C1 control (U+0080..U+009F, which some terminals obey) \u00NN;
// valid non-ASCII UTF-8 stays. Nothing is cut at a NUL and no escape sequence
// reaches the terminal. `keep` lists control characters to let through (the
// '\n' of a message that spans lines on purpose).
inline std::string printable(std::string_view text, std::string_view keep = {}) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x20 && byte < 0x7f) {
      out += text[i++];
      continue;
    }
    if (byte < 0x80 && keep.find(text[i]) != std::string_view::npos) {
      out += text[i++];
      continue;
    }
    const std::size_t length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1;
    if (byte >= 0x80 && i + length <= text.size() && is_valid_utf8(text.substr(i, length))) {
      const bool c1 = byte == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0;
      if (c1) {
        const auto code = static_cast<unsigned char>(text[i + 1]);
        out += "\\u00";
        out += kHex[code >> 4];
        out += kHex[code & 0xF];
      } else {
        out.append(text.substr(i, length));
      }
      i += length;
      continue;
    }
    out += "\\x";
    out += kHex[byte >> 4];
    out += kHex[byte & 0xF];
    ++i;
  }
  return out;
}

// A value from outside quoted for an error or log line: 'printable(text)'.
inline std::string quoted_text(std::string_view text) { return "'" + printable(text) + "'"; }

// An address split into its parts; host without brackets.
struct HostPort {
  std::string_view host;
  std::uint16_t port = 0;
};

namespace detail {
inline bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
         c == '_';
}
inline bool is_ipv6_char(char c) {
  return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' || c == '.';
}
}  // namespace detail

// Parses "HOST:PORT" or "[IPV6]:PORT". HOST is a DNS name or IPv4 address
// (ASCII letters, digits, '.', '-', '_'), an IPv6 literal only hex digits,
// ':' and '.'; at most kMaxHostBytes. Anything else (control characters,
// spaces, non-ASCII, an empty host, a missing or non-numeric port) gives
// nullopt. Syntax only: nothing is resolved.
inline std::optional<HostPort> split_host_port(std::string_view text) {
  HostPort out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    out.host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    for (char c : out.host) {
      if (!detail::is_ipv6_char(c)) return std::nullopt;
    }
    if (out.host.find(':') == std::string_view::npos) return std::nullopt;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    out.host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    for (char c : out.host) {
      if (!detail::is_name_char(c)) return std::nullopt;  // also refuses a bare IPv6 address
    }
  }
  if (out.host.empty() || out.host.size() > kMaxHostBytes) return std::nullopt;
  if (port_text.empty() || port_text.size() > 5) return std::nullopt;
  unsigned port = 0;
  const auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) return std::nullopt;
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

inline bool is_host_port(std::string_view text) { return split_host_port(text).has_value(); }

}  // namespace starling
