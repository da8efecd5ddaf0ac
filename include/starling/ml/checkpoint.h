// Checkpoints: model + optimizer state + metadata in one versioned file with
// checksums, written atomically (temp file, fsync, rename, fsync of the folder).
// A truncated or corrupted file is an Error(corrupt), never a crash or a silent
// load. Format (docs/checkpoints.md):
//   line 1: "starling-checkpoint 1"
//   line 2: "<header bytes> <crc32 of header, hex>"
//   header: JSON (model, shapes, optimizer, counters, payload crc32)
//   payload: the flat float32 vectors, little-endian, back to back.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "starling/ml/model.h"
#include "starling/ml/optimizer.h"
#include "starling/status.h"

namespace starling::ml {

struct Checkpoint {
  ModelSpec spec;
  int inputs = 0;
  int classes = 0;
  Eigen::VectorXf parameters;
  OptimizerConfig optimizer;
  std::vector<Eigen::VectorXf> optimizer_state;  // as Optimizer::state()
  std::int64_t optimizer_steps = 0;
  std::int64_t step = 0;          // training steps taken
  std::int64_t samples = 0;       // training samples seen
  double epoch = 0.0;             // fractional epochs completed
  float data_mean = 0.0f;         // feature standardisation used in training
  float data_std = 1.0f;
  std::map<std::string, std::string> metadata;  // free-form (data spec, seed, ...)
};

inline constexpr int kCheckpointVersion = 1;

Status save_checkpoint(const std::string& path, const Checkpoint& checkpoint);
Result<Checkpoint> load_checkpoint(const std::string& path);

// Writes `bytes` to `path` atomically: a reader sees the old file or the new
// one, never a mix, also across a crash. Shared by everything that persists.
// Runs check_writable_file(path) first, so it fails as that does: a path that
// names a directory is invalid_argument; anything the OS refuses is io.
Status write_file_atomically(const std::string& path, const std::string& bytes);

// Where write_file_atomically(path, ...) lands: the file a symlink names
// (written through, so the link stays, however many links lead there), else
// `path`. io for a link loop or a link that cannot be read.
Result<std::filesystem::path> write_target(const std::filesystem::path& path);

// Removes what write_file_atomically(path, ...) leaves beside `path` when its
// process dies inside it (kill -9, a power cut): ".NAME.tmp.PID", one per
// death, each as large as the file. Only those whose writer's pid no longer
// runs go (another run on the same file may be mid-write); a file it cannot
// remove stays. Returns how many went.
std::size_t remove_stale_temporaries(const std::string& path);

// Whether write_file_atomically(path, ...) can work: path names a file (not
// a directory: invalid_argument) in an existing, writable directory (io if
// not). For a check before long work whose result goes there.
Status check_writable_file(const std::string& path);

// check_writable_file, and `path` is free for a checkpoint: absent, empty, or
// a starling checkpoint already. A run pointed by mistake at its data, a key
// or any other file must not overwrite it: invalid_argument names the file.
Status check_checkpoint_target(const std::string& path);

// Whether `output` may be written by a command that reads `inputs`: not if it
// is one of them (the same file by another name, too), or the command would
// destroy what it reads (`export a.ckpt --onnx a.ckpt`). Empty or absent
// inputs are skipped.
Status check_not_an_input(const std::string& output, std::initializer_list<std::string_view> inputs);

}  // namespace starling::ml
