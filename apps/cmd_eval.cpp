// `starling eval CHECKPOINT`: accuracy and loss of a saved model on a test split.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "commands.h"
#include "json_text.h"
#include "starling/ml/checkpoint.h"
#include "starling/ml/dataset.h"
#include "starling/ml/fpu.h"
#include "starling/ml/trainer.h"

namespace starling::apps {
namespace {

struct EvalArgs {
  std::string checkpoint;
  std::string data = "fashion-mnist";
  bool json = false;
};

int run_eval(const EvalArgs& args) {
  auto fail = [](const Error& e) {
    std::fprintf(stderr, "starling eval: error: %s\n", e.message.c_str());
    return 1;
  };
  auto checkpoint = ml::load_checkpoint(args.checkpoint);
  if (!checkpoint) return fail(checkpoint.error());
  auto data = ml::load_dataset(args.data);
  if (!data) return fail(data.error());
  ml::Dataset& test = data->test;
  if (test.inputs() != checkpoint->inputs || test.classes > checkpoint->classes) {
    return fail(make_error(ErrorKind::invalid_argument,
                           "checkpoint expects " + std::to_string(checkpoint->inputs) + " inputs and " +
                               std::to_string(checkpoint->classes) + " classes; data set " + args.data + " has " +
                               std::to_string(test.inputs()) + " inputs and " + std::to_string(test.classes) +
                               " classes"));
  }
  // The model was trained on standardised features: apply the same transform.
  test.features = (test.features.array() - checkpoint->data_mean) / checkpoint->data_std;
  ml::enable_flush_to_zero();
  ml::Mlp model(checkpoint->spec, checkpoint->inputs, checkpoint->classes);
  model.parameters() = checkpoint->parameters;
  const ml::Evaluation eval = ml::evaluate(model, test);
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
      ->required();
  app->add_option("--data", args->data, "fashion-mnist | mnist | IDX folder | .csv | .libsvm")->capture_default_str();
  app->add_flag("--json", args->json, "Print one JSON object");
  return {app, [args] { return run_eval(*args); }};
}

}  // namespace starling::apps
