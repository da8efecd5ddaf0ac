#include "starling/scenario/parse.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <system_error>

#include "starling/compress/spec.h"
#include "starling/gossip/config.h"
#include "starling/ml/dataset.h"
#include "starling/ml/model.h"
#include "starling/ml/optimizer.h"
#include "starling/node/defaults.h"
#include "starling/node/training_driver.h"

namespace starling::scenario {
namespace {

std::string seconds(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g s", value);
  return buffer;
}

std::string fmt_count(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.0f", value);
  std::string digits = buffer;
  for (int at = int(digits.size()) - 3; at > 0; at -= 3) digits.insert(std::size_t(at), ",");
  return digits;
}

std::string number_text(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", value);
  return buffer;
}

// "'batch' must be 1..1048576 (100000000 is too large)"; no upper end shown
// when there is none.
template <typename Number>
std::string out_of_range(const char* key, Number low, Number high, Number value, std::string (*text)(Number)) {
  const std::string range =
      high == std::numeric_limits<Number>::max() ? ">= " + text(low) : text(low) + ".." + text(high);
  return std::string("'") + key + "' must be " + range + " (" + text(value) + " is too " +
         (value < low ? "small" : "large") + ")";
}

std::string integer_text(std::int64_t value) { return std::to_string(value); }

// An error at a place in the file; thrown inside this file only and turned
// into a Result at the boundary.
struct ParseFailure {
  std::string message;
};

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const toml::node* node, const std::string& what) const {
    if (node != nullptr) fail_at(node->source().begin.line, node->source().begin.column, what);
    throw ParseFailure{source_ + ": " + what};
  }
  [[noreturn]] void fail_at(std::uint32_t line, std::uint32_t column, const std::string& what) const {
    throw ParseFailure{source_ + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + what};
  }

  // Notes a value that is legal but likely not meant; the run goes on.
  void warn(const toml::node& node, const std::string& what) const {
    warnings_.push_back(source_ + ":" + std::to_string(node.source().begin.line) + ":" +
                        std::to_string(node.source().begin.column) + ": " + what);
  }
  std::vector<std::string> take_warnings() { return std::move(warnings_); }

  // Refuses keys the format does not know: a typo must not be silently ignored.
  void only_keys(const toml::table& table, std::initializer_list<const char*> known, const std::string& where) const {
    std::set<std::string> allowed(known.begin(), known.end());
    for (const auto& [key, value] : table) {
      if (!allowed.count(std::string(key.str()))) {
        std::string list;
        for (const char* k : known) list += std::string(list.empty() ? "" : ", ") + k;
        fail(&value, "unknown key '" + std::string(key.str()) + "' in " + where + " (known: " + list + ")");
      }
    }
  }

