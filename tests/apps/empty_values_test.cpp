#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "empty_values.h"

using starling::apps::split_empty_values;

namespace {

std::vector<std::string> split(std::vector<const char*> argv) {
  return split_empty_values(int(argv.size()), argv.data());
}

}  // namespace

TEST_CASE("split_empty_values: --name= becomes --name and an empty value", "[apps][cli]") {
  CHECK(split({"starling", "peer", "--data-dir=", "--print-config"}) ==
        std::vector<std::string>{"starling", "peer", "--data-dir", "", "--print-config"});
  CHECK(split({"starling", "train", "--lr=", "--checkpoint=x"}) ==
        std::vector<std::string>{"starling", "train", "--lr", "", "--checkpoint=x"});
}

TEST_CASE("split_empty_values: everything else passes through", "[apps][cli]") {
  const std::vector<std::string> same{"starling", "peer", "--seed=1.2.3.4:5", "--x==", "-o=", "--=", "value=", "--"};
  std::vector<const char*> argv;
  for (const auto& arg : same) argv.push_back(arg.c_str());
  CHECK(split_empty_values(int(argv.size()), argv.data()) == same);
  // After `--` an argument is a value, whatever it looks like.
  CHECK(split({"starling", "scenario", "--", "--data-dir="}) ==
        std::vector<std::string>{"starling", "scenario", "--", "--data-dir="});
  CHECK(split({"prog=", "--a="}) == std::vector<std::string>{"prog=", "--a", ""});
}
