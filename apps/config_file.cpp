// Flags from a TOML file and back. See config_file.h.
#include "error_output.h"
#include "config_file.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <toml++/toml.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>

#include "number_checks.h"
#include "path_option.h"
#include "starling/text.h"

namespace starling::apps {
namespace {

// What a key's TOML value must be, read off the CLI11 option.
// An unsigned option (UINT) may hold a value above 2^63-1, which a TOML
// integer cannot: --print-config writes such a value as a string of digits
// and the file reader takes it back (tests/apps/config_file_test.cpp).
enum class Kind { flag, integer, unsigned_integer, number, text };

bool is_meta_option(const CLI::Option* option) {
  const auto& names = option->get_lnames();
  if (names.empty()) return true;  // positional or short-only: no key
  const std::string& name = names.front();
  return name == "help" || name == "help-all" || name == "config" || name == "print-config" || name == "version";
}

// CLI11's type name is "INT", "UINT", "FLOAT", "TEXT", "BOOLEAN" (or one the
// command set itself, e.g. "HOST:PORT": a string), followed by ":" and the
// checks' descriptions.
Kind kind_of(const CLI::Option* option) {
  if (option->get_expected_max() == 0) return Kind::flag;  // takes no value
  const std::string full = option->get_type_name();
  const std::string base = full.substr(0, full.find(':'));
  if (base == "INT") return Kind::integer;
  if (base == "UINT") return Kind::unsigned_integer;
  if (base == "FLOAT") return Kind::number;
  if (base == "BOOLEAN") return Kind::flag;
  return Kind::text;
}

const char* kind_plural(Kind kind) {
  switch (kind) {
    case Kind::flag: return "booleans";
    case Kind::integer:
    case Kind::unsigned_integer: return "integers";
    case Kind::number: return "numbers";
    case Kind::text: return "strings";
  }
  return "values";
}

bool is_list(const CLI::Option* option) { return option->get_items_expected_max() > 1; }

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::flag: return "a boolean (true or false)";
    case Kind::integer: return "an integer";
    case Kind::unsigned_integer: return "an integer (above 9223372036854775807: a string of digits)";
    case Kind::number: return "a number";
    case Kind::text: return "a string";
  }
  return "a value";
}

CLI::Option* find_option(CLI::App& app, std::string_view key) {
  for (CLI::Option* option : app.get_options()) {
    if (is_meta_option(option)) continue;
    for (const auto& name : option->get_lnames())
      if (name == key) return option;
  }
  return nullptr;
}

std::string at(const std::filesystem::path& path, const toml::source_region& where) {
  return path.string() + ":" + std::to_string(where.begin.line);
}

