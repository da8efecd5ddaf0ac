#include "checkpoint_header.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace starling::ml::detail {
namespace {

using Json = nlohmann::json;

// A header field its reader cannot take; parse_checkpoint_header makes it corrupt.
struct BadField {
  std::string what;
};

// A field's value, short, for a message: a crafted header may put a megabyte
// of text in one field. dump() cannot throw here: parsed strings are UTF-8.
constexpr std::size_t kShownBytes = 40;

std::string shown(const Json& value) {
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > kShownBytes) text = text.substr(0, kShownBytes) + "...";
  return text;
}

// `object[name]`, where `where` names the field in messages ("optimizer.kind").
const Json& field(const Json& object, const char* name, const std::string& where) {
  const auto found = object.find(name);
  if (found == object.end()) throw BadField{"field '" + where + "' is missing"};
  return *found;
}

const Json& object_field(const Json& object, const char* name) {
  const Json& value = field(object, name, name);
  if (!value.is_object()) throw BadField{"'" + std::string(name) + "' is not an object: " + shown(value)};
  return value;
}

std::string text_field(const Json& object, const char* name, const std::string& where) {
  const Json& value = field(object, name, where);
  if (!value.is_string()) throw BadField{"'" + where + "' is not text: " + shown(value)};
  return value.get<std::string>();
}

bool bool_field(const Json& object, const char* name, const std::string& where) {
  const Json& value = field(object, name, where);
  if (!value.is_boolean()) throw BadField{"'" + where + "' is not true or false: " + shown(value)};
  return value.get<bool>();
}

// A finite number. The parser reads 1e400 as infinity, which no field holds.
double finite_number(const Json& value, const std::string& where) {
  if (!value.is_number()) throw BadField{"'" + where + "' is not a number: " + shown(value)};
  const double number = value.get<double>();
  if (!std::isfinite(number)) throw BadField{"'" + where + "' is not a finite number: " + shown(value)};
  return number;
}

double number_field(const Json& object, const char* name, const std::string& where) {
  return finite_number(field(object, name, where), where);
}

// `value` as an Int, if it is a whole number Int holds. get<int>() casts
// without a check: a float past int's range (1e300) is undefined behaviour,
// and 3.7 or 2^40 would load as 3 or 0.
template <typename Int>
Int whole_number(const Json& value, const std::string& where) {
  using Limits = std::numeric_limits<Int>;
  if (value.is_number_unsigned()) {
    const auto number = value.get<std::uint64_t>();
    if (number <= std::uint64_t(Limits::max())) return Int(number);
  } else if (value.is_number_integer()) {
    const auto number = value.get<std::int64_t>();
    const bool fits_below = number >= std::int64_t(Limits::min());
    const bool fits_above = number < 0 || std::uint64_t(number) <= std::uint64_t(Limits::max());
    if (fits_below && fits_above) return Int(number);
  } else {
    const std::string found = value.is_number() ? shown(value) : value.type_name();
    throw BadField{"'" + where + "' is not a whole number: " + found};
  }
  throw BadField{"'" + where + "' is out of range: " + shown(value)};
}

template <typename Int>
Int whole_field(const Json& object, const char* name, const std::string& where) {
  return whole_number<Int>(field(object, name, where), where);
}

// A float: a double past float's range (1e300) does not convert.
float float_field(const Json& object, const char* name) {
  const double value = number_field(object, name, name);
  if (!(std::abs(value) <= double(std::numeric_limits<float>::max())))
    throw BadField{"'" + std::string(name) + "' is out of range for a float: " + shown(field(object, name, name))};
  return float(value);
}

const char* kind_name(OptimizerConfig::Kind kind) { return kind == OptimizerConfig::Kind::sgd ? "sgd" : "adam"; }

void read_optimizer(const Json& header, Checkpoint& checkpoint) {
  const Json& opt = object_field(header, "optimizer");
  auto kind = OptimizerConfig::parse_kind(text_field(opt, "kind", "optimizer.kind"));
  if (!kind) throw BadField{"'optimizer.kind': " + kind.error().message};
  OptimizerConfig& config = checkpoint.optimizer;
  config.kind = *kind;
  config.momentum = number_field(opt, "momentum", "optimizer.momentum");
  config.nesterov = bool_field(opt, "nesterov", "optimizer.nesterov");
  config.weight_decay = number_field(opt, "weight_decay", "optimizer.weight_decay");
  config.beta1 = number_field(opt, "beta1", "optimizer.beta1");
  config.beta2 = number_field(opt, "beta2", "optimizer.beta2");
  config.epsilon = number_field(opt, "epsilon", "optimizer.epsilon");
  checkpoint.optimizer_steps = whole_field<std::int64_t>(opt, "steps", "optimizer.steps");
}

