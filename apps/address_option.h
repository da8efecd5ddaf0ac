// The check of options that name an address this machine binds or dials
// (--listen, --seed, for `peer`, `init` and embedded peers): a numeric IPv4
// or IPv6 HOST:PORT (runtime/numeric_address.h). On the option itself, so a
// host name fails at start like any bad flag, from a --config file too,
// rather than being retried for ever.
#pragma once

#include <CLI/CLI.hpp>

namespace starling::apps {

CLI::Validator numeric_address_check();

}  // namespace starling::apps
