// libFuzzer target for the checkpoint loader (ml::load_checkpoint). It reads a
// file, so the input is written to a scratch file (tmpfs) first. Properties
// beyond "no crash, no leak, no UB, no uncaught exception": a refusal is
// corrupt (or unsupported for another version) without a JSON library's
// exception text, and a checkpoint that loads
// is self-consistent: its parameters fit its model and it saves and loads
// back to the same values.
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_input.h"
#include "starling/ml/checkpoint.h"
#include "starling/ml/model.h"

using namespace starling;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = fuzz::scratch_path("checkpoint");
  fuzz::write_scratch(path, data, size);
  auto loaded = ml::load_checkpoint(path);
  if (!loaded.ok()) {
    const ErrorKind kind = loaded.error().kind;
    if (kind != ErrorKind::corrupt && kind != ErrorKind::unsupported && kind != ErrorKind::invalid_argument) {
      fuzz::property_failed("fuzz_checkpoint", "unexpected error kind: " + loaded.error().message);
    }
    // Refusals are in starling's words, never the JSON library's exception text.
    if (loaded.error().message.find("json.exception") != std::string::npos) {
      fuzz::property_failed("fuzz_checkpoint", "library text in an error: " + loaded.error().message);
    }
    return 0;
  }
  const ml::Mlp model(loaded->spec, loaded->inputs, loaded->classes);
  if (model.parameters().size() != loaded->parameters.size()) {
    fuzz::property_failed("fuzz_checkpoint", "a loaded checkpoint whose parameters do not fit its model");
  }
  static const std::string again = fuzz::scratch_path("checkpoint-again");
  if (!ml::save_checkpoint(again, *loaded).ok()) fuzz::property_failed("fuzz_checkpoint", "a loaded checkpoint does not save");
  auto reloaded = ml::load_checkpoint(again);
  if (!reloaded.ok()) fuzz::property_failed("fuzz_checkpoint", "a saved checkpoint does not load: " + reloaded.error().message);
  if (reloaded->parameters.size() != loaded->parameters.size() ||
      std::memcmp(reloaded->parameters.data(), loaded->parameters.data(),
                  sizeof(float) * std::size_t(loaded->parameters.size())) != 0) {
    fuzz::property_failed("fuzz_checkpoint", "save + load changed the parameters");
  }
  return 0;
}
