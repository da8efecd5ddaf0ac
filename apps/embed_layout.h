// An embedded peer's ModelLayout (starling/embed.h): the text its model hash
// is taken from, the text people read, and the checks attach() makes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "starling/embed.h"

namespace starling::apps {

// What the model hash is taken from: name and shapes. Changing it changes
// every embedded model's id (peers of two versions would refuse each other).
std::string layout_description(const embed::ModelLayout& layout);

// The layout for people (LinkHello's model shape, said when a neighbour's
// model differs): "mlp: tensors [16,4] [16] ...", or only the tensor count
// when that would not fit the hello.
std::string layout_shape(const embed::ModelLayout& layout);

// A tensor's value count, or nullopt when a size is below 1 or the product
// does not fit a size_t (a wrapped count could match the buffer's).
std::optional<std::size_t> tensor_count(const std::vector<std::int64_t>& shape);

// Why attach() refuses the layout for a buffer of `count` floats (naming
// the shape at fault), or "" when it describes exactly `count` floats.
std::string layout_problem(const embed::ModelLayout& layout, std::size_t count);

}  // namespace starling::apps