  double number(const toml::table& table, const char* key, double fallback) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return fallback;
    // An integer is taken as the nearest double: toml++ gives none for one
    // it cannot hold exactly (2^63 - 1), which read as "not a number".
    if (node->is_integer()) return static_cast<double>(*node->value<std::int64_t>());
    if (auto v = node->value<double>(); v && node->is_floating_point()) {
      if (!std::isfinite(*v)) fail(node, std::string("'") + key + "' must be a finite number");
      return *v;
    }
    fail(node, std::string("'") + key + "' must be a number");
  }
  // A number in [low, high]; the message says which end it missed.
  double number_in(const toml::table& table, const char* key, double fallback, double low, double high) const {
    const double value = number(table, key, fallback);
    if (!(value >= low && value <= high)) fail(table.get(key), out_of_range(key, low, high, value, number_text));
    return value;
  }
  std::optional<double> optional_number(const toml::table& table, const char* key) const {
    if (!table.contains(key)) return std::nullopt;
    return number(table, key, 0.0);
  }
  std::int64_t integer(const toml::table& table, const char* key, std::int64_t fallback) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return fallback;
    if (!node->is_integer()) fail(node, std::string("'") + key + "' must be an integer");
    return *node->value<std::int64_t>();
  }
  // An integer in [low, high], checked before it narrows to its field's type
  // (a cast first read 2^63 - 1 as -1, "must be >= 1", and 2^32 + 1 as 1).
  int int_in(const toml::table& table, const char* key, std::int64_t fallback, int low, int high) const {
    const std::int64_t value = integer(table, key, fallback);
    if (value < low || value > high) {
      fail(table.get(key), out_of_range<std::int64_t>(key, low, high, value, integer_text));
    }
    return static_cast<int>(value);
  }
  std::string text(const toml::table& table, const char* key, std::string fallback) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return fallback;
    if (!node->is_string()) fail(node, std::string("'") + key + "' must be a string");
    return *node->value<std::string>();
  }
  bool boolean(const toml::table& table, const char* key, bool fallback) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return fallback;
    if (!node->is_boolean()) fail(node, std::string("'") + key + "' must be true or false");
    return *node->value<bool>();
  }
  std::vector<int> index_list(const toml::node& node, const char* key) const {
    const toml::array* array = node.as_array();
    if (array == nullptr) fail(&node, std::string("'") + key + "' must be a list of peer indices");
    std::vector<int> out;
    for (const toml::node& item : *array) {
      if (!item.is_integer()) fail(&item, std::string("'") + key + "' must hold peer indices (integers)");
      const std::int64_t index = *item.value<std::int64_t>();
      if (index < 0 || index > 100000) fail(&item, "peer index " + std::to_string(index) + " is out of range");
      // [1, 1] acted on peer 1 once and looked like two targets: a slip, refused.
      if (std::find(out.begin(), out.end(), index) != out.end())
        fail(&item, "peer " + std::to_string(index) + " is listed twice in '" + key + "'");
      out.push_back(static_cast<int>(index));
    }
    return out;
  }

  // `peer = 2`, `peers = [0, 1]`, `peers = "all"` or `fraction = 0.25`; in
  // expectations also `peers = "honest"`.
  std::optional<PeerSelector> selector(const toml::table& table, bool expectation = false) const {
    const int given = table.contains("peer") + table.contains("peers") + table.contains("fraction");
    if (given > 1) fail(&table, "give only one of 'peer', 'peers' and 'fraction'");
    PeerSelector out;
    if (const toml::node* node = table.get("peer")) {
      if (!node->is_integer()) fail(node, "'peer' must be a peer index (integer)");
      const std::int64_t index = *node->value<std::int64_t>();
      if (index < 0 || index > 100000) fail(node, "peer index " + std::to_string(index) + " is out of range");
      out.kind = PeerSelector::Kind::list;
      out.peers = {static_cast<int>(index)};
      return out;
    }
    if (const toml::node* node = table.get("peers")) {
      if (node->is_string()) {
        const std::string name = *node->value<std::string>();
        if (expectation && name == "honest") {
          out.kind = PeerSelector::Kind::honest;
          return out;
        }
        if (name != "all") {
          fail(node, expectation ? "'peers' must be a list of indices, \"all\" or \"honest\""
                                 : "'peers' must be a list of indices or \"all\"");
        }
        out.kind = PeerSelector::Kind::all;
        return out;
      }
      out.kind = PeerSelector::Kind::list;
      out.peers = index_list(*node, "peers");
      if (out.peers.empty()) fail(node, "'peers' is empty");
      return out;
    }
    if (const toml::node* node = table.get("fraction")) {
      out.kind = PeerSelector::Kind::fraction;
      out.fraction = number(table, "fraction", 0.0);
      if (!(out.fraction > 0.0 && out.fraction <= 1.0)) fail(node, "'fraction' must be in (0, 1]");
      return out;
    }
    return std::nullopt;
  }

  const std::string& source() const { return source_; }

 private:
  std::string source_;
  mutable std::vector<std::string> warnings_;  // notes, not state: warn() is const like fail()
};

std::optional<EventKind> event_kind(const std::string& name) {
  static const std::pair<const char*, EventKind> kinds[] = {
      {"kill", EventKind::kill},           {"stop", EventKind::stop},
      {"restart", EventKind::restart},     {"join", EventKind::join},
      {"partition", EventKind::partition}, {"heal", EventKind::heal},
      {"loss", EventKind::loss},           {"delay", EventKind::delay},
      {"duplicate", EventKind::duplicate}, {"bandwidth", EventKind::bandwidth},
      {"clear_faults", EventKind::clear_faults}, {"pause", EventKind::pause},
      {"straggler", EventKind::straggler}, {"byzantine", EventKind::byzantine},
      {"seed_down", EventKind::seed_down},
  };
  for (const auto& [text, kind] : kinds) {
    if (name == text) return kind;
  }
  return std::nullopt;
}

std::optional<ExpectKind> expect_kind(const std::string& name) {
  static const std::pair<const char*, ExpectKind> kinds[] = {
      {"min_accuracy", ExpectKind::min_accuracy},
      {"mean_accuracy", ExpectKind::mean_accuracy},
      {"max_accuracy_spread", ExpectKind::max_accuracy_spread},
      {"peer_accuracy", ExpectKind::peer_accuracy},
      {"keeps_improving", ExpectKind::keeps_improving},
      {"catch_up", ExpectKind::catch_up},
      {"max_consensus_distance", ExpectKind::max_consensus_distance},
      {"membership_converged", ExpectKind::membership_converged},
      {"never_dead", ExpectKind::never_dead},
      {"addresses_stable", ExpectKind::addresses_stable},
      {"true_alive_count", ExpectKind::true_alive_count},
      {"no_crash", ExpectKind::no_crash},
      {"max_bytes_per_peer", ExpectKind::max_bytes_per_peer},
  };
  for (const auto& [text, kind] : kinds) {
    if (name == text) return kind;
  }
  return std::nullopt;
}

