// Writes the seed corpora of every fuzz target into OUTPUT_DIR/TARGET: small
// valid inputs made in code, so a seed never goes stale against the format:
//   fuzz_codec, fuzz_frame_decoder: every sample message, encoded / framed;
//   fuzz_membership: programs that join, gossip, suspect and push-pull;
//   fuzz_link: programs that open a link and trade deltas and digests, one per
//     compressor, plus raw training messages;
//   fuzz_control: status queries and fault controls on a control connection;
//   fuzz_scenario: valid scenario files (checked to parse);
//   fuzz_checkpoint: real checkpoints of a tiny model (SGD and Adam);
//   fuzz_loaders: tiny IDX, CSV and libsvm files, plain and gzipped.
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <vector>

#include "../wire/sample_messages.h"
#include "fuzz_input.h"
#include "starling/gossip/messages.h"
#include "starling/ml/checkpoint.h"
#include "starling/ml/model.h"
#include "starling/node/gossip_codec.h"
#include "starling/scenario/parse.h"
#include "starling/wire/codec.h"
#include "starling/wire/frame.h"

using namespace starling;
using namespace starling::wire;
namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

namespace {

bool failed = false;

void write(const fs::path& path, const Bytes& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out.flush()) failed = true;
}

void write_text(const fs::path& path, const std::string& text) { write(path, Bytes(text.begin(), text.end())); }

void append(Bytes& out, std::initializer_list<std::uint8_t> bytes) { out.insert(out.end(), bytes.begin(), bytes.end()); }

Bytes read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

Bytes gzip(const Bytes& plain, const fs::path& scratch) {
  gzFile file = gzopen(scratch.c_str(), "wb");
  if (!file) {
    failed = true;
    return {};
  }
  gzwrite(file, plain.data(), unsigned(plain.size()));
  gzclose(file);
  Bytes out = read(scratch);
  fs::remove(scratch);
  return out;
}

Bytes must(Result<Bytes> bytes) {
  if (!bytes.ok()) {
    std::fprintf(stderr, "fuzz_seeds: cannot encode a seed: %s\n", bytes.error().message.c_str());
    failed = true;
    return {};
  }
  return *bytes;
}

// ---- wire (the two original targets) ----------------------------------------

void wire_seeds(const fs::path& root) {
  FrameLimits small;
  small.max_payload_bytes = 2048;
  Bytes stream{7};
  int index = 0;
  for (const Message& message : samples::all()) {
    const Bytes bytes = must(encode(message));
    const std::string name = std::to_string(index++) + "_" + message_name(message);
    write(root / "fuzz_codec" / name, bytes);
    const Bytes framed = must(frame(bytes, small));
    Bytes single{3};
    single.insert(single.end(), framed.begin(), framed.end());
    write(root / "fuzz_frame_decoder" / name, single);
    stream.insert(stream.end(), framed.begin(), framed.end());
  }
  write(root / "fuzz_frame_decoder" / "stream_of_all", stream);
}

// ---- membership ---------------------------------------------------------------

gossip::NodeId gnode(std::uint8_t n) {  // as fuzz_membership names its peers
  gossip::NodeId id{};
  id[0] = n;
  id[31] = 0x5a;
  return id;
}

std::string gaddress(std::uint8_t n) { return "10.0.0." + std::to_string(n) + ":7946"; }

gossip::MemberRecord grecord(std::uint8_t n, gossip::MemberState state, std::uint64_t incarnation = 0) {
  return gossip::MemberRecord{gnode(n), gaddress(n), incarnation, state};
}

gossip::GossipMessage from(std::uint8_t n, gossip::MessageBody body, std::vector<gossip::Update> updates = {}) {
  gossip::GossipMessage m;
  m.sender = gnode(n);
  m.sender_address = gaddress(n);
  m.body = std::move(body);
  m.updates = std::move(updates);
  return m;
}

// One fuzz_membership step: deliver `message` from its sender's address.
void deliver(Bytes& program, const gossip::GossipMessage& message) {
  program.push_back(0);
  program.push_back(0);
  fuzz::put_chunk(program, must(node::encode_gossip(message)));
}

void pass_time(Bytes& program, std::uint16_t ms, std::uint8_t scale = 0) {
  program.push_back(2);
  program.push_back(std::uint8_t(ms & 0xFF));
  program.push_back(std::uint8_t(ms >> 8));
  program.push_back(scale);
}

