// `starling init DIR`: everything a new machine needs to join a swarm, in one
// folder: a commented config for `starling peer --config`, a swarm key (new,
// or a copy of the swarm's) and a new identity, all mode 0600. Never
// overwrites; on any error it removes what it wrote.
#include "error_output.h"
#include "init_command.h"

#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <system_error>

#include "address_option.h"
#include "commands.h"
#include "config_file.h"
#include "starling/crypto/keys.h"
#include "starling/text.h"

namespace starling::apps {
namespace {

// A path as one shell word, for the command init prints: single quotes
// unless every character is one no shell treats specially.
std::string shell_word(const std::string& text) {
  const bool plain = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || (c != '\0' && std::strchr("/._-+=:,@%", c) != nullptr);
  });
  if (plain) return text;
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool has_control_character(const std::string& text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

namespace fs = std::filesystem;

// Undoes a half-done init: files written so far, and DIR if init made it.
class Rollback {
 public:
  void made_dir(fs::path dir) { dir_ = std::move(dir); }
  void wrote(fs::path file) { files_.push_back(std::move(file)); }
  void commit() {
    files_.clear();
    dir_.clear();
  }
  ~Rollback() {
    std::error_code ec;
    for (const auto& file : files_) fs::remove(file, ec);
    if (!dir_.empty()) fs::remove(dir_, ec);  // only if empty: never someone else's files
  }

 private:
  std::vector<fs::path> files_;
  fs::path dir_;
};

// All of `text` at `path`, or nothing there: written to a private temporary
// file, flushed, then linked to its name (link() fails if the name exists,
// so a race cannot overwrite either). A full disk or a kill mid-write left a
// truncated starling.toml (and a rerun refused: it exists).
Status write_new_file(const fs::path& path, const std::string& text) {
  const auto failed = [&](const char* what, int error) {
    return make_error(ErrorKind::io, std::string("cannot ") + what + " " + path.string() + ": " + std::strerror(error));
  };
  std::string temp = (path.parent_path() / ("." + path.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkstemp(temp.data());  // mode 0600 from the start
  if (fd < 0) return failed("create", errno);
  int error = 0;
  for (std::size_t written = 0; written < text.size() && error == 0;) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n > 0) written += std::size_t(n);
    else if (n < 0 && errno != EINTR) error = errno;
    else if (n == 0) error = EIO;
  }
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && ::link(temp.c_str(), path.c_str()) != 0) {
    const int link_error = errno;
    ::unlink(temp.c_str());
    return failed("create", link_error);
  }
  ::unlink(temp.c_str());
  if (error != 0) return failed("write", error);
  const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);  // the new name itself, durably
    ::close(dir);
  }
  return Ok{};
}

// The config, made by parsing the peer command's own flags: every key the
// peer knows, with its default, and exactly what --config reads back.
Result<std::string> peer_config_text(const InitOptions& options, const InitPaths& paths) {
  CLI::App root;
  Command peer = add_peer_command(root);
  std::vector<std::string> args = {"peer", "--listen", options.listen, "--swarm-key", paths.swarm_key.string(),
                                   "--identity", paths.identity.string(), "--data-dir", paths.dir.string()};
  for (const auto& seed : options.seeds) {
    args.push_back("--seed");
    args.push_back(seed);
  }
  std::reverse(args.begin(), args.end());  // CLI11 reads a vector from the back
  try {
    root.parse(args);
  } catch (const CLI::Error& error) {
    return make_error(ErrorKind::invalid_argument, error.what());
  }
  return effective_config_toml(*peer.app, "starling peer configuration, written by `starling init`; start with: "
                                          "starling peer --config " + shell_word(paths.config.string()));
}

}  // namespace

InitPaths init_paths(const fs::path& dir) {
  InitPaths paths;
  std::error_code ec;  // "" has no absolute form; init_machine refuses it first
  paths.dir = fs::absolute(dir, ec).lexically_normal();
  paths.config = paths.dir / "starling.toml";
  paths.swarm_key = paths.dir / "swarm.key";
  paths.identity = paths.dir / "identity.key";
  return paths;
}

