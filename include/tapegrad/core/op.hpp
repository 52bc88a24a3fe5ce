// SPDX-License-Identifier: Apache-2.0
/// @file
/// The door every tensor op goes through, the library's and users' alike: an op computes its
/// value, then records one node naming its OpRule — the derivative written once, with Tensor and
/// Var ops, so that the same lines give backward()'s numbers and, under
/// grad(..., {.create_graph = true}), a recorded graph that can be differentiated again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// What an op's derivative rule is given, and what it gives back.
///
/// The rule reads the op's inputs, its output and the output's adjoint `dout`, and sets
/// `dinputs[k]` to the adjoint contribution for input k (of input k's shape; leave it undefined
/// for an input that gets none). backward() runs it without recording; grad() with
/// create_graph runs it recording, so every op the rule calls is differentiable again.
struct OpGrad {
  const char* name = "";           ///< the op's name, for messages
  std::span<const Tensor> inputs;  ///< as the op recorded them
  Tensor out;                      ///< the output (undefined when the output is a Var)
  Tensor dout;                     ///< the output's adjoint (tensor outputs)
  Var dout_var;                    ///< the output's adjoint (outputs that are a Var)
  const void* ctx = nullptr;       ///< what the op saved for its rule (see record_op)
  bool create_graph = false;       ///< whether the rule's ops are being recorded
  std::vector<Tensor> dinputs;     ///< set by the rule, one per input it gives a gradient
  /// Set by rules of ops whose inputs are Vars (stack of Vars): (slot, adjoint) pairs.
  std::vector<std::pair<std::uint32_t, Var>> dvars;

  /// Whether input k needs a gradient (skip the work for the others).
  bool needs(std::size_t k) const { return k < inputs.size() && inputs[k].needs_grad(); }
  /// The op's saved context, as the type it was saved with.
  template <class Ctx>
  const Ctx& context() const {
    return *static_cast<const Ctx*>(ctx);
  }
};

/// One op's name and derivative, defined once (a `constexpr OpRule` beside the op).
struct OpRule {
  /// The derivative rule: reads g's inputs, output and dout, sets g.dinputs (see OpGrad).
  using Rule = void (*)(OpGrad& g);
  /// A numeric backward on the raw buffers, for ops where it is measurably faster than `rule`
  /// run without recording; it must give the same numbers (tests/ops check every op that has
  /// one against its rule). Runs only inside a sweep, after the output's gradient was reached.
  using Fast = void (*)(const detail::TensorNode& node, detail::TapeCore& tape);

  const char* name = "";  ///< names the op in errors, anomaly reports and graph dumps
  Rule rule = nullptr;    ///< the derivative, written with differentiable ops
  Fast fast = nullptr;    ///< optional: a faster numeric backward (see Fast)
  /// False when `rule` reads raw values rather than calling differentiable ops: grad() with
  /// create_graph then refuses to differentiate through the op instead of silently treating
  /// its gradient as a constant.
  bool differentiable = true;
};

}  // namespace tapegrad

#pragma GCC visibility pop
