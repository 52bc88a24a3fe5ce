// SPDX-License-Identifier: Apache-2.0
#include "core/anomaly.hpp"

#include <cmath>
#include <cstdlib>
#include <memory>

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <fmt/format.h>

#include "tapegrad/core/error.hpp"
#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"
#include "tapegrad/detail/var_apply.hpp"  // note_scalar_op

namespace tapegrad {

namespace detail {

// Not in an anonymous namespace: with the program linked -rdynamic these frames are named, and
// skipped in the backtraces shown.
std::string demangled(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> text(abi::__cxa_demangle(name, nullptr, nullptr, &status),
                                              std::free);
  return status == 0 && text ? std::string(text.get()) : std::string(name);
}

// The frames of a backtrace from the first outside tapegrad (when names are known), at most 8.
std::string format_frames(std::span<void* const> frames) {
  struct Frame {
    std::string name;  // empty when the symbol is not exported
    std::string where;
  };
  std::vector<Frame> all;
  for (void* address : frames) {
    Dl_info info{};
    Frame f;
    if (::dladdr(address, &info) != 0) {
      const auto at = reinterpret_cast<std::uintptr_t>(address);
      if (info.dli_sname != nullptr) {
        f.name = fmt::format("{}+{:#x}", demangled(info.dli_sname),
                             at - reinterpret_cast<std::uintptr_t>(info.dli_saddr));
      }
      f.where = fmt::format("{}+{:#x}", info.dli_fname != nullptr ? info.dli_fname : "?",
                            at - reinterpret_cast<std::uintptr_t>(info.dli_fbase));
    } else {
      f.where = fmt::format("{}", address);
    }
    all.push_back(std::move(f));
  }
  // The library's frames lead; unnamed ones among them are its internal or cold parts. Shown:
  // from the first named frame outside the library (everything when nothing is named).
  std::size_t first = 0;
  bool library_seen = false;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i].name.starts_with("tapegrad::") || all[i].name.starts_with("std::")) {
      library_seen = true;
    } else if (!all[i].name.empty()) {
      if (library_seen) first = i;
      break;
    }
  }
  std::string out;
  for (std::size_t i = first; i < all.size() && i < first + 8; ++i) {
    out += fmt::format("\n    #{} {}{}({})", i - first, all[i].name, all[i].name.empty() ? "" : " ",
                       all[i].where);
  }
  return out;
}

std::string backtrace_here() {
  std::array<void*, 24> frames{};
  const int depth = ::backtrace(frames.data(), static_cast<int>(frames.size()));
  return format_frames(std::span<void* const>(frames.data(), static_cast<std::size_t>(depth)));
}

std::string recorded_at(const AnomalyNote* note) {
  if (note == nullptr) return "\n    (recorded outside anomaly mode)";
  if (note->frames.empty()) {
    void* const frame[1] = {const_cast<void*>(note->where)};
    return format_frames(frame);
  }
  return format_frames(note->frames);
}

template <class Visit>
void for_each_value(DType dtype, const std::byte* data, std::int64_t n, Visit&& visit) {
  if (dtype == DType::f32) {
    const auto* p = reinterpret_cast<const float*>(data);
    for (std::int64_t i = 0; i < n; ++i) visit(i, static_cast<double>(p[i]));
  } else {
    const auto* p = reinterpret_cast<const double*>(data);
    for (std::int64_t i = 0; i < n; ++i) visit(i, p[i]);
  }
}

struct NonFinite {
  std::int64_t count = 0;
  std::int64_t first = -1;
  double value = 0;
  std::string str(std::int64_t n) const {
    return fmt::format("{} of {} values not finite, the first at flat index {}: {}", count, n,
                       first, value);
  }
};

NonFinite non_finite(DType dtype, const std::byte* data, std::int64_t n) {
  NonFinite out;
  for_each_value(dtype, data, n, [&](std::int64_t i, double v) {
    if (!std::isfinite(v)) {
      if (out.count++ == 0) {
        out.first = i;
        out.value = v;
      }
    }
  });
  return out;
}

const AnomalyNote* find(const std::vector<AnomalyNote>& notes, std::uint32_t index) {
  const auto it =
      std::lower_bound(notes.begin(), notes.end(), index,
                       [](const AnomalyNote& n, std::uint32_t i) { return n.index < i; });
  return it != notes.end() && it->index == index ? &*it : nullptr;
}

void capture_backtrace(AnomalyNote& note) {
  std::array<void*, 24> frames{};
  const int depth = ::backtrace(frames.data(), static_cast<int>(frames.size()));
  note.frames.assign(frames.begin(), frames.begin() + depth);
}

