// The subcommands of the tapegrad tool. Each returns the process exit status:
// 0 success, 1 failure, 2 bad input (a message naming what was wrong has been printed).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace tapegrad::cli {

inline constexpr int kOk = 0;
inline constexpr int kFailure = 1;
inline constexpr int kBadInput = 2;

struct GradArgs {
  std::string expression;
  std::vector<std::string> assignments;  // NAME=VALUE
  bool json = false;
};
int run_grad(const GradArgs& args);

struct GraphArgs {
  std::string expression;
  std::vector<std::string> assignments;
  std::string output;  // empty: stdout; .dot, or .svg/.png rendered with Graphviz
};
int run_graph(const GraphArgs& args);

int run_demo();

// Writes `content` to a temporary file beside `path`, then renames it over `path`: a reader
// never sees a half-written file.
void write_atomically(const std::filesystem::path& path, const std::string& content);

}  // namespace tapegrad::cli
