// A memo of signature checks that passed, so the same signed statement is
// verified once. Membership hears the same signed record and accusation many
// times (from every member that passes it on), and an Ed25519 verification
// costs ~50 us; in the simulator a whole swarm runs in one process, so one
// memo shared by every peer's authority verifies each record once in all.
//
// A hit needs the exact bytes: the key is the statement kind, the public key,
// the signature and the signed statement, compared in full (a hash only picks
// the bucket). A record whose bytes differ in any way misses and is verified.
// Only successes are kept, so a forgery costs a verification every time, as
// before. Bounded: when full it is emptied (a miss only costs a verification).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <unordered_set>

namespace starling::node {

class VerifiedStatements {
 public:
  explicit VerifiedStatements(std::size_t entries_max = 1 << 16) : entries_max_(entries_max) {}

  bool contains(const std::string& key) const;
  void insert(std::string key);
  std::size_t size() const;

  // The memo key: kind, then each part in full (fixed sizes first, the
  // variable-length statement last, so parts cannot run into each other).
  static std::string key(char kind, std::span<const std::uint8_t> public_key, std::span<const std::uint8_t> signature,
                         std::span<const std::uint8_t> statement);

 private:
  // Authorities are shared (a driver and its membership); keep it safe to
  // share across threads too.
  mutable std::mutex mutex_;
  std::unordered_set<std::string> verified_;
  std::size_t entries_max_;
};

}  // namespace starling::node
