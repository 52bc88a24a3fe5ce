// The tapegrad command-line tool.
#include <fmt/format.h>
#include <cstdlib>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <tapegrad/core/error.hpp>
#include <tapegrad/ops/linalg.hpp>
#include <tapegrad/version.hpp>

#include "cli/commands.hpp"

namespace {
// OpenBLAS reads OPENBLAS_CORETYPE when it loads: when it fell back to generic kernels on this
// CPU, run again with the right ones (once: the variable is set the second time).
void use_fast_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  const std::string core = tapegrad::suggested_blas_core();
  if (core.empty()) return;
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
}
}  // namespace

int main(int argc, char** argv) {
  namespace cli = tapegrad::cli;
  use_fast_blas_kernels(argv);
  CLI::App app{"tapegrad: reverse-mode automatic differentiation and neural networks on one tape"};
  app.set_version_flag("--version", std::string("tapegrad ") + tapegrad::kVersion);
  app.require_subcommand(0, 1);

  app.add_subcommand("demo", "Show the engine at work (also what a bare `tapegrad` does)");

  cli::GradArgs grad;
  CLI::App* grad_cmd = app.add_subcommand(
      "grad",
      "Differentiate an expression: value, every partial derivative, and a central "
      "difference beside each");
  grad_cmd->add_option("expression", grad.expression, "e.g. \"cos(sin(x^2) + 3*x^2)\"")->required();
  grad_cmd->add_option("values", grad.assignments, "NAME=VALUE for each variable, e.g. x=1.5");
  grad_cmd->add_flag("--json", grad.json, "Print JSON");

  cli::GraphArgs graph;
  CLI::App* graph_cmd =
      app.add_subcommand("graph", "Write the expression's computation graph in Graphviz DOT");
  graph_cmd->add_option("expression", graph.expression, "the expression")->required();
  graph_cmd->add_option("values", graph.assignments, "NAME=VALUE for each variable");
  graph_cmd->add_option("-o,--output", graph.output,
                        "output file: .dot, or .svg/.png rendered by Graphviz (default: stdout)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);
    return status == 0 ? 0 : cli::kBadInput;
  }
  try {
    if (grad_cmd->parsed()) return cli::run_grad(grad);
    if (graph_cmd->parsed()) return cli::run_graph(graph);
    return cli::run_demo();
  } catch (const tapegrad::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return cli::kFailure;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return cli::kFailure;
  }
}
