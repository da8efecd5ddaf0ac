// CSV and libsvm loaders. Both read the whole file through zlib (so a .gz works
// too), walk it line by line and report errors as "file:line: what".
#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>

#include "gz_file.h"
#include "starling/ml/dataset.h"

namespace starling::ml {
namespace {

constexpr std::size_t kMaxTextBytes = std::size_t{2} << 30;
// The dense feature matrix we are willing to build (floats): 1 GiB.
constexpr std::uint64_t kMaxDenseElements = std::uint64_t{1} << 28;
// A libsvm file whose width it infers may make a dense matrix this much
// larger than the values it writes (a density of 1 in 1024), or of up to
// kMinSparseElements (64 MiB) whatever it writes: one large index in a
// 24-byte file made a 1 GiB matrix, a second and a gigabyte for nothing.
constexpr std::uint64_t kMaxDensePerValue = 1024;
constexpr std::uint64_t kMinSparseElements = std::uint64_t{1} << 24;

std::string_view trim(std::string_view text) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// A finite number, the whole of `text`. from_chars rejects leading '+', which
// libsvm files use for labels ("+1"), so one is skipped.
bool parse_finite(std::string_view text, double& value) {
  if (text.size() > 1 && text.front() == '+' && text[1] != '-') text.remove_prefix(1);
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end && std::isfinite(value);
}

// Whether `text` is written as a number at all, finite or not: a first line of
// such fields is data (and "nan" in it an error), anything else a header.
bool looks_numeric(std::string_view text) {
  if (text.size() > 1 && text.front() == '+' && text[1] != '-') text.remove_prefix(1);
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return (ec == std::errc() || ec == std::errc::result_out_of_range) && ptr == end;
}

std::string describe_bad_number(std::string_view text) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec == std::errc() && ptr == end && !std::isfinite(value)) {
    return "'" + std::string(text) + "' is not finite (NaN/Inf features are rejected)";
  }
  if (ec == std::errc::result_out_of_range) return "'" + std::string(text) + "' is out of range for a float";
  return "'" + std::string(text) + "' is not a number";
}

// Calls `line_fn(line_number, line)` for each line; stops at the first error.
// A UTF-8 byte order mark (spreadsheets write one) is not part of the first
// line: left in, it made a CSV's first sample look like a header.
template <typename LineFn>
Status for_each_line(const std::vector<std::uint8_t>& content, LineFn&& line_fn) {
  std::string_view rest(reinterpret_cast<const char*>(content.data()), content.size());
  constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";
  if (rest.substr(0, kByteOrderMark.size()) == kByteOrderMark) rest.remove_prefix(kByteOrderMark.size());
  std::size_t line_number = 0;
  while (!rest.empty()) {
    ++line_number;
    const std::size_t newline = rest.find('\n');
    const std::string_view line = rest.substr(0, newline);
    rest.remove_prefix(newline == std::string_view::npos ? rest.size() : newline + 1);
    if (auto status = line_fn(line_number, line); !status) return status;
  }
  return ok_status();
}

Error line_error(const std::string& path, std::size_t line, const std::string& what) {
  return make_error(ErrorKind::corrupt, path + ":" + std::to_string(line) + ": " + what);
}

// A label names a class: a whole number. A fraction (5.1) is nearly always a
// feature in the label's place (a CSV with the label last), which made one
// class per distinct value without a word.
Status check_label(const std::string& path, std::size_t line, std::string_view text, double value) {
  if (value == std::floor(value)) return ok_status();
  return line_error(path, line, "label '" + std::string(text) +
                                    "' is not a whole number: the first field of each line is the class (0, 1, 2 "
                                    "... or -1, +1); is a feature there instead?");
}

// Turns each line's label into its class as written, so that a label is the
// same class in every file whatever other labels that file holds (the peers
// of a swarm each read their own; eval reads a test file that may lack a
// class). Labels 0, 1, 2 ... are the class itself. The libsvm binary
// convention has one fixed mapping, -1 -> 0 and +1 -> 1, so a file of -1/+1
// and one of 0/1 agree, and a file holding only +1 still means class 1.
// -1 beside 0 (two numberings in one file) or beside labels from 2 up (-1/+1
// is for two classes) is refused at the line that shows it, as is any other
// negative label. Mapping labels in sorted order of the values a file held
// (before) made each file's class 3 something else.
class LabelReader {
 public:
  // `classes` > 0: the model's (--classes, a checkpoint's); labels must be
  // below it. 0: the file decides (the largest label + 1).
  LabelReader(const std::string& path, int classes) : path_(path), classes_(classes) {}

