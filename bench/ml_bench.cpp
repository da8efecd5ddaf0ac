// Micro-benchmark of one training step (gather, forward, backward, optimizer)
// for the reference MLP 784-256-128-10 at the batch sizes the issue names.
// Synthetic data: the figure is the step's cost, independent of the data set.
// The side-by-side comparison with PyTorch is bench/train_vs_pytorch.sh.
#include <benchmark/benchmark.h>

#include <random>

#include "starling/ml/dataset.h"
#include "starling/ml/fpu.h"
#include "starling/ml/trainer.h"

namespace {

starling::ml::Dataset synthetic(int samples) {
  starling::ml::Dataset data;
  data.classes = 10;
  data.features = Eigen::MatrixXf::Random(784, samples);
  data.labels.resize(std::size_t(samples));
  std::mt19937 rng(3);
  for (auto& label : data.labels) label = std::int32_t(rng() % 10);
  return data;
}

void BM_TrainStep(benchmark::State& state) {
  using namespace starling::ml;
  enable_flush_to_zero();
  Eigen::setNbThreads(1);  // the reference is one thread
  const int batch = int(state.range(0));
  const Dataset data = synthetic(8192);
  std::vector<std::size_t> all(data.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  Mlp model(*ModelSpec::parse("mlp:256,128"), 784, 10);
  model.initialize(1);
  Optimizer optimizer(OptimizerConfig{}, model.parameter_count());
  Batcher batcher(data, all, batch, 7);
  LrSchedule schedule;
  schedule.lr = 0.01;
  Trainer trainer(model, optimizer, batcher, schedule);
  for (auto _ : state) {
    auto stats = trainer.step();
    benchmark::DoNotOptimize(stats);
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_TrainStep)->Arg(32)->Arg(64)->Arg(256)->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