void membership_seeds(const fs::path& dir) {
  using gossip::MemberState;
  const gossip::Update suspect3{grecord(3, MemberState::suspect), gnode(2)};
  const gossip::Update dead4{grecord(4, MemberState::dead), gnode(2)};
  const gossip::Update suspect_self{grecord(1, MemberState::suspect), gnode(2)};
  const gossip::Update alive5{grecord(5, MemberState::alive, 2), gnode(5)};

  Bytes joined{0};  // first member; others join through it
  deliver(joined, from(2, gossip::Join{grecord(2, MemberState::alive)}));
  deliver(joined, from(3, gossip::Join{grecord(3, MemberState::alive)}));
  deliver(joined, from(2, gossip::Ping{1, gnode(1)}, {alive5}));
  pass_time(joined, 1500);
  deliver(joined, from(2, gossip::Gossip{}, {suspect3, dead4, suspect_self}));
  pass_time(joined, 5000, 3);
  deliver(joined, from(3, gossip::Leave{0}));
  pass_time(joined, 60000, 15);
  write(dir / "join_gossip_leave", joined);

  Bytes seeded{1};  // joins through a seed that answers with its view
  deliver(seeded, from(2, gossip::PushPull{true, true, {grecord(2, MemberState::alive), grecord(3, MemberState::alive),
                                                         grecord(4, MemberState::suspect, 1)}}));
  pass_time(seeded, 1000);
  deliver(seeded, from(3, gossip::Ack{1}));
  deliver(seeded, from(4, gossip::IndirectPing{9, gnode(3), gaddress(3)}));
  deliver(seeded, from(2, gossip::Nack{2}));
  pass_time(seeded, 2000);
  deliver(seeded, from(2, gossip::PushPull{false, false, {grecord(5, MemberState::alive, 3)}}));
  append(seeded, {3, 1, 3});  // sample 4 neighbours
  pass_time(seeded, 30000, 2);
  append(seeded, {3, 0});  // leave
  pass_time(seeded, 6000);
  write(dir / "seed_pushpull_probe", seeded);
}

// ---- link -----------------------------------------------------------------------

void link_seeds(const fs::path& dir) {
  // Steps of fuzz_link: 1 neighbour starts, 4 we start, 2 neighbour delta,
  // 3 neighbour digest, 5 consensus step (gamma, weight, radius), 6 our delta.
  for (std::uint8_t compressor = 0; compressor < 5; ++compressor) {
    Bytes program{compressor, 4, 1, 1, 0};
    for (int round = 0; round < 4; ++round) {
      append(program, {2, 140, 2, 100, 3, 5, 128, 200, 0, 6});
    }
    append(program, {5, 255, 255, 1, 0x10, 0x00, 4, 1, 1, 1, 2, 60, 3});
    write(dir / ("link_compressor_" + std::to_string(compressor)), program);
  }
  // Raw training messages as step 0 chunks, after the link opened.
  Bytes raw{0, 4, 1, 1, 0};
  for (const Message& message : samples::all()) {
    if (!std::holds_alternative<Delta>(message) && !std::holds_alternative<SnapshotChunk>(message) &&
        !std::holds_alternative<Digest>(message) && !std::holds_alternative<Reset>(message)) {
      continue;
    }
    raw.push_back(0);
    fuzz::put_chunk(raw, must(encode(message)));
  }
  write(dir / "raw_training_messages", raw);
}

// ---- control ----------------------------------------------------------------------

void control_seeds(const fs::path& dir) {
  auto frame_step = [](Bytes& program, const Message& message) {
    program.push_back(0);
    fuzz::put_chunk(program, must(encode(message)));
  };
  Bytes status;
  frame_step(status, StatusQuery{7});
  write(dir / "status_query", status);

  Bytes member_then_status;
  member_then_status.push_back(1);  // a datagram that makes a member known
  fuzz::put_chunk(member_then_status,
                  must(node::encode_gossip(from(2, gossip::Gossip{}, {{grecord(2, gossip::MemberState::alive), gnode(2)}}))));
  append(member_then_status, {2, 100, 0});
  frame_step(member_then_status, StatusQuery{8});
  write(dir / "member_then_status", member_then_status);

  Bytes faults;
  FaultControl control;
  control.drop_probability = 0.5;
  control.delay_ms = 20;
  control.jitter_ms = 5;
  control.duplicate_probability = 0.1;
  control.bandwidth_bytes_per_second = 100000;
  frame_step(faults, control);
  frame_step(faults, TrainingControl{2.0, ByzantineMode::scaled_deltas, -10.0});
  frame_step(faults, StatusQuery{9});
  append(faults, {2, 0, 1});
  write(dir / "fault_control", faults);
}

