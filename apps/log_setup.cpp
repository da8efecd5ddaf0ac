// `starling peer`'s log. See log_setup.h.
#include "log_setup.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <ctime>

#include "starling/text.h"


namespace starling::apps {
namespace {

// The event name and fields of the node line being logged on this thread.
// spdlog formats synchronously in the logging thread (no async logger here),
// so log_event hands them to the json formatter this way instead of through
// the message text.
struct EventContext {
  std::string_view event;
  const node::LogFields* fields = nullptr;
};
thread_local const EventContext* current_event = nullptr;

std::string iso8601_utc(std::chrono::system_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
  const std::time_t whole = static_cast<std::time_t>(seconds.count());
  std::tm utc{};
  gmtime_r(&whole, &utc);
  char text[40];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  return std::string(text, n) + "." + std::to_string(1000 + ms).substr(1) + "Z";
}

class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(std::string node) : node_(std::move(node)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    static const node::LogFields none;
    const EventContext* context = current_event;
    const auto level = spdlog::level::to_string_view(msg.level);
    const std::string line =
        json_log_line(msg.time, std::string_view(level.data(), level.size()), node_,
                      context ? context->event : std::string_view("peer"),
                      std::string_view(msg.payload.data(), msg.payload.size()),
                      context && context->fields ? *context->fields : none);
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(node_); }

 private:
  std::string node_;
};

constexpr const char* kHumanPattern = "%Y-%m-%dT%H:%M:%S.%eZ %l %v";

// The human pattern, with the line made printable (starling::printable): log
// lines quote paths, config values and what peers sent, and a NUL or an
// escape sequence in one must neither cut the line nor reach the terminal,
// nor may a '\n' in one start a line that looks like ours. Only the final
// line break stays.
class PrintableFormatter final : public spdlog::formatter {
 public:
  PrintableFormatter()
      : inner_(std::make_unique<spdlog::pattern_formatter>(kHumanPattern, spdlog::pattern_time_type::utc, "")) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    spdlog::memory_buf_t line;
    inner_->format(msg, line);
    const std::string safe = printable(std::string_view(line.data(), line.size()));
    dest.append(safe.data(), safe.data() + safe.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<PrintableFormatter>(); }

 private:
  std::unique_ptr<spdlog::formatter> inner_;
};

}  // namespace

void add_log_options(CLI::App& app, LogOptions& options) {
  app.add_option("--log-level", options.level, "Least severe log lines shown: trace | debug | info | warn | error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--log-format", options.format,
                 "human (one readable line per event) | json (one object per line: timestamp, level, node, event, "
                 "message, fields; docs/cli.md)")
      ->check(CLI::IsMember({"human", "json"}))
      ->capture_default_str();
}

std::shared_ptr<spdlog::logger> make_peer_logger(const LogOptions& options) {
  auto logger = std::make_shared<spdlog::logger>("peer", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (options.format == "json") {
    logger->set_formatter(std::make_unique<JsonFormatter>(""));
  } else {
    logger->set_formatter(std::make_unique<PrintableFormatter>());
  }
  // "warn" is spdlog's own short name; from_str also knows the others.
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::trace);  // a line is visible when written (tests, tail -f)
  return logger;
}

void set_log_node(spdlog::logger& logger, const LogOptions& options, const std::string& node_hex) {
  if (options.format == "json") logger.set_formatter(std::make_unique<JsonFormatter>(node_hex));
}

void log_event(spdlog::logger& logger, node::LogLevel level, std::string_view event, const std::string& message,
               const node::LogFields& fields) {
  spdlog::level::level_enum spd = spdlog::level::info;
  switch (level) {
    case node::LogLevel::debug: spd = spdlog::level::debug; break;
    case node::LogLevel::info: spd = spdlog::level::info; break;
    case node::LogLevel::warning: spd = spdlog::level::warn; break;
    case node::LogLevel::error: spd = spdlog::level::err; break;
  }
  const EventContext context{event, &fields};
  current_event = &context;
  logger.log(spd, "{}", message);
  current_event = nullptr;
}

std::string json_log_line(std::chrono::system_clock::time_point time, std::string_view level, std::string_view node,
                          std::string_view event, std::string_view message, const node::LogFields& fields) {
  nlohmann::ordered_json object;  // keys in this order: timestamp first reads best
  object["timestamp"] = iso8601_utc(time);
  object["level"] = level;
  object["node"] = node;
  object["event"] = event;
  object["message"] = message;
  nlohmann::ordered_json details = nlohmann::ordered_json::object();
  for (const auto& [key, value] : fields) details[key] = value;
  object["fields"] = std::move(details);
  // As to_json_text: bytes that are not UTF-8 (an address a member sent)
  // become U+FFFD instead of throwing.
  return object.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace starling::apps
