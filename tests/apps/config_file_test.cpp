// `starling peer --config FILE`, `--print-config` and `starling init`, on the
// real peer command's options (CLI11 app built as main() builds it).
#include <catch2/catch.hpp>

#include <CLI/CLI.hpp>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "config_file.h"
#include "init_command.h"
#include "starling/crypto/keys.h"

using namespace starling;
namespace fs = std::filesystem;

namespace {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "starling-config-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

// `starling peer ARGS...` parsed, not run. `extra` adds options to the peer
// command before parsing, as another engineer's new flag would.
struct ParsedPeer {
  std::unique_ptr<CLI::App> root = std::make_unique<CLI::App>("test");
  apps::Command peer;
};
std::unique_ptr<ParsedPeer> parse_peer(std::vector<std::string> args,
                                       const std::function<void(CLI::App&)>& extra = {}) {
  auto parsed = std::make_unique<ParsedPeer>();
  parsed->peer = apps::add_peer_command(*parsed->root);
  if (extra) extra(*parsed->peer.app);
  args.insert(args.begin(), "peer");
  std::reverse(args.begin(), args.end());  // CLI11 reads a vector from the back
  parsed->root->parse(args);
  return parsed;
}

void write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }
std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}
std::string body(const std::string& config) { return config.substr(config.find('\n') + 1); }  // minus the title

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string config_error(const std::string& text, const fs::path& file) {
  write(file, text);
  auto parsed = parse_peer({"--listen", "127.0.0.1:7000"});
  Status applied = apps::apply_config_file(*parsed->peer.app, file);
  REQUIRE_FALSE(applied.ok());
  return applied.error().message;
}

}  // namespace

TEST_CASE("print-config output read back with --config prints the same configuration", "[apps][config]") {
  TempDir dir;
  auto first = parse_peer({"--listen", "127.0.0.1:7000", "--seed", "10.0.0.1:7946", "--seed", "10.0.0.2:7946",
                           "--lr", "0.05", "--nesterov", "--profile", "wan", "--max-upload", "100000",
                           "--checkpoint-every", "12.5", "--gamma", "1e-7", "--data-dir", "/var/lib/x y/'q'"});
  const std::string printed = apps::effective_config_toml(*first->peer.app, "t");
  // What the file holds, in TOML types:
  CHECK(contains(printed, "\nlisten = '127.0.0.1:7000'\n"));
  CHECK(contains(printed, "\nseed = ['10.0.0.1:7946', '10.0.0.2:7946']\n"));
  CHECK(contains(printed, "\nlr = 0.05\n"));
  CHECK(contains(printed, "\nnesterov = true\n"));
  CHECK(contains(printed, "\nresume = false\n"));
  CHECK(contains(printed, "\nbatch = 64\n"));  // a default
  CHECK(contains(printed, "\nmax-upload = 100000\n"));
  CHECK(contains(printed, "\n# identity = 'FILE'\n"));  // not set, no default: commented out

  write(dir / "peer.toml", printed);
  auto second = parse_peer({"--config", (dir / "peer.toml").string()});
  REQUIRE(apps::apply_config_file(*second->peer.app, dir / "peer.toml").ok());
  CHECK(apps::effective_config_toml(*second->peer.app, "t") == printed);
  // And the file's values reach the option variables (what run_peer reads):
  auto third = parse_peer({}, [](CLI::App&) {});
  REQUIRE(apps::apply_config_file(*third->peer.app, dir / "peer.toml").ok());
  CHECK(third->peer.app->get_option("--lr")->as<double>() == 0.05);
  CHECK(third->peer.app->get_option("--seed")->as<std::vector<std::string>>().size() == 2);
}

TEST_CASE("print-config round-trips unsigned values past 2^63-1 and floats to the bit", "[apps][config]") {
  // A TOML integer holds at most 2^63-1: 2^64-1 was printed as a string that
  // --config then refused ('random-seed' wants an integer, got string).
  TempDir dir;
  auto first = parse_peer({"--listen", "127.0.0.1:7000", "--random-seed", "18446744073709551615", "--max-upload",
                           "9223372036854775808", "--lr", "0.30000000000000004", "--gamma", "1e-310"});
  const std::string printed = apps::effective_config_toml(*first->peer.app, "t");
  CHECK(contains(printed, "\nrandom-seed = '18446744073709551615'\n"));
  CHECK(contains(printed, "\nmax-upload = '9223372036854775808'\n"));
  CHECK(contains(printed, "\nlr = 0.30000000000000004\n"));
  write(dir / "peer.toml", printed);
  auto second = parse_peer({});
  REQUIRE(apps::apply_config_file(*second->peer.app, dir / "peer.toml").ok());
  CHECK(apps::effective_config_toml(*second->peer.app, "t") == printed);
  CHECK(second->peer.app->get_option("--random-seed")->as<std::uint64_t>() == 18446744073709551615ull);
  CHECK(second->peer.app->get_option("--max-upload")->as<std::uint64_t>() == 9223372036854775808ull);
  CHECK(second->peer.app->get_option("--lr")->as<double>() == 0.1 + 0.2);
  CHECK(second->peer.app->get_option("--gamma")->as<double>() == 1e-310);
}