// Whether `text` is a whole decimal number that fits an int64 / a uint64.
bool fits_toml_integer(const std::string& text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}
bool is_uint64(const std::string& text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

// The text of the TOML float at `where` in `source` (the file as parsed), minus
// TOML's digit separators: toml++ turns 1e-400 into 0.0 and 1e400 into inf
// without a word, so the value is read again from what the user wrote, with
// the command line's check (check_float_text: out of range, not finite).
// toml++ counts lines by '\n' and columns in code points from 1.
std::string float_source(std::string_view source, const toml::source_region& where) {
  std::size_t at = 0;
  for (toml::source_index line = 1; line < where.begin.line; ++line) {
    at = source.find('\n', at);
    if (at == std::string_view::npos) return {};
    ++at;
  }
  for (toml::source_index column = 1; column < where.begin.column && at < source.size(); ++column) {
    ++at;  // past one code point: its first byte, then its continuation bytes
    while (at < source.size() && (static_cast<unsigned char>(source[at]) & 0xC0) == 0x80) ++at;
  }
  std::string text;
  for (; at < source.size(); ++at) {
    const char c = source[at];
    const bool part = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' ||
                      c == '-' || c == '.' || c == '_';
    if (!part) break;
    if (c != '_') text += c;
  }
  return text;
}

// "a hexadecimal", "an octal" or "a binary" for a TOML integer written so, else "":
// the command line takes numbers in decimal only (`--lr 0x10` is refused), so
// `batch = 0o10` must not quietly mean 8 in a file.
std::string integer_base(const toml::node& node) {
  const auto* integer = node.as_integer();
  if (integer == nullptr) return "";
  // The base is a two-bit field of the flags (hexadecimal = binary | octal).
  const auto base = integer->flags() & toml::value_flags::format_as_hexadecimal;
  if (base == toml::value_flags::format_as_hexadecimal) return "a hexadecimal";
  if (base == toml::value_flags::format_as_octal) return "an octal";
  if (base == toml::value_flags::format_as_binary) return "a binary";
  return "";
}

Status check_decimal(const std::filesystem::path& path, const std::string& name, const toml::node& node) {
  const std::string base = integer_base(node);
  if (base.empty()) return ok_status();
  return make_error(ErrorKind::invalid_argument, at(path, node.source()) + ": '" + name + "': " + base +
                                                     " integer: write numbers in decimal, as on the command line");
}

// One TOML value as the string CLI11 would have read on the command line;
// nullopt: the value has the wrong type. A float comes with its source text
// (float_source) when it has one.
std::optional<std::string> as_argument(const toml::node& node, Kind kind, std::string_view source = {}) {
  switch (kind) {
    case Kind::flag:
      if (auto value = node.value_exact<bool>()) return *value ? "true" : "false";
      return std::nullopt;
    case Kind::integer:
      if (auto value = node.value_exact<std::int64_t>()) return std::to_string(*value);
      return std::nullopt;
    case Kind::unsigned_integer:
      if (auto value = node.value_exact<std::int64_t>()) return std::to_string(*value);
      if (auto value = node.value_exact<std::string>(); value && !fits_toml_integer(*value) && is_uint64(*value))
        return *value;  // what to_toml writes for a value past int64
      return std::nullopt;
    case Kind::number:
      if (auto value = node.value_exact<std::int64_t>()) return std::to_string(*value);
      if (auto value = node.value_exact<double>()) {
        std::string written = float_source(source, node.source());
        return written.empty() ? fmt::format("{}", *value) : written;  // else: the shortest exact form
      }
      return std::nullopt;
    case Kind::text:
      if (auto value = node.value_exact<std::string>()) return *value;
      return std::nullopt;
  }
  return std::nullopt;
}

// A string CLI11 holds (a default or a parsed result) as a TOML value.
std::string to_toml(const std::string& text, Kind kind) {
  std::ostringstream out;
  switch (kind) {
    case Kind::flag: {
      const bool on = text == "true" || text == "1" || text == "on" || text == "yes";
      out << toml::value<bool>(on);
      return out.str();
    }
    case Kind::integer:
    case Kind::unsigned_integer: {
      std::int64_t value = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec == std::errc() && end == text.data() + text.size()) {
        out << toml::value<std::int64_t>(value);
        return out.str();
      }
      break;  // not representable as a TOML integer (a UINT past 2^63-1): a string, which as_argument reads back
    }
    case Kind::number: {
      double value = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec == std::errc() && end == text.data() + text.size()) {
        // The shortest text that reads back as the same double (toml++ would
        // print 17 digits: 0.050000000000000003), made a TOML float.
        std::string shortest = fmt::format("{}", value);
        if (shortest.find_first_of(".en") == std::string::npos) shortest += ".0";
        return shortest;
      }
      break;
    }
    case Kind::text: break;
  }
  out << toml::value<std::string>(text);
  return out.str();
}

std::string got(const toml::node& node) {
  std::ostringstream out;
  out << node.type();
  return ", got " + out.str();
}

std::string one_line(std::string text) {
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}

}  // namespace

