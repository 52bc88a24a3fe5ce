// SPDX-License-Identifier: Apache-2.0
// `tapegrad grad` and `tapegrad graph`: an expression typed by the user, on the tape.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <tapegrad/tapegrad.hpp>

#include "cli/commands.hpp"
#include "cli/expression.hpp"
#include "io/atomic_file.hpp"

namespace tapegrad::cli {

namespace {

// Parses NAME=VALUE assignments; throws std::invalid_argument with a message.
std::map<std::string, double> parse_assignments(const std::vector<std::string>& items) {
  std::map<std::string, double> values;
  for (const std::string& item : items) {
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw std::invalid_argument(fmt::format("'{}' is not NAME=VALUE (e.g. x=1.5)", item));
    }
    const std::string name = item.substr(0, eq);
    const std::string text = item.substr(eq + 1);
    double v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) {
      throw std::invalid_argument(fmt::format("'{}' in '{}' is not a finite number", text, item));
    }
    if (!values.emplace(name, v).second) {
      throw std::invalid_argument(fmt::format("'{}' is given twice", name));
    }
  }
  return values;
}

// A finite JSON number (as nlohmann/json writes it: the shortest that reads back the same), or
// null.
nlohmann::ordered_json json_number(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

struct Partial {
  std::string name;
  double analytic, numeric, relative_error;
};

// Runs `body`, turning a mistake in the expression (shown with a caret) or in the NAME=VALUE
// arguments into a message and kBadInput.
template <class Body>
int with_expression_errors(const std::string& expression, Body&& body) {
  try {
    return body();
  } catch (const ExpressionError& e) {
    fmt::print(stderr, "{}\n", e.explain(expression));
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "error: {}\n", e.what());
  }
  return kBadInput;
}

// Parses, evaluates on a private tape and differentiates; also the central differences.
struct Differentiated {
  double value;
  std::vector<Partial> partials;
};

Differentiated differentiate(const Node& root, const std::map<std::string, double>& point) {
  Tape tape;
  TapeGuard guard(tape);
  std::map<std::string, Var> vars;
  for (const auto& [name, v] : point) vars.emplace(name, Var(v));
  const Evaluated e = evaluate(root, vars);
  if (e.value.requires_grad()) e.value.backward();
  Differentiated d{e.value.value(), {}};
  for (const std::string& name : variables(root)) {
    const double x = point.at(name);
    const double h = 1e-6 * std::max(1.0, std::abs(x));
    auto shifted = point;
    shifted[name] = x + h;
    const double plus = evaluate_value(root, shifted);
    shifted[name] = x - h;
    const double minus = evaluate_value(root, shifted);
    const double numeric = (plus - minus) / (2 * h);
    const double analytic = vars.at(name).grad();
    const double scale = std::max({std::abs(analytic), std::abs(numeric), 1e-300});
    d.partials.push_back({name, analytic, numeric, std::abs(analytic - numeric) / scale});
  }
  return d;
}

// The Hessian by differentiating the recorded gradient (tapegrad::hessian), and beside it the
// central differences of the gradient, column by column.
struct Hessian {
  std::vector<std::string> names;
  std::vector<std::vector<double>> analytic, numeric;
  // |analytic - numeric| / max(1, |analytic|, |numeric|): relative for large entries, absolute
  // for small ones (a zero second derivative has no meaningful relative error).
  std::vector<std::vector<double>> error;
};

Hessian second_derivatives(const Node& root, const std::map<std::string, double>& point) {
  Hessian h;
  h.names = variables(root);
  const VarFunction f = [&](std::span<const Var> xs) {
    std::map<std::string, Var> vars;
    for (std::size_t i = 0; i < h.names.size(); ++i) vars.emplace(h.names[i], xs[i]);
    return evaluate(root, vars).value;
  };
  std::vector<double> x;
  for (const std::string& name : h.names) x.push_back(point.at(name));
  h.analytic = hessian(f, x);
  const std::size_t n = x.size();
  h.numeric.assign(n, std::vector<double>(n));
  h.error.assign(n, std::vector<double>(n));
  for (std::size_t j = 0; j < n; ++j) {
    const double step = 1e-5 * std::max(1.0, std::abs(x[j]));
    std::vector<double> shifted = x;
    shifted[j] = x[j] + step;
    const std::vector<double> plus = gradient(f, shifted);
    shifted[j] = x[j] - step;
    const std::vector<double> minus = gradient(f, shifted);
    for (std::size_t i = 0; i < n; ++i) h.numeric[i][j] = (plus[i] - minus[i]) / (2 * step);
  }
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      const double a = h.analytic[i][j], b = h.numeric[i][j];
      h.error[i][j] = std::abs(a - b) / std::max({1.0, std::abs(a), std::abs(b)});
    }
  }
  return h;
}

