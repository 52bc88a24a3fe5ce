// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/format.hpp"

#include <ostream>

namespace tapegrad {
namespace {

constexpr std::int64_t kSummaryThreshold = 1000;  // more elements than this: abbreviate
constexpr std::int64_t kEdgeItems = 3;

void append_axis(std::string& s, const Tensor& t, const std::vector<double>& v, int axis,
                 std::int64_t offset, bool summarise) {
  const Shape& shape = t.shape();
  const std::int64_t n = shape[axis];
  const std::int64_t stride = shape.strides()[static_cast<std::size_t>(axis)];
  s += '[';
  for (std::int64_t i = 0; i < n; ++i) {
    if (summarise && n > 2 * kEdgeItems && i == kEdgeItems) {
      s += axis == shape.rank() - 1 ? "..., " : fmt::format("...,\n{:{}}", "", axis + 1);
      i = n - kEdgeItems - 1;
      continue;
    }
    if (axis == shape.rank() - 1) {
      s += fmt::format("{:.6g}", v[static_cast<std::size_t>(offset + i * stride)]);
    } else {
      append_axis(s, t, v, axis + 1, offset + i * stride, summarise);
    }
    if (i + 1 < n) {
      s += axis == shape.rank() - 1 ? ", " : fmt::format(",\n{:{}}", "", axis + 1);
    }
  }
  s += ']';
}

}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "tensor(undefined)";
  std::string s = fmt::format("tensor(shape={}, dtype={}{})\n", t.shape(), t.dtype(),
                              t.needs_grad() ? ", requires_grad" : "");
  const std::vector<double> v = t.to_vector();
  if (t.dim() == 0) return s + fmt::format("{:.6g}", v[0]);
  append_axis(s, t, v, 0, 0, t.numel() > kSummaryThreshold);
  return s;
}

std::ostream& operator<<(std::ostream& os, const Var& x) {
  return os << fmt::format("{}", x);
}
std::ostream& operator<<(std::ostream& os, const VarExpr& x) {
  return os << fmt::format("{}", x);
}
std::ostream& operator<<(std::ostream& os, const Shape& s) {
  return os << s.str();
}
std::ostream& operator<<(std::ostream& os, const Tensor& x) {
  return os << to_string(x);
}

}  // namespace tapegrad