  // The label `text` (a whole number `value`, check_label) of `line`.
  Status add(std::size_t line, std::string_view text, double value) {
    // Built only for an error: this runs once per sample.
    const auto quoted = [text] { return "label '" + std::string(text) + "'"; };
    if (value < 0 && value != -1) {
      return line_error(path_, line, quoted() + " is negative: classes are 0, 1, 2 ... (or -1, +1 for two classes)");
    }
    if (value == -1) {
      if (line_of_zero_ != 0) return mixed(line, quoted(), line_of_zero_, "'0'");
      if (line_of_high_ != 0) return mixed(line, quoted(), line_of_high_, "'" + high_text_ + "'");
      if (line_of_minus_one_ == 0) line_of_minus_one_ = line;
    } else if (line_of_minus_one_ != 0 && (value == 0 || value >= 2)) {
      return mixed(line, quoted(), line_of_minus_one_, "'-1'");
    }
    if (value >= double(kMaxClasses)) {
      return make_error(ErrorKind::unsupported,
                        path_ + ":" + std::to_string(line) + ": " + quoted() + " is past the " +
                            std::to_string(kMaxClasses) + " classes a model may have (0 to " +
                            std::to_string(kMaxClasses - 1) + "): is the first field of each line the label, not "
                            "an id?");
    }
    const auto label = value == -1 ? 0 : std::int32_t(value);
    if (classes_ > 0 && label >= classes_) {
      return make_error(ErrorKind::invalid_argument,
                        path_ + ":" + std::to_string(line) + ": " + quoted() + " does not fit the " +
                            std::to_string(classes_) + " classes of the model (labels 0 to " +
                            std::to_string(classes_ - 1) + ")");
    }
    if (value == 0 && line_of_zero_ == 0) line_of_zero_ = line;
    if (value >= 2 && line_of_high_ == 0) {
      line_of_high_ = line;
      high_text_ = std::string(text);
    }
    largest_ = std::max(largest_, label);
    labels_.push_back(label);
    return ok_status();
  }

  std::size_t size() const { return labels_.size(); }

  // The labels and the number of classes: the model's when given, else 2 for
  // a -1/+1 file (a file of -1 alone is still binary), else the largest + 1.
  void finish(Dataset& data) {
    data.labels = std::move(labels_);
    data.classes = classes_ > 0 ? classes_ : line_of_minus_one_ != 0 ? 2 : largest_ + 1;
  }

 private:
  Error mixed(std::size_t line, const std::string& quoted, std::size_t other_line, const std::string& other) const {
    return line_error(path_, line,
                      quoted + " beside label " + other + " (line " + std::to_string(other_line) +
                          "): classes are 0, 1, 2 ... or, for two classes, -1 and +1 (-1 is class 0), not both in "
                          "one file");
  }

  const std::string& path_;
  const int classes_;
  std::vector<std::int32_t> labels_;
  std::int32_t largest_ = 0;
  std::size_t line_of_minus_one_ = 0;  // the first line of each kind of label; 0: none yet
  std::size_t line_of_zero_ = 0;
  std::size_t line_of_high_ = 0;  // a label of 2 or more
  std::string high_text_;
};

}  // namespace