SwarmSpec read_swarm(const Reader& r, const toml::table& t, const ParseOptions& options) {
  r.only_keys(t,
              {"peers", "train", "data", "model", "compress", "lr", "batch", "partition", "eval_every", "clip",
               "gamma", "neighbours", "round_steps", "round_floor_ms", "consensus_control", "consensus_target", "momentum_mode", "absorb_share", "mixing", "max_upload", "profile", "extra_args"},
              "[swarm]");
  SwarmSpec s;
  // Range-checked as read, before it narrows to int; an override replaces it (read()).
  const std::int64_t peers = r.integer(t, "peers", s.peers);
  if (!options.peers && (peers < 1 || peers > options.max_peers)) {
    r.fail(t.get("peers"), "'peers' must be 1.." + std::to_string(options.max_peers) + " (" + options.limit_reason + ")");
  }
  s.peers = static_cast<int>(std::clamp<std::int64_t>(peers, 1, options.max_peers));
  s.train = r.boolean(t, "train", s.train);
  s.data = r.text(t, "data", s.data);
  // Values are checked with `starling peer`'s own parsers and bounds, so a
  // value a peer would refuse fails here, at its line, before anything runs
  // (and the simulator, which runs no peer process, refuses it too).
  s.model = r.text(t, "model", s.model);
  if (auto spec = ml::ModelSpec::parse(s.model); !spec) r.fail(t.get("model"), "'model': " + spec.error().message);
  s.compress = r.text(t, "compress", s.compress);
  if (auto spec = compress::CompressorSpec::parse(s.compress); !spec)
    r.fail(t.get("compress"), "'compress': " + spec.error().message);
  // 0: consensus only (the simulator's average-preservation check uses it).
  s.lr = r.number_in(t, "lr", s.lr, 0.0, ml::kMaxLearningRate);
  s.batch = r.int_in(t, "batch", s.batch, 1, ml::kMaxBatch);
  s.partition = r.text(t, "partition", s.partition);
  if (auto partition = ml::Partition::parse(s.partition); !partition)
    r.fail(t.get("partition"), "'partition': " + partition.error().message);
  if (const toml::node* node = t.get("eval_every")) {
    // Steps since issue 13 (seconds before): a float or a small number is
    // most likely an old file's seconds, which would now evaluate (nearly)
    // every step, so it is refused with the new meaning spelled out.
    const std::int64_t steps = node->is_integer() ? *node->value<std::int64_t>() : 0;
    if (steps < kMinEvalEverySteps) {
      r.fail(node, "'eval_every' counts training steps (it was seconds before): give an integer >= " +
                       std::to_string(kMinEvalEverySteps) + ", e.g. 100 (1 s of a simulated peer at 10 ms a step)");
    }
    s.eval_every_steps = steps;
  }
  s.clip = r.text(t, "clip", s.clip);
  if (auto clip = node::parse_clip(s.clip); !clip) r.fail(t.get("clip"), "'clip': " + clip.error().message);
  if (t.contains("gamma")) s.gamma = r.number_in(t, "gamma", 0.0, 0.0, node::kMaxGamma);
  if (t.contains("mixing")) {
    s.mixing = r.text(t, "mixing", "");
    if (*s.mixing != "neighbourhood" && *s.mixing != "pairwise" && *s.mixing != "on-delta")
      r.fail(t.get("mixing"), "'mixing' must be \"neighbourhood\", \"pairwise\" or \"on-delta\"");
  }
  if (t.contains("momentum_mode")) {
    s.momentum_mode = r.text(t, "momentum_mode", "");
    if (*s.momentum_mode != "local" && *s.momentum_mode != "absorb" && *s.momentum_mode != "quasi-global")
      r.fail(t.get("momentum_mode"), "'momentum_mode' must be \"local\", \"absorb\" or \"quasi-global\"");
  }
  s.absorb_share = r.optional_number(t, "absorb_share");
  if (s.absorb_share && !(*s.absorb_share > 0.0 && *s.absorb_share <= 1.0))
    r.fail(t.get("absorb_share"), "'absorb_share' must be > 0 and <= 1");
  if (t.contains("round_steps")) s.round_steps = r.int_in(t, "round_steps", 0, 1, node::kMaxRoundSteps);
  // At most the peers' gossip interval (a round is due at least that often;
  // `starling peer` refuses a floor above it).
  if (t.contains("round_floor_ms"))
    s.round_floor_ms = r.int_in(t, "round_floor_ms", 0, 0, node::defaults::kGossipIntervalMs);
  s.consensus_control = r.boolean(t, "consensus_control", s.consensus_control);
  s.consensus_target = r.optional_number(t, "consensus_target");
  if (s.consensus_target && !(*s.consensus_target >= 0.01 && *s.consensus_target <= 1000.0))
    r.fail(t.get("consensus_target"), "'consensus_target' must be 0.01..1000 (local SGD steps)");
  if (t.contains("max_upload")) {
    const auto value = r.integer(t, "max_upload", 0);
    if (value < 0) r.fail(t.get("max_upload"), "'max_upload' must be >= 0 (bytes per second; 0: no budget)");
    else s.max_upload = static_cast<std::uint64_t>(value);
  }
  if (t.contains("neighbours")) s.neighbours = r.int_in(t, "neighbours", 0, 1, node::kMaxNeighbours);
  s.profile = r.text(t, "profile", s.profile);
  if (auto profile = gossip::config_for_profile(s.profile); !profile)
    r.fail(t.get("profile"), "'profile': " + profile.error().message);
  if (const toml::node* node = t.get("extra_args")) {
    const toml::array* array = node->as_array();
    if (array == nullptr) r.fail(node, "'extra_args' must be a list of strings");
    for (const toml::node& item : *array) {
      if (!item.is_string()) r.fail(&item, "'extra_args' must be a list of strings");
      s.extra_args.push_back(*item.value<std::string>());
    }
  }
  return s;
}

