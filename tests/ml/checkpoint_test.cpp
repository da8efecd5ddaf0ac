// Checkpoints: exact round trip, and a clear error for every kind of damage.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "starling/ml/checkpoint.h"
#include "../common/temp_dir.h"

using namespace starling;
using namespace starling::ml;
namespace fs = std::filesystem;
using starling::testing::TempDir;

namespace {

Checkpoint sample() {
  Checkpoint c;
  c.spec = *ModelSpec::parse("mlp:4");
  c.inputs = 3;
  c.classes = 2;
  Mlp model(c.spec, c.inputs, c.classes);
  model.initialize(3);
  c.parameters = model.parameters();
  c.optimizer.kind = OptimizerConfig::Kind::adam;
  c.optimizer_state = {Eigen::VectorXf::Random(c.parameters.size()), Eigen::VectorXf::Random(c.parameters.size())};
  c.optimizer_steps = 11;
  c.step = 11;
  c.samples = 704;
  c.epoch = 1.5;
  c.data_mean = 0.25f;
  c.data_std = 0.5f;
  c.metadata = {{"data", "fashion-mnist"}};
  return c;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void write_all(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

}  // namespace

TEST_CASE("checkpoint round trip is exact") {
  TempDir dir;
  const auto path = (dir.path / "a.ckpt").string();
  const Checkpoint saved = sample();
  REQUIRE(save_checkpoint(path, saved).ok());
  auto loaded = load_checkpoint(path);
  REQUIRE(loaded.ok());
  CHECK(loaded->parameters == saved.parameters);
  REQUIRE(loaded->optimizer_state.size() == 2);
  CHECK(loaded->optimizer_state[1] == saved.optimizer_state[1]);
  CHECK(loaded->spec.to_string() == "mlp:4");
  CHECK(loaded->optimizer.kind == OptimizerConfig::Kind::adam);
  CHECK(loaded->step == 11);
  CHECK(loaded->samples == 704);
  CHECK(loaded->epoch == 1.5);
  CHECK(loaded->data_std == 0.5f);
  CHECK(loaded->metadata.at("data") == "fashion-mnist");
  // Atomic write leaves no temporary file behind.
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator{}) == 1);
}

TEST_CASE("damaged checkpoints give a clear error, never a silent load") {
  TempDir dir;
  const auto good = dir.path / "good.ckpt";
  REQUIRE(save_checkpoint(good.string(), sample()).ok());
  const std::string bytes = read_all(good);
  const auto bad = dir.path / "bad.ckpt";

  SECTION("missing file") {
    auto r = load_checkpoint((dir.path / "nope.ckpt").string());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::not_found);
  }
  SECTION("every truncation") {
    for (std::size_t cut = 0; cut < bytes.size(); cut += std::max<std::size_t>(1, bytes.size() / 97)) {
      write_all(bad, bytes.substr(0, cut));
      auto r = load_checkpoint(bad.string());
      INFO("cut at " << cut);
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().kind == ErrorKind::corrupt);
    }
  }
  SECTION("a flipped byte anywhere") {
    for (std::size_t at = 0; at < bytes.size(); at += 7) {
      std::string damaged = bytes;
      damaged[at] = char(damaged[at] ^ 0x01);
      write_all(bad, damaged);
      auto r = load_checkpoint(bad.string());
      INFO("flip at " << at);
      REQUIRE_FALSE(r.ok());
      CHECK((r.error().kind == ErrorKind::corrupt || r.error().kind == ErrorKind::unsupported));
    }
  }
  SECTION("trailing bytes") {
    write_all(bad, bytes + "x");
    CHECK(load_checkpoint(bad.string()).error().kind == ErrorKind::corrupt);
  }
  SECTION("a newer format version") {
    std::string newer = bytes;
    newer.replace(newer.find(" 1\n"), 3, " 2\n");
    write_all(bad, newer);
    auto r = load_checkpoint(bad.string());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::unsupported);
  }
  SECTION("not a checkpoint at all") {
    write_all(bad, "hello\nworld\n");
    CHECK(load_checkpoint(bad.string()).error().kind == ErrorKind::corrupt);
  }
}

TEST_CASE("saving into a missing folder is an i/o error") {
  auto r = save_checkpoint("/nonexistent-folder-starling/x.ckpt", sample());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::io);
  CHECK_THAT(r.error().message, Catch::Contains("/nonexistent-folder-starling/x.ckpt"));
}