nlohmann::ordered_json json_matrix(const std::vector<std::vector<double>>& m) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const auto& row : m) {
    nlohmann::ordered_json items = nlohmann::ordered_json::array();
    for (double v : row) items.push_back(json_number(v));
    rows.push_back(std::move(items));
  }
  return rows;
}

nlohmann::ordered_json hessian_json(const Hessian& h) {
  return {{"variables", h.names},
          {"analytic", json_matrix(h.analytic)},
          {"numeric", json_matrix(h.numeric)},
          {"error", json_matrix(h.error)}};
}

void print_hessian(const Hessian& h) {
  const std::size_t n = h.names.size();
  if (n == 0) {
    fmt::print("\nHessian: none (the expression has no variables)\n");
    return;
  }
  fmt::print("\nHessian (reverse over reverse)\n{:<10}", "");
  for (const std::string& name : h.names) fmt::print(" {:>20}", name);
  fmt::print("\n");
  for (std::size_t i = 0; i < n; ++i) {
    fmt::print("{:<10}", h.names[i]);
    for (std::size_t j = 0; j < n; ++j)
      fmt::print(" {:>20}", fmt::format("{:.12g}", h.analytic[i][j]));
    fmt::print("\n");
  }
  fmt::print("\n{:<16} {:>24} {:>24} {:>10}\n", "", "backprop", "central difference", "error");
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i; j < n; ++j) {
      const std::string entry = i == j ? fmt::format("d2f/d{}2", h.names[i])
                                       : fmt::format("d2f/d{}d{}", h.names[i], h.names[j]);
      fmt::print("{:<16} {:>24} {:>24} {:>10.1e}\n", entry,
                 fmt::format("{:.15g}", h.analytic[i][j]), fmt::format("{:.10g}", h.numeric[i][j]),
                 h.error[i][j]);
    }
  }
}

}  // namespace

