// The simulator's training records as CSV files beside the report: one row
// per evaluation of a peer's own model (with its traffic so far) and one per
// poll round of the replicas' spread, written as the run goes.
// bench/swarm_speedup.sh and bench/consensus_scale.sh read them (bench/README.md).
#include <cstdio>
#include <memory>
#include <string>

#include "starling/sim/simulate.h"

namespace starling::sim {
namespace {

Result<std::shared_ptr<std::FILE>> open_for_writing(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) return make_error(ErrorKind::io, "cannot write " + path);
  return std::shared_ptr<std::FILE>(file, [](std::FILE* f) { std::fclose(f); });
}

unsigned long long u(std::uint64_t v) { return static_cast<unsigned long long>(v); }

}  // namespace

Result<TrainingRecordFiles> TrainingRecordFiles::open(const std::string& dir) {
  TrainingRecordFiles files;
  files.dir_ = dir;
  auto evaluations = open_for_writing(dir + "/evaluations.csv");
  if (!evaluations) return evaluations.error();
  auto spread = open_for_writing(dir + "/spread.csv");
  if (!spread) return spread.error();
  files.evaluations_ = *evaluations;
  files.spread_ = *spread;
  std::fprintf(files.evaluations_.get(),
               "peer,life,time_s,step,accuracy,frames_sent,bytes_sent,datagrams_sent,datagram_bytes_sent,"
               "secure_wire_bytes_sent\n");
  std::fprintf(files.spread_.get(), "time_s,replicas,spread,mean_norm,mean_moved\n");
  std::fflush(files.evaluations_.get());
  std::fflush(files.spread_.get());
  return files;
}

void TrainingRecordFiles::add(const EvaluationRecord& r) {
  std::fprintf(evaluations_.get(), "%d,%d,%.6f,%lld,%.6f,%llu,%llu,%llu,%llu,%llu\n", r.peer, r.life, r.t,
               static_cast<long long>(r.step), r.accuracy, u(r.traffic.frames_sent), u(r.traffic.bytes_sent),
               u(r.traffic.datagrams_sent), u(r.traffic.datagram_bytes_sent), u(r.traffic.secure_wire_bytes_sent));
}

void TrainingRecordFiles::add(const SpreadRecord& r) {
  std::fprintf(spread_.get(), "%.6f,%d,%.9g,%.9g,%.9g\n", r.t, r.replicas, r.spread, r.mean_norm, r.mean_moved);
  std::fflush(evaluations_.get());
  std::fflush(spread_.get());
}

Status TrainingRecordFiles::finish() {
  const bool flushed = std::fflush(evaluations_.get()) == 0 && std::fflush(spread_.get()) == 0;
  if (!flushed || std::ferror(evaluations_.get()) != 0 || std::ferror(spread_.get()) != 0)
    return make_error(ErrorKind::io, "cannot write the records in " + dir_);
  return ok_status();
}

Status write_training_records(const std::string& dir, const SimulateResult& result) {
  auto files = TrainingRecordFiles::open(dir);
  if (!files) return files.error();
  for (const EvaluationRecord& r : result.evaluations) files->add(r);
  for (const SpreadRecord& r : result.spread) files->add(r);
  return files->finish();
}

}  // namespace starling::sim