Result<Dataset> load_csv(const std::string& path, int classes) {
  auto content = detail::read_whole_file(path, kMaxTextBytes);
  if (!content) return content.error();

  LabelReader labels(path, classes);
  std::vector<float> values;  // sample after sample: the column-major feature matrix
  std::size_t columns = 0;    // of the first data line; every line must match
  std::size_t header_columns = 0;
  bool seen_first_line = false;
  std::vector<std::string_view> fields;

  auto status = for_each_line(*content, [&](std::size_t line_number, std::string_view line) -> Status {
    line = trim(line);
    if (line.empty()) return ok_status();
    fields.clear();
    for (std::size_t start = 0;;) {
      const std::size_t comma = line.find(',', start);
      fields.push_back(trim(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    const bool first_line = !seen_first_line;
    seen_first_line = true;

    double label = 0;
    const bool label_ok = parse_finite(fields[0], label);
    if (first_line) {
      const bool all_numbers = std::all_of(fields.begin(), fields.end(), looks_numeric);
      if (!all_numbers) {  // a header: names of the columns
        header_columns = fields.size();
        return ok_status();
      }
    }
    if (fields.size() < 2) return line_error(path, line_number, "a sample needs a label and at least one feature");
    if (columns == 0) {
      columns = fields.size();
      if (header_columns != 0 && header_columns != columns) {
        return line_error(path, line_number,
                          std::to_string(columns) + " columns but the header has " + std::to_string(header_columns));
      }
    } else if (fields.size() != columns) {
      return line_error(path, line_number,
                        std::to_string(fields.size()) + " columns, expected " + std::to_string(columns) +
                            " like the first sample");
    }
    if (!label_ok) return line_error(path, line_number, "label " + describe_bad_number(fields[0]));
    if (auto whole = check_label(path, line_number, fields[0], label); !whole) return whole;
    if (auto added = labels.add(line_number, fields[0], label); !added) return added;
    for (std::size_t c = 1; c < fields.size(); ++c) {
      double value = 0;
      if (!parse_finite(fields[c], value) || !std::isfinite(float(value))) {
        return line_error(path, line_number, "column " + std::to_string(c + 1) + ": " + describe_bad_number(fields[c]));
      }
      values.push_back(float(value));
    }
    return ok_status();
  });
  if (!status) return status.error();
  if (labels.size() == 0) return make_error(ErrorKind::corrupt, path + ": no samples");

  Dataset data;
  const auto inputs = Eigen::Index(columns - 1);
  data.features = Eigen::Map<const Eigen::MatrixXf>(values.data(), inputs, Eigen::Index(labels.size()));
  labels.finish(data);
  return data;
}

Result<Dataset> load_libsvm(const std::string& path, int inputs, int classes) {
  if (inputs < 0) return make_error(ErrorKind::invalid_argument, "libsvm: inputs must be >= 0 (0 infers the width)");
  auto content = detail::read_whole_file(path, kMaxTextBytes);
  if (!content) return content.error();

  struct Entry {
    std::size_t sample;
    std::uint32_t index;  // 0-based
    float value;
  };
  std::vector<Entry> entries;
  LabelReader labels(path, classes);
  std::uint64_t width = std::uint64_t(inputs);
  std::size_t widest_line = 0;  // the first line holding the largest index

  auto status = for_each_line(*content, [&](std::size_t line_number, std::string_view line) -> Status {
    line = trim(line.substr(0, line.find('#')));  // '#' starts a comment
    if (line.empty()) return ok_status();
    std::uint64_t previous_index = 0;
    bool first_token = true;
    while (!line.empty()) {
      const std::size_t space = line.find_first_of(" \t");
      const std::string_view token = line.substr(0, space);
      line = trim(line.substr(space == std::string_view::npos ? line.size() : space));
      if (first_token) {
        first_token = false;
        double label = 0;
        if (!parse_finite(token, label)) return line_error(path, line_number, "label " + describe_bad_number(token));
        if (auto whole = check_label(path, line_number, token, label); !whole) return whole;
        if (auto added = labels.add(line_number, token, label); !added) return added;
        continue;
      }
      const std::size_t colon = token.find(':');
      if (colon == std::string_view::npos) {
        return line_error(path, line_number, "expected index:value, got '" + std::string(token) + "'");
      }
      const std::string_view index_text = token.substr(0, colon);
      if (index_text == "qid") continue;  // ranking data: the query id is not a feature
      std::uint64_t index = 0;
      auto [ptr, ec] = std::from_chars(index_text.data(), index_text.data() + index_text.size(), index);
      if (ec != std::errc() || ptr != index_text.data() + index_text.size() || index == 0 || index > 0xffffffffu) {
        return line_error(path, line_number,
                          "bad feature index '" + std::string(index_text) + "' (indices are integers from 1)");
      }
      if (index <= previous_index) {
        return line_error(path, line_number,
                          "feature index " + std::to_string(index) + " after " + std::to_string(previous_index) +
                              " (indices must increase along a line)");
      }
      if (inputs > 0 && index > std::uint64_t(inputs)) {
        return line_error(path, line_number,
                          "feature index " + std::to_string(index) + " exceeds the " + std::to_string(inputs) +
                              " inputs asked for");
      }
      previous_index = index;
      const std::string_view value_text = token.substr(colon + 1);
      double value = 0;
      if (!parse_finite(value_text, value) || !std::isfinite(float(value))) {
        return line_error(path, line_number, "feature " + std::to_string(index) + ": " + describe_bad_number(value_text));
      }
      if (index > width) widest_line = line_number;
      width = std::max(width, index);
      entries.push_back({labels.size() - 1, std::uint32_t(index - 1), float(value)});
    }
    return ok_status();
  });
  if (!status) return status.error();
  if (labels.size() == 0) return make_error(ErrorKind::corrupt, path + ": no samples");
  if (width == 0) return make_error(ErrorKind::corrupt, path + ": no features in any sample");
  if (width * labels.size() > kMaxDenseElements) {
    return make_error(ErrorKind::unsupported, path + ": " + std::to_string(labels.size()) + " samples x " +
                                                  std::to_string(width) + " features is too large for a dense matrix");
  }
  const std::uint64_t dense = width * labels.size();
  if (inputs == 0 && dense > kMinSparseElements && dense / kMaxDensePerValue > entries.size()) {
    return make_error(ErrorKind::unsupported,
                      path + ":" + std::to_string(widest_line) + ": feature index " + std::to_string(width) +
                          " makes a dense matrix of " + std::to_string(width) + " features x " +
                          std::to_string(labels.size()) + " samples for the " + std::to_string(entries.size()) +
                          " values the file holds (fewer than 1 in " + std::to_string(kMaxDensePerValue) +
                          "): too sparse to load; is that index a mistake?");
  }

  Dataset data;
  data.features = Eigen::MatrixXf::Zero(Eigen::Index(width), Eigen::Index(labels.size()));
  for (const Entry& entry : entries) data.features(Eigen::Index(entry.index), Eigen::Index(entry.sample)) = entry.value;
  labels.finish(data);
  return data;
}

}  // namespace starling::ml
