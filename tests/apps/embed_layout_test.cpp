// An embedded peer's layout checks (apps/embed_layout.h): a shape whose
// product wraps a size_t must not pass for a small buffer, and each refusal
// names the shape at fault.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "embed_layout.h"

using namespace starling;
using embed::ModelLayout;

TEST_CASE("embed layout: a product that wraps is refused, not matched to the buffer", "[embed][layout]") {
  // (2^62 + 1) * 4 wraps to 4 in 64 bits: attach() took it for a 4-float buffer.
  const ModelLayout wraps{"toy", {{(std::int64_t(1) << 62) + 1, 4}}};
  CHECK(wraps.parameter_count() == 0);
  CHECK_THAT(apps::layout_problem(wraps, 4), Catch::Contains("shape 0 [4611686018427387905,4]: the layout describes "
                                                             "more values than a buffer can hold"));
  const ModelLayout sum_wraps{"toy", {{std::int64_t(1) << 62}, {std::int64_t(1) << 62}, {std::int64_t(1) << 62},
                                      {std::int64_t(1) << 62}, {4}}};
  CHECK(sum_wraps.parameter_count() == 0);
  CHECK_THAT(apps::layout_problem(sum_wraps, 4), Catch::Contains("shape 3 "));
}

TEST_CASE("embed layout: each refusal names the shape and the problem", "[embed][layout]") {
  CHECK(apps::layout_problem(ModelLayout{"toy", {{2, 5}, {}}}, 11).empty());  // [] is a scalar: 1 value
  CHECK_THAT(apps::layout_problem(ModelLayout{"toy", {{2, 5}, {3, 0}}}, 10),
             Catch::Contains("shape 1 [3,0]: sizes must be at least 1"));
  CHECK_THAT(apps::layout_problem(ModelLayout{"toy", {{-2, -5}}}, 10),
             Catch::Contains("shape 0 [-2,-5]: sizes must be at least 1"));
  CHECK_THAT(apps::layout_problem(ModelLayout{"toy", {}}, 10), Catch::Contains("no shapes"));
  CHECK(apps::layout_problem(ModelLayout{"toy", {{2, 4}}}, 10) ==
        "the buffer holds 10 floats, the layout's shapes describe 8");
}