int run_grad(const GradArgs& args) {
  return with_expression_errors(args.expression, [&] {
    const auto root = parse(args.expression);
    const auto point = parse_assignments(args.assignments);
    const Differentiated d = differentiate(*root, point);
    std::optional<Hessian> h;
    if (args.hessian) h = second_derivatives(*root, point);
    if (args.json) {
      nlohmann::ordered_json out = {{"expression", args.expression}};
      nlohmann::ordered_json at = nlohmann::ordered_json::object();
      for (const auto& [name, v] : point) at[name] = json_number(v);
      out["point"] = std::move(at);
      out["value"] = json_number(d.value);
      nlohmann::ordered_json grads = nlohmann::ordered_json::object();
      for (const Partial& p : d.partials) {
        grads[p.name] = {{"analytic", json_number(p.analytic)},
                         {"numeric", json_number(p.numeric)},
                         {"relative_error", json_number(p.relative_error)}};
      }
      out["gradient"] = std::move(grads);
      if (h) out["hessian"] = hessian_json(*h);
      // One line; bytes of the expression that are not UTF-8 are written as U+FFFD.
      fmt::print("{}\n",
                 out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
      return kOk;
    }
    fmt::print("f = {}\n", args.expression);
    std::vector<std::string> at;
    for (const auto& [name, v] : point) at.push_back(fmt::format("{} = {:g}", name, v));
    if (!at.empty()) fmt::print("at {}\n", fmt::join(at, ", "));
    fmt::print("\n{:<10} {:>24}\n", "value", fmt::format("{:.15g}", d.value));
    if (!d.partials.empty()) {
      fmt::print("\n{:<10} {:>24} {:>24} {:>10}\n", "", "backprop", "central difference",
                 "rel. error");
    }
    for (const Partial& p : d.partials) {
      fmt::print("{:<10} {:>24} {:>24} {:>10.1e}\n", fmt::format("df/d{}", p.name),
                 fmt::format("{:.15g}", p.analytic), fmt::format("{:.12g}", p.numeric),
                 p.relative_error);
    }
    if (h) print_hessian(*h);
    return kOk;
  });
}

// ---- graph -----------------------------------------------------------------------------------
namespace {

std::string dot_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// One DOT node per tape entry (a variable used twice is one leaf), plus the constants.
std::string to_dot(const std::string& expression, const Evaluated& e) {
  std::string dot = "digraph tapegrad {\n  rankdir=BT;\n  node [fontname=\"monospace\"];\n";
  dot += fmt::format("  label=\"{}\";\n", dot_escape(expression));
  std::map<const Node*, std::string> id_of;
  std::map<std::string, std::string> variable_ids;
  int next = 0;
  for (const Evaluated::Entry& entry : e.entries) {
    const Node& n = *entry.node;
    if (n.kind == Node::Kind::variable) {
      auto [it, fresh] = variable_ids.emplace(n.name, fmt::format("n{}", next));
      id_of[&n] = it->second;
      if (!fresh) continue;
    } else {
      id_of[&n] = fmt::format("n{}", next);
    }
    const std::string& id = id_of[&n];
    ++next;
    if (!entry.var.requires_grad()) {
      dot += fmt::format("  {} [shape=ellipse, label=\"{}\"];\n", id, dot_escape(label(n)));
      continue;
    }
    const char* shape = n.kind == Node::Kind::variable ? "box, style=bold" : "box";
    dot += fmt::format("  {} [shape={}, label=\"{}\\nvalue {:.6g}\\ngrad {:.6g}\"];\n", id, shape,
                       dot_escape(label(n)), entry.var.value(), entry.var.grad());
  }
  for (const Evaluated::Entry& entry : e.entries) {
    for (const auto& child : entry.node->children) {
      dot += fmt::format("  {} -> {};\n", id_of.at(child.get()), id_of.at(entry.node));
    }
  }
  dot += "}\n";
  return dot;
}

enum class RenderResult { done, no_graphviz, failed };

// Runs Graphviz's dot with `format` (-Tsvg, -Tpng), the graph on its standard input (an unnamed
// temporary file: nothing to clean up) and its standard output written to `out_fd`.
RenderResult render_with_graphviz(const std::string& dot, const char* format, int out_fd) {
  const std::unique_ptr<FILE, int (*)(FILE*)> input(std::tmpfile(), &std::fclose);
  if (!input || std::fwrite(dot.data(), 1, dot.size(), input.get()) != dot.size() ||
      std::fflush(input.get()) != 0 || std::fseek(input.get(), 0, SEEK_SET) != 0) {
    throw IoError(
        fmt::format("cannot write a temporary file for Graphviz ({})", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fileno(input.get()), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  std::string program = "dot", type = format;
  char* argv[] = {program.data(), type.data(), nullptr};
  pid_t child = 0;
  const int spawned = posix_spawnp(&child, "dot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) return RenderResult::no_graphviz;
  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) return RenderResult::failed;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? RenderResult::done : RenderResult::failed;
}

// What `graph -o FILE` writes, chosen by the file's extension: DOT text, or a format Graphviz
// renders. Any other extension is refused rather than guessed (DOT text in a .pdf is no PDF).
struct GraphFormat {
  std::string_view extension;
  const char* graphviz_type;  // nullptr: the DOT text itself
};
constexpr GraphFormat kGraphFormats[] = {
    {".dot", nullptr}, {".gv", nullptr}, {".svg", "-Tsvg"}, {".png", "-Tpng"}, {".pdf", "-Tpdf"},
};

const GraphFormat& graph_format_of(const std::string& output) {
  std::string extension = std::filesystem::path(output).extension().string();
  std::ranges::transform(extension, extension.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const GraphFormat& format : kGraphFormats) {
    if (format.extension == extension) return format;
  }
  std::string known;
  for (const GraphFormat& format : kGraphFormats) {
    known += known.empty() ? "" : ", ";
    known += format.extension;
  }
  throw ValueError(
      fmt::format("-o {}: the file's extension names the format, one of {} ({} and {} are DOT "
                  "text, the others are rendered by Graphviz)",
                  output, known, kGraphFormats[0].extension, kGraphFormats[1].extension));
}

}  // namespace

int run_graph(const GraphArgs& args) {
  const GraphFormat* format = nullptr;
  if (!args.output.empty()) {
    const int known = reporting_bad_input([&] {
      format = &graph_format_of(args.output);
      return kOk;
    });
    if (known != kOk) return known;
  }
  std::string dot;
  const int parsed = with_expression_errors(args.expression, [&] {
    const auto root = parse(args.expression);
    const auto point = parse_assignments(args.assignments);
    Tape tape;
    TapeGuard guard(tape);
    std::map<std::string, Var> vars;
    for (const auto& [name, v] : point) vars.emplace(name, Var(v));
    const Evaluated e = evaluate(*root, vars);
    if (e.value.requires_grad()) e.value.backward();
    dot = to_dot(args.expression, e);
    return kOk;
  });
  if (parsed != kOk) return parsed;
  if (format == nullptr) {
    fmt::print("{}", dot);
    return kOk;
  }
  return reporting_bad_input([&] {
    if (format->graphviz_type == nullptr) {
      io::write_file_atomically(args.output, dot);
      return kOk;
    }
    // Graphviz renders into the output's temporary, which is committed only if it succeeds.
    io::AtomicFile out(args.output);
    const RenderResult rendered = render_with_graphviz(dot, format->graphviz_type, out.fd());
    if (rendered == RenderResult::no_graphviz) {
      fmt::print(stderr,
                 "error: rendering {} needs Graphviz's 'dot' (apt-get install graphviz); or write "
                 "a .dot file instead\n",
                 args.output);
      return kFailure;
    }
    if (rendered == RenderResult::failed) {
      fmt::print(stderr, "error: Graphviz failed to render {}\n", args.output);
      return kFailure;
    }
    out.commit();
    return kOk;
  });
}

}  // namespace tapegrad::cli