// The writer and the early check (train --checkpoint, eval --dump-logits)
// refuse the same paths with the same kind: a directory is the user's bad
// argument, whenever it is found.
TEST_CASE("a path that names a directory is an invalid argument, before or at the write") {
  TempDir dir;
  for (const std::string& path : {dir.path.string(), dir.path.string() + "/"}) {
    INFO("path '" << path << "'");
    const Status checked = check_writable_file(path);
    const Status written = write_file_atomically(path, "bytes");
    const Status saved = save_checkpoint(path, sample());
    for (const Status* s : {&checked, &written, &saved}) {
      REQUIRE_FALSE(s->ok());
      CHECK(s->error().kind == ErrorKind::invalid_argument);
      CHECK_THAT(s->error().message, Catch::Contains("cannot write " + path + ": it is a directory"));
    }
  }
  CHECK(fs::is_empty(dir.path));  // no temporary file beside it
  const Status nameless = write_file_atomically("", "bytes");
  REQUIRE_FALSE(nameless.ok());
  CHECK(nameless.error().kind == ErrorKind::invalid_argument);
  CHECK(check_writable_file((dir.path / "a.ckpt").string()).ok());
}

// std::filesystem's throwing forms turned these into an exception out of a
// function that returns a Status (and, in a peer, out of the worker thread).
TEST_CASE("a name too long or a symlink loop is an error, not an exception") {
  TempDir dir;
  fs::create_symlink("loop", dir.path / "loop");
  const std::string too_long = (dir.path / std::string(300, 'x')).string();
  for (const std::string& path : {too_long, too_long + "/a.ckpt", (dir.path / "loop" / "a.ckpt").string()}) {
    INFO("path " << path);
    Status checked = ok_status(), saved = ok_status();
    REQUIRE_NOTHROW(checked = check_writable_file(path));
    REQUIRE_NOTHROW(saved = save_checkpoint(path, sample()));
    for (const Status* s : {&checked, &saved}) {
      REQUIRE_FALSE(s->ok());
      CHECK(s->error().kind == ErrorKind::io);
      CHECK_THAT(s->error().message, Catch::Contains("cannot create " + path));
    }
    Result<Checkpoint> loaded = make_error(ErrorKind::io, "unset");
    REQUIRE_NOTHROW(loaded = load_checkpoint(path));
    CHECK_FALSE(loaded.ok());
  }
}

// Found by fuzz_checkpoint (tests/fuzz/regressions/fuzz_checkpoint): a header
// with a correct checksum (a checksum guards against damage, not crafting)
// announcing a huge model made the loader build that model before looking at
// the payload: an allocation of 10^14 floats, std::bad_alloc, a crash.
TEST_CASE("an atomic write never replaces a FIFO, and writes through a symlink to its file") {
  TempDir dir;
  const fs::path fifo = dir.path / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  for (const Status& status : {write_file_atomically(fifo.string(), "x"), check_writable_file(fifo.string()),
                               save_checkpoint(fifo.string(), sample())}) {
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().kind == ErrorKind::invalid_argument);
    CHECK_THAT(status.error().message, Catch::Contains("not a regular file"));
  }
  CHECK(fs::is_fifo(fs::symlink_status(fifo)));
  // /dev/stdout is a symlink to a pipe or terminal: refused as what it names.
  fs::create_symlink(fifo, dir.path / "to-pipe");
  CHECK_FALSE(write_file_atomically((dir.path / "to-pipe").string(), "x").ok());
  CHECK(fs::is_symlink(fs::symlink_status(dir.path / "to-pipe")));

  // A symlink to a regular file stays a symlink; the file gets the bytes.
  write_all(dir.path / "real", "old");
  fs::create_symlink("real", dir.path / "link");
  REQUIRE(write_file_atomically((dir.path / "link").string(), "new").ok());
  CHECK(fs::is_symlink(fs::symlink_status(dir.path / "link")));
  CHECK(read_all(dir.path / "real") == "new");
  // A link into a folder that does not exist is an error, not a new file
  // where the link was, and the early check says so too (it passed, and the
  // write failed at the first checkpoint, an epoch in).
  fs::create_symlink("nowhere/x", dir.path / "dangling");
  const Status dangling_checked = check_writable_file((dir.path / "dangling").string());
  REQUIRE_FALSE(dangling_checked.ok());
  CHECK_THAT(dangling_checked.error().message, Catch::Contains("no directory"));
  CHECK_FALSE(write_file_atomically((dir.path / "dangling").string(), "x").ok());
  CHECK(fs::is_symlink(fs::symlink_status(dir.path / "dangling")));
  // A link to a file not made yet, in a folder that exists: both the check
  // and the write go through, and the file appears where the link points
  // (the write used to fail resolving it after the check had passed).
  fs::create_directory(dir.path / "elsewhere");
  fs::create_symlink("elsewhere/new.ckpt", dir.path / "ahead");
  CHECK(check_writable_file((dir.path / "ahead").string()).ok());
  REQUIRE(write_file_atomically((dir.path / "ahead").string(), "made").ok());
  CHECK(fs::is_symlink(fs::symlink_status(dir.path / "ahead")));
  CHECK(read_all(dir.path / "elsewhere" / "new.ckpt") == "made");
}

