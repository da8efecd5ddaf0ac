// The simulator's training records as CSV files beside the report: one row
// per evaluation of a peer's own model (with its traffic so far) and one per
// poll round of the replicas' spread. bench/swarm_speedup.sh and
// bench/consensus_scale.sh read them (bench/README.md).
#include <cstdio>
#include <memory>
#include <string>

#include "starling/sim/simulate.h"

namespace starling::sim {
namespace {

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

Result<File> open_for_writing(const std::string& path) {
  File file(std::fopen(path.c_str(), "w"));
  if (!file) return make_error(ErrorKind::io, "cannot write " + path);
  return file;
}

unsigned long long u(std::uint64_t v) { return static_cast<unsigned long long>(v); }

}  // namespace

Status write_training_records(const std::string& dir, const SimulateResult& result) {
  auto evaluations = open_for_writing(dir + "/evaluations.csv");
  if (!evaluations) return evaluations.error();
  std::FILE* e = evaluations->get();
  std::fprintf(e,
               "peer,life,time_s,step,accuracy,frames_sent,bytes_sent,datagrams_sent,datagram_bytes_sent,"
               "secure_wire_bytes_sent\n");
  for (const EvaluationRecord& r : result.evaluations) {
    std::fprintf(e, "%d,%d,%.6f,%lld,%.6f,%llu,%llu,%llu,%llu,%llu\n", r.peer, r.life, r.t,
                 static_cast<long long>(r.step), r.accuracy, u(r.traffic.frames_sent), u(r.traffic.bytes_sent),
                 u(r.traffic.datagrams_sent), u(r.traffic.datagram_bytes_sent), u(r.traffic.secure_wire_bytes_sent));
  }
  auto spread = open_for_writing(dir + "/spread.csv");
  if (!spread) return spread.error();
  std::FILE* s = spread->get();
  std::fprintf(s, "time_s,replicas,spread,mean_norm,mean_moved\n");
  for (const SpreadRecord& r : result.spread)
    std::fprintf(s, "%.6f,%d,%.9g,%.9g,%.9g\n", r.t, r.replicas, r.spread, r.mean_norm, r.mean_moved);
  if (std::ferror(e) != 0 || std::ferror(s) != 0) return make_error(ErrorKind::io, "cannot write the records in " + dir);
  return ok_status();
}

}  // namespace starling::sim