TEST_CASE("a float that underflows to 0 or overflows in the file is refused, not read as 0 or inf", "[apps][config]") {
  // toml++ reads 1e-400 as 0.0 without a word: the peer ran with lr 0 and
  // never learned, where --lr 1e-400 is refused. The value's own text is read
  // again and checked as on the command line.
  TempDir dir;
  const fs::path file = dir / "bad.toml";
  const std::string at = file.string() + ":";
  CHECK(contains(config_error("\nlr = 1e-400\n", file), at + "2: 'lr': '1e-400' is out of range"));
  CHECK(contains(config_error("lr = -1.5e-400 # a comment, é\n", file), at + "1: 'lr': '-1.5e-400' is out of range"));
  CHECK(contains(config_error("momentum = 1e400\n", file), at + "1: "));  // toml++ refuses this one itself
  CHECK(contains(config_error("gamma = 1_0e-40_0\n", file), at + "1: 'gamma': '10e-400' is out of range"));
  CHECK(contains(config_error("lr = inf\n", file), at + "1: 'lr': 'inf' is not a finite number"));
  // What fits a double still reads as written, subnormals and separators too.
  write(dir / "ok.toml", "lr = 1_000.5\ngamma = 1e-310\nmomentum = +0.0\n");
  auto parsed = parse_peer({});
  REQUIRE(apps::apply_config_file(*parsed->peer.app, dir / "ok.toml").ok());
  CHECK(parsed->peer.app->get_option("--lr")->as<double>() == 1000.5);
  CHECK(parsed->peer.app->get_option("--gamma")->as<double>() == 1e-310);
  CHECK(parsed->peer.app->get_option("--momentum")->as<double>() == 0.0);
}

TEST_CASE("a hexadecimal, octal or binary integer in the file is refused, as on the command line", "[apps][config]") {
  // `batch = 0o10` ran with batch 8 and `lr = 0x10` with lr 16, where `--lr
  // 0x10` is refused: the file takes numbers in decimal, as the flags do.
  TempDir dir;
  const fs::path file = dir / "bad.toml";
  const std::string at = file.string() + ":";
  CHECK(contains(config_error("lr = 0x10\n", file), at + "1: 'lr': a hexadecimal integer: write numbers in decimal"));
  CHECK(contains(config_error("\nbatch = 0o10\n", file), at + "2: 'batch': an octal integer"));
  CHECK(contains(config_error("max-upload = 0b11\n", file), at + "1: 'max-upload': a binary integer"));
  CHECK(contains(config_error("random-seed = 0xFF\n", file), at + "1: 'random-seed': a hexadecimal integer"));
  // TOML's digit separators are decimal: still read as written.
  write(dir / "ok.toml", "batch = 1_024\nmax-upload = +1_000_000\n");
  auto parsed = parse_peer({});
  REQUIRE(apps::apply_config_file(*parsed->peer.app, dir / "ok.toml").ok());
  CHECK(parsed->peer.app->get_option("--batch")->as<int>() == 1024);
  CHECK(parsed->peer.app->get_option("--max-upload")->as<std::uint64_t>() == 1000000);
}

TEST_CASE("a string stands for an unsigned integer only where a TOML integer cannot", "[apps][config]") {
  TempDir dir;
  const fs::path file = dir / "bad.toml";
  CHECK(contains(config_error("random-seed = '12'\n", file),
                 ":1: 'random-seed' wants an integer (above 9223372036854775807: a string of digits), got string"));
  CHECK(contains(config_error("random-seed = '18446744073709551616'\n", file), "'random-seed' wants an integer"));
  CHECK(contains(config_error("batch = '9223372036854775808'\n", file), "'batch' wants an integer, got string"));
}

