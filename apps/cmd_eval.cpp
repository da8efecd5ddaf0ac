// `starling eval CHECKPOINT`: accuracy and loss of a saved model on a test
// split, or on every sample of one file (--whole-file).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <system_error>
#include <utility>

#include "commands.h"
#include "error_output.h"
#include "json_text.h"
#include "path_option.h"
#include "starling/assert.h"
#include "starling/ml/checkpoint.h"
#include "starling/ml/dataset.h"
#include "starling/ml/fpu.h"
#include "starling/ml/trainer.h"
#include "starling/text.h"

namespace starling::apps {
namespace {

struct EvalArgs {
  std::string checkpoint;
  std::string data = "fashion-mnist";
  bool json = false;
  std::string dump_logits;  // JSON file of per-sample logits, probabilities and predictions
  std::size_t limit = 0;    // evaluate only the first N test samples (0: all)
  bool whole_file = false;  // a .csv/.libsvm file is all test data: no 10% split
};

// The seed that split a .csv/.libsvm file into training and test samples
// for the run that wrote the checkpoint (its metadata "seed": `train --seed`,
// `peer --random-seed`); 1, the default of both, for a checkpoint that does
// not say. Named data sets have a fixed test set and ignore it.
std::uint64_t split_seed(const std::map<std::string, std::string>& metadata) {
  const auto recorded = metadata.find("seed");
  if (recorded == metadata.end()) return 1;
  std::uint64_t seed = 0;
  const std::string& text = recorded->second;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), seed);
  return error == std::errc() && end == text.data() + text.size() ? seed : 1;
}

// The samples to score: the data set's test split (the one the run held out,
// by its seed), or with --whole-file every sample of one .csv/.libsvm file,
// in file order.
Result<ml::Dataset> test_samples(const EvalArgs& args, int classes, std::uint64_t seed) {
  if (!args.whole_file) {
    auto data = ml::load_dataset(args.data, seed, ml::kTestFraction, classes);
    if (!data) return data.error();
    return std::move(data->test);
  }
  std::error_code ec;
  const bool named_set = ml::is_named_dataset(args.data);
  if (named_set || (std::filesystem::exists(args.data, ec) && !std::filesystem::is_regular_file(args.data, ec))) {
    return make_error(ErrorKind::invalid_argument,
                      "--whole-file reads one .csv or .libsvm file; '" + args.data +
                          "' is not one (a folder or a named data set has its own test set: leave --whole-file "
                          "out)");
  }
  return ml::load_data_file(args.data, classes);
}

// The model's outputs per test sample, for comparing against another runtime
// (the ONNX export test, docs/export.md). Rows are samples, in file order.
Status dump_outputs(const std::string& path, const std::string& checkpoint_path, ml::Mlp& model,
                    const ml::Dataset& test) {
  const ml::Matrix logits = model.logits(test.features);  // classes x N
  nlohmann::json rows_logits = nlohmann::json::array();
  nlohmann::json rows_probabilities = nlohmann::json::array();
  nlohmann::json predictions = nlohmann::json::array();
  for (Eigen::Index c = 0; c < logits.cols(); ++c) {
    const Eigen::VectorXf column = logits.col(c);
    Eigen::Index argmax = 0;
    const float max_logit = column.maxCoeff(&argmax);
    // The softmax as Mlp computes it: shifted by the max, then normalised.
    Eigen::VectorXf probabilities = (column.array() - max_logit).exp();
    probabilities /= probabilities.sum();
    rows_logits.push_back(std::vector<float>(column.data(), column.data() + column.size()));
    rows_probabilities.push_back(std::vector<float>(probabilities.data(), probabilities.data() + probabilities.size()));
    predictions.push_back(argmax);
  }
  const nlohmann::json out = {{"checkpoint", checkpoint_path},         {"model", model.spec().to_string()},
                              {"samples", logits.cols()},              {"labels", test.labels},
                              {"predictions", predictions},            {"logits", rows_logits},
                              {"probabilities", rows_probabilities}};
  return ml::write_file_atomically(path, to_json_text(out) + "\n");
}