std::map<std::string, std::string> read_metadata(const Json& header) {
  std::map<std::string, std::string> metadata;
  for (const auto& [key, value] : object_field(header, "metadata").items()) {
    if (!value.is_string()) throw BadField{"'metadata." + key + "' is not text: " + shown(value)};
    metadata.emplace(key, value.get<std::string>());
  }
  return metadata;
}

PayloadLayout read_layout(const Json& header) {
  PayloadLayout layout;
  const Json& vectors = field(header, "vectors", "vectors");
  if (!vectors.is_array()) throw BadField{"'vectors' is not a list: " + shown(vectors)};
  for (const auto& length : vectors) layout.vector_lengths.push_back(whole_number<std::int64_t>(length, "a vector's length"));
  layout.payload_bytes = whole_field<std::size_t>(header, "payload_bytes", "payload_bytes");
  layout.payload_crc32 = whole_field<std::uint32_t>(header, "payload_crc32", "payload_crc32");
  return layout;
}

ParsedHeader read_header(const Json& header) {
  ParsedHeader parsed;
  Checkpoint& checkpoint = parsed.checkpoint;
  // The first line's version is checked before the header is read; this one
  // was written alongside it and never read, so a header saying 0 loaded.
  const int version = whole_field<int>(header, "version", "version");
  if (version != kCheckpointVersion)
    throw BadField{"'version' is " + std::to_string(version) + ", not " + std::to_string(kCheckpointVersion) +
                   " as the file's first line says"};
  const std::string model = text_field(header, "model", "model");
  auto spec = ModelSpec::parse(model);
  if (!spec) {
    // The parser's words name the text whole: only when it is short.
    const bool short_text = model.size() <= kShownBytes;
    throw BadField{"'model': " + (short_text ? spec.error().message : "unknown model spec " + shown(model))};
  }
  checkpoint.spec = *spec;
  checkpoint.inputs = whole_field<int>(header, "inputs", "inputs");
  checkpoint.classes = whole_field<int>(header, "classes", "classes");
  read_optimizer(header, checkpoint);
  checkpoint.step = whole_field<std::int64_t>(header, "step", "step");
  checkpoint.samples = whole_field<std::int64_t>(header, "samples", "samples");
  checkpoint.epoch = number_field(header, "epoch", "epoch");
  checkpoint.data_mean = float_field(header, "data_mean");
  checkpoint.data_std = float_field(header, "data_std");
  checkpoint.metadata = read_metadata(header);
  parsed.layout = read_layout(header);
  return parsed;
}

}  // namespace

std::string checkpoint_header_text(const Checkpoint& checkpoint, const PayloadLayout& layout) {
  const OptimizerConfig& optimizer = checkpoint.optimizer;
  const Json header = {
      {"version", kCheckpointVersion},
      {"model", checkpoint.spec.to_string()},
      {"inputs", checkpoint.inputs},
      {"classes", checkpoint.classes},
      {"optimizer",
       {{"kind", kind_name(optimizer.kind)},
        {"momentum", optimizer.momentum},
        {"nesterov", optimizer.nesterov},
        {"weight_decay", optimizer.weight_decay},
        {"beta1", optimizer.beta1},
        {"beta2", optimizer.beta2},
        {"epsilon", optimizer.epsilon},
        {"steps", checkpoint.optimizer_steps}}},
      {"step", checkpoint.step},
      {"samples", checkpoint.samples},
      {"epoch", checkpoint.epoch},
      {"data_mean", checkpoint.data_mean},
      {"data_std", checkpoint.data_std},
      {"metadata", checkpoint.metadata},
      {"vectors", layout.vector_lengths},
      {"payload_bytes", layout.payload_bytes},
      {"payload_crc32", layout.payload_crc32},
  };
  // Metadata may hold file names in any encoding: replace what is not UTF-8
  // rather than throw.
  return header.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<ParsedHeader> parse_checkpoint_header(std::string_view text) {
  Json header;
  try {
    header = Json::parse(text);
  } catch (const Json::parse_error& error) {
    // Its byte, not its text: what() is the library's ("[json.exception...").
    return make_error(ErrorKind::corrupt, "the header is not valid JSON (at byte " + std::to_string(error.byte) + ")");
  } catch (const Json::out_of_range&) {
    return make_error(ErrorKind::corrupt, "the header holds a number too large for any field (such as 1e400)");
  } catch (const Json::exception&) {
    return make_error(ErrorKind::corrupt, "the header is not valid JSON");
  }
  if (!header.is_object()) return make_error(ErrorKind::corrupt, "the header is not a JSON object: " + shown(header));
  try {
    return read_header(header);
  } catch (const BadField& bad) {
    return make_error(ErrorKind::corrupt, bad.what);
  } catch (const Json::exception&) {
    // Every access above checks the type first; this is a bug's backstop,
    // still without the library's text.
    return make_error(ErrorKind::corrupt, "a field has a form this starling does not read");
  }
}

}  // namespace starling::ml::detail