void add_config_options(CLI::App& app, ConfigFlags& flags) {
  app.add_option("--config", flags.path,
                 "Read flags from this TOML file (keys are the long flag names; command-line flags win; "
                 "docs/cli.md)")
      ->type_name("FILE")
      ->check(non_empty_path_check("no config file"));
  app.add_flag("--print-config", flags.print,
               "Print the effective configuration (file + flags + defaults) as TOML for --config, and exit");
  // A required option may come from the file: CLI11 must not refuse its
  // absence on the command line; check_required does it after the file.
  // Options already there say so in --help; later ones are relaxed just
  // before parsing.
  for (CLI::Option* option : app.get_options()) {
    if (option->get_required() && !is_meta_option(option)) {
      option->description(option->get_description() + " (required: here or as " + option->get_lnames().front() +
                          " in --config)");
      option->required(false);
      flags.required->push_back(option);
    }
  }
  app.preparse_callback([&app, required = flags.required](std::size_t) {
    for (CLI::Option* option : app.get_options()) {
      if (option->get_required() && !is_meta_option(option)) {
        required->push_back(option);
        option->required(false);
      }
    }
  });
}

Status apply_config_file(CLI::App& app, const std::filesystem::path& path) {
  // toml++ reads a directory as an empty file (every key silently missing)
  // and /dev/zero forever.
  if (std::error_code ec; std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    return make_error(ErrorKind::invalid_argument, path.string() + ": cannot read the config file (not a regular file)");
  // Read once and parsed from memory: floats are read again from this text.
  std::string source;
  if (std::ifstream in(path, std::ios::binary); in) {
    source.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) return make_error(ErrorKind::io, path.string() + ": cannot read the config file (read failed)");
  } else {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
      return make_error(ErrorKind::io, path.string() + ": cannot read the config file (no such file)");
    return make_error(ErrorKind::io, path.string() + ": cannot read the config file (cannot open it)");
  }
  toml::table root;
  try {
    root = toml::parse(source, path.string());
  } catch (const toml::parse_error& error) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
      return make_error(ErrorKind::io, path.string() + ": cannot read the config file (no such file)");
    return make_error(ErrorKind::invalid_argument,
                      at(path, error.source()) + ": " + std::string(error.description()));
  }
  for (auto& [key, node] : root) {
    const std::string name(key.str());
    if (node.is_table() || node.is_array_of_tables()) {
      return make_error(ErrorKind::invalid_argument,
                        at(path, key.source()) + ": sections are not used: write every key at the top level ('" +
                            name + "' is a table)");
    }
    CLI::Option* option = find_option(app, name);
    if (option == nullptr) {
      return make_error(ErrorKind::invalid_argument,
                        at(path, key.source()) + ": unknown key " + quoted_text(name) + " (the keys are `" + app.get_name() +
                            "`'s long flag names without dashes; see --help)");
    }
    if (option->count() > 0) continue;  // given on the command line: that wins

    const Kind kind = kind_of(option);
    std::vector<std::string> arguments;
    if (is_list(option)) {
      const toml::array* array = node.as_array();
      if (array == nullptr) {
        return make_error(ErrorKind::invalid_argument, at(path, node.source()) + ": '" + name +
                                                           "' wants an array of " + kind_plural(kind) + ", e.g. " +
                                                           name + " = [...]" + got(node));
      }
      for (const toml::node& item : *array) {
        if (Status decimal = check_decimal(path, name, item); !decimal) return decimal.error();
        auto argument = as_argument(item, kind, source);
        if (!argument) {
          return make_error(ErrorKind::invalid_argument,
                            at(path, item.source()) + ": '" + name + "' wants an array of " + kind_plural(kind) + got(item));
        }
        arguments.push_back(std::move(*argument));
      }
      if (arguments.empty()) continue;  // [] : as if not given
    } else {
      if (Status decimal = check_decimal(path, name, node); !decimal) return decimal.error();
      auto argument = as_argument(node, kind, source);
      if (!argument) {
        return make_error(ErrorKind::invalid_argument,
                          at(path, node.source()) + ": '" + name + "' wants " + kind_name(kind) + got(node));
      }
      arguments.push_back(std::move(*argument));
    }
    // No shell reads a config file: "~/x" was taken as a folder named "~"
    // in the working directory (a new identity, no checkpoint, when started
    // from elsewhere, as systemd starts services from /).
    for (const std::string& argument : arguments) {
      if (kind == Kind::text && (argument == "~" || argument.rfind("~/", 0) == 0)) {
        return make_error(ErrorKind::invalid_argument,
                          at(path, node.source()) + ": '" + name + "': " + quoted_text(argument) +
                              ": '~' is not expanded in a config file (no shell reads it): write the whole path");
      }
    }
    if (kind == Kind::number) {
      // The command line's check, here too: the unit tests and embedders
      // build apps without check_numbers, and a float must not turn into 0.
      for (std::string& argument : arguments) {
        if (std::string why = check_float_text(argument); !why.empty())
          return make_error(ErrorKind::invalid_argument, at(path, node.source()) + ": '" + name + "': " + why);
      }
    }
    try {
      option->add_result(arguments);
      option->run_callback();  // converts and runs the option's checks, as for a flag
    } catch (const CLI::Error& error) {
      option->clear();
      return make_error(ErrorKind::invalid_argument, at(path, node.source()) + ": '" + name + "': " + error.what());
    }
  }
  return Ok{};
}