Event read_event(const Reader& r, const toml::table& t) {
  Event e;
  e.line = static_cast<int>(t.source().begin.line);
  const toml::node* kind_node = t.get("kind");
  if (kind_node == nullptr || !kind_node->is_string()) r.fail(&t, "an event needs kind = \"...\"");
  const std::string kind_name = *kind_node->value<std::string>();
  auto kind = event_kind(kind_name);
  if (!kind) {
    r.fail(kind_node, "unknown event kind '" + kind_name +
                          "' (known: kill, stop, restart, join, partition, heal, loss, delay, duplicate, bandwidth, "
                          "clear_faults, pause, straggler, byzantine, seed_down)");
  }
  e.kind = *kind;
  const toml::node* at = t.get("at");
  if (at == nullptr) r.fail(&t, "event '" + kind_name + "' needs at = SECONDS");
  e.at_seconds = r.number(t, "at", 0.0);
  if (e.at_seconds < 0.0) r.fail(at, "event time " + seconds(e.at_seconds) + " is in the past (before 0)");

  const bool takes_targets = e.kind != EventKind::join && e.kind != EventKind::partition &&
                             e.kind != EventKind::heal && e.kind != EventKind::seed_down;
  switch (e.kind) {
    case EventKind::kill:
    case EventKind::stop:
    case EventKind::clear_faults:
      r.only_keys(t, {"at", "kind", "peer", "peers", "fraction"}, "a " + kind_name + " event");
      break;
    case EventKind::restart:
      r.only_keys(t, {"at", "kind", "peer", "peers", "fraction", "identity"}, "a restart event");
      {
        const std::string identity = r.text(t, "identity", "same");
        if (identity != "same" && identity != "new") r.fail(t.get("identity"), "'identity' must be \"same\" or \"new\"");
        e.new_identity = identity == "new";
      }
      break;
    case EventKind::join:
      r.only_keys(t, {"at", "kind", "count"}, "a join event");
      e.count = r.int_in(t, "count", 1, 1, 64);
      break;
    case EventKind::partition: {
      r.only_keys(t, {"at", "kind", "groups", "from", "to", "duration"}, "a partition event");
      const bool one_way = t.contains("from") || t.contains("to");
      if (one_way == t.contains("groups")) {
        r.fail(&t, "a partition needs either groups = [[...], [...]] (symmetric) or from = [...] and to = [...] "
                   "(one-way)");
      }
      if (one_way) {
        if (!t.contains("from") || !t.contains("to")) r.fail(&t, "a one-way partition needs both 'from' and 'to'");
        e.one_way = true;
        e.groups = {r.index_list(*t.get("from"), "from"), r.index_list(*t.get("to"), "to")};
        if (e.groups[0].empty() || e.groups[1].empty()) r.fail(&t, "'from' and 'to' must not be empty");
      } else {
        const toml::array* groups = t.get("groups")->as_array();
        if (groups == nullptr || groups->size() < 2) r.fail(t.get("groups"), "'groups' must be a list of >= 2 lists");
        for (const toml::node& group : *groups) {
          // groups = [0, 1] (one flat list) is the likely slip: say what the shape is.
          if (!group.is_array()) {
            r.fail(&group, "'groups' must be a list of lists of peer indices, one per side, e.g. [[0, 1], [2, 3]]");
          }
          e.groups.push_back(r.index_list(group, "groups"));
          if (e.groups.back().empty()) r.fail(&group, "a partition group is empty");
        }
      }
      std::set<int> seen;
      for (const auto& group : e.groups) {
        for (int p : group) {
          if (!seen.insert(p).second) r.fail(&t, "peer " + std::to_string(p) + " is in two partition groups");
        }
      }
      break;
    }
    case EventKind::heal: r.only_keys(t, {"at", "kind"}, "a heal event"); break;
    case EventKind::loss:
    case EventKind::duplicate:
      r.only_keys(t, {"at", "kind", "peer", "peers", "fraction", "percent", "duration"}, "a " + kind_name + " event");
      if (!t.contains("percent")) r.fail(&t, "a " + kind_name + " event needs percent = 0..100");
      e.percent = r.number_in(t, "percent", 0.0, 0.0, 100.0);
      // Next to `fraction` (a share in (0, 1]) a percent below 1 reads like
      // a share: 0.3 is 0.3% here, not 30%. Legal (a light loss), so said, not refused.
      if (e.percent > 0.0 && e.percent < 1.0) {
        const std::string given = number_text(e.percent), scaled = number_text(e.percent * 100.0);
        r.warn(*t.get("percent"), "a " + kind_name + " event's percent = " + given + " means " + given +
                                      "%, not " + scaled + "% (percent counts 0..100: write " + scaled + " for " +
                                      scaled + "%)");
      }
      break;
    case EventKind::delay:
      r.only_keys(t, {"at", "kind", "peer", "peers", "fraction", "ms", "jitter_ms", "duration"}, "a delay event");
      if (!t.contains("ms")) r.fail(&t, "a delay event needs ms = MILLISECONDS");
      e.delay_ms = r.number_in(t, "ms", 0.0, 0.0, 60000.0);
      e.jitter_ms = r.number_in(t, "jitter_ms", 0.0, 0.0, 60000.0);
      break;
    case EventKind::bandwidth: {
      r.only_keys(t, {"at", "kind", "peer", "peers", "fraction", "bytes_per_second", "duration"},
                  "a bandwidth event");
      const std::int64_t rate = r.integer(t, "bytes_per_second", 0);
      if (rate < 1) r.fail(t.contains("bytes_per_second") ? t.get("bytes_per_second") : &t,
                           "a bandwidth event needs bytes_per_second >= 1");
      e.bytes_per_second = static_cast<std::uint64_t>(rate);
      break;
    }
    case EventKind::pause:
      r.only_keys(t, {"at", "kind", "peer", "peers", "fraction", "duration"}, "a pause event");
      if (!t.contains("duration")) r.fail(&t, "a pause event needs duration = SECONDS");
      break;
    case EventKind::straggler:
      r.only_keys(t, {"at", "kind", "peer", "peers", "fraction", "factor", "duration"}, "a straggler event");
      e.factor = r.number_in(t, "factor", 10.0, 1.0, 1000.0);
      break;
    case EventKind::byzantine: {
      r.only_keys(t, {"at", "kind", "peer", "peers", "fraction", "mode", "scale", "duration"}, "a byzantine event");
      const std::string mode = r.text(t, "mode", "random");
      if (mode == "random") e.mode = ByzantineMode::random_deltas;
      else if (mode == "scaled") e.mode = ByzantineMode::scaled_deltas;
      else if (mode == "garbage") e.mode = ByzantineMode::garbage_frames;
      else if (mode == "membership_lies") e.mode = ByzantineMode::membership_lies;
      else if (mode == "membership_flood") e.mode = ByzantineMode::membership_flood;
      else if (mode == "drift") e.mode = ByzantineMode::drift_deltas;
      else {
        r.fail(t.get("mode"), "'mode' must be \"random\", \"scaled\", \"drift\", \"garbage\", \"membership_lies\" or "
                              "\"membership_flood\"");
      }
      if (!takes_scale(e.mode) && t.contains("scale"))
        r.fail(t.get("scale"), "'scale' applies to modes random, scaled and drift only");
      e.scale = r.number(t, "scale", e.mode == ByzantineMode::scaled_deltas ? -10.0
                                     : e.mode == ByzantineMode::drift_deltas ? 2.5
                                                                             : 1.0);
      if (std::abs(e.scale) > 1e6) r.fail(t.get("scale"), "'scale' must be at most 1e6 in magnitude");
      break;
    }
    case EventKind::seed_down: r.only_keys(t, {"at", "kind"}, "a seed_down event"); break;
  }
  if (takes_targets) {
    auto selector = r.selector(t);
    if (!selector) r.fail(&t, "event '" + kind_name + "' needs peer = I, peers = [...] / \"all\", or fraction = F");
    e.targets = *selector;
  }
  e.duration_seconds = r.number(t, "duration", 0.0);
  if (e.duration_seconds < 0.0) r.fail(t.get("duration"), "'duration' must be >= 0 seconds");
  if (e.kind == EventKind::pause && !(e.duration_seconds > 0.0)) r.fail(t.get("duration"), "'duration' must be > 0");
  return e;
}

