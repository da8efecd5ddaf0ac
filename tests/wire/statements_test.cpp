// The bytes members sign: deterministic, and different for every field and
// for each kind of statement.
#include <catch2/catch.hpp>

#include <vector>

#include "sample_messages.h"
#include "starling/wire/statements.h"

using namespace starling::wire;

TEST_CASE("signed statements are canonical and bind every field", "[wire][statements]") {
  const NodeId a = samples::node_id(1);
  const NodeId b = samples::node_id(2);
  const auto base = record_statement(a, "10.0.0.1:7946", 3, MemberState::alive);
  CHECK(base == record_statement(a, "10.0.0.1:7946", 3, MemberState::alive));
  const std::vector<std::vector<std::uint8_t>> all{
      base,
      record_statement(b, "10.0.0.1:7946", 3, MemberState::alive),
      record_statement(a, "10.0.0.2:7946", 3, MemberState::alive),
      record_statement(a, "10.0.0.1:7946", 4, MemberState::alive),
      record_statement(a, "10.0.0.1:7946", 3, MemberState::left),
      accusation_statement(a, 3, MemberState::suspect),
      accusation_statement(a, 3, MemberState::dead),
      accusation_statement(b, 3, MemberState::suspect),
      accusation_statement(a, 4, MemberState::suspect),
  };
  for (std::size_t i = 0; i < all.size(); ++i) {
    for (std::size_t j = i + 1; j < all.size(); ++j) {
      INFO(i << " vs " << j);
      CHECK(all[i] != all[j]);
    }
  }
}

TEST_CASE("record statement: the outbound-only flag changes the signed bytes", "[wire]") {
  NodeId a{};
  a[0] = 1;
  for (MemberState state : {MemberState::alive, MemberState::left}) {
    const auto plain = record_statement(a, "10.0.0.1:7946", 3, state);
    CHECK(record_statement(a, "10.0.0.1:7946", 3, state, true) != plain);
    // false is the default: a statement without the flag (canonical
    // encoding truncates zero data words, so its bytes are as they were
    // before the field existed).
    CHECK(record_statement(a, "10.0.0.1:7946", 3, state, false) == plain);
  }
}
