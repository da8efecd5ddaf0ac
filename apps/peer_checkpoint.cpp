#include "peer_checkpoint.h"

#include <filesystem>

namespace starling::apps {

bool written_by_a_peer(const ml::Checkpoint& checkpoint) { return checkpoint.metadata.count("compress") > 0; }

Status check_peer_checkpoint_target(const std::string& path, bool resume, std::string& notice) {
  notice.clear();
  // A directory, a device, an unwritable folder, a file that is no checkpoint.
  if (Status writable = ml::check_checkpoint_target(path); !writable) {
    return make_error(writable.error().kind, "the peer's checkpoint file: " + writable.error().message +
                                                 " (--data-dir names the folder it is in)");
  }
  std::error_code ec;
  if (resume || !std::filesystem::exists(path, ec) || std::filesystem::file_size(path, ec) == 0) return ok_status();
  auto earlier = ml::load_checkpoint(path);
  if (!earlier && earlier.error().kind == ErrorKind::unsupported) {
    // A newer starling's checkpoint (a rolled-back upgrade): replacing it
    // would lose it to a format it cannot go back to.
    return make_error(ErrorKind::invalid_argument, earlier.error().message +
                                                  ": this peer would replace it; run the starling that wrote it, or "
                                                  "move it out of --data-dir");
  }
  if (!earlier) {
    // Damaged: nothing a run can continue, but say what goes.
    notice = earlier.error().message + "; this run replaces it at its first checkpoint";
    return ok_status();
  }
  if (!written_by_a_peer(*earlier)) {
    return make_error(ErrorKind::invalid_argument,
                      path + " holds a checkpoint `starling train` wrote (model " + earlier->spec.to_string() +
                          ", step " + std::to_string(earlier->step) + "), and this peer would replace it: pass "
                          "--resume to start the peer from it, or move it out of --data-dir");
  }
  notice = path + " holds this peer's checkpoint of an earlier run (step " + std::to_string(earlier->step) +
           "); without --resume this run starts from the swarm's model (or its own) and replaces it";
  return ok_status();
}

RunLayout peer_run_layout(const TrainingOptions& options, const ml::ShardSpec& shard, const ml::Partition& partition,
                          int batch, std::size_t shard_samples) {
  RunLayout run{batch, std::to_string(shard.index) + "/" + std::to_string(shard.count), partition.to_string(),
                options.seed, shard_samples};
  run.seed_flag = "--random-seed";
  run.start_over = "drop --resume to start a new run that replaces";
  return run;
}

Status check_peer_resume(const std::string& path, const ml::Checkpoint& checkpoint, const ml::Mlp& model,
                         const ml::OptimizerConfig& optimizer, const RunLayout& run,
                         std::vector<std::string>& unrecorded) {
  const auto refuse = [&](const std::string& theirs, const std::string& ours) {
    return make_error(ErrorKind::invalid_argument,
                      "--resume: checkpoint " + path + " holds " + theirs + "; this run has " + ours +
                          ": resume with the checkpoint's, or drop --resume (the peer then starts from the swarm's "
                          "model, or its own, and replaces it)");
  };
  if (auto differs = resume_difference(checkpoint, model, optimizer))
    return refuse(differs->first, differs->second);
  return check_resume_layout(path, checkpoint.metadata, run, unrecorded);
}

}  // namespace starling::apps
