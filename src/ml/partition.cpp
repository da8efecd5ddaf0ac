// --partition / --shard parsing, the split of a data set across peers, and the
// shuffling minibatch iterator over one peer's shard.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <numeric>

#include "shuffle.h"
#include "starling/ml/dataset.h"

namespace starling::ml {
namespace {

template <typename T>
bool parse_whole(std::string_view text, T& value) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return !text.empty() && ec == std::errc() && ptr == end;
}

// Every shard of the split, all computed from the one seed, so that the shard
// a peer takes is disjoint from the others' by construction.
using Assignment = std::vector<std::vector<std::size_t>>;

Assignment split_iid(std::size_t samples, std::size_t shards, std::mt19937_64& rng) {
  std::vector<std::size_t> order(samples);
  std::iota(order.begin(), order.end(), std::size_t{0});
  detail::seeded_shuffle(order, rng);
  Assignment out(shards);
  for (std::size_t s = 0; s < shards; ++s) {
    // Near-equal parts: sizes differ by at most one.
    out[s].assign(order.begin() + std::ptrdiff_t(s * samples / shards),
                  order.begin() + std::ptrdiff_t((s + 1) * samples / shards));
  }
  return out;
}

Assignment split_dirichlet(const Dataset& data, std::size_t shards, double alpha, std::mt19937_64& rng) {
  std::vector<std::vector<std::size_t>> by_class(std::size_t(std::max(data.classes, 0)));
  for (std::size_t i = 0; i < data.size(); ++i) {
    const std::int32_t label = data.labels[i];
    STARLING_ASSERT(label >= 0 && label < data.classes);
    by_class[std::size_t(label)].push_back(i);
  }
  Assignment out(shards);
  std::gamma_distribution<double> gamma(alpha, 1.0);
  std::vector<double> weights(shards);
  for (auto& members : by_class) {
    detail::seeded_shuffle(members, rng);
    // Dir(alpha) proportions as normalised Gamma(alpha, 1) draws.
    double total = 0.0;
    for (double& w : weights) total += (w = gamma(rng));
    if (!(total > 0.0) || !std::isfinite(total)) {  // every draw underflowed (tiny alpha)
      std::fill(weights.begin(), weights.end(), 0.0);
      weights[std::size_t(rng() % shards)] = total = 1.0;
    }
    double cumulative = 0.0;
    std::size_t begin = 0;
    for (std::size_t s = 0; s < shards; ++s) {
      cumulative += weights[s];
      const std::size_t end = s + 1 == shards ? members.size()
                                               : std::min(members.size(), std::size_t(std::llround(
                                                                              cumulative / total * double(members.size()))));
      if (end > begin) out[s].insert(out[s].end(), members.begin() + std::ptrdiff_t(begin), members.begin() + std::ptrdiff_t(end));
      begin = std::max(begin, end);
    }
  }
  // With small alpha a shard can end up empty; a peer with nothing to train on
  // is useless, so move one sample to it from the largest shard. The largest
  // holds at least two when samples >= shards and some shard is empty.
  if (data.size() >= shards) {
    for (auto& shard : out) {
      if (!shard.empty()) continue;
      auto& donor = *std::max_element(out.begin(), out.end(),
                                      [](const auto& a, const auto& b) { return a.size() < b.size(); });
      STARLING_ASSERT(donor.size() >= 2);
      shard.push_back(donor.back());
      donor.pop_back();
    }
  }
  return out;
}

}  // namespace

Result<Partition> Partition::parse(const std::string& text) {
  Partition partition;
  if (text == "iid") return partition;
  const std::string prefix = "dirichlet:";
  if (text.rfind(prefix, 0) == 0) {
    double alpha = 0.0;
    if (parse_whole(std::string_view(text).substr(prefix.size()), alpha) && std::isfinite(alpha) && alpha > 0.0) {
      partition.kind = Kind::dirichlet;
      partition.alpha = alpha;
      return partition;
    }
    return make_error(ErrorKind::invalid_argument,
                      "bad Dirichlet concentration in partition '" + text + "' (alpha must be a number > 0, e.g. dirichlet:0.1)");
  }
  return make_error(ErrorKind::invalid_argument,
                    "unknown partition '" + text + "' (expected 'iid' or 'dirichlet:ALPHA', e.g. dirichlet:0.1)");
}

