// SPDX-License-Identifier: Apache-2.0
/// @file
/// fmt formatters: fmt::print("{}", x) for Shape, DType, Indices, Var, Tensor and GradcheckResult.
/// A Var's format spec applies to its value ("{:.3f}"). Tensors print their shape, dtype and
/// values; past 1000 elements only the first and last three of each axis are shown.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

#include "tapegrad/check/gradcheck.hpp"
#include "tapegrad/core/dtype.hpp"
#include "tapegrad/core/indices.hpp"
#include "tapegrad/core/shape.hpp"
#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {
/// What fmt prints for a tensor: "tensor(shape=(2, 3), dtype=float64)" and the values, or
/// "tensor(undefined)" for an empty handle.
std::string to_string(const Tensor& x);
}  // namespace tapegrad

// The fmt::formatter specialisations are documented in prose at the top of format.hpp; they
// are left out of the API reference (doxygen cannot place a specialisation of fmt's template).
/// @cond
template <>
struct fmt::formatter<tapegrad::Shape> : fmt::formatter<std::string_view> {
  auto format(const tapegrad::Shape& s, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(s.str(), ctx);
  }
};

template <>
struct fmt::formatter<tapegrad::Indices> : fmt::formatter<std::string_view> {
  auto format(const tapegrad::Indices& i, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(i.str(), ctx);
  }
};

template <>
struct fmt::formatter<tapegrad::DType> : fmt::formatter<std::string_view> {
  auto format(tapegrad::DType d, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(tapegrad::dtype_name(d), ctx);
  }
};

template <>
struct fmt::formatter<tapegrad::Var> : fmt::formatter<double> {
  auto format(const tapegrad::Var& v, fmt::format_context& ctx) const {
    auto out = fmt::format_to(ctx.out(), "Var(");
    ctx.advance_to(out);
    out = fmt::formatter<double>::format(v.value(), ctx);
    return fmt::format_to(out, ")");
  }
};

template <>
struct fmt::formatter<tapegrad::VarExpr> : fmt::formatter<tapegrad::Var> {
  auto format(const tapegrad::VarExpr& e, fmt::format_context& ctx) const {
    return fmt::formatter<tapegrad::Var>::format(tapegrad::Var::constant(e.value()), ctx);
  }
};

template <>
struct fmt::formatter<tapegrad::Tensor> : fmt::formatter<std::string_view> {
  auto format(const tapegrad::Tensor& t, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(tapegrad::to_string(t), ctx);
  }
};

template <>
struct fmt::formatter<tapegrad::GradcheckResult> : fmt::formatter<std::string_view> {
  auto format(const tapegrad::GradcheckResult& r, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(r.str(), ctx);
  }
};
/// @endcond

#pragma GCC visibility pop
