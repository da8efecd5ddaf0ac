// Layout of an ml::Mlp's flat parameter vector: one segment per weight matrix
// and one per bias, so the policy sends biases exactly.
#pragma once

#include "starling/compress/layout.h"
#include "starling/ml/model.h"

namespace starling::compress {

// Never fails for a well-formed Mlp (its layers tile its parameters); a
// mismatch is a bug and asserts.
Layout layout_for(const ml::Mlp& model, LayoutPolicy policy = {});

}  // namespace starling::compress