TEST_CASE("flags on the command line override the config file", "[apps][config]") {
  TempDir dir;
  write(dir / "peer.toml", "listen = '127.0.0.1:7000'\nlr = 0.5\nbatch = 32\nseed = ['10.0.0.1:1']\n");
  auto parsed = parse_peer({"--lr", "0.1", "--seed", "10.0.0.9:9"});
  REQUIRE(apps::apply_config_file(*parsed->peer.app, dir / "peer.toml").ok());
  const std::string printed = apps::effective_config_toml(*parsed->peer.app, "t");
  CHECK(contains(printed, "\nlr = 0.1\n"));
  CHECK(contains(printed, "\nbatch = 32\n"));
  CHECK(contains(printed, "\nseed = ['10.0.0.9:9']\n"));
  CHECK(contains(printed, "\nlisten = '127.0.0.1:7000'\n"));
}

TEST_CASE("config errors name FILE:LINE", "[apps][config]") {
  TempDir dir;
  const fs::path file = dir / "bad.toml";
  const std::string at = file.string() + ":";
  std::string message = config_error("lr = 0.1\n\nbatchz = 3\n", file);
  CHECK(contains(message, at + "3: unknown key 'batchz'"));
  message = config_error("lr = 0.1\nbatch = \"64\"\n", file);
  CHECK(contains(message, at + "2: 'batch' wants an integer, got string"));
  message = config_error("lr = 'fast'\n", file);
  CHECK(contains(message, at + "1: 'lr' wants a number"));
  message = config_error("\nnesterov = 1\n", file);
  CHECK(contains(message, at + "2: 'nesterov' wants a boolean"));
  message = config_error("seed = '10.0.0.1:1'\n", file);
  CHECK(contains(message, at + "1: 'seed' wants an array"));
  message = config_error("seed = ['10.0.0.1:1', 7]\n", file);
  CHECK(contains(message, at + "1: 'seed' wants an array of strings"));
  message = config_error("\n\nthreads = 1000\n", file);  // the option's own range check
  CHECK(contains(message, at + "3: 'threads'"));
  message = config_error("profile = 'moon'\n", file);
  CHECK(contains(message, at + "1: 'profile'"));
  message = config_error("[swarm]\nkey = 1\n", file);
  CHECK(contains(message, at + "1: sections are not used"));
  message = config_error("lr = 0.1\nbatch = \n", file);  // TOML syntax
  CHECK(contains(message, at + "2: "));
  message = config_error("config = 'other.toml'\n", file);  // not a key: --config itself
  CHECK(contains(message, at + "1: unknown key 'config'"));
}

TEST_CASE("a required flag may come from the file, missing everywhere it is an error", "[apps][config]") {
  TempDir dir;
  CLI::App app;
  std::string listen;
  app.add_option("--listen", listen, "where")->required();
  apps::ConfigFlags flags;
  apps::add_config_options(app, flags);
  std::vector<std::string> none;
  REQUIRE_NOTHROW(app.parse(none));  // CLI11 no longer insists on the command line
  Status missing = apps::check_required(flags);
  REQUIRE_FALSE(missing.ok());
  CHECK(contains(missing.error().message, "--listen is required"));
  write(dir / "peer.toml", "listen = '127.0.0.1:7000'\n");
  REQUIRE(apps::apply_config_file(app, dir / "peer.toml").ok());
  CHECK(apps::check_required(flags).ok());
  CHECK(listen == "127.0.0.1:7000");

  // The peer command itself: no --listen anywhere stops before starting.
  auto parsed = parse_peer({"--lr", "0.1"});
  CHECK(parsed->peer.run() == 1);
}

