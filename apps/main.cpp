// starling: a peer-to-peer decentralized trainer.
#include <CLI/CLI.hpp>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <exception>
#include <new>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "blas_startup.h"
#include "commands.h"
#include "empty_values.h"
#include "error_output.h"
#include "number_checks.h"
#include "starling/text.h"

namespace {

// The exit status once what was printed has reached stdout: a full disk or
// /dev/full lost `eval --json`'s answer (0 bytes) and `--help`'s text, and
// the command still exited 0. `program` is "starling" or "starling CMD".
// `last` is CLI11's answer to --help or --version, written here rather than
// by CLI11 so that a failing write's errno is still there to report. A
// command's own printf that failed before this leaves stdio's error flag,
// not its reason: then the reason reads "write error", as in coreutils.
bool stdout_reader_left() {
  pollfd out{STDOUT_FILENO, 0, 0};
  return ::poll(&out, 1, 0) == 1 && (out.revents & POLLERR) != 0;
}

int finish_output(const std::string& program, int status, std::string_view last = {}) {
  errno = 0;
  if (!last.empty()) std::fwrite(last.data(), 1, last.size(), stdout);  // fwrite's buffer must not be null (UBSan)
  std::cout.flush();  // stdout's flush too (sync_with_stdio): errno is read after both
  const bool flushed = std::fflush(stdout) == 0;
  const int error = errno;
  if (flushed && !std::ferror(stdout) && std::cout.good()) return status;
  // The reader left (`starling peer --help | head -3`): it wanted no more,
  // so no message, as a process killed by SIGPIPE (ignored here for the
  // sockets' sake) would say nothing; the status still says it was cut.
  // When an earlier write of a long answer failed, stdio kept no errno: a
  // pipe whose reader left then polls POLLERR (Linux).
  if (error == EPIPE || (error == 0 && stdout_reader_left())) return status == 0 ? 1 : status;
  starling::apps::print_error(program, std::string("cannot write the output: ") +
                                           (error != 0 ? std::strerror(error) : "write error"));
  return status == 0 ? 1 : status;
}

// Who answered a --help, --version or a parse error: the command whose
// arguments were being read ("starling peer"), else "starling".
std::string answering_program(const CLI::App& root) {
  const std::vector<CLI::App*> commands = root.get_subcommands();
  return commands.empty() ? "starling" : "starling " + commands.front()->get_name();
}

}  // namespace

int main(int argc, char** argv) {
  // First: it may re-execute the program with better matrix kernels.
  starling::apps::use_better_blas_kernels(argv);
  // A write to a socket whose other end just closed must fail with EPIPE (an
  // error the transport handles), not kill the process: the scenario `pause`
  // saw a peer die of SIGPIPE when a frozen neighbour came back.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App root{"starling: peer-to-peer decentralized training with compressed delta gossip"};
  root.require_subcommand(1);
  root.set_version_flag("--version", "starling " STARLING_VERSION);
  // A single-value option given twice (`--lr 0.1 --lr 0.2`) is an error in
  // every command, never one of the two picked in silence. Subcommands copy
  // these defaults when they are added, so this comes first; options meant to
  // repeat (`peer --seed`) hold a list and are not affected.
  root.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::Throw);

  std::vector<starling::apps::Command> commands = {
      starling::apps::add_train_command(root),
      starling::apps::add_eval_command(root),
      starling::apps::add_export_command(root),
      starling::apps::add_keygen_command(root),
      starling::apps::add_init_command(root),
      starling::apps::add_peer_command(root),
      starling::apps::add_status_command(root),
      starling::apps::add_top_command(root),
      starling::apps::add_scenario_command(root),
      starling::apps::add_simulate_command(root),
  };

  starling::apps::check_numbers(root);
  std::vector<std::string> args = starling::apps::split_empty_values(argc, argv);
  std::vector<char*> arg_pointers;
  for (std::string& arg : args) arg_pointers.push_back(arg.data());
  // CLI11's own messages quote the arguments as given: printable, as ours.
  root.failure_message([](const CLI::App* app, const CLI::Error& error) {
    return starling::printable(CLI::FailureMessage::simple(app, error), "\n");
  });
  try {
    root.parse(int(arg_pointers.size()), arg_pointers.data());
  } catch (const CLI::ParseError& e) {
    // --help and --version end the parse as an "error" whose answer goes to
    // stdout (exit 0): it is checked as any command's output is.
    std::ostringstream answer;  // --help's text, --version's line
    const int status = root.exit(e, answer, std::cerr);
    return finish_output(answering_program(root), status, answer.str());
  }
  for (auto& command : commands) {
    if (command.app->parsed()) {
      try {
        return finish_output("starling " + command.app->get_name(), command.run());
      } catch (const std::bad_alloc&) {
        // Sizes that can be checked up front are (model, batch); this is
        // what is left: a host with less memory than the run needs.
        std::fprintf(stderr,
                     "starling %s: error: not enough memory: an allocation failed (a smaller --model, --batch, "
                     "data set or swarm needs less)\n",
                     command.app->get_name().c_str());
        return 1;
      } catch (const std::exception& e) {
        // Operating errors are handled inside each command; reaching this means
        // something unexpected, which we still report instead of aborting.
        starling::apps::print_error("starling", e.what());
        return 1;
      }
    }
  }
  return 1;
}
