// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/ops/custom.hpp"

#include <cmath>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "core/anomaly.hpp"
#include "core/tensor_support.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/detail/var_access.hpp"

namespace tapegrad {
namespace {

// What a custom op's node points to, kept alive by the tape until reset(): the user's backward
// and the OpRule naming it.
struct CustomNode {
  std::string name;
  std::function<std::vector<Tensor>(const OpGrad&)> backward;
  std::size_t inputs = 0;
  OpRule rule;
};

void custom_rule(OpGrad& g) {
  const auto& c = g.context<CustomNode>();
  std::vector<Tensor> d = c.backward(g);
  if (d.size() != c.inputs) {
    throw ValueError(fmt::format(
        "custom op '{}': its backward returned {} gradients for {} inputs; return one per input "
        "(an undefined Tensor for an input that gets none)",
        c.name, d.size(), c.inputs));
  }
  g.dinputs = std::move(d);
}

// The name, copied into the tape's arena: entries and anomaly notes keep it by pointer.
const char* arena_name(Tape& tape, std::string_view name) {
  auto* p = static_cast<char*>(detail::core(tape).allocate(name.size() + 1, 1));
  std::memcpy(p, name.data(), name.size());
  p[name.size()] = '\0';
  return p;
}

}  // namespace

Tensor custom_op(const CustomOp& op, std::span<const Tensor> inputs, const Tensor& value) {
  if (!op.backward) {
    throw ValueError(fmt::format("custom op '{}': needs a backward function", op.name));
  }
  std::vector<const Tensor*> in;
  for (const Tensor& x : inputs) {
    detail::input(x, op.name.c_str());
    in.push_back(&x);
  }
  const TensorImpl& v = detail::input(value, op.name.c_str());
  auto out = detail::make_output(v.shape, v.dtype);
  std::memcpy(out->value.data(), v.value.data(), v.bytes());
  Tape* tape = detail::recording_tape(in, op.name.c_str());
  if (tape == nullptr) return Tensor(std::move(out));
  auto node = std::make_shared<CustomNode>();
  node->name = op.name;
  node->backward = op.backward;
  node->inputs = inputs.size();
  node->rule = {
      .name = node->name.c_str(), .rule = custom_rule, .differentiable = op.differentiable};
  const CustomNode* ctx = node.get();
  detail::core(*tape).keep_object(std::move(node));
  return detail::record(*tape, ctx->rule, ctx, std::move(out), in, detail::Saves::input_values);
}

Tensor custom_op(const CustomOp& op, std::initializer_list<Tensor> inputs, const Tensor& value) {
  return custom_op(op, std::span<const Tensor>(inputs.begin(), inputs.size()), value);
}

Var precomputed(std::string_view name, double value, std::span<const Var> inputs,
                std::span<const double> partials) {
  if (inputs.size() != partials.size()) {
    throw ValueError(
        fmt::format("precomputed '{}': {} inputs but {} partials; give one partial "
                    "derivative per input",
                    name, inputs.size(), partials.size()));
  }
  Tape* tape = detail::tape_of_vars(inputs, "precomputed");
  if (tape == nullptr || !grad_enabled()) return Var::constant(value);
  // One node whose operands are the inputs' nodes.
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].requires_grad())
      detail::core(*tape).push_operand(detail::VarAccess::slot(inputs[i]), partials[i]);
  }
  const std::uint32_t slot = detail::core(*tape).finish_node();
  if (detail::core(*tape).higher_order() || anomaly_mode()) {
    const char* kept = arena_name(*tape, name);
    if (anomaly_mode()) [[unlikely]] {
      bool finite = true;
      for (const Var& v : inputs) finite = finite && std::isfinite(v.value());
      for (const double p : partials) finite = finite && std::isfinite(p);
      detail::note_scalar_result(*tape, slot, kept, {},
                                 fmt::format("{} inputs with precomputed partials", inputs.size()),
                                 value, __builtin_return_address(0), finite);
    }
    if (detail::core(*tape).higher_order()) {
      detail::HigherOrderEntry e;
      e.slot = slot;
      e.name = kept;
      e.first_order_only = true;
      detail::core(*tape).push_higher_order(e);
    }
  }
  return detail::VarAccess::recorded(*tape, value, slot);
}

}  // namespace tapegrad
