// SPDX-License-Identifier: Apache-2.0
// The tapegrad command-line tool.
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <tapegrad/core/error.hpp>
#include <tapegrad/core/parallel.hpp>
#include <tapegrad/io/output_files.hpp>
#include <tapegrad/nn/module.hpp>
#include <tapegrad/ops/linalg.hpp>
#include <tapegrad/version.hpp>

#include "cli/commands.hpp"
#include "cli/expression.hpp"
#include "cli/fast_blas.hpp"
#include "cli/launch.hpp"

#ifdef TAPEGRAD_WITH_MPI
#include <tapegrad/distributed/mpi.hpp>
#endif

namespace {

// An integer option's check, with a message that states the bound plainly.
template <class T>
CLI::Validator integer_at_least(T low) {
  return CLI::Validator(
      [low](std::string& text) -> std::string {
        T value{};
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec == std::errc() && end == text.data() + text.size() && value >= low) return {};
        return fmt::format("must be an integer from {} to {}; got '{}'", low,
                           std::numeric_limits<T>::max(), text);
      },
      fmt::format("INT>={}", low));
}

// `mpirun -np N tapegrad train ...`: each rank trains its share of every batch. A rank whose
// run fails ends the whole job (the others would wait for it forever), with its exit status.
int train_on_ranks(const tapegrad::cli::TrainArgs& args, const tapegrad::cli::Launch& launch) {
  namespace cli = tapegrad::cli;
#ifdef TAPEGRAD_WITH_MPI
  if (launch.rank != 0) cli::error_rank_prefix() = fmt::format("rank {}: ", launch.rank);
  std::unique_ptr<tapegrad::mpi::ProcessGroup> group;
  try {
    group = std::make_unique<tapegrad::mpi::ProcessGroup>();
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: rank {}: {}\n", launch.rank, e.what());
    return cli::kFailure;
  }
  int status = cli::kFailure;
  try {
    status = cli::run_train(args, group.get());
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}{}\n", cli::error_rank_prefix(), e.what());
  }
  if (status != cli::kOk) {
    group->abort(fmt::format("ending the job (exit status {})", status), status);
  }
  return cli::kOk;