Expectation read_expectation(const Reader& r, const toml::table& t) {
  Expectation x;
  x.line = static_cast<int>(t.source().begin.line);
  const toml::node* kind_node = t.get("kind");
  if (kind_node == nullptr || !kind_node->is_string()) r.fail(&t, "an expectation needs kind = \"...\"");
  const std::string name = *kind_node->value<std::string>();
  auto kind = expect_kind(name);
  if (!kind) {
    r.fail(kind_node, "unknown expectation kind '" + name +
                          "' (known: min_accuracy, mean_accuracy, max_accuracy_spread, peer_accuracy, "
                          "keeps_improving, catch_up, max_consensus_distance, membership_converged, never_dead, "
                          "addresses_stable, true_alive_count, no_crash, max_bytes_per_peer)");
  }
  x.kind = *kind;
  auto need_value = [&](double low, double high) {
    if (!t.contains("value")) r.fail(&t, "expectation '" + name + "' needs value = NUMBER");
    x.value = r.number(t, "value", 0.0);
    if (x.value < low || x.value > high) {
      r.fail(t.get("value"), "'value' must be in [" + std::to_string(low) + ", " + std::to_string(high) + "]");
    }
  };
  // Which model's accuracy: each peer's own, or the local average it serves.
  auto read_model = [&] {
    if (const std::string model = r.text(t, "model", "own"); model == "served") {
      x.served = true;
    } else if (model != "own") {
      r.fail(t.get("model"), "'model' must be \"own\" (each peer's own model) or \"served\" (the local "
                             "average it serves), not '" + model + "'");
    }
  };
  auto need_within = [&] {
    if (!t.contains("within")) r.fail(&t, "expectation '" + name + "' needs within = SECONDS");
    x.within_seconds = r.number(t, "within", 0.0);
    if (x.within_seconds < 0.0) r.fail(t.get("within"), "'within' must be >= 0 seconds");
  };
  switch (x.kind) {
    case ExpectKind::min_accuracy:
    case ExpectKind::mean_accuracy:
    case ExpectKind::max_accuracy_spread:
      r.only_keys(t, {"kind", "value", "peer", "peers", "model"}, "expectation '" + name + "'");
      need_value(0.0, 1.0);
      x.peers = r.selector(t, true);
      read_model();
      break;
    case ExpectKind::peer_accuracy:
      r.only_keys(t, {"kind", "value", "at", "peer", "peers"}, "expectation 'peer_accuracy'");
      need_value(0.0, 1.0);
      x.at_seconds = r.optional_number(t, "at");
      x.peers = r.selector(t, true);
      break;
    case ExpectKind::keeps_improving:
      r.only_keys(t, {"kind", "value", "after", "window", "model"}, "expectation 'keeps_improving'");
      read_model();
      x.window_seconds = r.number(t, "window", x.window_seconds);
      if (x.window_seconds < 0.0) r.fail(t.get("window"), "'window' must be >= 0 seconds");
      // A negative value is the most a peer may lose: near a plateau a mean
      // of evaluations still drifts by a few tenths of a point.
      x.value = r.number(t, "value", 0.0);
      if (x.value < -1.0 || x.value > 1.0) r.fail(t.get("value"), "'value' must be in [-1, 1]");
      if (!t.contains("after")) r.fail(&t, "expectation 'keeps_improving' needs after = SECONDS");
      x.after_seconds = r.number(t, "after", 0.0);
      break;
    case ExpectKind::catch_up:
      r.only_keys(t, {"kind", "value", "within", "peer"}, "expectation 'catch_up'");
      need_value(0.0, 1.0);
      need_within();
      if (!t.contains("peer")) r.fail(&t, "expectation 'catch_up' needs peer = INDEX");
      x.peer = r.int_in(t, "peer", -1, 0, 100000);
      break;
    case ExpectKind::max_consensus_distance:
      r.only_keys(t, {"kind", "value", "peer", "peers"}, "expectation 'max_consensus_distance'");
      need_value(0.0, 1e30);
      x.peers = r.selector(t, true);
      break;
    case ExpectKind::membership_converged:
      r.only_keys(t, {"kind", "within"}, "expectation 'membership_converged'");
      need_within();
      break;
    case ExpectKind::never_dead:
      r.only_keys(t, {"kind", "peer", "peers", "max_seconds"}, "expectation 'never_dead'");
      x.peers = r.selector(t, true);
      x.max_seconds = r.number(t, "max_seconds", 0.0);
      if (x.max_seconds < 0.0) r.fail(t.get("max_seconds"), "'max_seconds' must be >= 0 seconds");
      break;
    case ExpectKind::addresses_stable:
    case ExpectKind::true_alive_count:
      r.only_keys(t, {"kind", "peer", "peers"}, "expectation '" + name + "'");
      x.peers = r.selector(t, true);
      break;
    case ExpectKind::no_crash: r.only_keys(t, {"kind"}, "expectation 'no_crash'"); break;
    case ExpectKind::max_bytes_per_peer:
      r.only_keys(t, {"kind", "value"}, "expectation 'max_bytes_per_peer'");
      need_value(0.0, 1e18);
      break;
  }
  if (x.peers && x.peers->kind == PeerSelector::Kind::fraction) r.fail(&t, "expectations take peer or peers");
  return x;
}