// ---- scenario ---------------------------------------------------------------------

void scenario_seeds(const fs::path& dir) {
  const std::string membership = R"(name = "membership-crash"
description = "5 membership-only peers; one killed, one paused"
duration = 22
seed = 1
poll_interval = 0.5

[swarm]
peers = 5
train = false

[[events]]
at = 4
kind = "kill"
peer = 3

[[events]]
at = 5
kind = "pause"
peer = 1
duration = 3

[[expect]]
kind = "membership_converged"
within = 12

[[expect]]
kind = "never_dead"

[[expect]]
kind = "no_crash"
)";
  if (!scenario::parse_scenario(membership, "seed").ok()) {
    std::fprintf(stderr, "fuzz_seeds: the scenario seed no longer parses\n");
    failed = true;
  }
  write_text(dir / "membership_crash.toml", membership);
}

// ---- checkpoint ------------------------------------------------------------------

void checkpoint_seeds(const fs::path& dir) {
  for (auto kind : {ml::OptimizerConfig::Kind::sgd, ml::OptimizerConfig::Kind::adam}) {
    ml::Checkpoint c;
    c.spec = *ml::ModelSpec::parse("mlp:3");
    c.inputs = 2;
    c.classes = 2;
    ml::Mlp model(c.spec, c.inputs, c.classes);
    model.initialize(5);
    c.parameters = model.parameters();
    c.optimizer.kind = kind;
    const int buffers = kind == ml::OptimizerConfig::Kind::adam ? 2 : 1;
    for (int b = 0; b < buffers; ++b) c.optimizer_state.push_back(Eigen::VectorXf::Constant(c.parameters.size(), 0.25f));
    c.optimizer_steps = 3;
    c.step = 3;
    c.samples = 96;
    c.epoch = 0.5;
    c.metadata = {{"data", "tiny"}};
    const fs::path path = dir / (kind == ml::OptimizerConfig::Kind::adam ? "tiny_adam" : "tiny_sgd");
    fs::create_directories(dir);
    if (!ml::save_checkpoint(path.string(), c).ok()) failed = true;
  }
}

// ---- loaders ----------------------------------------------------------------------

void loader_seeds(const fs::path& dir) {
  // IDX: 3 images of 2x2 and 3 labels; selector 0, then the images as a chunk.
  const Bytes images{0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 64, 128, 255, 1, 2, 3, 4, 9, 8, 7, 6};
  const Bytes labels{0, 0, 8, 1, 0, 0, 0, 3, 0, 1, 2};
  for (bool zipped : {false, true}) {
    Bytes idx{0};
    fuzz::put_chunk(idx, zipped ? gzip(images, dir / "scratch.gz") : images);
    const Bytes l = zipped ? gzip(labels, dir / "scratch.gz") : labels;
    idx.insert(idx.end(), l.begin(), l.end());
    write(dir / (zipped ? "idx_gz" : "idx"), idx);
  }
  const std::string csv = "label,a,b\n0,1.5,2\n1,0.5,-1\n2,3e2,0\n";
  const std::string svm = "1 1:0.5 3:2\n0 2:1\n2 1:-1 4:0.25\n";
  auto with = [](std::uint8_t selector, const std::string& text) {
    Bytes out{selector};
    out.insert(out.end(), text.begin(), text.end());
    return out;
  };
  write(dir / "csv", with(1, csv));
  Bytes csv_gz{1};
  const Bytes zipped = gzip(Bytes(csv.begin(), csv.end()), dir / "scratch.gz");
  csv_gz.insert(csv_gz.end(), zipped.begin(), zipped.end());
  write(dir / "csv_gz", csv_gz);
  write(dir / "libsvm", with(2, svm));
  Bytes svm_width{3, 5};
  svm_width.insert(svm_width.end(), svm.begin(), svm.end());
  write(dir / "libsvm_width", svm_width);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  const fs::path root(argv[1]);
  wire_seeds(root);
  membership_seeds(root / "fuzz_membership");
  link_seeds(root / "fuzz_link");
  control_seeds(root / "fuzz_control");
  scenario_seeds(root / "fuzz_scenario");
  checkpoint_seeds(root / "fuzz_checkpoint");
  loader_seeds(root / "fuzz_loaders");
  return failed ? 1 : 0;
}