#else
  (void)args;
  if (launch.rank == 0) {
    fmt::print(stderr,
               "error: started as {} ranks (mpirun), but this tapegrad was built without MPI; "
               "rebuild it with MPI (apt install libopenmpi-dev, cmake -DTAPEGRAD_WITH_MPI=ON) "
               "or run it without mpirun\n",
               launch.size);
  }
  return cli::kBadInput;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  namespace cli = tapegrad::cli;
  cli::reexec_with_fast_blas(argv);
  // Ctrl-C or a kill while a file is written removes its temporary (after the re-exec, which
  // would reset the handlers).
  tapegrad::io::remove_partial_files_on_signals();
  cli::Launch launch;
  try {
    launch = cli::launch_from_environment();
  } catch (const tapegrad::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return cli::kBadInput;
  }
  // Under mpirun every rank runs this with the same arguments: rank 0 speaks for them all.
  if (launch.rank != 0 && std::freopen("/dev/null", "w", stdout) == nullptr) {
    fmt::print(stderr, "error: rank {}: cannot silence its output (/dev/null)\n", launch.rank);
    return cli::kFailure;
  }
  CLI::App app{"tapegrad: reverse-mode automatic differentiation and neural networks on one tape"};
  app.set_version_flag("--version", std::string("tapegrad ") + tapegrad::kVersion);
  app.require_subcommand(0, 1);
  // Global options may come before or after the subcommand (`tapegrad train --threads 2 ...`):
  // what a subcommand does not know falls through to the tool. Subcommands added below inherit
  // this.
  app.fallthrough();
  int threads = 0;
  app.add_option("--threads", threads,
                 "threads for large elementwise loops (default: TAPEGRAD_NUM_THREADS, else every "
                 "hardware thread; matrix products use OPENBLAS_NUM_THREADS)")
      ->check(CLI::Range(1, 1024));

  app.add_subcommand("demo", "Show the engine at work (also what a bare `tapegrad` does)");

  cli::GradArgs grad;
  CLI::App* grad_cmd = app.add_subcommand(
      "grad",
      "Differentiate an expression: value, every partial derivative, and a central "
      "difference beside each");
  grad_cmd
      ->add_option(
          "expression", grad.expression,
          "e.g. \"cos(sin(x^2) + 3*x^2)\"; + - * / ^ and the functions " + cli::function_names())
      ->required();
  grad_cmd->add_option("values", grad.assignments, "NAME=VALUE for each variable, e.g. x=1.5");
  grad_cmd->add_flag("--json", grad.json, "Print JSON");
  grad_cmd->add_flag("--hessian", grad.hessian,
                     "Also print the Hessian (second derivatives, reverse over reverse) with "
                     "central differences of the gradient beside each entry");

  cli::GraphArgs graph;
  CLI::App* graph_cmd =
      app.add_subcommand("graph", "Write the expression's computation graph in Graphviz DOT");
  graph_cmd->add_option("expression", graph.expression, "the expression")->required();
  graph_cmd->add_option("values", graph.assignments, "NAME=VALUE for each variable");
  graph_cmd->add_option(
      "-o,--output", graph.output,
      "output file, its format named by the extension: .dot or .gv (DOT text), or .svg, .png, "
      ".pdf (rendered by Graphviz); default: DOT text on stdout");

  cli::TrainArgs train;
  CLI::App* train_cmd =
      app.add_subcommand("train", "Train an MLP on a CSV file or a bundled data set");
  train_cmd
      ->add_option("--data", train.data,
                   "FILE.csv, or digits | iris | wine | breast_cancer | diabetes")
      ->capture_default_str();
  train_cmd->add_option("--target", train.target,
                        "CSV target column, by name or index (default: last)");
  train_cmd
      ->add_option("--task", train.task, "classify | regress (default: inferred from the target)")
      ->check(CLI::IsMember({"classify", "regress"}));
  train_cmd->add_option("--layers", train.layers, "hidden layer sizes, e.g. 128,64")
      ->delimiter(',')
      ->capture_default_str();
  train_cmd
      ->add_option("--activation", train.activation,
                   "of the hidden layers: " + tapegrad::nn::Activation::known())
      ->capture_default_str();
  train_cmd->add_option("--loss", train.loss, "cross_entropy | mse | half_squared_error");
  train_cmd->add_option("--optimizer", train.optimizer, "sgd | momentum | adam")
      ->check(CLI::IsMember({"sgd", "momentum", "adam"}))
      ->capture_default_str();
  train_cmd->add_option("--lr", train.lr, "learning rate (default: 1e-3 for adam, 0.05 for sgd)");
  train_cmd->add_option("--epochs", train.epochs, "epochs")
      ->check(integer_at_least(0))
      ->capture_default_str();
  auto* batch = train_cmd->add_option("--batch", train.batch, "mini-batch size")
                    ->check(integer_at_least(std::int64_t{1}))
                    ->capture_default_str();
  auto* online = train_cmd->add_flag("--online", train.online, "update after every example");
  auto* full = train_cmd->add_flag("--full-batch", train.full_batch,
                                   "one update per epoch from all examples");
  batch->excludes(online)->excludes(full);
  online->excludes(full);
  train_cmd->add_option("--seed", train.seed, "seed for the split, the weights and the order")
      ->check(integer_at_least(std::uint64_t{0}))
      ->capture_default_str();
  train_cmd->add_option("--test-split", train.test_split, "fraction of rows held out for testing")
      ->capture_default_str();
  train_cmd->add_option("--save", train.save, "write the model to this .safetensors file");
  train_cmd->add_option("--metrics", train.metrics, "write per-epoch metrics to this CSV file");
  train_cmd->add_option("--checkpoint", train.checkpoint,
                        "write a checkpoint (model, optimiser state, epoch, metrics) to "
                        "DIR/checkpoint.safetensors after every --checkpoint-every epochs");
  train_cmd->add_option("--checkpoint-every", train.checkpoint_every, "epochs between checkpoints")
      ->check(integer_at_least(1))
      ->capture_default_str();
  train_cmd->add_option("--resume", train.resume,
                        "continue the run checkpointed in DIR (same options; --epochs may grow); "
                        "checkpoints go on to DIR unless --checkpoint says otherwise");

  constexpr const char* kUseData =
      "FILE.csv or a bundled data set. With a header, the model's feature columns are found by "
      "name in any order and other columns are ignored; without one, by position";
  constexpr const char* kUseTarget =
      "CSV target column, by name or index (default: the model's target column when the data "
      "has it)";
  cli::EvalArgs eval;
  CLI::App* eval_cmd = app.add_subcommand("eval", "Evaluate a saved model on data");
  eval_cmd->add_option("--model", eval.model, "a model written by train --save")->required();
  eval_cmd->add_option("--data", eval.data, kUseData)->required();
  eval_cmd->add_option("--target", eval.target, kUseTarget);

  cli::PredictArgs predict;
  CLI::App* predict_cmd = app.add_subcommand("predict", "Write a saved model's predictions as CSV");
  predict_cmd->add_option("--model", predict.model, "a model written by train --save")->required();
  predict_cmd->add_option("--data", predict.data, kUseData)->required();
  predict_cmd->add_option("--target", predict.target, kUseTarget);
  predict_cmd->add_option("-o,--output", predict.output, "output CSV (default: stdout)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = launch.rank == 0 ? app.exit(e) : e.get_exit_code();
    return status == 0 ? 0 : cli::kBadInput;
  }
  try {
    if (threads > 0) {
      tapegrad::set_num_threads(threads);
    } else {
      (void)tapegrad::num_threads();  // a bad TAPEGRAD_NUM_THREADS is reported here, once
    }
  } catch (const tapegrad::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return cli::kBadInput;
  }
  if (launch.several()) {
    if (!train_cmd->parsed()) {
      if (launch.rank == 0) {
        fmt::print(stderr,
                   "error: started as {} ranks (mpirun); only `tapegrad train` runs on several "
                   "ranks: run the others without mpirun\n",
                   launch.size);
      }
      return cli::kBadInput;
    }
    return train_on_ranks(train, launch);
  }
  try {
    if (grad_cmd->parsed()) return cli::run_grad(grad);
    if (graph_cmd->parsed()) return cli::run_graph(graph);
    if (train_cmd->parsed()) return cli::run_train(train);
    if (eval_cmd->parsed()) return cli::run_eval(eval);
    if (predict_cmd->parsed()) return cli::run_predict(predict);
    return cli::run_demo();
  } catch (const tapegrad::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return cli::kFailure;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return cli::kFailure;
  }
}
