// starling::printable / quoted_text (include/starling/text.h): what error and
// log lines do to user-supplied text so nothing is cut and no control byte
// reaches the terminal.
#include <catch2/catch.hpp>

#include <string>

#include "starling/text.h"

using namespace std::string_literals;

TEST_CASE("printable escapes control bytes and bad UTF-8, keeps text and valid UTF-8", "[apps][text]") {
  CHECK(starling::printable("a\0b"s) == "a\\x00b");  // was cut at the NUL by printf
  CHECK(starling::printable("\x1b[31mred") == "\\x1b[31mred");
  CHECK(starling::printable("line\nforged\r\t\x7f") == "line\\x0aforged\\x0d\\x09\\x7f");
  CHECK(starling::printable("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa6") == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa6");
  CHECK(starling::printable("\xc2\x9b" "2J") == "\\u009b2J");  // C1 CSI: some terminals obey it
  CHECK(starling::printable("\xff\xc3") == "\\xff\\xc3");       // not UTF-8, truncated sequence
  CHECK(starling::printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // a surrogate
  CHECK(starling::printable("a\nb", "\n") == "a\nb");
  CHECK(starling::printable("plain/path_1.csv") == "plain/path_1.csv");
  CHECK(starling::quoted_text("a\0b"s) == "'a\\x00b'");
}
