// SPDX-License-Identifier: Apache-2.0
// The graph sweep behind grad(): the reverse sweep of src/core/tape.cpp, but with adjoints that
// are Vars. With create_graph, each reached node's partials are recomputed as Vars by its own
// rule (from the higher-order side table) and every `adj[in] += adj[out] * partial` is recorded,
// in higher-order mode, at the end of the tape — so the gradients can be swept again, to any
// order. Without create_graph the same loop runs under NoGradGuard on the numeric partials.
#include "tapegrad/autodiff/grad.hpp"

#include <optional>
#include <unordered_map>

#include <fmt/format.h>

#include "core/tensor_support.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/core/op.hpp"
#include "tapegrad/core/tensor.hpp"
#include "tapegrad/detail/var_access.hpp"
#include "tapegrad/ops/creation.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape_ops.hpp"

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

[[noreturn]] void throw_not_differentiable(const char* name) {
  throw TapeError(fmt::format(
      "grad(create_graph = true): the op '{}' has a backward that is not differentiable (a "
      "custom op with differentiable = false, or precomputed partials), so its second "
      "derivative is unknown; give it a backward written with tensor ops, or take first "
      "derivatives only",
      name));
}

void check_input(const Var& x, const Tape& tape, std::size_t i) {
  if (!x.requires_grad()) {
    throw TapeError(fmt::format(
        "grad(): input {} is a constant Var (value {}); gradients are taken with respect to Vars "
        "recorded on the tape",
        i, x.value()));
  }
  x.check_usable("grad()");
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

// One sweep from a Var root down to `stop`: Var adjoints for slots in [stop, root], Tensor
// adjoints by TensorImpl for the tensor nodes recorded from slot `stop` on (all of them for
// tensor inputs: stop 0).
class GraphSweep {
 public:
  GraphSweep(Tape& tape, std::uint32_t root, std::uint32_t stop, bool create)
      : tape_(tape),
        core_(detail::core(tape)),
        root_(root),
        stop_(stop),
        create_(create),
        adj_(root + 1 - stop),
        reached_(root + 1 - stop, 0) {
    adj_[root - stop] = Var::constant(1.0);
    reached_[root - stop] = 1;
  }

  void run() {
    // Nodes recorded during the sweep (create_graph) land after the root: the walk never sees
    // them, and reads the tape afresh past each one.
    core_.walk(
        root_ + 1, core_.nodes_before_slot(root_), stop_, [&](std::uint32_t s) { scalar_node(s); },
        [&](std::uint32_t n) { tensor_node(n); });
  }

  Var var_grad(const Var& x) const {
    const std::uint32_t s = detail::VarAccess::slot(x);
    if (s < stop_ || s > root_ || !reached_[s - stop_]) return Var();
    return adj_[s - stop_];
  }
  Tensor tensor_grad(const Tensor& x) const {
    const auto it = tadj_.find(x.impl());
    if (it == tadj_.end()) return zeros_like(x);
    return it->second;
  }

 private:
  void add_var(std::uint32_t slot, const Var& term) {
    if (slot < stop_ || slot > root_) return;
    const std::uint32_t j = slot - stop_;
    adj_[j] = reached_[j] ? adj_[j] + term : term;
    reached_[j] = 1;
  }
  void add_tensor(TensorImpl* impl, const Tensor& term) {
    const auto [it, fresh] = tadj_.try_emplace(impl, term);
    if (!fresh) it->second = it->second + term;
  }

  void scalar_node(std::uint32_t s) {
    const std::uint32_t i = s - stop_;
    if (!reached_[i]) return;
    const std::uint32_t begin = core_.operand_begin(s), end = core_.operand_end(s);
    if (begin == end) return;  // a leaf, or the output of a crossing
    const Var a = adj_[i];
    // A recorded adjoint whose value is 0 may still have a nonzero derivative: only constants
    // are skipped.
    if (!a.requires_grad() && a.value() == 0.0) return;
    partials_.assign(end - begin, Var());
    const detail::HigherOrderEntry* entry = create_ ? core_.higher_order_entry(s) : nullptr;
    if (create_ && entry == nullptr) throw_not_higher_order(s, core_.operand_partial(begin));
    if (entry != nullptr && entry->first_order_only) throw_not_differentiable(entry->name);
    if (entry != nullptr && entry->partials != nullptr) {
      const detail::HigherOrderEntry e = *entry;  // a copy: recording grows the table
      Var in[2];
      bool need[2] = {false, false};
      for (int k = 0; k < e.arity; ++k) {
        need[k] = e.in_slot[k] != kNoSlot;
        in[k] = need[k] ? detail::VarAccess::recorded(tape_, e.in[k], e.in_slot[k])
                        : Var::constant(e.in[k]);
      }
      e.partials(e.rule, in, detail::VarAccess::recorded(tape_, e.out, s), need, partials_.data());
    } else {
      for (std::uint32_t k = begin; k < end; ++k)
        partials_[k - begin] = Var::constant(core_.operand_partial(k));
    }
    for (std::uint32_t k = begin; k < end; ++k)
      add_var(core_.operand_input(k), times(a, partials_[k - begin]));
  }

  void tensor_node(std::uint32_t n) {
    const detail::TensorNode node = core_.node(n);  // a copy: the rule records nodes
    OpGrad g;
    if (node.out_slot != kNoSlot) {
      if (node.out_slot < stop_ || node.out_slot > root_ || !reached_[node.out_slot - stop_])
        return;
      g.dout_var = adj_[node.out_slot - stop_];
    } else {
      const auto it = tadj_.find(node.out);
      if (it == tadj_.end()) return;
      g.dout = it->second;
    }
    const OpRule& op = *node.op;
    if (create_ && !op.differentiable) throw_not_differentiable(op.name);
    std::vector<Tensor> inputs;
    inputs.reserve(node.input_count);
    for (std::uint32_t k = 0; k < node.input_count; ++k)
      inputs.emplace_back(core_.kept(node.first_input + k));
    if (node.out != nullptr) g.out = Tensor(core_.kept(node.first_input + node.input_count));
    g.name = op.name;
    g.inputs = inputs;
    g.ctx = node.ctx;
    g.create_graph = create_;
    if (node.saved_count != 0) detail::TapeCore::check_saved(node);
    op.rule(g);
    for (std::size_t k = 0; k < g.dinputs.size() && k < inputs.size(); ++k) {
      const Tensor& d = g.dinputs[k];
      if (!d.defined() || !inputs[k].impl()->requires_grad) continue;
      detail::check_rule_gradient(op.name, k, *inputs[k].impl(), *d.impl());
      add_tensor(inputs[k].impl(), d);
    }
    for (const auto& [slot, d] : g.dvars) add_var(slot, d);
  }

  Tape& tape_;
  detail::TapeCore& core_;
  std::uint32_t root_, stop_;
  bool create_;
  std::vector<Var> adj_;
  std::vector<char> reached_;
  std::vector<Var> partials_;
  std::unordered_map<TensorImpl*, Tensor> tadj_;
};

// Guards for one sweep: the tape current, and higher-order mode (create_graph) or no recording.
struct SweepMode {
  SweepMode(Tape& tape, bool create) : on(tape) {
    if (create) {
      higher.emplace(tape);
    } else {
      no_grad.emplace();
    }
  }
  TapeGuard on;
  std::optional<HigherOrderGuard> higher;
  std::optional<NoGradGuard> no_grad;
};

}  // namespace

