// Frame throughput over loopback TCP through the libuv transport: sealed
// (handshake + ChaCha20-Poly1305 on every frame) against plain frames and
// against memcpy of the same message size. One loop thread runs both ends, so
// a figure is what one core sustains for seal + send + receive + open.
//
//   build-runtime/bench/bench_runtime [--benchmark_min_time=1]
//
// After the usual table it prints GB/s per case and the ratios.
#include <benchmark/benchmark.h>

#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "starling/runtime/event_loop.h"
#include "starling/runtime/security.h"
#include "starling/runtime/uv_transport.h"
#if STARLING_HAVE_CRYPTO
#include "starling/runtime/crypto_security.h"
#endif

using namespace starling;
using namespace starling::runtime;
using namespace starling::node;

namespace {

constexpr std::size_t kBytesPerIteration = 64u << 20;

enum class Mode { plain, sealed };

std::shared_ptr<Security> make_security(Mode mode, [[maybe_unused]] const void* swarm_key) {
#if STARLING_HAVE_CRYPTO
  if (mode == Mode::sealed) {
    return make_crypto_security(crypto::Identity::generate(),
                                static_cast<const crypto::SwarmKey*>(swarm_key)->clone());
  }
#endif
  (void)mode;
  return make_plain_security();
}

void BM_loopback(benchmark::State& state, Mode mode) {
  const auto frame_bytes = static_cast<std::size_t>(state.range(0));
#if STARLING_HAVE_CRYPTO
  const crypto::SwarmKey swarm_key = crypto::SwarmKey::generate();
  const void* key = &swarm_key;
#else
  if (mode == Mode::sealed) {
    state.SkipWithError("built without the crypto layer");
    return;
  }
  const void* key = nullptr;
#endif
  EventLoop loop;
  UvTransportOptions server_options;
  server_options.security = make_security(mode, key);
  UvTransportOptions client_options;
  client_options.security = make_security(mode, key);
  auto server = make_uv_transport(loop, std::move(server_options));
  auto client = make_uv_transport(loop, std::move(client_options));

  std::size_t received_bytes = 0;
  bool connected = false;
  bool send_ready = false;
  bool failed = false;
  TransportEvents server_events;
  server_events.on_frame = [&](ConnectionId, ByteSpan frame) { received_bytes += frame.size(); };
  server->set_events(server_events);
  TransportEvents client_events;
  client_events.on_connected = [&](const ConnectionInfo&) { connected = true; };
  client_events.on_send_ready = [&](ConnectionId) { send_ready = true; };
  client_events.on_disconnected = [&](ConnectionId, const Error&) { failed = true; };
  client->set_events(client_events);

  auto address = server->listen(Address{"127.0.0.1", 0});
  if (!address) {
    state.SkipWithError(address.error().message.c_str());
    return;
  }
  auto id = client->connect(*address);
  if (!id || !loop.run_until([&] { return connected || failed; }, 5'000) || failed) {
    state.SkipWithError("could not connect");
    return;
  }

  std::vector<std::uint8_t> frame(frame_bytes);
  std::mt19937_64 generator(1);
  for (auto& byte : frame) byte = static_cast<std::uint8_t>(generator());
  const std::size_t frames = kBytesPerIteration / frame_bytes;

  for (auto _ : state) {
    received_bytes = 0;
    for (std::size_t sent = 0; sent < frames && !failed;) {
      Status status = client->send(*id, frame);
      if (status.ok()) {
        ++sent;
        continue;
      }
      if (status.error().kind != ErrorKind::overloaded) {
        failed = true;
        break;
      }
      // Congested: let the loop drain until the transport says to go on.
      send_ready = false;
      loop.run_until([&] { return send_ready || failed; }, 10'000);
    }
    if (failed || !loop.run_until([&] { return received_bytes == frames * frame_bytes || failed; }, 60'000)) {
      state.SkipWithError("transfer failed");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(frames * frame_bytes));
  state.SetLabel(mode == Mode::sealed ? "sealed" : "plain");
  client.reset();
  server.reset();
}

void BM_memcpy(benchmark::State& state) {
  const auto frame_bytes = static_cast<std::size_t>(state.range(0));
  std::vector<std::uint8_t> source(frame_bytes, 1);
  std::vector<std::uint8_t> target(frame_bytes);
  const std::size_t frames = kBytesPerIteration / frame_bytes;
  for (auto _ : state) {
    for (std::size_t i = 0; i < frames; ++i) {
      std::memcpy(target.data(), source.data(), frame_bytes);
      benchmark::ClobberMemory();
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(frames * frame_bytes));
}

BENCHMARK_CAPTURE(BM_loopback, sealed, Mode::sealed)->Arg(16 << 10)->Arg(1 << 20)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_loopback, plain, Mode::plain)->Arg(16 << 10)->Arg(1 << 20)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_memcpy)->Arg(16 << 10)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

// Prints the usual table, then GB/s per case and the ratios asked for.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred || run.run_type != Run::RT_Iteration) continue;
      auto bytes = run.counters.find("bytes_per_second");
      if (bytes != run.counters.end()) rates_[run.benchmark_name()] = bytes->second.value / 1e9;
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\nGB/s (1e9 bytes/s of payload) and ratios:\n");
    for (const char* size : {"16384", "1048576"}) {
      const double sealed = rate(std::string("BM_loopback/sealed/") + size);
      const double plain = rate(std::string("BM_loopback/plain/") + size);
      const double copy = rate(std::string("BM_memcpy/") + size);
      std::printf("  %8s B frames: sealed %6.2f  plain %6.2f  memcpy %6.2f | sealed/plain %.2f  plain/memcpy %.3f  sealed/memcpy %.3f\n",
                  size, sealed, plain, copy, plain > 0 ? sealed / plain : 0.0, copy > 0 ? plain / copy : 0.0,
                  copy > 0 ? sealed / copy : 0.0);
    }
  }

 private:
  double rate(const std::string& name_prefix) const {
    for (const auto& [name, value] : rates_)
      if (name.rfind(name_prefix, 0) == 0) return value;
    return 0.0;
  }
  std::map<std::string, double> rates_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
