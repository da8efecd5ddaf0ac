// Wire layer throughput: codec encode/decode of a top-k delta (indices +
// values) and framing/unframing of opaque payloads, at 1 MiB and 16 KiB, next
// to a plain memcpy of the same size for scale.
//   build-wire/bench/bench_wire --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "../tests/wire/sample_messages.h"
#include "starling/wire/codec.h"
#include "starling/wire/frame.h"

using namespace starling::wire;

namespace {

void BM_EncodeDelta(benchmark::State& state) {
  const Message message = samples::large_delta(static_cast<std::size_t>(state.range(0)));
  std::vector<std::uint8_t> buffer;
  for (auto _ : state) {
    auto status = encode_into(message, buffer);
    if (!status.ok()) state.SkipWithError("encode failed");
    benchmark::DoNotOptimize(buffer.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(buffer.size()));
}

void BM_DecodeDelta(benchmark::State& state) {
  auto bytes = encode(samples::large_delta(static_cast<std::size_t>(state.range(0))));
  if (!bytes.ok()) {
    state.SkipWithError("encode failed");
    return;
  }
  for (auto _ : state) {
    auto decoded = decode(*bytes);
    if (!decoded.ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(bytes->size()));
}

std::vector<std::uint8_t> opaque(std::size_t size) {
  std::vector<std::uint8_t> payload(size);
  for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<std::uint8_t>(i * 7);
  return payload;
}

void BM_Frame(benchmark::State& state) {
  auto payload = opaque(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    auto framed = frame(payload);
    benchmark::DoNotOptimize(framed);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

// A 64 KiB read chunking, like a socket read loop.
void BM_FrameDecode(benchmark::State& state) {
  auto payload = opaque(static_cast<std::size_t>(state.range(0)));
  std::vector<std::uint8_t> stream;
  for (int i = 0; i < 4; ++i) {
    auto framed = frame(payload);
    stream.insert(stream.end(), framed->begin(), framed->end());
  }
  constexpr std::size_t kReadBytes = 64 << 10;
  FrameDecoder decoder;
  for (auto _ : state) {
    std::size_t frames = 0;
    for (std::size_t at = 0; at < stream.size(); at += kReadBytes) {
      auto got = decoder.feed(std::span(stream).subspan(at, std::min(kReadBytes, stream.size() - at)));
      if (!got.ok()) state.SkipWithError("feed failed");
      frames += got->size();
    }
    if (frames != 4) state.SkipWithError("lost frames");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * 4 * state.range(0));
}

void BM_Memcpy(benchmark::State& state) {
  auto source = opaque(static_cast<std::size_t>(state.range(0)));
  std::vector<std::uint8_t> target(source.size());
  for (auto _ : state) {
    std::memcpy(target.data(), source.data(), source.size());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

}  // namespace

BENCHMARK(BM_EncodeDelta)->Arg(16 << 10)->Arg(1 << 20);
BENCHMARK(BM_DecodeDelta)->Arg(16 << 10)->Arg(1 << 20);
BENCHMARK(BM_Frame)->Arg(16 << 10)->Arg(1 << 20);
BENCHMARK(BM_FrameDecode)->Arg(16 << 10)->Arg(1 << 20);
BENCHMARK(BM_Memcpy)->Arg(16 << 10)->Arg(1 << 20);

BENCHMARK_MAIN();