std::vector<Var> grad(const Var& y, std::span<const Var> xs, const GradOptions& options) {
  std::vector<Var> result(xs.size());  // constant zeros
  if (!y.requires_grad()) return result;
  y.check_usable("grad()");
  Tape& tape = *y.tape();
  const std::uint32_t root = detail::VarAccess::slot(y);
  std::uint32_t stop = root + 1;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    check_input(xs[i], tape, i);
    stop = std::min(stop, detail::VarAccess::slot(xs[i]));
  }
  if (stop > root) return result;
  SweepMode mode(tape, options.create_graph);
  GraphSweep sweep(tape, root, stop, options.create_graph);
  sweep.run();
  for (std::size_t i = 0; i < xs.size(); ++i) result[i] = sweep.var_grad(xs[i]);
  return result;
}

std::vector<Tensor> grad(const Var& y, std::span<const Tensor> xs, const GradOptions& options) {
  std::vector<Tensor> result;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    detail::input(xs[i], "grad()");
    if (!xs[i].needs_grad()) {
      throw TapeError(
          fmt::format("grad(): input {} (shape {}) does not need a gradient; mark a leaf with "
                      "requires_grad() or pass a tensor computed from one",
                      i, xs[i].shape().str()));
    }
  }
  if (!y.requires_grad()) {
    for (const Tensor& x : xs) result.push_back(zeros_like(x));
    return result;
  }
  y.check_usable("grad()");
  Tape& tape = *y.tape();
  SweepMode mode(tape, options.create_graph);
  GraphSweep sweep(tape, detail::VarAccess::slot(y), 0, options.create_graph);
  sweep.run();
  for (const Tensor& x : xs) result.push_back(sweep.tensor_grad(x));
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

