// SPDX-License-Identifier: Apache-2.0
// Anomaly mode's record (see AnomalyGuard in tapegrad/core/tape.hpp): for each op recorded in
// the mode, its name, operands and a backtrace, looked up by the checked reverse sweep.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tapegrad/core/tape.hpp"
#include "tapegrad/core/tensor.hpp"

namespace tapegrad::detail {

struct AnomalyNote {
  std::uint32_t index = 0;  // scalar slot, or tensor node
  const char* op = "";
  std::string operands;  // tensor ops, sum: described; other scalar ops: values
  std::array<double, 2> values{};
  int count = 0;
  std::vector<const TensorImpl*> inputs;  // tensor nodes: whose gradients the backward writes
  std::vector<void*> frames;              // tensor nodes: a backtrace
  const void* where = nullptr;            // scalar nodes: the op's call site
};

// Cleared, not freed, by Tape::reset(): a training loop in anomaly mode reuses its memory.
struct AnomalyLog {
  std::vector<AnomalyNote> slots;  // sorted by slot
  std::vector<AnomalyNote> nodes;  // sorted by node
  bool empty() const { return slots.empty() && nodes.empty(); }
  void clear() {
    slots.clear();
    nodes.clear();
  }
};

// Notes scalar `slot`, made by `op` from `operands`, or throws AnomalyError when `out` is not
// finite although the operands are.
void note_scalar_result(Tape& tape, std::uint32_t slot, const char* op,
                        std::span<const double> values, std::string described, double out,
                        const void* where, bool finite_operands);
// "0.5, 2" or the described operands.
std::string operands_of(const AnomalyNote& note);

// A backtrace of the caller, for a note (tensor ops; a scalar op keeps only its call site,
// since unwinding costs far more than the op).
void capture_backtrace(AnomalyNote& note);
// The frames of a backtrace, from the first outside tapegrad when the names are known.
std::string format_frames(std::span<void* const> frames);
std::string backtrace_here();
std::string recorded_at(const AnomalyNote* note);
std::string demangled(const char* name);
const AnomalyNote* find(const std::vector<AnomalyNote>& notes, std::uint32_t index);

// Anomaly mode, tensor ops: throws AnomalyError when `out` holds a value that is not finite
// although every input's values are finite.
void check_tensor_forward(const char* op, const TensorImpl& out,
                          std::span<const Tensor* const> inputs);
// "(3, 4) float32, (4) float32": the operands of a tensor op, for a note.
std::string describe_operands(std::span<const Tensor* const> inputs);

// The checked sweep's tests, after a scalar slot has passed its gradient on and after a tensor
// node's backward has run: throw AnomalyError naming the op when a gradient it gave is not finite.
void check_scalar_backward(const AnomalyLog* log, std::uint32_t slot, double adjoint,
                           double partial, std::uint32_t input);
void check_tensor_backward(const AnomalyLog* log, std::uint32_t node, const TensorNode& n);

}  // namespace tapegrad::detail
