// SPDX-License-Identifier: Apache-2.0
// The subcommands of the tapegrad tool. Each returns the process exit status:
// 0 success, 1 failure, 2 bad input (a message naming what was wrong has been printed).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <tapegrad/core/error.hpp>
#include <tapegrad/nn/distributed.hpp>

namespace tapegrad::cli {

inline constexpr int kOk = 0;
inline constexpr int kFailure = 1;
inline constexpr int kBadInput = 2;

struct GradArgs {
  std::string expression;
  std::vector<std::string> assignments;  // NAME=VALUE
  bool json = false;
  bool hessian = false;  // also the matrix of second derivatives, checked by differences
};
int run_grad(const GradArgs& args);

struct GraphArgs {
  std::string expression;
  std::vector<std::string> assignments;
  std::string output;  // empty: stdout; .dot, or .svg/.png rendered with Graphviz
};
int run_graph(const GraphArgs& args);

struct TrainArgs {
  std::string data = "digits";  // a CSV file or a bundled data set
  std::string target;           // CSV target column (name or index); default: the last
  std::string task;             // classify | regress; default: inferred
  std::vector<std::int64_t> layers = {64};
  std::string activation = "tanh";
  std::string loss;  // default: cross_entropy (classify), mse (regress)
  std::string optimizer = "adam";
  std::optional<double> lr;  // default: the optimiser's
  int epochs = 20;
  std::int64_t batch = 32;
  bool online = false;
  bool full_batch = false;
  std::uint64_t seed = 0;
  double test_split = 0.2;
  std::string save;        // model file (safetensors)
  std::string metrics;     // per-epoch metrics CSV
  std::string checkpoint;  // directory for checkpoints (default: the --resume directory)
  int checkpoint_every = 1;
  std::string resume;  // directory of the checkpoint to continue from
};
// With a group of several ranks (`mpirun -np N tapegrad train`), data-parallel: every rank runs
// this with the same arguments; --batch stays the global batch; only rank 0 checks and writes
// the output files and prints (the other ranks' stdout goes nowhere); every rank reads the data
// and, to resume, the checkpoint. A status other than kOk on any rank must end the whole job
// (Communicator::abort), since the other ranks may be waiting for this one.
int run_train(const TrainArgs& args, nn::Communicator* group = nullptr);

struct EvalArgs {
  std::string model;
  std::string data;
  std::string target;
};
int run_eval(const EvalArgs& args);

struct PredictArgs {
  std::string model;
  std::string data;
  std::string target;
  std::string output;  // empty: stdout
};
int run_predict(const PredictArgs& args);

int run_demo();

// "rank R: " on the ranks other than 0 of an mpirun job (set once by main), else empty: error
// lines carry it after "error: ", so that one rank's own failure is told from rank 0's.
inline std::string& error_rank_prefix() {
  static std::string prefix;
  return prefix;
}

// Runs `body`; a tapegrad::Error (bad data, a model that does not fit, a shape that a chosen
// loss rejects, an output path that is refused) or std::invalid_argument (a bad option value) is
// printed as "error: ..." and becomes kBadInput; an IoError (a write that the system failed)
// becomes kFailure.
template <class Body>
int reporting_bad_input(Body&& body) {
  try {
    return body();
  } catch (const IoError& e) {
    fmt::print(stderr, "error: {}{}\n", error_rank_prefix(), e.what());
    return kFailure;
  } catch (const Error& e) {
    fmt::print(stderr, "error: {}{}\n", error_rank_prefix(), e.what());
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "error: {}{}\n", error_rank_prefix(), e.what());
  }
  return kBadInput;
}

}  // namespace tapegrad::cli
