#include "train_checkpoint.h"

#include <filesystem>

namespace starling::apps {
namespace {

// The metadata keys, the option each comes from, and how to show a value.
struct LayoutField {
  const char* key;
  std::string (*shown)(const std::string& value);
};

std::string flag(const char* name, const std::string& value) { return std::string(name) + " " + value; }

const LayoutField kLayoutFields[] = {
    {"batch", [](const std::string& v) { return flag("--batch", v); }},
    {"shard", [](const std::string& v) { return flag("--shard", v); }},
    {"partition", [](const std::string& v) { return flag("--partition", v); }},
    {"seed", [](const std::string& v) { return flag("--seed", v); }},
    {"shard_samples", [](const std::string& v) { return v + " training samples"; }},
};

std::string joined(const std::vector<std::string>& parts) {
  std::string text;
  for (const auto& part : parts) text += (text.empty() ? "" : ", ") + part;
  return text;
}

}  // namespace

Status check_checkpoint_overwrite(const std::string& path, bool resume, bool force) {
  namespace fs = std::filesystem;
  if (resume || force) return ok_status();
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) return ok_status();
  if (fs::is_regular_file(status) && fs::file_size(path, ec) == 0 && !ec) return ok_status();  // nothing to lose
  return make_error(ErrorKind::invalid_argument,
                    "--checkpoint " + path + " already exists (an earlier run's checkpoint): pass --resume to "
                    "continue that run, or --force to replace it with this one");
}

std::map<std::string, std::string> run_metadata(const RunLayout& run) {
  return {{"batch", std::to_string(run.batch)},
          {"shard", run.shard},
          {"partition", run.partition},
          {"seed", std::to_string(run.seed)},
          {"shard_samples", std::to_string(run.shard_samples)}};
}

Status check_resume_layout(const std::string& path, const std::map<std::string, std::string>& metadata,
                           const RunLayout& run, std::vector<std::string>& unrecorded) {
  const auto ours = run_metadata(run);
  std::vector<std::string> theirs_differing, ours_differing;
  for (const LayoutField& field : kLayoutFields) {
    const auto recorded = metadata.find(field.key);
    if (recorded == metadata.end()) {
      unrecorded.push_back(field.key);
      continue;
    }
    const std::string& mine = ours.at(field.key);
    if (recorded->second == mine) continue;
    theirs_differing.push_back(field.shown(recorded->second));
    ours_differing.push_back(field.shown(mine));
  }
  if (theirs_differing.empty()) return ok_status();
  return make_error(ErrorKind::invalid_argument,
                    "checkpoint " + path + " was written by a run with " + joined(theirs_differing) +
                        "; this run has " + joined(ours_differing) +
                        ". A resumed run continues the checkpoint's step count, epochs and learning-rate "
                        "schedule, which these values define: resume with the checkpoint's, or pass --force "
                        "instead of --resume to start a new run over " + path);
}

}  // namespace starling::apps
