// SPDX-License-Identifier: Apache-2.0
// What every tensor op's implementation uses: validating inputs, allocating outputs, and the one
// recording helper that ends each op (record_op). Internal to the library.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>

#include "core/internal_api.hpp"
#include "tapegrad/core/op.hpp"
#include "tapegrad/core/tensor.hpp"
#include "tapegrad/detail/var_apply.hpp"  // throw_mixed_tapes

namespace tapegrad {

namespace detail {
// Validates an op input: defined, and not recorded on a tape that was reset since.
TensorImpl& input(const Tensor& t, const char* op);
// Validates a tensor whose values are only read, never recorded with (shape(), item(),
// argmax): defined. Its buffers belong to the handle, so a reset or destroyed tape does not stop
// it; only using it in an op or backward() would need its node.
const TensorImpl& readable(const Tensor& t, const char* op);
// A fresh output tensor (not yet recorded).
TAPEGRAD_INTERNAL_API std::shared_ptr<TensorImpl> make_output(const Shape& shape, DType dtype);
// The tape the recorded Vars among `xs` are on (each checked usable here), or nullptr when none
// is recorded; throws TapeError naming `op` when they come from two tapes.
Tape* tape_of_vars(std::span<const Var> xs, const char* op);
// The flat index of `index` in `shape` (negative indices count from the end); throws
// IndexError naming `op` when it does not fit.
std::int64_t flat_index(const Shape& shape, std::span<const std::int64_t> index, const char* op);
// Element i as a double.
double load(const TensorImpl& t, std::int64_t i);
// Adds `from` (same shape and dtype) into `into`'s gradient: stored into a buffer that holds
// none yet, added otherwise.
void accumulate_grad(TensorImpl& into, const TensorImpl& from);
// Both operands must have the same dtype.
DType common_dtype(const TensorImpl& a, const TensorImpl& b, const char* op);
}  // namespace detail

namespace detail {
// Whether an op's backward reads its inputs' values (mul, matmul, tanh's input...) or not (add,
// reshape, slice, sum...): the leaves among the inputs of the first kind have their versions
// saved and checked before the backward runs.
enum class Saves { input_values, nothing };
// The tape an op on these inputs records on (the inputs' tape, else the current one), or
// nullptr when nothing needs a gradient or grad mode is off. Throws on mixed or stale tapes.
TAPEGRAD_INTERNAL_API Tape* recording_tape(std::span<const Tensor* const> inputs, const char* op);
// Records `op` producing `out` (a fresh tensor, not yet recorded) on `tape`, with `ctx` (in the
// tape's arena, or nullptr) and `inputs` kept alive until the tape is reset.
TAPEGRAD_INTERNAL_API Tensor record(Tape& tape, const OpRule& op, const void* ctx,
                                    std::shared_ptr<TensorImpl> out,
                                    std::span<const Tensor* const> inputs, Saves saves);
// The same for an op whose output is a new Var (a crossing from tensors to scalars).
Var record_to_var(Tape& tape, const OpRule& op, const void* ctx, double value,
                  std::span<const Tensor* const> inputs, Saves saves);

// Throws ShapeError unless the gradient a rule gave input k has that input's shape and dtype.
void check_rule_gradient(const char* op, std::size_t k, const TensorImpl& input,
                         const TensorImpl& gradient);

struct NoContext {};

// The one line at the end of every tensor op: records `op` when an input needs a gradient
// (saving `ctx`, trivially copyable, in the tape's arena), else returns `out` as a constant.
// The context in the tape's arena (nullptr for NoContext).
template <class Ctx>
const void* save_context(Tape& tape, const Ctx& ctx) {
  if constexpr (std::is_same_v<Ctx, NoContext>) {
    return nullptr;
  } else {
    return detail::core(tape).save(ctx);
  }
}

template <class Ctx = NoContext>
Tensor record_op(const OpRule& op, std::shared_ptr<TensorImpl> out,
                 std::span<const Tensor* const> inputs, const Ctx& ctx = {},
                 Saves saves = Saves::input_values) {
  Tape* tape = recording_tape(inputs, op.name);
  if (tape == nullptr) return Tensor(std::move(out));
  return record(*tape, op, save_context(*tape, ctx), std::move(out), inputs, saves);
}
template <class Ctx = NoContext>
Tensor record_op(const OpRule& op, std::shared_ptr<TensorImpl> out,
                 std::initializer_list<const Tensor*> inputs, const Ctx& ctx = {},
                 Saves saves = Saves::input_values) {
  return record_op(op, std::move(out),
                   std::span<const Tensor* const>(inputs.begin(), inputs.size()), ctx, saves);
}
// The same for an op whose output is a Var.
template <class Ctx = NoContext>
Var record_op_to_var(const OpRule& op, double value, std::initializer_list<const Tensor*> inputs,
                     const Ctx& ctx = {}, Saves saves = Saves::input_values) {
  const std::span<const Tensor* const> in(inputs.begin(), inputs.size());
  Tape* tape = recording_tape(in, op.name);
  if (tape == nullptr) return Var::constant(value);
  return record_to_var(*tape, op, save_context(*tape, ctx), value, in, saves);
}

// Tests only: while alive on this thread, backward() runs every op's rule instead of its fast
// backward, so that the two can be compared.
class TAPEGRAD_INTERNAL_API RulesOnlyGuard {
 public:
  RulesOnlyGuard();
  ~RulesOnlyGuard();
  RulesOnlyGuard(const RulesOnlyGuard&) = delete;
  RulesOnlyGuard& operator=(const RulesOnlyGuard&) = delete;

 private:
  bool previous_;
};
bool rules_only();
}  // namespace detail

}  // namespace tapegrad