void check_index(const Reader& r, int index, int existing, const std::string& what, int line) {
  if (index >= existing) {
    r.fail_at(static_cast<std::uint32_t>(line), 1,
              what + " names peer " + std::to_string(index) + ", but only peers 0.." + std::to_string(existing - 1) +
                  " exist by then");
  }
}

// Cross-field checks: time order, peer indices against the peers that exist
// at each event, durations inside the run.
void validate(const Reader& r, const Scenario& s, const ParseOptions& options) {
  double previous = 0.0;
  int previous_line = 0;
  // Peers started by the events before i, counted as they go: asking
  // peers_started_by at each event rescanned all earlier ones (200,000
  // events took two silent minutes). In time order it is the same count; an
  // event out of order (refused below) takes the exact scan.
  int started_before = s.swarm.peers;
  for (std::size_t i = 0; i < s.events.size(); ++i) {
    const Event& e = s.events[i];
    const bool in_order = e.at_seconds >= previous;
    const int existing = in_order ? started_before : s.peers_started_by(e.at_seconds, i);
    const int started_with = existing + (e.kind == EventKind::join ? e.count : 0);
    // Joins count against the same limit as [swarm] peers: 30 joins of 64
    // would have started 1,921 processes on one machine.
    if (e.kind == EventKind::join && started_with > options.max_peers) {
      r.fail_at(static_cast<std::uint32_t>(e.line), 1,
                "join event at " + seconds(e.at_seconds) + " brings the swarm to " + std::to_string(started_with) +
                    " peers started in all, above " + std::to_string(options.max_peers) + " (" +
                    options.limit_reason + ")");
    }
    if (e.kind == EventKind::join) started_before += e.count;
    if (e.at_seconds < previous) {
      r.fail_at(static_cast<std::uint32_t>(e.line), 1,
                "event at " + seconds(e.at_seconds) + " comes after one at " + seconds(previous) +
                    " (line " + std::to_string(previous_line) + "): list events in time order");
    }
    previous = e.at_seconds;
    previous_line = e.line;
    if (e.at_seconds + e.duration_seconds > s.duration_seconds) {
      r.fail_at(static_cast<std::uint32_t>(e.line), 1,
                std::string(to_string(e.kind)) + " event ends at " + seconds(e.at_seconds + e.duration_seconds) +
                    ", after the scenario's duration (" + seconds(s.duration_seconds) + ")");
    }
    const std::string what = std::string(to_string(e.kind)) + " event at " + seconds(e.at_seconds);
    for (int p : e.targets.peers) check_index(r, p, existing, what, e.line);
    for (const auto& group : e.groups) {
      for (int p : group) check_index(r, p, existing, what, e.line);
    }
  }
  const int total = s.total_peers();
  // Every poll keeps a sample of every peer for the report: 86,400 s polled
  // every 0.1 s with 64 peers grew at about 100 MB/s until memory ran out.
  const double polls = std::floor(s.duration_seconds / s.poll_interval_seconds) + 2.0;
  if (polls * double(total) > double(kMaxPeerSamples)) {
    const double poll_at_least = s.duration_seconds * double(total) / double(kMaxPeerSamples);
    r.fail(nullptr, "polling " + std::to_string(total) + " peers every " + seconds(s.poll_interval_seconds) +
                        " for " + seconds(s.duration_seconds) + " keeps " + fmt_count(polls * double(total)) +
                        " peer samples for the report, above " + fmt_count(double(kMaxPeerSamples)) +
                        ": raise 'poll_interval' to at least " + seconds(std::ceil(poll_at_least * 10.0) / 10.0) +
                        ", or shorten the run");
  }
  for (const Expectation& x : s.expectations) {
    const std::string what = std::string("expectation '") + to_string(x.kind) + "'";
    if (x.peer >= 0) check_index(r, x.peer, total, what, x.line);
    if (x.peers) {
      for (int p : x.peers->peers) check_index(r, p, total, what, x.line);
    }
    if (x.at_seconds && (*x.at_seconds < 0.0 || *x.at_seconds > s.duration_seconds)) {
      r.fail_at(static_cast<std::uint32_t>(x.line), 1, what + ": 'at' must be within 0..duration");
    }
    if (x.kind == ExpectKind::keeps_improving && (x.after_seconds < 0.0 || x.after_seconds >= s.duration_seconds)) {
      r.fail_at(static_cast<std::uint32_t>(x.line), 1,
                what + ": 'after' must be before the end of the run (0 <= after < duration)");
    }
  }
}

