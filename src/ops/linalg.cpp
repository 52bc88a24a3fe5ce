// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/ops/linalg.hpp"

#include <fmt/format.h>

#include "core/parallel_for.hpp"
#include "core/strided.hpp"
#include "core/tensor_support.hpp"
#include "kernels/blas.hpp"
#include "kernels/isa_clones.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/core/op.hpp"
#include "tapegrad/detail/map.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape_ops.hpp"

namespace tapegrad {
namespace {

struct MatmulDims {
  Shape batch;  // broadcast batch shape
  std::int64_t m, k, n;
  std::array<detail::Strides, 3> strides;  // a, b, out: matrix offsets per batch index
};

Shape batch_of(const Shape& s) {
  Shape b;
  for (int i = 0; i < s.rank() - 2; ++i) b.push_back(s[i]);
  return b;
}

MatmulDims matmul_dims(const Shape& a, const Shape& b) {
  if (a.rank() < 2 || b.rank() < 2) {
    throw ShapeError(fmt::format(
        "matmul: operands need at least 2 axes, got {} @ {}; reshape a vector to (1, K) or (K, 1)",
        a.str(), b.str()));
  }
  if (a[-1] != b[-2]) {
    throw ShapeError(fmt::format("matmul: inner extents differ in {} @ {} ({} vs {})", a.str(),
                                 b.str(), a[-1], b[-2]));
  }
  MatmulDims d;
  const Shape ba = batch_of(a), bb = batch_of(b);
  d.batch = broadcast_shapes(ba, bb, "matmul");
  d.m = a[-2];
  d.k = a[-1];
  d.n = b[-1];
  d.strides = {broadcast_strides(ba, d.batch), broadcast_strides(bb, d.batch), d.batch.strides()};
  for (auto& s : d.strides[0]) s *= d.m * d.k;
  for (auto& s : d.strides[1]) s *= d.k * d.n;
  for (auto& s : d.strides[2]) s *= d.m * d.n;
  return d;
}

// Calls f(a offset, b offset, out offset) for every matrix of the batch.
template <class F>
void for_each_matrix(const MatmulDims& d, F&& f) {
  const int last = d.batch.rank() - 1;
  const auto step = [&](int k) {
    return last >= 0 ? d.strides[static_cast<std::size_t>(k)][static_cast<std::size_t>(last)] : 0;
  };
  const std::int64_t sa = step(0), sb = step(1), so = step(2);
  detail::walk(d.batch, d.strides, [&](const std::array<std::int64_t, 3>& off, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) f(off[0] + i * sa, off[1] + i * sb, off[2] + i * so);
  });
}

struct MatmulCtx {
  TensorImpl* a;
  TensorImpl* b;
  MatmulDims dims;
};

void matmul_fast(const detail::TensorNode& node, detail::TapeCore&) {
  const auto& c = *static_cast<const MatmulCtx*>(node.ctx);
  TensorImpl& out = *node.out;
  const MatmulDims& d = c.dims;
  dispatch(out.dtype, [&]<class T>() {
    const T* g = reinterpret_cast<const T*>(out.grad.data());
    const T* a = c.a->data<T>();
    const T* b = c.b->data<T>();
    // An operand with a matrix for each of the output's gets each gradient matrix from one
    // product: into a fresh buffer it is stored (beta 0), with no zeroing first. A matrix shared
    // by broadcasting sums several products, into a zeroed buffer. For matmul(x, x) the second
    // call finds the buffer the first one allocated, so db adds to what da stored.
    const std::int64_t products = d.batch.numel();
    const auto target = [&](TensorImpl& in, std::int64_t rows, std::int64_t cols) {
      if (!in.requires_grad) return TensorImpl::GradWrite{nullptr, false};
      return in.grad_target(in.numel() == products * rows * cols);
    };
    const TensorImpl::GradWrite wa = target(*c.a, d.m, d.k);
    const TensorImpl::GradWrite wb = target(*c.b, d.k, d.n);
    T* da = reinterpret_cast<T*>(wa.data);
    T* db = reinterpret_cast<T*>(wb.data);
    const T beta_a = wa.assign ? 0 : 1, beta_b = wb.assign ? 0 : 1;
    for_each_matrix(d, [&](std::int64_t oa, std::int64_t ob, std::int64_t oo) {
      // da (M, K) += dout (M, N) · bᵀ;  db (K, N) += aᵀ · dout (M, N)
      if (da)
        kernels::gemm<T>(false, true, d.m, d.k, d.n, 1, g + oo, d.n, b + ob, d.n, beta_a, da + oa,
                         d.k);
      if (db)
        kernels::gemm<T>(true, false, d.k, d.n, d.m, 1, a + oa, d.k, g + oo, d.n, beta_b, db + ob,
                         d.n);
    });
  });
}

// dA = dC · Bᵀ, dB = Aᵀ · dC, each summed over broadcast batch axes.
void matmul_rule(OpGrad& g) {
  const Tensor& a = g.inputs[0];
  const Tensor& b = g.inputs[1];
  g.dinputs.resize(2);
  if (a.impl()->requires_grad)
    g.dinputs[0] = detail::sum_to(matmul(g.dout, transpose(b)), a.shape());
  if (b.impl()->requires_grad)
    g.dinputs[1] = detail::sum_to(matmul(transpose(a), g.dout), b.shape());
}
constexpr OpRule kMatmul{.name = "matmul", .rule = matmul_rule, .fast = matmul_fast};

// ---- linear: x · w + b in one node ------------------------------------------------------------
// The same arithmetic as matmul(x, w) + b, in the same order, so its values and gradients are
// those of the two ops bit for bit; what it saves is the intermediate product's buffer and its
// gradient, the broadcast add's pass over them and a node.

struct LinearCtx {
  TensorImpl* x;  // (N, K)
  TensorImpl* w;  // (K, M)
  TensorImpl* b;  // (M)
  std::int64_t n, k, m;
};

// The bias's two loops, compiled for AVX2 and AVX-512 as well (TAPEGRAD_ISA_CLONES; additions
// only, in a fixed order, so every clone gives the same sums). At the baseline's 16 bytes a
// vector they took 4.6 % and 3.6 % of the digits step (the first reads GEMM's output just
// written with 64-byte stores); cloned, 1.3 % and 1.7 % (perf, AVX-512 EPYC).
// rows[r * m + j] += v[j] for r < n, j < m.
template <class T>
[[gnu::always_inline]] inline void add_to_rows_body(T* rows, std::int64_t n, std::int64_t m,
                                                    const T* v) {
  for (std::int64_t r = 0; r < n; ++r) {
    T* row = rows + r * m;
    for (std::int64_t j = 0; j < m; ++j) row[j] += v[j];
  }
}
// acc[j] += rows[r * stride + j] for j < width, row after row.
template <class T>
[[gnu::always_inline]] inline void add_rows_to_body(T* acc, const T* rows, std::int64_t n,
                                                    std::int64_t stride, std::int64_t width) {
  for (std::int64_t r = 0; r < n; ++r) {
    const T* row = rows + r * stride;
    for (std::int64_t j = 0; j < width; ++j) acc[j] += row[j];
  }
}
TAPEGRAD_ISA_CLONES void add_to_rows(float* rows, std::int64_t n, std::int64_t m, const float* v) {
  add_to_rows_body(rows, n, m, v);
}
TAPEGRAD_ISA_CLONES void add_to_rows(double* rows, std::int64_t n, std::int64_t m,
                                     const double* v) {
  add_to_rows_body(rows, n, m, v);
}
TAPEGRAD_ISA_CLONES void add_rows_to(float* acc, const float* rows, std::int64_t n,
                                     std::int64_t stride, std::int64_t width) {
  add_rows_to_body(acc, rows, n, stride, width);
}
TAPEGRAD_ISA_CLONES void add_rows_to(double* acc, const double* rows, std::int64_t n,
                                     std::int64_t stride, std::int64_t width) {
  add_rows_to_body(acc, rows, n, stride, width);
}

void linear_fast(const detail::TensorNode& node, detail::TapeCore&) {
  const auto& c = *static_cast<const LinearCtx*>(node.ctx);
  TensorImpl& out = *node.out;
  dispatch(out.dtype, [&]<class T>() {
    const T* g = reinterpret_cast<const T*>(out.grad.data());
    // dx (N, K) = dout (N, M) · wᵀ and dw (K, M) = xᵀ · dout, stored into a fresh buffer (beta
    // 0) or added. Requested one after the other, so that for linear(x, x, b) dw adds to what dx
    // stored.
    if (c.x->requires_grad) {
      const TensorImpl::GradWrite dx = c.x->grad_for_write();
      kernels::gemm<T>(false, true, c.n, c.k, c.m, 1, g, c.m, c.w->data<T>(), c.m,
                       dx.assign ? 0 : 1, reinterpret_cast<T*>(dx.data), c.k);
    }
    if (c.w->requires_grad) {
      const TensorImpl::GradWrite dw = c.w->grad_for_write();
      kernels::gemm<T>(true, false, c.k, c.m, c.n, 1, c.x->data<T>(), c.k, g, c.m,
                       dw.assign ? 0 : 1, reinterpret_cast<T*>(dw.data), c.m);
    }
    // db = dout summed over rows, row after row into the zeroed or accumulated buffer, as the
    // gradient of a broadcast add is; by columns on several threads.
    if (c.b->requires_grad) {
      T* db = c.b->grad_data<T>();
      detail::parallel_for_columns(c.m, c.n, [&](std::int64_t c0, std::int64_t c1) {
        add_rows_to(db + c0, g + c0, c.n, c.m, c1 - c0);
      });
    }
  });
}

// dx = dout · wᵀ, dw = xᵀ · dout, db = dout summed over rows.
void linear_rule(OpGrad& g) {
  const Tensor& x = g.inputs[0];
  const Tensor& w = g.inputs[1];
  g.dinputs.resize(3);
  if (x.impl()->requires_grad) g.dinputs[0] = matmul(g.dout, transpose(w));
  if (w.impl()->requires_grad) g.dinputs[1] = matmul(transpose(x), g.dout);
  if (g.inputs[2].impl()->requires_grad) g.dinputs[2] = sum(g.dout, {0});
}
constexpr OpRule kLinear{.name = "linear", .rule = linear_rule, .fast = linear_fast};

}  // namespace

