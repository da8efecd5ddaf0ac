// ONNX export of starling's built-in models (softmax regression and the MLP)
// from a checkpoint (docs/export.md). The graph is self-contained: it holds the
// feature standardisation the model was trained with, so for the same input
// it gives the logits `starling eval --dump-logits` prints.
//
// This header includes no protobuf or ONNX header: the ONNX messages
// (Debian's libonnx-dev) stay inside src/export, and only the targets that
// link starling_export (the `starling` binary) depend on protobuf.
#pragma once

#include <cstdint>
#include <string>

#include "starling/ml/checkpoint.h"
#include "starling/status.h"

namespace starling::exporter {

// ONNX versions written: opset 13 of the default domain and IR version 7, so
// Debian's python3-onnx 1.12 (opset <= 17, IR <= 8) and older runtimes read it.
inline constexpr std::int64_t kOnnxOpset = 13;
inline constexpr std::int64_t kOnnxIrVersion = 7;

// Names of the graph's input and outputs.
inline constexpr const char* kOnnxInputName = "input";
inline constexpr const char* kOnnxLogitsName = "logits";
inline constexpr const char* kOnnxProbabilitiesName = "probabilities";

struct OnnxExportOptions {
  // false: the input holds features as starling's loaders produce them (IDX
  // pixels already divided by 255, CSV/libsvm values as written).
  // true: the input holds raw pixel values 0..255 and the graph multiplies
  // them by 1/255 first, as the IDX loader does.
  bool raw_pixels = false;
};

// The hex BLAKE2b-256 of the model description peers compare on a link
// ("starling-model-1 SPEC inputs I classes C params P"): two files with the
// same hash hold parameters of the same layout.
std::string layout_hash_hex(const ml::Checkpoint& checkpoint);

// The serialized ModelProto. Errors: invalid_argument when the checkpoint's
// metadata names a model kind this starling does not know (key `model`,
// expected `own` or `local_average`; a missing key is exported as `unknown`).
Result<std::string> onnx_model_bytes(const ml::Checkpoint& checkpoint, const OnnxExportOptions& options);

// Writes onnx_model_bytes() to `path` atomically (temporary file, rename): a
// failure leaves no partial file behind.
Status write_onnx_model(const std::string& path, const ml::Checkpoint& checkpoint, const OnnxExportOptions& options);

}  // namespace starling::exporter