// /dev/stdout is a link to /proc/self/fd/1, whose text ("pipe:[2465206]")
// names no path: followed by its text, a pipe passed for a file not made
// yet, check_checkpoint_target then opened it to read and waited for ever,
// and a write made ".pipe:[...].tmp.PID" in /proc/self/fd.
TEST_CASE("a /proc link to a pipe is refused as what it names and one to a file writes that file") {
  TempDir dir;
  int ends[2];
  REQUIRE(::pipe(ends) == 0);
  const std::string pipe_link = "/proc/self/fd/" + std::to_string(ends[1]);
  fs::create_symlink(pipe_link, dir.path / "to-pipe");
  for (const std::string& path : {pipe_link, (dir.path / "to-pipe").string()}) {
    INFO(path);
    for (const Status& status : {check_writable_file(path), check_checkpoint_target(path),
                                 write_file_atomically(path, "x"), save_checkpoint(path, sample())}) {
      REQUIRE_FALSE(status.ok());
      CHECK(status.error().kind == ErrorKind::invalid_argument);
      CHECK_THAT(status.error().message, Catch::Contains("is not a regular file (a device, FIFO or socket)"));
    }
  }
  ::close(ends[0]);
  ::close(ends[1]);

  const fs::path file = dir.path / "real.ckpt";
  write_all(file, "");
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  const std::string file_link = "/proc/self/fd/" + std::to_string(fd);
  auto target = write_target(file_link);
  REQUIRE(target.ok());
  CHECK(*target == fs::canonical(file));
  CHECK(check_checkpoint_target(file_link).ok());
  REQUIRE(save_checkpoint(file_link, sample()).ok());
  ::close(fd);
  CHECK(load_checkpoint(file.string()).ok());
}

TEST_CASE("an atomic write keeps a private file private") {
  TempDir dir;
  const fs::path file = dir.path / "private.ckpt";
  write_all(file, "old");
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
  REQUIRE(write_file_atomically(file.string(), "new").ok());
  CHECK(read_all(file) == "new");
  CHECK(fs::status(file).permissions() == (fs::perms::owner_read | fs::perms::owner_write));  // was widened to 0644
  REQUIRE(write_file_atomically((dir.path / "fresh").string(), "x").ok());
  CHECK((fs::status(dir.path / "fresh").permissions() & fs::perms::owner_write) != fs::perms::none);
}

TEST_CASE("a checkpoint is never written over a file that is not one, nor over the command's input") {
  TempDir dir;
  const fs::path data = dir.path / "train.csv";
  write_all(data, "1,2,3\n0,3,4\n");
  Status refused = check_checkpoint_target(data.string());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().kind == ErrorKind::invalid_argument);
  CHECK_THAT(refused.error().message, Catch::Contains("not a starling checkpoint"));
  write_all(dir.path / "short", "st");  // shorter than the magic, still not one
  CHECK_FALSE(check_checkpoint_target((dir.path / "short").string()).ok());
  // Absent, empty, or a checkpoint already: fine.
  CHECK(check_checkpoint_target((dir.path / "new.ckpt").string()).ok());
  write_all(dir.path / "empty", "");
  CHECK(check_checkpoint_target((dir.path / "empty").string()).ok());
  REQUIRE(save_checkpoint((dir.path / "a.ckpt").string(), sample()).ok());
  CHECK(check_checkpoint_target((dir.path / "a.ckpt").string()).ok());

  // The same file under another name is still the input.
  const std::string ckpt = (dir.path / "a.ckpt").string();
  const std::string other_name = (dir.path / "." / "a.ckpt").string();
  Status same = check_not_an_input(other_name, {"", data.string(), ckpt});
  REQUIRE_FALSE(same.ok());
  CHECK(same.error().kind == ErrorKind::invalid_argument);
  fs::create_hard_link(ckpt, dir.path / "hard.ckpt");
  CHECK_FALSE(check_not_an_input((dir.path / "hard.ckpt").string(), {ckpt}).ok());
  CHECK(check_not_an_input((dir.path / "out.onnx").string(), {ckpt, data.string()}).ok());
  CHECK(check_not_an_input((dir.path / "b.ckpt").string(), {"missing-input"}).ok());
}