Result<InitReport> init_machine(const InitOptions& options) {
  if (options.dir.empty()) return make_error(ErrorKind::invalid_argument, "DIR is empty: name the folder to write into");
  const InitPaths paths = init_paths(options.dir);
  // The config names the folder's files, and TOML holds UTF-8 text only: the
  // peer could not read back a config written with another encoding's bytes.
  if (!is_valid_utf8(paths.dir.string()))
    return make_error(ErrorKind::invalid_argument,
                      "DIR " + printable(paths.dir.string()) +
                          " is not valid UTF-8: starling.toml (TOML) holds UTF-8 text only; name a folder in UTF-8");
  // The config's first line names its path in a comment, which a newline
  // would end: the rest of the name became a line the peer refused to parse.
  if (has_control_character(paths.dir.string()))
    return make_error(ErrorKind::invalid_argument,
                      "DIR " + printable(paths.dir.string()) +
                          " holds a control character (a newline or tab?): starling.toml names its folder in a "
                          "comment line; name a folder without one");
  // What `starling peer` would refuse at start is refused here, before any file is written.
  auto listen = parse_listen_address(options.listen);
  if (!listen) return make_error(ErrorKind::invalid_argument, "--listen: " + listen.error().message);
  for (const auto& seed : options.seeds) {
    if (auto parsed = parse_seed_address(seed); !parsed)
      return make_error(ErrorKind::invalid_argument, "--seed: " + parsed.error().message);
  }
  std::error_code ec;
  for (const fs::path& file : {paths.config, paths.swarm_key, paths.identity}) {
    if (fs::exists(file, ec) || fs::is_symlink(file, ec)) {
      return make_error(ErrorKind::invalid_argument,
                        file.string() + " exists: init never overwrites (remove it, or choose another DIR)");
    }
  }

  // Everything is made in memory first; the disk sees only finished files.
  crypto::SwarmKey swarm_key = crypto::SwarmKey::generate();
  if (!options.swarm_key.empty()) {
    auto loaded = crypto::SwarmKey::load(options.swarm_key);
    if (!loaded) return make_error(loaded.error().kind, "--swarm-key " + options.swarm_key + ": " + loaded.error().message);
    swarm_key = std::move(*loaded);
  }
  crypto::Identity identity = crypto::Identity::generate();
  auto config = peer_config_text(options, paths);
  if (!config) return config.error();

  Rollback rollback;
  if (!fs::exists(paths.dir, ec)) {
    if (!fs::create_directories(paths.dir, ec) || ec)
      return make_error(ErrorKind::io, "cannot create " + paths.dir.string() + ": " + ec.message());
    rollback.made_dir(paths.dir);
  }
  if (Status saved = swarm_key.save(paths.swarm_key); !saved) return saved.error();
  rollback.wrote(paths.swarm_key);
  if (Status saved = identity.save(paths.identity); !saved) return saved.error();
  rollback.wrote(paths.identity);
  if (Status written = write_new_file(paths.config, *config); !written) return written.error();
  rollback.commit();

  InitReport report;
  report.paths = paths;
  report.node_id = identity.node_id().to_hex();
  report.fingerprint = swarm_key.fingerprint();
  return report;
}

Command add_init_command(CLI::App& root) {
  auto options = std::make_shared<InitOptions>();
  CLI::App* app = root.add_subcommand(
      "init", "Prepare a new machine: DIR/starling.toml (commented peer config), DIR/swarm.key, DIR/identity.key");
  app->add_option("dir", options->dir, "Folder to write into (made if missing; existing files are never replaced)")
      ->required()
      ->type_name("DIR");
  app->add_option("--listen", options->listen, "Address the peer will listen on and advertise: this machine's own, as the others reach it")
      ->type_name("HOST:PORT")
      ->check(listen_address_check())
      ->capture_default_str();
  app->add_option("--seed", options->seeds, "A member of the swarm to join, by numeric IP (repeatable; none: a new swarm)")
      ->type_name("HOST:PORT")
      ->check(seed_address_check());
  app->add_option("--swarm-key", options->swarm_key,
                  "Copy this existing swarm key (to join its swarm) instead of making a new one")
      ->type_name("FILE");
  return Command{app, [options] {
                   auto done = init_machine(*options);
                   if (!done) {
                     print_error("starling init", done.error().message);
                     return 1;
                   }
                   const InitPaths& p = done->paths;
                   std::printf("wrote %s\nwrote %s (mode 0600), fingerprint %s\nwrote %s (mode 0600), node id %s\n",
                               p.config.c_str(), p.swarm_key.c_str(), done->fingerprint.c_str(), p.identity.c_str(),
                               done->node_id.c_str());
                   std::printf("start this machine with:\n  starling peer --config %s\n",
                               shell_word(p.config.string()).c_str());
                   std::printf("give %s only to swarm members, over a secure channel; a new machine joins with:\n"
                               "  starling init DIR --swarm-key swarm.key --seed THIS_HOST:PORT\n",
                               p.swarm_key.c_str());
                   return 0;
                 }};
}

}  // namespace starling::apps
