// The graph sweep behind grad(): the reverse sweep of src/core/tape.cpp, but with adjoints that
// are Vars. With create_graph, each reached node's partials are recomputed as Vars by its own
// rule (from the higher-order side table) and every `adj[in] += adj[out] * partial` is recorded,
// in higher-order mode, at the end of the tape — so the gradients can be swept again, to any
// order. Without create_graph the same loop runs under NoGradGuard on the numeric partials.
#include "tapegrad/autodiff/grad.hpp"

#include <optional>

#include <fmt/format.h>

#include "tapegrad/core/error.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/reduce.hpp"

namespace tapegrad {
namespace {

// adj * partial, without recording multiplications by an exact constant ±1.
Var times(const Var& adj, const Var& partial) {
  if (!partial.requires_grad()) {
    if (partial.value() == 1.0) return adj;
    if (partial.value() == -1.0) return -adj;
  }
  return adj * partial;
}

[[noreturn]] void throw_not_higher_order(std::uint32_t slot, double partial) {
  throw TapeError(fmt::format(
      "grad(create_graph = true): the scalar node at slot {} (partial {}) was recorded outside "
      "higher-order mode, so its partials are plain numbers and its second derivative would "
      "silently be 0; record the forward pass inside a HigherOrderGuard (hvp, hessian and "
      "gradgradcheck do this themselves)",
      slot, partial));
}

[[noreturn]] void throw_tensor_op(const char* name) {
  throw TapeError(fmt::format(
      "grad(): the sweep reached the tensor op '{}'; grad() differentiates graphs of Var ops "
      "only (tensor ops are not supported by grad() yet) — use backward() for tensor graphs",
      name));
}

void check_input(const Var& x, const Tape& tape, std::size_t i) {
  if (!x.requires_grad()) {
    throw TapeError(fmt::format(
        "grad(): input {} is a constant Var (value {}); gradients are taken with respect to Vars "
        "recorded on the tape",
        i, x.value()));
  }
  x.check_live("grad()");
  if (x.tape() != &tape) detail::throw_mixed_tapes("grad()");
}

std::vector<double> values(const std::vector<Var>& vars) {
  std::vector<double> out;
  out.reserve(vars.size());
  for (const Var& v : vars) out.push_back(v.value());
  return out;
}

void check_sizes(const char* op, std::size_t x, std::size_t v) {
  if (x != v) {
    throw ValueError(fmt::format("{}: x has {} elements but v has {}; they must match", op, x, v));
  }
}

}  // namespace

std::vector<Var> grad(const Var& y, std::span<const Var> xs, const GradOptions& options) {
  std::vector<Var> result(xs.size());  // constant zeros
  if (!y.requires_grad()) return result;
  y.check_live("grad()");
  Tape& tape = *y.tape();
  const std::uint32_t root = y.slot();
  std::uint32_t stop = root + 1;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    check_input(xs[i], tape, i);
    stop = std::min(stop, xs[i].slot());
  }
  if (stop > root) return result;

  const bool create = options.create_graph;
  TapeGuard on(tape);
  std::optional<HigherOrderGuard> higher;
  std::optional<NoGradGuard> no_grad;
  if (create) {
    higher.emplace(tape);
  } else {
    no_grad.emplace();
  }

  const std::uint32_t count = root + 1 - stop;
  std::vector<Var> adj(count);
  std::vector<char> reached(count, 0);
  adj[root - stop] = Var::constant(1.0);
  reached[root - stop] = 1;

  // Side-table entries are sorted by slot; walk a cursor down with the sweep. Entries recorded
  // during the sweep land after the cursor, so its index stays valid.
  const std::vector<HigherOrderEntry>& entries = tape.higher_order_entries();
  std::size_t cursor = entries.size();
  while (cursor > 0 && entries[cursor - 1].slot > root) --cursor;
  // Tensor nodes recorded up to the root, interleaved newest first as in Tape::sweep.
  std::uint32_t n = static_cast<std::uint32_t>(tape.tensor_nodes());
  while (n > 0 && tape.node(n - 1).scalar_count > root) --n;

