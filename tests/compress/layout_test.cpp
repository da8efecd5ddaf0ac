// Layouts: which segments are sent exactly, and the MLP's layout.
#include <catch2/catch.hpp>

#include "starling/compress/mlp_layout.h"

using namespace starling;
using namespace starling::compress;

TEST_CASE("layout splits segments by length", "[compress]") {
  auto layout = Layout::make(3000, {{0, 2000}, {2000, 10}, {2010, 990}}, LayoutPolicy{1000});
  REQUIRE(layout.ok());
  CHECK(layout->dimension() == 3000);
  CHECK(layout->compressed() == std::vector<Segment>{{0, 2000}});
  CHECK(layout->exact() == std::vector<Segment>{{2000, 10}, {2010, 990}});
  CHECK(layout->exact_count() == 1000);
  CHECK(layout->compressed_count() == 2000);

  Layout whole = Layout::whole(10);
  CHECK(whole.exact_count() == 0);
  CHECK(whole.compressed_count() == 10);
}

TEST_CASE("layouts with gaps, overlaps or overruns are rejected", "[compress]") {
  CHECK(Layout::make(100, {{0, 50}, {60, 40}}).error().kind == ErrorKind::invalid_argument);
  CHECK(Layout::make(100, {{0, 50}, {40, 60}}).error().kind == ErrorKind::invalid_argument);
  CHECK(Layout::make(100, {{0, 50}, {50, 60}}).error().kind == ErrorKind::invalid_argument);
  CHECK(Layout::make(100, {{0, 50}}).error().kind == ErrorKind::invalid_argument);
  CHECK(Layout::make(std::size_t{1} << 33, {{0, std::size_t{1} << 33}}).error().kind ==
        ErrorKind::invalid_argument);
}

TEST_CASE("the MLP 784-256-128-10 sends its biases exactly", "[compress]") {
  ml::Mlp model(*ml::ModelSpec::parse("mlp:256,128"), 784, 10);
  REQUIRE(model.parameter_count() == 235146);
  const Layout layout = layout_for(model);
  CHECK(layout.dimension() == 235146);
  CHECK(layout.exact_count() == 256 + 128 + 10);
  CHECK(layout.compressed_count() == 784 * 256 + 256 * 128 + 128 * 10);
  CHECK(layout.compressed().size() == 3);
  CHECK(layout.exact().size() == 3);
}
