#include "train_checkpoint.h"

#include <cmath>
#include <filesystem>

#include <fmt/format.h>

namespace starling::apps {
namespace {

// The metadata keys, and how to show a value: after the option it comes
// from, or before `suffix` when no option sets it.
struct LayoutField {
  const char* key;
  const char* flag;
  const char* suffix;
};

const LayoutField kLayoutFields[] = {
    {"batch", "--batch", nullptr},          {"shard", "--shard", nullptr},
    {"partition", "--partition", nullptr},  {"seed", nullptr, nullptr},  // RunLayout::seed_flag
    {"shard_samples", nullptr, " training samples"},
};

std::string shown(const LayoutField& field, const RunLayout& run, const std::string& value) {
  if (field.suffix) return value + field.suffix;
  return std::string(field.flag ? field.flag : run.seed_flag) + " " + value;
}

// A value the run does not know yet (a peer's, before its data loads).
bool unknown_yet(const std::string& key, const RunLayout& run) {
  return (key == "batch" && run.batch == 0) || (key == "shard_samples" && run.shard_samples == 0);
}

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
    if (recorded->second == mine || unknown_yet(field.key, run)) continue;
    theirs_differing.push_back(shown(field, run, recorded->second));
    ours_differing.push_back(shown(field, run, mine));
  }
  if (theirs_differing.empty()) return ok_status();
  return make_error(ErrorKind::invalid_argument,
                    "checkpoint " + path + " was written by a run with " + joined(theirs_differing) +
                        "; this run has " + joined(ours_differing) +
                        ". A resumed run continues the checkpoint's step count, epochs and learning-rate "
                        "schedule, which these values define: resume with the checkpoint's, or " + run.start_over +
                        " " + path);
}

std::optional<std::pair<std::string, std::string>> resume_difference(const ml::Checkpoint& checkpoint,
                                                                     const ml::Mlp& model,
                                                                     const ml::OptimizerConfig& optimizer) {
  if (checkpoint.spec.to_string() != model.spec().to_string() || checkpoint.inputs != model.inputs() ||
      checkpoint.classes != model.classes()) {
    const auto shown = [](const ml::ModelSpec& spec, int inputs, int classes) {
      return "--model " + spec.to_string() + " (" + std::to_string(inputs) + " inputs, " + std::to_string(classes) +
             " classes)";
    };
    return std::pair{shown(checkpoint.spec, checkpoint.inputs, checkpoint.classes),
                     shown(model.spec(), model.inputs(), model.classes()) + " on this data"};
  }
  const auto kind = [](ml::OptimizerConfig::Kind k) {
    return std::string("--optimizer ") + (k == ml::OptimizerConfig::Kind::adam ? "adam" : "sgd");
  };
  if (checkpoint.optimizer.kind != optimizer.kind)
    return std::pair{"the state of " + kind(checkpoint.optimizer.kind), kind(optimizer.kind)};
  return std::nullopt;
}

std::optional<std::pair<std::string, std::string>> data_difference(const ml::Checkpoint& checkpoint, float data_mean,
                                                                   float data_std) {
  // The same data standardises the same, bit for bit in one build; a margin
  // for another build's summation order.
  const auto differs = [](float a, float b) {
    return !(std::abs(double(a) - double(b)) <= 1e-5 * std::max(1.0, std::abs(double(a))));
  };
  if (differs(checkpoint.data_mean, data_mean) || differs(checkpoint.data_std, data_std)) {
    const auto shown = [](const std::string& what, float mean, float deviation) {
      return what + " (features of mean " + fmt::format("{:g}", mean) + " and deviation " +
             fmt::format("{:g}", deviation) + ")";
    };
    const auto recorded = checkpoint.metadata.find("data");
    return std::pair{shown("a model trained on " + (recorded == checkpoint.metadata.end() ? std::string("other data")
                                                                                           : recorded->second),
                           checkpoint.data_mean, checkpoint.data_std),
                     shown("another training set", data_mean, data_std)};
  }
  return std::nullopt;
}

}  // namespace starling::apps
