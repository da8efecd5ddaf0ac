// `starling peer --log-format json|human --log-level`: the line format, and two
// real peers on loopback whose JSON lines carry the membership event names.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <spdlog/sinks/ostream_sink.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "log_setup.h"

using namespace starling;
namespace fs = std::filesystem;

namespace {

// A logger as make_peer_logger makes it, writing into `out` instead of stderr.
std::shared_ptr<spdlog::logger> logger_into(std::ostringstream& out, const apps::LogOptions& options,
                                            const std::string& node) {
  auto logger = apps::make_peer_logger(options);
  logger->sinks().clear();
  logger->sinks().push_back(std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  if (options.format == "human") {
    logger->set_pattern("%l %v");
  }
  apps::set_log_node(*logger, options, node);
  return logger;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("json log lines: one object per line with timestamp, level, node, event, message, fields",
          "[apps][logs]") {
  std::ostringstream out;
  apps::LogOptions options;
  options.format = "json";
  auto logger = logger_into(out, options, "ab12");
  apps::log_event(*logger, node::LogLevel::info, "member.joined", "member joined: x \"quoted\"\n",
                  {{"member", "ff00"}, {"address", "127.0.0.1:1"}});
  apps::log_event(*logger, node::LogLevel::debug, "stream.failed", "hidden at info", {});
  logger->warn("plain {}", "line");
  const auto lines = lines_of(out.str());
  REQUIRE(lines.size() == 2);  // the debug line is below --log-level info

  const auto first = nlohmann::json::parse(lines[0]);
  CHECK(first.at("event") == "member.joined");
  CHECK(first.at("level") == "info");
  CHECK(first.at("node") == "ab12");
  CHECK(first.at("message") == "member joined: x \"quoted\"\n");
  CHECK(first.at("fields").at("member") == "ff00");
  CHECK(first.at("fields").at("address") == "127.0.0.1:1");
  const std::string timestamp = first.at("timestamp");
  CHECK(std::regex_match(timestamp, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));

  const auto second = nlohmann::json::parse(lines[1]);
  CHECK(second.at("event") == "peer");  // not a node event
  CHECK(second.at("level") == "warning");
  CHECK(second.at("message") == "plain line");
  CHECK(second.at("fields").empty());
}

TEST_CASE("human log lines stay the message, --log-level debug shows debug lines", "[apps][logs]") {
  std::ostringstream out;
  apps::LogOptions options;
  options.level = "debug";
  auto logger = logger_into(out, options, "ab12");
  apps::log_event(*logger, node::LogLevel::warning, "link.reset", "link to x broken", {{"peer", "x"}});
  apps::log_event(*logger, node::LogLevel::debug, "stream.failed", "stream to y failed", {});
  CHECK(out.str() == "warning link to x broken\ndebug stream to y failed\n");

  std::ostringstream quiet;
  options.level = "error";
  auto errors_only = logger_into(quiet, options, "ab12");
  apps::log_event(*errors_only, node::LogLevel::warning, "link.reset", "not shown", {});
  CHECK(quiet.str().empty());
}

TEST_CASE("json log line of a timestamp is UTC ISO-8601 with milliseconds", "[apps][logs]") {
  const auto time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764558245007));
  const auto line = nlohmann::json::parse(apps::json_log_line(time, "info", "n", "e", "m", {}));
  CHECK(line.at("timestamp") == "2025-12-01T03:04:05.007Z");
}

namespace {

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// A `starling peer` child with stderr in `log`; killed (-9) if still running
// when the test ends.
class PeerProcess {
 public:
  PeerProcess(const std::vector<std::string>& args, const fs::path& log) {
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(fd, 2);
      std::vector<char*> argv;
      for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~PeerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  // SIGTERM (graceful leave) and wait for the exit, at most 10 s.
  int stop() {
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -2;
  }

 private:
  pid_t pid_ = -1;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Polls `log` (at most `seconds`) for a json line with this event.
bool wait_for_event(const fs::path& log, const std::string& event, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (read_file(log).find("\"event\":\"" + event + "\"") != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace

TEST_CASE("two peers on loopback log member.joined and member.left as json", "[apps][logs][process]") {
  const std::string binary = std::string(STARLING_TEST_BIN_DIR) + "/apps/starling";
  REQUIRE(fs::exists(binary));
  std::string pattern = (fs::temp_directory_path() / "starling-log-test-XXXXXX").string();
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  const fs::path dir = pattern;
  const std::string a_port = std::to_string(free_port());
  const std::string b_port = std::to_string(free_port());
  std::string a_id;
  {
    PeerProcess a({binary, "peer", "--listen", "127.0.0.1:" + a_port, "--data-dir", (dir / "a").string(),
                   "--no-train", "--log-format", "json"},
                  dir / "a.log");
    REQUIRE(wait_for_event(dir / "a.log", "swarm.joined", 10));
    PeerProcess b({binary, "peer", "--listen", "127.0.0.1:" + b_port, "--data-dir", (dir / "b").string(),
                   "--no-train", "--log-format", "json", "--seed", "127.0.0.1:" + a_port},
                  dir / "b.log");
    CHECK(wait_for_event(dir / "a.log", "member.joined", 10));
    CHECK(wait_for_event(dir / "b.log", "swarm.joined", 10));
    CHECK(b.stop() == 0);
    CHECK(wait_for_event(dir / "a.log", "member.left", 10));
    CHECK(a.stop() == 0);
  }
  // Every line of both logs is one JSON object with the five keys; the
  // membership events name the other peer in their fields.
  std::string b_node;
  for (const char* name : {"b.log", "a.log"}) {
    const auto lines = lines_of(read_file(dir / name));
    REQUIRE(lines.size() >= 3);
    for (const auto& line : lines) {
      INFO(name << ": " << line);
      nlohmann::json object;
      REQUIRE_NOTHROW(object = nlohmann::json::parse(line));
      for (const char* key : {"timestamp", "level", "node", "event", "message", "fields"}) CHECK(object.contains(key));
      if (std::string(name) == "b.log" && !object.at("node").get<std::string>().empty())
        b_node = object.at("node");
      if (std::string(name) == "a.log" && (object.at("event") == "member.joined" || object.at("event") == "member.left")) {
        CHECK(object.at("fields").at("address") == "127.0.0.1:" + b_port);
        CHECK(object.at("fields").at("member") == b_node);
      }
    }
  }
  CHECK(b_node.size() == 64);
  std::error_code ignored;
  fs::remove_all(dir, ignored);
}