Status check_required(const ConfigFlags& flags) {
  for (const CLI::Option* option : *flags.required) {
    if (option->count() == 0) {
      const std::string& name = option->get_lnames().front();
      return make_error(ErrorKind::invalid_argument, "--" + name + " is required: give it on the command line or as " +
                                                         name + " = ... in the --config file");
    }
  }
  return Ok{};
}

std::string effective_config_toml(const CLI::App& app, const std::string& title) {
  std::string out = "# " + title + "\n";
  out += "# Keys are the long flag names; flags on the command line override this file.\n";
  for (const CLI::Option* option : app.get_options()) {
    if (is_meta_option(option)) continue;
    const std::string& name = option->get_lnames().front();
    const Kind kind = kind_of(option);
    std::vector<std::string> values = option->results();
    if (option->count() == 0) {
      values.clear();
      if (!option->get_default_str().empty()) values.push_back(option->get_default_str());
      else if (kind == Kind::flag) values.push_back("false");
    }
    out += "\n# " + one_line(option->get_description()) + "\n";
    if (is_list(option)) {
      if (values.empty()) {
        out += "# " + name + " = [" + to_toml(option->get_type_name(), Kind::text) + "]\n";
        continue;
      }
      std::string items;
      for (const auto& value : values) items += (items.empty() ? "" : ", ") + to_toml(value, kind);
      out += name + " = [" + items + "]\n";
    } else if (values.empty()) {
      out += "# " + name + " = " + to_toml(option->get_type_name(), Kind::text) + "\n";
    } else {
      out += name + " = " + to_toml(values.back(), kind) + "\n";
    }
  }
  return out;
}

std::optional<int> finish_config(CLI::App& app, const ConfigFlags& flags, const std::string& command,
                                 const std::function<Status()>& check) {
  const auto fail = [&](const Error& error) {
    print_error(command, error.message);
    return 1;
  };
  if (!flags.path.empty()) {
    if (Status applied = apply_config_file(app, flags.path); !applied) return fail(applied.error());
  }
  if (flags.print) {
    std::fputs(effective_config_toml(app, command + " configuration").c_str(), stdout);
    if (check) {
      std::fflush(stdout);
      if (Status checked = check(); !checked) {
        print_error(command, checked.error().message);
        return checked.error().kind == ErrorKind::invalid_argument ? 2 : 1;  // as the command would exit
      }
    }
    return 0;
  }
  if (Status required = check_required(flags); !required) return fail(required.error());
  return std::nullopt;
}

}  // namespace starling::apps
