#include "starling/node/verified_statements.h"

namespace starling::node {

bool VerifiedStatements::contains(const std::string& key) const {
  const std::lock_guard lock(mutex_);
  return verified_.count(key) > 0;
}

void VerifiedStatements::insert(std::string key) {
  const std::lock_guard lock(mutex_);
  if (verified_.size() >= entries_max_) verified_.clear();
  verified_.insert(std::move(key));
}

std::size_t VerifiedStatements::size() const {
  const std::lock_guard lock(mutex_);
  return verified_.size();
}

std::string VerifiedStatements::key(char kind, std::span<const std::uint8_t> public_key,
                                    std::span<const std::uint8_t> signature, std::span<const std::uint8_t> statement) {
  std::string out;
  out.reserve(1 + public_key.size() + signature.size() + statement.size());
  out.push_back(kind);
  out.append(public_key.begin(), public_key.end());
  out.append(signature.begin(), signature.end());
  out.append(statement.begin(), statement.end());
  return out;
}

}  // namespace starling::node