std::string describe_operands(std::span<const Tensor* const> inputs) {
  std::vector<std::string> parts;
  for (const Tensor* t : inputs) {
    parts.push_back(fmt::format("{} {}", t->shape().str(), dtype_name(t->dtype())));
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

void check_tensor_forward(const char* op, const TensorImpl& out,
                          std::span<const Tensor* const> inputs) {
  const NonFinite bad = non_finite(out.dtype, out.value.data(), out.numel());
  if (bad.count == 0) return;
  for (const Tensor* in : inputs) {
    const TensorImpl& impl = *in->impl();
    if (non_finite(impl.dtype, impl.value.data(), impl.numel()).count != 0) return;
  }
  throw AnomalyError(fmt::format(
      "anomaly: {} of finite operands ({}) gave a value that is not finite: output {} {}, {}; "
      "recorded at:{}",
      op, describe_operands(inputs), out.shape.str(), dtype_name(out.dtype), bad.str(out.numel()),
      backtrace_here()));
}

std::string operands_of(const AnomalyNote& note) {
  if (note.count == 0) return note.operands;
  return fmt::format(
      "{}", fmt::join(std::span(note.values.data(), static_cast<std::size_t>(note.count)), ", "));
}

void note_scalar_result(Tape& tape, std::uint32_t slot, const char* op,
                        std::span<const double> values, std::string described, double out,
                        const void* where, bool finite_operands) {
  detail::core(tape).note_anomaly_slot(slot, op, values, std::move(described), where);
  if (!std::isfinite(out) && finite_operands) {
    void* const frame[1] = {const_cast<void*>(where)};
    throw AnomalyError(fmt::format(
        "anomaly: {}({}) = {}: a value that is not finite from finite operands; recorded at:{}", op,
        operands_of(detail::core(tape).anomaly_log()->slots.back()), out, format_frames(frame)));
  }
}

void note_scalar_op(Tape& tape, std::uint32_t slot, const char* op, double x, double out,
                    const void* where) {
  const double values[1] = {x};
  note_scalar_result(tape, slot, op, values, {}, out, where, std::isfinite(x));
}

void note_scalar_op(Tape& tape, std::uint32_t slot, const char* op, double x, double y, double out,
                    const void* where) {
  const double values[2] = {x, y};
  note_scalar_result(tape, slot, op, values, {}, out, where, std::isfinite(x) && std::isfinite(y));
}

void check_scalar_backward(const AnomalyLog* log, std::uint32_t slot, double adjoint,
                           double partial, std::uint32_t input) {
  const AnomalyNote* note = log != nullptr ? find(log->slots, slot) : nullptr;
  if (note == nullptr) return;  // recorded outside anomaly mode: not checked
  const std::string op = fmt::format("{}({})", note->op, operands_of(*note));
  if (!std::isfinite(adjoint)) {
    throw AnomalyError(fmt::format(
        "anomaly: the gradient reaching {} is already not finite ({}): it came from an op whose "
        "backward is not checked (a tensor op's Var operand); {} was recorded at:{}",
        op, adjoint, op, recorded_at(note)));
  }
  throw AnomalyError(fmt::format(
      "anomaly: the backward of {} gave a gradient that is not finite: {} · {} = {} for its "
      "operand (slot {}) from a finite gradient; recorded at:{}",
      op, adjoint, partial, adjoint * partial, input, recorded_at(note)));
}

void check_tensor_backward(const AnomalyLog* log, std::uint32_t node, const TensorNode& n) {
  const AnomalyNote* note = log != nullptr ? find(log->nodes, node) : nullptr;
  if (note == nullptr) return;
  for (std::size_t k = 0; k < note->inputs.size(); ++k) {
    const TensorImpl& in = *note->inputs[k];
    if (!in.has_grad()) continue;
    const NonFinite bad = non_finite(in.dtype, in.grad.data(), in.numel());
    if (bad.count == 0) continue;
    std::string from = "a finite gradient";
    if (n.out != nullptr && n.out->has_grad()) {
      const NonFinite above = non_finite(n.out->dtype, n.out->grad.data(), n.out->numel());
      if (above.count != 0)
        from = "a gradient already not finite (" + above.str(n.out->numel()) + ")";
    }
    throw AnomalyError(fmt::format(
        "anomaly: the backward of {} (operands {}) gave a gradient that is not finite for "
        "operand {}: {}, from {}; recorded at:{}",
        note->op, note->operands, k, bad.str(in.numel()), from, recorded_at(note)));
  }
}

}  // namespace detail

void detail::TapeCore::note_anomaly_slot(std::uint32_t slot, const char* op,
                                         std::span<const double> values, std::string described,
                                         const void* where) {
  if (!anomaly_) anomaly_ = std::make_unique<detail::AnomalyLog>();
  detail::AnomalyNote& note = anomaly_->slots.emplace_back();
  note.index = slot;
  note.op = op;
  note.operands = std::move(described);
  note.count = static_cast<int>(std::min<std::size_t>(values.size(), 2));
  std::copy_n(values.begin(), note.count, note.values.begin());
  note.where = where;
}

void detail::TapeCore::note_anomaly_node(std::uint32_t node, const char* op, std::string operands,
                                         std::vector<const TensorImpl*> inputs) {
  if (!anomaly_) anomaly_ = std::make_unique<detail::AnomalyLog>();
  detail::AnomalyNote& note = anomaly_->nodes.emplace_back();
  note.index = node;
  note.op = op;
  note.operands = std::move(operands);
  note.inputs = std::move(inputs);
  detail::capture_backtrace(note);
}

}  // namespace tapegrad
