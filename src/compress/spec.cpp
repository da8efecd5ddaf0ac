#include "starling/compress/spec.h"

#include <charconv>
#include <cmath>

namespace starling::compress {

const char* to_string(CompressorKind kind) {
  switch (kind) {
    case CompressorKind::none: return "none";
    case CompressorKind::topk: return "topk";
    case CompressorKind::randk: return "randk";
    case CompressorKind::int8: return "int8";
    case CompressorKind::sign: return "sign";
    case CompressorKind::sign2: return "sign2";
  }
  return "unknown";
}

namespace {

Error bad_spec(std::string_view text, const std::string& why) {
  return make_error(ErrorKind::invalid_argument,
                    "compressor '" + std::string(text) + "': " + why +
                        " (expected none, topk:F, randk:F, int8, sign or sign2, with F in (0, 1], e.g. topk:0.01)");
}

}  // namespace

Result<CompressorSpec> CompressorSpec::parse(std::string_view text) {
  const auto colon = text.find(':');
  const std::string_view name = text.substr(0, colon);
  const bool has_argument = colon != std::string_view::npos;
  CompressorSpec spec;
  if (name == "none" || name == "int8" || name == "sign" || name == "sign2") {
    if (has_argument) return bad_spec(text, "'" + std::string(name) + "' takes no parameter");
    spec.kind = name == "none"   ? CompressorKind::none
                : name == "int8" ? CompressorKind::int8
                : name == "sign" ? CompressorKind::sign
                                 : CompressorKind::sign2;
    return spec;
  }
  if (name != "topk" && name != "randk") return bad_spec(text, "unknown compressor");
  spec.kind = name == "topk" ? CompressorKind::topk : CompressorKind::randk;
  if (!has_argument) return bad_spec(text, "missing fraction");
  const std::string_view argument = text.substr(colon + 1);
  double fraction = 0.0;
  const auto [end, ec] = std::from_chars(argument.data(), argument.data() + argument.size(), fraction);
  if (argument.empty() || ec != std::errc() || end != argument.data() + argument.size())
    return bad_spec(text, "fraction is not a decimal number");
  if (!std::isfinite(fraction) || fraction <= 0.0 || fraction > 1.0)
    return bad_spec(text, "fraction must be in (0, 1]");
  spec.fraction = fraction;
  return spec;
}

std::string CompressorSpec::to_string() const {
  if (!sparsifies()) return compress::to_string(kind);
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, fraction);
  return std::string(compress::to_string(kind)) + ":" + std::string(buffer, result.ptr);
}

double SparsityWarmup::fraction_at(double target_fraction, std::uint64_t round) const {
  if (rounds == 0 || round >= rounds || start_fraction <= target_fraction) return target_fraction;
  // Geometric: each round multiplies the fraction by the same factor.
  const double progress = double(round) / double(rounds);
  return start_fraction * std::pow(target_fraction / start_fraction, progress);
}

}  // namespace starling::compress