namespace {
Tensor leaf_f64(const Tensor& x) {
  return cast(x.detach(), DType::f64).detach().requires_grad();
}
}  // namespace

Tensor hvp(const TensorFunction& f, const Tensor& x, const Tensor& v) {
  if (x.shape() != v.shape()) {
    throw ShapeError(fmt::format("hvp: x has shape {} but v has shape {}; they must match",
                                 x.shape().str(), v.shape().str()));
  }
  Tape tape;
  TapeGuard on(tape);
  HigherOrderGuard higher(tape);
  const Tensor leaf[] = {leaf_f64(x)};
  const Tensor g = grad(f(leaf), leaf, {.create_graph = true})[0];
  // d/dx <∇f(x), v> = H v: v is a constant.
  const Tensor hv = grad(sum(g * cast(v.detach(), DType::f64)), leaf)[0];
  return hv.detach();
}

Tensor hessian(const TensorFunction& f, const Tensor& x) {
  Tape tape;
  TapeGuard on(tape);
  HigherOrderGuard higher(tape);
  const Tensor leaf[] = {leaf_f64(x)};
  const std::int64_t n = x.numel();
  const Tensor g = reshape(grad(f(leaf), leaf, {.create_graph = true})[0], Shape{n});
  std::vector<double> h;
  h.reserve(static_cast<std::size_t>(n * n));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::vector<double> row = grad(g.at(i), leaf)[0].to_vector();
    h.insert(h.end(), row.begin(), row.end());
  }
  return Tensor::from(h, Shape{n, n});
}

Tensor jacobian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x) {
  Tape tape;
  TapeGuard on(tape);
  const Tensor leaf = leaf_f64(x);
  const Tensor y = f(leaf);
  const std::int64_t m = y.numel(), n = x.numel();
  std::vector<double> jac;
  jac.reserve(static_cast<std::size_t>(m * n));
  std::vector<double> seed(static_cast<std::size_t>(m), 0.0);
  for (std::int64_t i = 0; i < m; ++i) {
    leaf.zero_grad();
    seed[static_cast<std::size_t>(i)] = 1.0;
    y.backward(cast(Tensor::from(seed, y.shape()), y.dtype()));
    seed[static_cast<std::size_t>(i)] = 0.0;
    const std::vector<double> row = leaf.grad().to_vector();
    jac.insert(jac.end(), row.begin(), row.end());
  }
  return Tensor::from(jac, Shape{m, n});
}

}  // namespace tapegrad
