// `starling export CHECKPOINT --onnx FILE`: a checkpoint's model as an ONNX
// graph other runtimes can serve (docs/export.md).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "commands.h"
#include "error_output.h"
#include "path_option.h"
#include "starling/export/onnx_export.h"
#include "starling/ml/checkpoint.h"

namespace starling::apps {
namespace {

struct ExportArgs {
  std::string checkpoint;
  std::string onnx;
  bool raw_pixels = false;
};

int run_export(const ExportArgs& args) {
  auto fail = [](const Error& e) {
    print_error("starling export", e.message);
    return 1;
  };
  if (Status apart = ml::check_not_an_input(args.onnx, {args.checkpoint}); !apart) return fail(apart.error());
  auto checkpoint = ml::load_checkpoint(args.checkpoint);
  if (!checkpoint) return fail(checkpoint.error());
  exporter::OnnxExportOptions options;
  options.raw_pixels = args.raw_pixels;
  if (Status written = exporter::write_onnx_model(args.onnx, *checkpoint, options); !written) {
    return fail(written.error());
  }
  std::printf("%s: %s at step %lld -> %s (ONNX opset %lld, input '%s' [N,%d]%s, outputs '%s' and '%s' [N,%d])\n",
              args.checkpoint.c_str(), checkpoint->spec.to_string().c_str(), (long long)checkpoint->step,
              args.onnx.c_str(), (long long)exporter::kOnnxOpset, exporter::kOnnxInputName, checkpoint->inputs,
              args.raw_pixels ? " raw pixels 0..255" : "", exporter::kOnnxLogitsName,
              exporter::kOnnxProbabilitiesName, checkpoint->classes);
  return 0;
}

}  // namespace

Command add_export_command(CLI::App& root) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* app = root.add_subcommand("export", "Write a checkpoint's model in another format (ONNX)");
  app->add_option("checkpoint", args->checkpoint, "Checkpoint file written by `starling train` or `starling peer`")
      ->required()
      ->check(non_empty_path_check());
  app->add_option("--onnx", args->onnx, "Write an ONNX model here (replaced atomically)")
      ->required()
      ->check(non_empty_path_check());
  app->add_flag("--raw-pixels", args->raw_pixels,
                "The graph's input takes pixel values 0..255 and scales them by 1/255 as the IDX loader does "
                "(default: features as the loader gives them)");
  return {app, [args] { return run_export(*args); }};
}

}  // namespace starling::apps