TEST_CASE("a flag added to the peer command later is a config key without more code", "[apps][config]") {
  TempDir dir;
  std::string endpoint;
  bool quiet_hours = false;
  std::vector<int> ports;
  const auto extra = [&](CLI::App& app) {
    app.add_option("--test-endpoint", endpoint, "An address")->type_name("HOST:PORT");
    app.add_flag("--test-quiet-hours", quiet_hours, "A switch");
    app.add_option("--test-port", ports, "Numbers, repeatable");
  };
  write(dir / "peer.toml",
        "listen = '127.0.0.1:7000'\ntest-endpoint = '127.0.0.1:9100'\ntest-quiet-hours = true\ntest-port = [1, 2]\n");
  auto parsed = parse_peer({}, extra);
  REQUIRE(apps::apply_config_file(*parsed->peer.app, dir / "peer.toml").ok());
  CHECK(endpoint == "127.0.0.1:9100");
  CHECK(quiet_hours);
  CHECK(ports == std::vector<int>{1, 2});
  const std::string printed = apps::effective_config_toml(*parsed->peer.app, "t");
  CHECK(contains(printed, "\ntest-endpoint = '127.0.0.1:9100'\n"));
  CHECK(contains(printed, "\ntest-quiet-hours = true\n"));
  CHECK(contains(printed, "\ntest-port = [1, 2]\n"));
  // The peer's own later flags (metrics, outbound-only) are keys the same way.
  write(dir / "real.toml", "listen = '127.0.0.1:7000'\nmetrics = '127.0.0.1:9464'\noutbound-only = true\n");
  auto real = parse_peer({});
  REQUIRE(apps::apply_config_file(*real->peer.app, dir / "real.toml").ok());
  const std::string real_printed = apps::effective_config_toml(*real->peer.app, "t");
  CHECK(contains(real_printed, "\nmetrics = '127.0.0.1:9464'\n"));
  CHECK(contains(real_printed, "\noutbound-only = true\n"));
  write(dir / "bad.toml", "test-port = ['x']\n");
  auto bad = parse_peer({}, extra);
  Status refused = apps::apply_config_file(*bad->peer.app, dir / "bad.toml");
  REQUIRE_FALSE(refused.ok());
  CHECK(contains(refused.error().message, "bad.toml:1: 'test-port' wants an array of integers"));
}

TEST_CASE("starling init writes a config --config accepts, a swarm key and an identity", "[apps][config][init]") {
  TempDir dir;
  apps::InitOptions options;
  options.dir = dir / "machine";
  options.listen = "127.0.0.1:7946";
  options.seeds = {"10.0.0.1:7946"};
  auto done = apps::init_machine(options);
  REQUIRE(done.ok());
  const apps::InitPaths& paths = done->paths;
  for (const fs::path& file : {paths.config, paths.swarm_key, paths.identity}) {
    INFO(file);
    REQUIRE(fs::exists(file));
    CHECK((fs::status(file).permissions() & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);
  }
  CHECK(crypto::SwarmKey::load(paths.swarm_key).ok());
  auto identity = crypto::Identity::load(paths.identity);
  REQUIRE(identity.ok());
  CHECK(identity->node_id().to_hex() == done->node_id);

  const std::string written = read(paths.config);
  CHECK(contains(written, "\nswarm-key = '" + paths.swarm_key.string() + "'\n"));
  CHECK(contains(written, "\nseed = ['10.0.0.1:7946']\n"));
  auto parsed = parse_peer({"--config", paths.config.string()});
  REQUIRE(apps::apply_config_file(*parsed->peer.app, paths.config).ok());
  CHECK(body(apps::effective_config_toml(*parsed->peer.app, "t")) == body(written));

  // A second init into the same folder refuses and changes nothing.
  const std::string key_before = read(paths.swarm_key);
  auto again = apps::init_machine(options);
  REQUIRE_FALSE(again.ok());
  CHECK(contains(again.error().message, "exists: init never overwrites"));
  CHECK(read(paths.swarm_key) == key_before);
  CHECK(read(paths.config) == written);
}

TEST_CASE("starling init leaves nothing behind when it refuses", "[apps][config][init]") {
  TempDir dir;
  fs::create_directories(dir / "m");
  write(dir / "m" / "identity.key", "someone's identity");
  apps::InitOptions options;
  options.dir = dir / "m";
  REQUIRE_FALSE(apps::init_machine(options).ok());
  CHECK_FALSE(fs::exists(dir / "m" / "swarm.key"));
  CHECK_FALSE(fs::exists(dir / "m" / "starling.toml"));
  CHECK(read(dir / "m" / "identity.key") == "someone's identity");

  options.dir = dir / "new";
  options.listen = "not-an-address";
  REQUIRE_FALSE(apps::init_machine(options).ok());
  CHECK_FALSE(fs::exists(dir / "new"));
}

TEST_CASE("starling init \"\" is refused with a message, not a filesystem exception", "[apps][config][init]") {
  apps::InitOptions options;
  options.dir = "";
  // fs::absolute("") threw "filesystem error: cannot make absolute path".
  auto done = apps::init_machine(options);
  REQUIRE_FALSE(done.ok());
  CHECK(done.error().kind == ErrorKind::invalid_argument);
  CHECK(done.error().message == "DIR is empty: name the folder to write into");
}