int run_eval(const EvalArgs& args) {
  auto fail = [](const Error& e) {
    print_error("starling eval", e.message);
    return 1;
  };
  if (!args.dump_logits.empty()) {
    if (Status writable = ml::check_writable_file(args.dump_logits); !writable) return fail(writable.error());
    if (Status apart = ml::check_not_an_input(args.dump_logits, {args.checkpoint, args.data}); !apart) {
      return fail(apart.error());
    }
  }
  auto checkpoint = ml::load_checkpoint(args.checkpoint);
  if (!checkpoint) return fail(checkpoint.error());
  // A label is its class (docs/data.md): the data set takes the model's
  // classes, a test file lacking some of them scores as it is, and a label
  // the model has no output for is an error naming its line ("does not fit
  // the N classes of the model"), where a remap used to score it as another.
  auto data = test_samples(args, checkpoint->classes, split_seed(checkpoint->metadata));
  if (!data) return fail(data.error());
  ml::Dataset& test = *data;
  STARLING_ASSERT(test.classes == checkpoint->classes);
  if (test.inputs() != checkpoint->inputs) {
    return fail(make_error(ErrorKind::invalid_argument,
                           "checkpoint expects " + std::to_string(checkpoint->inputs) + " inputs; data set " +
                               args.data + " has " + std::to_string(test.inputs())));
  }
  if (args.limit > 0 && args.limit < test.size()) {
    test.features.conservativeResize(Eigen::NoChange, Eigen::Index(args.limit));
    test.labels.resize(args.limit);
  }
  // The model was trained on standardised features: apply the same transform.
  test.features = (test.features.array() - checkpoint->data_mean) / checkpoint->data_std;
  if (std::string where = ml::first_non_finite_feature(test); !where.empty()) {
    // Not the checkpoint's fault (its mean and deviation were checked on
    // load): the data's values overflow float once centred.
    return fail(make_error(ErrorKind::invalid_argument,
                           "--data " + quoted_text(args.data) + ": feature values too large to standardise in float with the " +
                               "checkpoint's mean " + fmt::format("{:g}", checkpoint->data_mean) + " and deviation " +
                               fmt::format("{:g}", checkpoint->data_std) + " (" + where + ")"));
  }
  ml::enable_flush_to_zero();
  ml::Mlp model(checkpoint->spec, checkpoint->inputs, checkpoint->classes);
  model.parameters() = checkpoint->parameters;
  const ml::Evaluation eval = ml::evaluate(model, test);
  if (!std::isfinite(eval.loss)) {
    // Finite parameters can still overflow (a damaged or hostile file with
    // a valid checksum); a NaN loss is no result to print (JSON: null).
    return fail(make_error(ErrorKind::corrupt, "checkpoint " + args.checkpoint +
                                                   ": the model's outputs on this data are not finite (loss " +
                                                   std::to_string(eval.loss) + ")"));
  }
  if (!args.dump_logits.empty()) {
    if (Status dumped = dump_outputs(args.dump_logits, args.checkpoint, model, test); !dumped) {
      return fail(dumped.error());
    }
  }
  // Which model it holds (metadata "model", docs/checkpoints.md): a peer's
  // own replica or its local average; files from before the key say neither.
  const auto held = checkpoint->metadata.find("model");
  const std::string holds = held != checkpoint->metadata.end() ? held->second : "unknown";
  std::string holds_text = holds == "local_average" ? "local average" : holds == "own" ? "own model" : "model unknown";
  if (const auto n = checkpoint->metadata.find("local_average_neighbours");
      holds == "local_average" && n != checkpoint->metadata.end()) {
    holds_text += " of " + n->second + " neighbour copies";
  }
  if (args.json) {
    nlohmann::json out = {{"checkpoint", args.checkpoint}, {"model", checkpoint->spec.to_string()},
                          {"holds", holds},
                          {"test_accuracy", eval.accuracy}, {"test_loss", eval.loss},
                          {"samples", eval.samples},       {"step", checkpoint->step}};
    std::printf("%s\n", to_json_text(out).c_str());
  } else {
    std::printf("%s (%s, %s, step %lld): test accuracy %.2f%%, test loss %.4f over %zu samples\n",
                args.checkpoint.c_str(), checkpoint->spec.to_string().c_str(), holds_text.c_str(),
                (long long)checkpoint->step, 100.0 * eval.accuracy, eval.loss, eval.samples);
  }
  return 0;
}

}  // namespace

Command add_eval_command(CLI::App& root) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* app = root.add_subcommand("eval", "Evaluate a checkpoint on a data set's test split");
  app->add_option("checkpoint", args->checkpoint, "Checkpoint file written by `starling train --checkpoint`")
      ->required()
      ->check(non_empty_path_check());
  app->add_option("--data", args->data, "fashion-mnist | mnist | IDX folder | .csv | .libsvm")->capture_default_str();
  app->add_flag("--json", args->json, "Print one JSON object");
  app->add_option("--dump-logits", args->dump_logits,
                  "Write each test sample's logits, probabilities, prediction and label to this JSON file")
      ->check(non_empty_path_check());
  app->add_option("--limit", args->limit, "Evaluate only the first N test samples (0: all)")->capture_default_str();
  app->add_flag("--whole-file", args->whole_file,
                "--data is a .csv/.libsvm file of test samples only: score every sample (default: its 10% test split, "
                "as train held it out)");
  return {app, [args] { return run_eval(*args); }};
}

}  // namespace starling::apps