std::string Partition::to_string() const {
  if (kind == Kind::iid) return "iid";
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, alpha);  // shortest text that reads back exactly
  STARLING_ASSERT(ec == std::errc());
  return "dirichlet:" + std::string(buffer, end);
}

Result<ShardSpec> ShardSpec::parse(const std::string& text) {
  const std::size_t slash = text.find('/');
  ShardSpec spec;
  const std::string_view view(text);
  if (slash == std::string::npos || !parse_whole(view.substr(0, slash), spec.index) ||
      !parse_whole(view.substr(slash + 1), spec.count)) {
    return make_error(ErrorKind::invalid_argument,
                      "bad shard '" + text + "' (expected I/N with a 0-based index, e.g. 0/4 .. 3/4)");
  }
  if (spec.count < 1 || spec.index < 0 || spec.index >= spec.count) {
    return make_error(ErrorKind::invalid_argument,
                      "bad shard '" + text + "': the index is 0-based, so I/N needs N >= 1 and 0 <= I < N (e.g. 0/" +
                          std::to_string(std::max(spec.count, 1)) + ")");
  }
  return spec;
}

std::vector<std::size_t> shard_indices(const Dataset& data, const ShardSpec& shard, const Partition& partition,
                                       std::uint64_t seed) {
  STARLING_ASSERT(shard.count >= 1 && shard.index >= 0 && shard.index < shard.count);
  std::mt19937_64 rng(seed);
  const auto shards = std::size_t(shard.count);
  Assignment all = partition.kind == Partition::Kind::iid ? split_iid(data.size(), shards, rng)
                                                          : split_dirichlet(data, shards, partition.alpha, rng);
  std::vector<std::size_t> mine = std::move(all[std::size_t(shard.index)]);
  std::sort(mine.begin(), mine.end());  // memory order: cheaper gathers, order-independent result
  return mine;
}

Batcher::Batcher(const Dataset& data, std::vector<std::size_t> indices, int batch_size, std::uint64_t seed)
    : data_(data), indices_(std::move(indices)), batch_size_(batch_size), rng_(seed) {
  STARLING_ASSERT(batch_size_ > 0);
  for (std::size_t index : indices_) STARLING_ASSERT(index < data_.size());
  // No batch is ever longer than the samples there are.
  const auto longest = std::min<std::size_t>(std::size_t(batch_size_), indices_.size());
  features_.resize(data_.features.rows(), Eigen::Index(longest));
  labels_.resize(longest);
  reshuffle();
}

void Batcher::reshuffle() { detail::seeded_shuffle(indices_, rng_); }

// The one place an epoch ends: next() and skip() must agree on it.
int Batcher::advance() {
  if (position_ == indices_.size()) {
    position_ = 0;
    ++epoch_;
    reshuffle();
  }
  return int(std::min<std::size_t>(std::size_t(batch_size_), indices_.size() - position_));
}

void Batcher::skip(std::int64_t batches) {
  if (indices_.empty()) return;
  for (; batches > 0; --batches) position_ += std::size_t(advance());
}

int Batcher::next() {
  if (indices_.empty()) return 0;
  const int count = advance();
  const Eigen::Index rows = data_.features.rows();
  if (features_.cols() != count) features_.resize(rows, count);  // only around a partial last batch
  labels_.resize(std::size_t(count));
  const float* source = data_.features.data();
  float* target = features_.data();
  for (int k = 0; k < count; ++k) {
    const std::size_t sample = indices_[position_ + std::size_t(k)];
    // A sample is one contiguous column.
    std::memcpy(target + std::size_t(k) * std::size_t(rows), source + sample * std::size_t(rows),
                sizeof(float) * std::size_t(rows));
    labels_[std::size_t(k)] = data_.labels[sample];
  }
  position_ += std::size_t(count);
  return count;
}

}  // namespace starling::ml