namespace {
Tensor matmul_nd(const Tensor& a, const Tensor& b) {
  TensorImpl& ai = detail::input(a, "matmul");
  TensorImpl& bi = detail::input(b, "matmul");
  const DType dtype = detail::common_dtype(ai, bi, "matmul");
  const MatmulDims d = matmul_dims(ai.shape, bi.shape);
  Shape shape = d.batch;
  shape.push_back(d.m);
  shape.push_back(d.n);
  auto out = detail::make_output(shape, dtype);
  dispatch(dtype, [&]<class T>() {
    const T* av = ai.data<T>();
    const T* bv = bi.data<T>();
    T* o = out->data<T>();
    if (d.k == 0) {
      for (std::int64_t i = 0; i < out->numel(); ++i) o[i] = 0;
      return;
    }
    for_each_matrix(d, [&](std::int64_t oa, std::int64_t ob, std::int64_t oo) {
      kernels::gemm<T>(false, false, d.m, d.n, d.k, 1, av + oa, d.k, bv + ob, d.n, 0, o + oo, d.n);
    });
  });
  return detail::record_op(kMatmul, std::move(out), {&a, &b}, MatmulCtx{&ai, &bi, d});
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  const int ra = a.shape().rank(), rb = b.shape().rank();
  if (ra >= 2 && rb >= 2) return matmul_nd(a, b);
  if (ra == 0 || rb == 0) {
    throw ShapeError(fmt::format("matmul: a 0-d operand in {} @ {}; multiply by a scalar with *",
                                 a.shape().str(), b.shape().str()));
  }
  // NumPy's rules: a vector on the left is a row (1, K), on the right a column (K, 1), and the
  // added axis is dropped from the result.
  if (ra == 1 && rb == 1) {
    if (a.shape()[0] != b.shape()[0]) {
      throw ShapeError(fmt::format("matmul: vectors of different lengths, {} @ {}", a.shape().str(),
                                   b.shape().str()));
    }
    return reshape(matmul_nd(unsqueeze(a, 0), unsqueeze(b, 1)), Shape{});
  }
  if (ra == 1) return squeeze(matmul_nd(unsqueeze(a, 0), b), -2);
  return squeeze(matmul_nd(a, unsqueeze(b, 1)), -1);
}

Var dot(const Tensor& a, const Tensor& b) {
  if (a.shape().rank() != 1 || b.shape().rank() != 1 || a.shape()[0] != b.shape()[0]) {
    throw ShapeError(fmt::format("dot: needs two vectors of the same length, got {} and {}",
                                 a.shape().str(), b.shape().str()));
  }
  return sum(a * b);
}

Tensor outer(const Tensor& a, const Tensor& b) {
  if (a.shape().rank() != 1 || b.shape().rank() != 1) {
    throw ShapeError(
        fmt::format("outer: needs two vectors, got {} and {}", a.shape().str(), b.shape().str()));
  }
  return reshape(a, Shape{-1, 1}) * reshape(b, Shape{1, -1});
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  TensorImpl& xi = detail::input(x, "linear");
  TensorImpl& wi = detail::input(w, "linear");
  TensorImpl& bi = detail::input(b, "linear");
  const DType dtype = detail::common_dtype(xi, wi, "linear");
  (void)detail::common_dtype(xi, bi, "linear");
  if (xi.shape.rank() != 2 || wi.shape.rank() != 2 || bi.shape.rank() != 1 ||
      xi.shape[1] != wi.shape[0] || bi.shape[0] != wi.shape[1]) {
    throw ShapeError(fmt::format(
        "linear: needs x (N, K), w (K, M) and b (M); got x {}, w {}, b {}; for other shapes "
        "write matmul(x, w) + b",
        xi.shape.str(), wi.shape.str(), bi.shape.str()));
  }
  const std::int64_t n = xi.shape[0], k = xi.shape[1], m = wi.shape[1];
  auto out = detail::make_output(Shape{n, m}, dtype);
  dispatch(dtype, [&]<class T>() {
    T* o = out->data<T>();
    const T* bias = bi.data<T>();
    if (k == 0) {
      for (std::int64_t i = 0; i < n * m; ++i) o[i] = 0;
    } else {
      kernels::gemm<T>(false, false, n, m, k, 1, xi.data<T>(), k, wi.data<T>(), m, 0, o, m);
    }
    // The bias is added after the product, not by GEMM into rows filled with it (beta 1),
    // though that saves this pass: OpenBLAS splits a long inner extent into blocks and adds each
    // block's product into C, so the bias would join the sum before the last blocks and the
    // result would differ from matmul(x, w) + b in the last bit (it did for K = 1200).
    detail::parallel_for(
        n, m, [&](std::int64_t r0, std::int64_t r1) { add_to_rows(o + r0 * m, r1 - r0, m, bias); });
  });
  return detail::record_op(kLinear, std::move(out), {&x, &w, &b},
                           LinearCtx{&xi, &wi, &bi, n, k, m});
}

std::string blas_info() {
  return kernels::blas_description();
}

}  // namespace tapegrad
