// The C++ embedding API (docs/embedding.md) from a training loop that is the
// user's own: here starling's MLP and SGD stand in for "your model", trained
// on Fashion-MNIST (Debian's dataset-fashion-mnist), while the embedded peer
// joins a swarm and keeps this replica close to the others'.
//
//   embed_example listen=127.0.0.1:7000 seconds=60 shard=0/2
//   embed_example listen=127.0.0.1:7001 seed=127.0.0.1:7000 seconds=60 shard=1/2
//
// Arguments are KEY=VALUE: the peer's settings (the keys of `starling peer`'s
// flags: listen, seed, swarm-key, data-dir, compress, ...) and this example's
// own: seconds (how long to train), shard (I/N: which slice of the training
// set), hidden (the MLP's hidden layer width), lr, seed-init.
#include <Eigen/Core>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "starling/embed.h"
#include "starling/ml/dataset.h"
#include "starling/ml/model.h"
#include "starling/ml/optimizer.h"

namespace {

double accuracy(starling::ml::Mlp& model, const starling::ml::Dataset& test) {
  const auto stats = model.evaluate(test.features, test.labels.data());
  return stats.count ? double(stats.correct) / stats.count : 0.0;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "embed_example: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  starling::embed::Settings settings;
  double seconds = 30, lr = 0.05;
  int shard = 0, shards = 1, hidden = 128;
  std::uint64_t seed_init = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto eq = arg.find('=');
    if (eq == std::string::npos) return fail("want KEY=VALUE, got '" + arg + "'");
    const std::string key = arg.substr(0, eq), value = arg.substr(eq + 1);
    if (key == "seconds") seconds = std::atof(value.c_str());
    else if (key == "lr") lr = std::atof(value.c_str());
    else if (key == "hidden") hidden = std::atoi(value.c_str());
    else if (key == "seed-init") seed_init = std::strtoull(value.c_str(), nullptr, 10);
    else if (key == "shard") std::sscanf(value.c_str(), "%d/%d", &shard, &shards);
    else settings.emplace_back(key, value);  // the peer's own
  }
  if (shards < 1 || shard < 0 || shard >= shards || hidden < 1) return fail("bad shard or hidden");

  // ---- the user's side: data, model, optimizer ----
  auto data = starling::ml::load_debian_dataset("fashion-mnist");
  if (!data) return fail("cannot load Fashion-MNIST: " + data.error().message + " (apt install dataset-fashion-mnist)");
  starling::ml::standardize(*data);
  std::vector<std::size_t> mine;
  for (std::size_t i = std::size_t(shard); i < data->train.size(); i += std::size_t(shards)) mine.push_back(i);
  starling::ml::Mlp model(*starling::ml::ModelSpec::parse("mlp:" + std::to_string(hidden)), data->train.inputs(),
                          data->train.classes);
  model.initialize(seed_init);
  starling::ml::OptimizerConfig optimizer_config;  // SGD, momentum 0.9
  starling::ml::Optimizer optimizer(optimizer_config, model.parameter_count());
  Eigen::VectorXf gradient(Eigen::Index(model.parameter_count()));

  // ---- starling: the flat parameters and their layout ----
  starling::embed::ModelLayout layout{"fashion-mnist-mlp", {}};
  for (const auto& layer : model.layers()) {
    layout.shapes.push_back({layer.out, layer.in});
    layout.shapes.push_back({layer.out});
  }
  auto peer = starling::embed::Peer::create(settings);
  if (!peer) return fail(peer.error().message);
  if (auto attached = (*peer)->attach(model.parameters().data(), model.parameter_count(), layout); !attached)
    return fail(attached.error().message);
  if (auto joined = (*peer)->join(); !joined) return fail(joined.error().message);
  auto status = (*peer)->status();
  if (!status) return fail(status.error().message);
  std::printf("address %s\n", status->address.c_str());
  std::printf("joined: %s; test accuracy at start %.4f\n",
              status->downloaded ? "downloaded the swarm's model" : "own initial model", accuracy(model, data->test));
  std::fflush(stdout);

  // ---- the user's training loop, with one extra call ----
  std::mt19937_64 random(seed_init * 7919 + std::uint64_t(shard));
  const int batch = 64;
  Eigen::MatrixXf features(data->train.inputs(), batch);
  std::vector<std::int32_t> labels(batch);
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  double next_report = 5;
  std::int64_t steps = 0;
  while (elapsed() < seconds) {
    for (int b = 0; b < batch; ++b) {
      const std::size_t i = mine[random() % mine.size()];
      features.col(b) = data->train.features.col(Eigen::Index(i));
      labels[std::size_t(b)] = data->train.labels[i];
    }
    model.forward_backward(features, labels.data(), gradient);
    optimizer.step(model.parameters(), gradient, float(lr));
    if (auto stepped = (*peer)->after_step(); !stepped) return fail(stepped.error().message);
    ++steps;
    if (elapsed() >= next_report) {
      next_report += 5;
      auto s = (*peer)->status();
      if (s) {
        std::printf("t=%.0fs step %lld | neighbours %zu | corrections %llu | consensus %s\n", elapsed(),
                    static_cast<long long>(steps), s->neighbours.size(),
                    static_cast<unsigned long long>(s->corrections_applied),
                    s->consensus_distance ? std::to_string(*s->consensus_distance).c_str() : "-");
        std::fflush(stdout);
      }
    }
  }
  auto final_status = (*peer)->status();
  std::printf("final: steps %lld, test accuracy %.4f, corrections %llu, gossip bytes sent %llu\n",
              static_cast<long long>(steps), accuracy(model, data->test),
              final_status ? static_cast<unsigned long long>(final_status->corrections_applied) : 0ULL,
              final_status ? static_cast<unsigned long long>(final_status->gossip_bytes_sent) : 0ULL);
  std::fflush(stdout);
  if (auto left = (*peer)->leave(); !left) return fail(left.error().message);
  return 0;
}
