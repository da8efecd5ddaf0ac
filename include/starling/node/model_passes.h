// Fused passes over model-sized vectors for a delta round (TrainingDriver).
// Each replaces two or three separate passes over the same memory with one:
// a dense round (a round every 2-3 SGD steps) makes several, and every pass
// of the loop thread also evicts the training thread's cache
// (docs/learning.md, "Where a real peer's CPU goes").
#pragma once

#include <cstddef>

namespace starling::node {

// ‖x − base‖ and ‖x‖ in one pass: strip by strip (2,048 values), each
// strip's squares summed in float by Eigen (as the round's norm() did over
// the whole vector) and the strips' sums added in double.
struct DisplacementNorms {
  double displacement = 0.0;  // ‖x − base‖
  double norm = 0.0;          // ‖x‖
};
DisplacementNorms displacement_and_norm(const float* x, const float* base, std::size_t n);

// ‖x‖ alone, summed as displacement_and_norm's `norm` (the same bits).
double model_norm(const float* x, std::size_t n);

// x += c and c = c + 0.0f (a −0 becomes +0, as the hand-off's old copy into
// a zeroed sum did), in one pass; x gets the same bits as `x += c`. Returns
// whether every entry of c is finite (checked on the exponent bits).
bool add_correction_in_place(float* x, float* c, std::size_t n);

}  // namespace starling::node