  std::vector<Var> partials;
  for (std::uint32_t s = root + 1; s-- > stop;) {
    for (; n > 0 && tape.node(n - 1).scalar_count > s; --n) {
      const TensorNode& node = tape.node(n - 1);
      if (node.out_slot != kNoSlot && node.out_slot >= stop && node.out_slot <= root &&
          reached[node.out_slot - stop]) {
        throw_tensor_op(node.name);
      }
    }
    const std::uint32_t i = s - stop;
    if (!reached[i]) continue;
    const std::uint32_t begin = tape.operand_begin(s), end = tape.operand_end(s);
    if (begin == end) continue;  // a leaf
    const Var a = adj[i];
    // A recorded adjoint whose value is 0 may still have a nonzero derivative: only constants
    // are skipped.
    if (!a.requires_grad() && a.value() == 0.0) continue;
    partials.assign(end - begin, Var());
    while (cursor > 0 && entries[cursor - 1].slot > s) --cursor;
    const bool has_entry = cursor > 0 && entries[cursor - 1].slot == s;
    if (create && !has_entry) throw_not_higher_order(s, tape.operand_partial(begin));
    if (create && entries[cursor - 1].partials != nullptr) {
      const HigherOrderEntry e = entries[cursor - 1];  // a copy: recording grows the table
      Var in[2];
      bool need[2] = {false, false};
      for (int k = 0; k < e.arity; ++k) {
        need[k] = e.in_slot[k] != kNoSlot;
        in[k] = need[k] ? Var::recorded(tape, e.in[k], e.in_slot[k]) : Var::constant(e.in[k]);
      }
      e.partials(e.rule, in, Var::recorded(tape, e.out, s), need, partials.data());
    } else {
      for (std::uint32_t k = begin; k < end; ++k)
        partials[k - begin] = Var::constant(tape.operand_partial(k));
    }
    for (std::uint32_t k = begin; k < end; ++k) {
      const std::uint32_t in = tape.operand_input(k);
      if (in < stop) continue;
      const Var term = times(a, partials[k - begin]);
      const std::uint32_t j = in - stop;
      adj[j] = reached[j] ? adj[j] + term : term;
      reached[j] = 1;
    }
  }

  for (std::size_t i = 0; i < xs.size(); ++i) {
    const std::uint32_t s = xs[i].slot();
    if (s <= root && reached[s - stop]) result[i] = adj[s - stop];
  }
  return result;
}

Var grad(const Var& y, const Var& x, const GradOptions& options) {
  return grad(y, std::span<const Var>(&x, 1), options)[0];
}

std::vector<double> gradient(const VarFunction& f, std::span<const double> x) {
  Tape tape;
  TapeGuard on(tape);
  const std::vector<Var> leaves(x.begin(), x.end());
  return values(grad(f(leaves), leaves));
}

double directional_derivative(const VarFunction& f, std::span<const double> x,
                              std::span<const double> v) {
  check_sizes("directional_derivative", x.size(), v.size());
  const std::vector<double> g = gradient(f, x);
  double d = 0;
  for (std::size_t i = 0; i < g.size(); ++i) d += g[i] * v[i];
  return d;
}

std::vector<double> hvp(const VarFunction& f, std::span<const double> x,
                        std::span<const double> v) {
  check_sizes("hvp", x.size(), v.size());
  Tape tape;
  TapeGuard on(tape);
  HigherOrderGuard higher(tape);
  const std::vector<Var> leaves(x.begin(), x.end());
  const std::vector<Var> g = grad(f(leaves), leaves, {.create_graph = true});
  // d/dx <∇f(x), v> = H v: v is a constant.
  std::vector<Var> terms;
  terms.reserve(g.size());
  for (std::size_t i = 0; i < g.size(); ++i) terms.push_back(g[i] * v[i]);
  return values(grad(sum(terms), leaves));
}

std::vector<std::vector<double>> hessian(const VarFunction& f, std::span<const double> x) {
  Tape tape;
  TapeGuard on(tape);
  HigherOrderGuard higher(tape);
  const std::vector<Var> leaves(x.begin(), x.end());
  const std::vector<Var> g = grad(f(leaves), leaves, {.create_graph = true});
  std::vector<std::vector<double>> h;
  h.reserve(g.size());
  for (const Var& gi : g) h.push_back(values(grad(gi, leaves)));
  return h;
}

}  // namespace tapegrad
