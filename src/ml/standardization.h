// The one place a mean and deviation are made from sums, shared by
// standardize() (float features) and standardization_of() (a byte histogram).
// Private to src/ml.
#pragma once

#include "starling/ml/byte_dataset.h"

namespace starling::ml::detail {

// From `count` features' sum and sum of squares (in double): the mean, the
// deviation (1 when the features are constant, so they are only centred)
// and scale = 1 / deviation, each rounded to float once.
Standardization standardization_from_sums(double count, double sum, double sum_squares);

}  // namespace starling::ml::detail