// What the file alone says about whether a peer runs at an event: kill,
// stop and seed_down take a named peer down, restart (and the join that
// started it) bring it up; "all" takes every running peer down or brings
// every started one back; a fraction leaves whom it drew unknown.
struct PeerLife {
  enum class State : std::uint8_t { up, down, unknown };
  State state = State::up;
  int line = 0;             // the event that took it down
  std::string how;          // "killed it at 1 s", "stopped every running peer at 3 s"
};

// The toml node an explicit target `peer` came from (for the warning's place).
const toml::node& target_node(const toml::table& t, int peer) {
  if (const toml::node* node = t.get("peer")) return *node;
  if (const toml::array* list = t.get("peers") != nullptr ? t.get("peers")->as_array() : nullptr) {
    for (const toml::node& item : *list) {
      if (item.value<std::int64_t>() == std::int64_t{peer}) return item;
    }
  }
  return t;
}

// Legal but most likely not meant: an event that names a peer which is
// certainly down then (killed or stopped and not restarted since) finds no
// process there and does nothing, silently. Warned with the line that took
// the peer down. A restart of a down peer is what restart is for; pauses
// and timed faults end without taking a peer down. Call after validate().
void warn_down_targets(const Reader& r, const Scenario& s, const toml::array& tables) {
  using State = PeerLife::State;
  std::vector<PeerLife> life(static_cast<std::size_t>(s.total_peers()));
  int started = s.swarm.peers;  // by the events before i (validate() saw them in time order)
  for (std::size_t i = 0; i < s.events.size(); ++i) {
    const Event& e = s.events[i];
    const toml::table& t = *tables[i].as_table();
    if (i > 0 && s.events[i - 1].kind == EventKind::join) started += s.events[i - 1].count;
    std::vector<int> named;
    if (e.kind == EventKind::seed_down) named = {0};
    else if (e.kind != EventKind::join && e.targets.kind == PeerSelector::Kind::list) named = e.targets.peers;
    if (e.kind != EventKind::restart) {
      for (int p : named) {
        const PeerLife& l = life[static_cast<std::size_t>(p)];
        if (l.state != State::down) continue;
        r.warn(e.kind == EventKind::seed_down ? t : target_node(t, p),
               std::string(to_string(e.kind)) + " event at " + seconds(e.at_seconds) + " targets peer " +
                   std::to_string(p) + ", which is down then (line " + std::to_string(l.line) + " " + l.how +
                   " and no restart brought it back), so it does nothing to it");
      }
    }
    const bool takes_down = e.kind == EventKind::kill || e.kind == EventKind::stop || e.kind == EventKind::seed_down;
    if (!takes_down && e.kind != EventKind::restart) continue;
    const std::string verb = e.kind == EventKind::stop ? "stopped" : "killed";
    const std::string when = " at " + seconds(e.at_seconds);
    switch (e.kind == EventKind::seed_down ? PeerSelector::Kind::list : e.targets.kind) {
      case PeerSelector::Kind::list:
        for (int p : named) {
          life[static_cast<std::size_t>(p)] =
              takes_down ? PeerLife{State::down, e.line, verb + " it" + when} : PeerLife{};
        }
        break;
      case PeerSelector::Kind::all:
        for (int p = 0; p < started; ++p) {
          PeerLife& l = life[static_cast<std::size_t>(p)];
          if (!takes_down) l = PeerLife{};
          else if (l.state != State::down) l = PeerLife{State::down, e.line, verb + " every running peer" + when};
        }
        break;
      case PeerSelector::Kind::fraction:
        for (int p = 0; p < started; ++p) {
          PeerLife& l = life[static_cast<std::size_t>(p)];
          if (l.state == (takes_down ? State::up : State::down)) l.state = State::unknown;
        }
        break;
      case PeerSelector::Kind::honest: break;  // expectations only
    }
  }
}