namespace {

// Rewrites the JSON header of the checkpoint at `path` with `edit`, with a
// header checksum that matches (the payload is kept as it is).
template <typename Edit>
void forge_header(const std::string& path, Edit&& edit) {
  std::ifstream in(path, std::ios::binary);
  std::string magic_line, size_line;
  std::getline(in, magic_line);
  std::getline(in, size_line);
  const std::size_t header_bytes = std::stoul(size_line.substr(0, size_line.find(' ')));
  std::string header(header_bytes, '\0');
  in.read(header.data(), std::streamsize(header_bytes));
  const std::string payload((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  auto json = nlohmann::json::parse(header);
  edit(json);
  const std::string forged = json.dump();
  char crc[16];
  std::snprintf(crc, sizeof crc, "%lx", crc32(0L, reinterpret_cast<const Bytef*>(forged.data()), uInt(forged.size())));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << magic_line << '\n' << forged.size() << ' ' << crc << '\n' << forged << payload;
}

}  // namespace

TEST_CASE("a checkpoint announcing a huge model is corrupt, not an allocation") {
  TempDir dir;
  const std::string path = (dir.path / "huge.ckpt").string();
  for (const auto& [inputs, model] : {std::pair{2'000'000'000, "mlp:65536"}, std::pair{100'000, "mlp:65536,65536"}}) {
    REQUIRE(save_checkpoint(path, sample()).ok());
    forge_header(path, [&, inputs = inputs, model = model](nlohmann::json& json) {
      json["inputs"] = inputs;
      json["model"] = model;
    });
    auto loaded = load_checkpoint(path);
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().kind == ErrorKind::corrupt);
  }
}

// A number read into a narrower type was cast unchecked: 1e300 as an int is
// undefined behaviour (fuzz_checkpoint, tests/fuzz/regressions), and 3.5 or
// 2^32 + 3 loaded as 3.
TEST_CASE("a header number that does not fit its field is corrupt, not a cast") {
  TempDir dir;
  const std::string path = (dir.path / "cast.ckpt").string();
  const std::vector<std::pair<const char*, nlohmann::json>> forgeries = {
      {"inputs", 1e300},          {"inputs", 3.5},       {"inputs", 4294967299ull}, {"classes", -1e300},
      {"step", 1e19},             {"samples", "704"},    {"payload_crc32", 3.6e55}, {"payload_crc32", 1ull << 40},
      {"payload_bytes", -8},      {"data_std", 1e300},   {"vectors", 40},           {"vectors", {40.5, 40}},
  };
  for (const auto& [field, value] : forgeries) {
    REQUIRE(save_checkpoint(path, sample()).ok());
    forge_header(path, [&, field = field, value = value](nlohmann::json& json) { json[field] = value; });
    auto loaded = load_checkpoint(path);
    INFO(field << " = " << value.dump());
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().kind == ErrorKind::corrupt);
    CHECK(loaded.error().message.find(field == std::string("vectors") ? "vector" : field) != std::string::npos);
  }
  SECTION("the optimizer's step count too") {
    REQUIRE(save_checkpoint(path, sample()).ok());
    forge_header(path, [](nlohmann::json& json) { json["optimizer"]["steps"] = 1e300; });
    auto loaded = load_checkpoint(path);
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().kind == ErrorKind::corrupt);
  }
}

// A killed writer's ".NAME.tmp.PID" goes; a live process's (another run on
// the same file, between its write and its rename) stays, and so does
// anything that only looks alike.
TEST_CASE("stale temporaries: only those of writers that are gone are removed") {
  TempDir dir;
  const fs::path target = dir.path / "m.ckpt";
  // A pid above the kernel's limit (4,194,304 at most) never runs.
  write_all(dir.path / ".m.ckpt.tmp.999999999", "dead writer");
  write_all(dir.path / (".m.ckpt.tmp." + std::to_string(::getpid())), "live writer");
  write_all(dir.path / ".m.ckpt.tmp.12x", "not ours");
  write_all(dir.path / ".other.ckpt.tmp.999999999", "another file's");
  CHECK(remove_stale_temporaries(target.string()) == 1);
  CHECK_FALSE(fs::exists(dir.path / ".m.ckpt.tmp.999999999"));
  CHECK(fs::exists(dir.path / (".m.ckpt.tmp." + std::to_string(::getpid()))));
  CHECK(fs::exists(dir.path / ".m.ckpt.tmp.12x"));
  CHECK(fs::exists(dir.path / ".other.ckpt.tmp.999999999"));
}
