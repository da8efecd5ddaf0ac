// Throughput of the crypto layer next to memcpy: what sealing costs per byte a
// link sends, with ChaCha20-Poly1305 and AES-256-GCM. Frames: 16 KiB (gossip
// deltas), 235,146 bytes and 1 MiB (snapshots, chunks, dense deltas).
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "starling/crypto/datagram.h"
#include "starling/crypto/frame.h"
#include "starling/crypto/handshake.h"

namespace {

using namespace starling::crypto;

SymmetricKey bench_key() {
  std::array<std::uint8_t, 32> bytes{};
  bytes.fill(0x42);
  return SymmetricKey(bytes);
}

void memcpy_baseline(benchmark::State& state) {
  std::size_t size = static_cast<std::size_t>(state.range(0));
  std::vector<std::uint8_t> source(size, 1), target(size);
  for (auto _ : state) {
    std::memcpy(target.data(), source.data(), size);
    benchmark::DoNotOptimize(target.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(size));
}

// The AEAD a frame benchmark uses: 0 ChaCha20-Poly1305, 1 AES-256-GCM
// (state.range(1); skipped where the CPU has no AES instructions).
bool pick_aead(benchmark::State& state, FrameAead& aead) {
  aead = state.range(1) == 1 ? FrameAead::aes256_gcm : FrameAead::chacha20_poly1305;
  state.SetLabel(frame_aead_name(aead));
  if (aead == FrameAead::aes256_gcm && !aes256gcm_available()) {
    state.SkipWithError("no AES instructions");
    return false;
  }
  return true;
}

// Seal only, into a separate buffer (what a sender pays).
void seal_frame(benchmark::State& state) {
  std::size_t size = static_cast<std::size_t>(state.range(0));
  FrameAead aead;
  if (!pick_aead(state, aead)) return;
  SymmetricKey key = bench_key();
  FrameSealer sealer(key, aead);
  std::vector<std::uint8_t> plaintext(size, 1), sealed(sealed_frame_size(size));
  for (auto _ : state) {
    auto written = sealer.seal(plaintext, sealed);
    benchmark::DoNotOptimize(written);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(size));
}

// Seal, then open in place (what a frame costs end to end, both ends on one core).
void seal_and_open_frame(benchmark::State& state) {
  std::size_t size = static_cast<std::size_t>(state.range(0));
  FrameAead aead;
  if (!pick_aead(state, aead)) return;
  SymmetricKey key = bench_key();
  FrameSealer sealer(key, aead);
  FrameOpener opener(key, aead);
  std::vector<std::uint8_t> plaintext(size, 1), sealed(sealed_frame_size(size));
  for (auto _ : state) {
    auto written = sealer.seal(plaintext, sealed);
    auto opened = opener.open_in_place(sealed);
    if (!written.ok() || !opened.ok()) state.SkipWithError("frame did not round-trip");
    benchmark::DoNotOptimize(opened);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(size));
}

void seal_and_open_datagram(benchmark::State& state) {
  std::size_t size = static_cast<std::size_t>(state.range(0));
  SwarmKey swarm_key = SwarmKey::generate();
  Identity sender = Identity::generate();
  DatagramSealer sealer(swarm_key, sender);
  DatagramOpener opener(swarm_key);
  std::vector<std::uint8_t> payload(size, 1);
  std::uint64_t now_ms = 1'700'000'000'000;
  for (auto _ : state) {
    SealedDatagram datagram = sealer.seal(payload, now_ms);
    auto opened = opener.open(datagram, now_ms);
    if (!opened.ok()) state.SkipWithError("datagram did not round-trip");
    ++now_ms;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(size));
}

// A full three-message handshake, both sides in this thread.
void full_handshake(benchmark::State& state) {
  SwarmKey swarm_key = SwarmKey::generate();
  Identity alice = Identity::generate();
  Identity bob = Identity::generate();
  for (auto _ : state) {
    HandshakeInitiator initiator(alice, swarm_key);
    HandshakeResponder responder(bob, swarm_key);
    auto reply = responder.on_hello(initiator.start());
    auto done = initiator.on_reply(*reply);
    auto session = responder.on_finish(done->finish);
    if (!session.ok()) state.SkipWithError("handshake failed");
    benchmark::DoNotOptimize(session);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

}  // namespace

BENCHMARK(memcpy_baseline)->Arg(16 << 10)->Arg(1 << 20);
// Sizes: 16 KiB (a top-k delta), 235,146 bytes (the MLP's dense delta is 4x
// that; the "235 KB frame"), 1 MiB; second argument: the AEAD.
BENCHMARK(seal_frame)->ArgsProduct({{16 << 10, 235146, 1 << 20}, {0, 1}});
BENCHMARK(seal_and_open_frame)->ArgsProduct({{16 << 10, 235146, 1 << 20}, {0, 1}});
BENCHMARK(seal_and_open_datagram)->Arg(1200);
BENCHMARK(full_handshake);

BENCHMARK_MAIN();