Scenario read(const Reader& r, const toml::table& root, const ParseOptions& options) {
  r.only_keys(root, {"name", "description", "duration", "seed", "poll_interval", "swarm", "events", "expect"},
              "the top level");
  Scenario s;
  s.source = r.source();
  s.name = r.text(root, "name", "");
  if (s.name.empty()) r.fail(nullptr, "a scenario needs name = \"...\"");
  s.description = r.text(root, "description", "");
  if (!root.contains("duration")) r.fail(nullptr, "a scenario needs duration = SECONDS");
  s.duration_seconds = r.number(root, "duration", 0.0);
  if (!(s.duration_seconds > 0.0 && s.duration_seconds <= 86400.0)) {
    r.fail(root.get("duration"), "'duration' must be in (0, 86400] seconds");
  }
  const std::int64_t seed = r.integer(root, "seed", 1);
  if (seed < 0) r.fail(root.get("seed"), "'seed' must be >= 0");
  s.seed = static_cast<std::uint64_t>(seed);
  s.poll_interval_seconds = r.number(root, "poll_interval", s.poll_interval_seconds);
  if (!(s.poll_interval_seconds >= 0.1 && s.poll_interval_seconds <= 60.0)) {
    r.fail(root.get("poll_interval"), "'poll_interval' must be 0.1..60 seconds");
  }
  if (const toml::node* swarm = root.get("swarm")) {
    if (!swarm->is_table()) r.fail(swarm, "[swarm] must be a table");
    s.swarm = read_swarm(r, *swarm->as_table(), options);
  }
  // Before events and expectations are read and checked: they must see the
  // peers that will really run (an event naming peer 7 needs 8 peers).
  if (options.peers) {
    if (*options.peers < 1 || *options.peers > options.max_peers) {
      r.fail(nullptr, "the peer count given instead of the file's (" + std::to_string(*options.peers) +
                          ") must be 1.." + std::to_string(options.max_peers) + " (" + options.limit_reason + ")");
    }
    s.swarm.peers = *options.peers;
  }
  if (const toml::node* events = root.get("events")) {
    const toml::array* array = events->as_array();
    if (array == nullptr) r.fail(events, "events must be written as [[events]] tables");
    for (const toml::node& item : *array) {
      if (!item.is_table()) r.fail(&item, "events must be written as [[events]] tables");
      s.events.push_back(read_event(r, *item.as_table()));
    }
  }
  if (const toml::node* expect = root.get("expect")) {
    const toml::array* array = expect->as_array();
    if (array == nullptr) r.fail(expect, "expectations must be written as [[expect]] tables");
    for (const toml::node& item : *array) {
      if (!item.is_table()) r.fail(&item, "expectations must be written as [[expect]] tables");
      s.expectations.push_back(read_expectation(r, *item.as_table()));
    }
  }
  validate(r, s, options);
  if (const toml::node* events = root.get("events")) warn_down_targets(r, s, *events->as_array());
  return s;
}

}  // namespace

Result<Scenario> parse_scenario(std::string_view text, const std::string& source, const ParseOptions& options) {
  Reader reader(source);
  try {
    toml::table root = toml::parse(text, source);
    Scenario scenario = read(reader, root, options);
    scenario.warnings = reader.take_warnings();
    return scenario;
  } catch (const toml::parse_error& error) {
    const auto& begin = error.source().begin;
    return make_error(ErrorKind::invalid_argument, source + ":" + std::to_string(begin.line) + ":" +
                                                       std::to_string(begin.column) + ": malformed TOML: " +
                                                       std::string(error.description()));
  } catch (const ParseFailure& failure) {
    return make_error(ErrorKind::invalid_argument, failure.message);
  }
}

Result<Scenario> load_scenario(const std::filesystem::path& path, const ParseOptions& options) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) {
    return make_error(ErrorKind::not_found, "scenario file " + path.string() + " not found");
  }
  // A folder, or a device such as /dev/zero (read forever), is not a file we read.
  if (!std::filesystem::is_regular_file(status)) {
    return make_error(ErrorKind::invalid_argument, "scenario file " + path.string() + " is not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) return make_error(ErrorKind::io, "cannot read " + path.string());
  return parse_scenario(text.str(), path.string(), options);
}

}  // namespace starling::scenario
