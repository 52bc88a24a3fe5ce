// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/core/tensor.hpp"

#include "tapegrad/core/op.hpp"

#include <sys/sysinfo.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

#include <fmt/format.h>

#include "core/anomaly.hpp"
#include "core/parallel_for.hpp"
#include "core/tensor_support.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/detail/var_access.hpp"

namespace tapegrad {

// ---- Buffer and TensorImpl -------------------------------------------------------------------
namespace detail {
namespace {
constexpr std::align_val_t kAlign{64};
// Under AddressSanitizer every block goes back to the allocator, so that a use after free is
// still caught.
#if defined(__SANITIZE_ADDRESS__)
#define TAPEGRAD_NO_BLOCK_CACHE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TAPEGRAD_NO_BLOCK_CACHE 1
#endif
#endif
#ifdef TAPEGRAD_NO_BLOCK_CACHE
constexpr std::size_t kCachedFrom = SIZE_MAX;
#else
constexpr std::size_t kCachedFrom = 64 << 10;  // smaller blocks: malloc's own free lists
#endif
constexpr std::size_t kCacheBytes = 256 << 20;  // most bytes one thread keeps for reuse
constexpr std::size_t kCacheBlocks = 64;
// Smaller blocks are rounded up to a power of two from 64 bytes and recycled per size class: an
// aligned malloc of a few hundred bytes costs more than a small op's whole arithmetic (measured:
// a third of the XOR step was malloc's memalign, free and consolidation).
constexpr std::size_t kSmallClasses = 11;  // 64 B .. 64 KiB
constexpr std::size_t kSmallBlocksPerClass = 64;

std::size_t small_class(std::size_t bytes) {
  return static_cast<std::size_t>(std::bit_width(std::max<std::size_t>(bytes, 64) - 1)) - 6;
}

// Recently freed large blocks of this thread, reused on an exact size match (a training step
// allocates the same sizes as the step before). Oldest evicted first.
class BlockCache {
 public:
  BlockCache() = default;
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;
  ~BlockCache() { release(); }

  std::byte* take(std::size_t bytes) {
    for (std::size_t i = blocks_.size(); i-- > 0;) {
      if (blocks_[i].bytes == bytes) {
        std::byte* p = blocks_[i].data;
        blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(i));
        total_ -= bytes;
        return p;
      }
    }
    return nullptr;
  }
  // Keeps the block, or frees it when it is larger than the whole cache.
  void give(std::byte* p, std::size_t bytes) {
    if (bytes > kCacheBytes) {
      ::operator delete[](p, kAlign);
      return;
    }
    while (!blocks_.empty() && (total_ + bytes > kCacheBytes || blocks_.size() >= kCacheBlocks)) {
      total_ -= blocks_.front().bytes;
      ::operator delete[](blocks_.front().data, kAlign);
      blocks_.erase(blocks_.begin());
    }
    blocks_.push_back({p, bytes});
    total_ += bytes;
  }
  // A small block of size class c: the head of that class's free list, kept as a singly linked
  // list through the free blocks themselves.
  std::byte* take_small(std::size_t c) {
    std::byte* p = small_[c];
    if (p != nullptr) {
      std::memcpy(&small_[c], p, sizeof(std::byte*));
      --small_count_[c];
    }
    return p;
  }
  void give_small(std::byte* p, std::size_t c) {
    if (small_count_[c] >= kSmallBlocksPerClass) {
      ::operator delete[](p, kAlign);
      return;
    }
    std::memcpy(p, &small_[c], sizeof(std::byte*));
    small_[c] = p;
    ++small_count_[c];
  }
  void release() {
    for (const Block& b : blocks_) ::operator delete[](b.data, kAlign);
    blocks_.clear();
    total_ = 0;
    for (std::size_t c = 0; c < kSmallClasses; ++c) {
      while (std::byte* p = take_small(c)) ::operator delete[](p, kAlign);
    }
  }

 private:
  struct Block {
    std::byte* data;
    std::size_t bytes;
  };
  std::vector<Block> blocks_;
  std::size_t total_ = 0;
  std::byte* small_[kSmallClasses] = {};
  std::size_t small_count_[kSmallClasses] = {};
};

// Null once this thread's cache has been destroyed (buffers freed by other thread_local
// destructors after it then go straight back to the allocator).
constinit thread_local BlockCache* cache_of_thread = nullptr;

BlockCache* block_cache() {
  thread_local struct Holder {
    BlockCache cache;
    Holder() { cache_of_thread = &cache; }
    ~Holder() { cache_of_thread = nullptr; }
  } holder;
  return cache_of_thread;
}

std::byte* allocate_block(std::size_t bytes) {
  if (bytes >= kCachedFrom) {
    if (BlockCache* cache = block_cache()) {
      if (std::byte* p = cache->take(bytes)) return p;
    }
  } else if (kCachedFrom != SIZE_MAX) {
    const std::size_t c = small_class(bytes);
    if (BlockCache* cache = block_cache()) {
      if (std::byte* p = cache->take_small(c)) return p;
    }
    return static_cast<std::byte*>(::operator new[](std::size_t{64} << c, kAlign));
  }
  return static_cast<std::byte*>(::operator new[](bytes == 0 ? 1 : bytes, kAlign));
}
}  // namespace

Buffer::Buffer(std::size_t bytes) : data_(allocate_block(bytes), BufferFree{bytes}) {}

void BufferFree::operator()(std::byte* p) const {
  if (cache_of_thread != nullptr) {
    if (bytes >= kCachedFrom) {
      cache_of_thread->give(p, bytes);
      return;
    }
    if (kCachedFrom != SIZE_MAX) {
      cache_of_thread->give_small(p, small_class(bytes));
      return;
    }
  }
  ::operator delete[](p, kAlign);
}
}  // namespace detail

void release_cached_memory() {
  if (detail::BlockCache* cache = detail::cache_of_thread) cache->release();
}

namespace {
// The most one tensor may take: this machine's memory and swap together. A dense tensor larger
// than that can never be filled, and asking the allocator for it would give std::bad_alloc, or
// under overcommit an address range that kills the process when touched.
std::size_t memory_limit() {
  static const std::size_t limit = [] {
    struct sysinfo info {};
    if (sysinfo(&info) != 0 || info.mem_unit == 0) return SIZE_MAX;
    const unsigned long long units =
        static_cast<unsigned long long>(info.totalram) + info.totalswap;
    return units > SIZE_MAX / info.mem_unit ? SIZE_MAX
                                            : static_cast<std::size_t>(units * info.mem_unit);
  }();
  return limit;
}

// The one place a buffer's size is computed from a shape. A Shape keeps the product of its
// extents within Shape::kMaxNumel, so with at most 8 bytes per element nothing can overflow;
// what is left to refuse is the extent -1, which means "infer" to reshape() and nothing here,
// and a size that this machine cannot hold. Both are refused before anything is allocated.
detail::Buffer value_buffer(const Shape& shape, DType dtype) {
  for (std::int64_t d : shape) {
    if (d < 0) {
      throw ShapeError(
          fmt::format("a tensor cannot have shape {}: extents must be >= 0 (-1 "
                      "means \"infer\" to reshape() only)",
                      shape.str()));
    }
  }
  const std::size_t bytes = static_cast<std::size_t>(shape.numel()) * dtype_size(dtype);
  if (bytes > memory_limit()) {
    throw ShapeError(fmt::format(
        "a {} tensor of shape {} needs {} bytes, more than this machine's memory and swap "
        "together ({} bytes)",
        dtype_name(dtype), shape.str(), bytes, memory_limit()));
  }
  try {
    return detail::Buffer(bytes);
  } catch (const std::bad_alloc&) {
    throw Error(
        fmt::format("out of memory: a {} tensor of shape {} ({} bytes) could not be "
                    "allocated",
                    dtype_name(dtype), shape.str(), bytes));
  }
}
}  // namespace

TensorImpl::TensorImpl(Shape shape_, DType dtype_)
    : shape(shape_), dtype(dtype_), value(value_buffer(shape_, dtype_)) {}

std::byte* TensorImpl::grad_for_accumulate() {
  if (!grad) {
    grad = detail::Buffer(bytes());
    grad_zero = true;
  }
  if (grad_zero) {
    std::memset(grad.data(), 0, bytes());
    grad_zero = false;
  }
  return grad.data();
}

TensorImpl::GradWrite TensorImpl::grad_for_write() {
  if (!grad) {
    grad = detail::Buffer(bytes());
  } else if (!grad_zero) {
    return {grad.data(), false};
  }
  grad_zero = false;
  return {grad.data(), true};
}

// ---- detail helpers --------------------------------------------------------------------------
namespace detail {

TensorImpl& input(const Tensor& t, const char* op) {
  TensorImpl* impl = t.impl();
  if (impl == nullptr) {
    throw ValueError(fmt::format("{}: the tensor is empty (a default-constructed Tensor)", op));
  }
  // Reading a tensor needs only a live tape, on any thread; recording checks the thread too.
  if (impl->recorded() && !impl->tape_state->alive(impl->generation)) {
    throw TapeError(fmt::format(
        "{}: this tensor of shape {} was computed on a tape that has been reset (by reset() or "
        "an optimiser's step()) or destroyed since; compute it again in the new step, or use "
        "detach() for its values as a constant",
        op, impl->shape.str()));
  }
  return *impl;
}

std::shared_ptr<TensorImpl> make_output(const Shape& shape, DType dtype) {
  return std::make_shared<TensorImpl>(shape, dtype);
}

Tape* recording_tape(std::span<const Tensor* const> inputs, const char* op) {
  bool needed = false;
  TapeState* state = nullptr;
  for (const Tensor* t : inputs) {
    const TensorImpl* in = t->impl();
    if (in->recorded()) {
      if (state != nullptr && state != in->tape_state) throw_mixed_tapes(op);
      state = in->tape_state;
    }
    needed = needed || in->requires_grad;
  }
  if (!needed || !grad_enabled()) return nullptr;
  if (state == nullptr) return &current_tape();
  for (const Tensor* t : inputs) {
    const TensorImpl* in = t->impl();
    if (in->recorded() && !state->usable(in->generation)) [[unlikely]] {
      throw_unusable(*state, in->generation, op,
                     fmt::format("this tensor of shape {}", in->shape.str()));
    }
  }
  return state->tape;
}

namespace {
// The node's inputs, in order, then (after the caller pushes it) its tensor output.
TensorNode make_node(Tape& tape, const OpRule& op, const void* ctx,
                     std::span<const Tensor* const> inputs, Saves saves) {
  TensorNode node{.op = &op, .ctx = ctx};
  node.scalar_count = static_cast<std::uint32_t>(tape.scalar_nodes());
  node.first_input = detail::core(tape).kept_count();
  node.input_count = static_cast<std::uint32_t>(inputs.size());
  for (const Tensor* in : inputs) detail::core(tape).keep_alive(in->shared_impl());
  if (saves == Saves::nothing) return node;
  std::uint32_t leaves = 0;
  for (const Tensor* in : inputs) leaves += in->impl()->recorded() ? 0 : 1;
  if (leaves == 0) return node;  // computed tensors cannot be changed in place
  auto* saved = static_cast<SavedVersion*>(
      detail::core(tape).allocate(sizeof(SavedVersion) * leaves, alignof(SavedVersion)));
  std::uint32_t k = 0;
  for (const Tensor* in : inputs) {
    if (!in->impl()->recorded()) saved[k++] = {in->impl(), in->impl()->version};
  }
  node.saved = saved;
  node.saved_count = leaves;
  return node;
}

void note_tensor_op(Tape& tape, std::uint32_t node, const char* op,
                    std::span<const Tensor* const> inputs) {
  std::vector<const TensorImpl*> impls;
  for (const Tensor* in : inputs) impls.push_back(in->impl());
  detail::core(tape).note_anomaly_node(node, op, describe_operands(inputs), std::move(impls));
}
}  // namespace

Tensor record(Tape& tape, const OpRule& op, const void* ctx, std::shared_ptr<TensorImpl> out,
              std::span<const Tensor* const> inputs, Saves saves) {
  if (tapegrad::anomaly_mode()) [[unlikely]]
    check_tensor_forward(op.name, *out, inputs);
  TensorNode node = make_node(tape, op, ctx, inputs, saves);
  node.out = out.get();
  out->node = detail::core(tape).push(node);
  if (tapegrad::anomaly_mode()) [[unlikely]]
    note_tensor_op(tape, out->node, op.name, inputs);
  out->tape_state = detail::core(tape).state();
  out->generation = detail::core(tape).generation();
  out->requires_grad = true;
  detail::core(tape).keep_alive(out);
  return Tensor(std::move(out));
}

Var record_to_var(Tape& tape, const OpRule& op, const void* ctx, double value,
                  std::span<const Tensor* const> inputs, Saves saves) {
  if (tapegrad::anomaly_mode() && !std::isfinite(value)) [[unlikely]] {
    const auto scalar = std::make_shared<TensorImpl>(Shape{}, DType::f64);
    *scalar->data<double>() = value;
    check_tensor_forward(op.name, *scalar, inputs);
  }
  TensorNode node = make_node(tape, op, ctx, inputs, saves);
  node.out_slot = node.scalar_count;
  const std::uint32_t index = detail::core(tape).push(node);
  if (tapegrad::anomaly_mode()) [[unlikely]]
    note_tensor_op(tape, index, op.name, inputs);
  return detail::VarAccess::recorded(tape, value, detail::core(tape).leaf());
}

void accumulate_grad(TensorImpl& into, const TensorImpl& from) {
  const TensorImpl::GradWrite g = into.grad_for_write();
  dispatch(into.dtype, [&]<class T>() {
    T* to = reinterpret_cast<T*>(g.data);
    const T* d = from.data<T>();
    parallel_for(into.numel(), [&](std::int64_t begin, std::int64_t end) {
      if (g.assign) {
        std::memcpy(to + begin, d + begin, static_cast<std::size_t>(end - begin) * sizeof(T));
      } else {
        for (std::int64_t i = begin; i < end; ++i) to[i] += d[i];
      }
    });
  });
}

void check_rule_gradient(const char* op, std::size_t k, const TensorImpl& input,
                         const TensorImpl& gradient) {
  if (gradient.shape == input.shape && gradient.dtype == input.dtype) return;
  throw ShapeError(fmt::format(
      "backward of '{}': its rule gave input {} a {} gradient of shape {}, but the input is {} of "
      "shape {}; a rule returns each input's gradient in that input's shape and dtype (sum_to() "
      "reduces broadcast axes, cast() converts)",
      op, k, dtype_name(gradient.dtype), gradient.shape.str(), dtype_name(input.dtype),
      input.shape.str()));
}

namespace {
thread_local bool rules_only_on = false;
}
RulesOnlyGuard::RulesOnlyGuard() : previous_(rules_only_on) {
  rules_only_on = true;
}
RulesOnlyGuard::~RulesOnlyGuard() {
  rules_only_on = previous_;
}
bool rules_only() {
  return rules_only_on;
}

DType common_dtype(const TensorImpl& a, const TensorImpl& b, const char* op) {
  if (a.dtype != b.dtype) {
    throw DTypeError(fmt::format(
        "{}: operands have different dtypes ({} of shape {} and {} of shape {}); convert one "
        "with cast()",
        op, dtype_name(a.dtype), a.shape.str(), dtype_name(b.dtype), b.shape.str()));
  }
  return a.dtype;
}

Tape* tape_of_vars(std::span<const Var> xs, const char* op) {
  Tape* tape = nullptr;
  for (const Var& v : xs) {
    if (!v.requires_grad()) continue;
    v.check_usable(op);
    if (tape != nullptr && tape != v.tape()) throw_mixed_tapes(op);
    tape = v.tape();
  }
  return tape;
}

std::int64_t flat_index(const Shape& shape, std::span<const std::int64_t> index, const char* op) {
  if (static_cast<int>(index.size()) != shape.rank()) {
    throw IndexError(fmt::format("{}: {} indices given for a tensor of shape {} ({} axes)", op,
                                 index.size(), shape.str(), shape.rank()));
  }
  std::int64_t flat = 0;
  for (int i = 0; i < shape.rank(); ++i) {
    std::int64_t k = index[static_cast<std::size_t>(i)];
    if (k < 0) k += shape[i];
    if (k < 0 || k >= shape[i]) {
      throw IndexError(fmt::format("{}: index {} is out of range for axis {} of shape {}", op,
                                   index[static_cast<std::size_t>(i)], i, shape.str()));
    }
    flat = flat * shape[i] + k;
  }
  return flat;
}

double load(const TensorImpl& t, std::int64_t i) {
  return t.dtype == DType::f32 ? static_cast<double>(t.data<float>()[i]) : t.data<double>()[i];
}

namespace {

template <class T>
Tensor leaf_from(std::span<const T> values, const Shape& shape, DType dtype) {
  if (static_cast<std::int64_t>(values.size()) != shape.numel()) {
    throw ShapeError(fmt::format("Tensor::from: {} values cannot fill shape {} ({} elements)",
                                 values.size(), shape.str(), shape.numel()));
  }
  auto out = make_output(shape, dtype);
  dispatch(dtype, [&]<class U>() {
    U* o = out->data<U>();
    for (std::size_t i = 0; i < values.size(); ++i) o[i] = static_cast<U>(values[i]);
  });
  return Tensor(std::move(out));
}
}  // namespace
}  // namespace detail

// ---- Tensor ----------------------------------------------------------------------------------
Tensor Tensor::from(std::initializer_list<Number> values, DType dtype) {
  std::vector<double> flat;
  flat.reserve(values.size());
  for (const Number& v : values) flat.push_back(v.value);
  return from(flat, Shape{static_cast<std::int64_t>(values.size())}, dtype);
}

Tensor Tensor::from(std::initializer_list<std::initializer_list<double>> rows, DType dtype) {
  std::vector<double> flat;
  const std::size_t cols = rows.size() > 0 ? rows.begin()->size() : 0;
  for (const auto& row : rows) {
    if (row.size() != cols) {
      throw ShapeError(
          fmt::format("Tensor::from: ragged nested list (a row of {} values after rows of {})",
                      row.size(), cols));
    }
    flat.insert(flat.end(), row.begin(), row.end());
  }
  return from(flat, Shape{static_cast<std::int64_t>(rows.size()), static_cast<std::int64_t>(cols)},
              dtype);
}

Tensor Tensor::from(std::span<const double> values, const Shape& shape, DType dtype) {
  return detail::leaf_from(values, shape, dtype);
}

Tensor Tensor::from(std::span<const float> values, const Shape& shape, DType dtype) {
  return detail::leaf_from(values, shape, dtype);
}

namespace detail {
const TensorImpl& readable(const Tensor& t, const char* op) {
  const TensorImpl* impl = t.impl();
  if (impl == nullptr) {
    throw ValueError(fmt::format("{}: the tensor is empty (a default-constructed Tensor)", op));
  }
  return *impl;
}
}  // namespace detail
using detail::readable;

const Shape& Tensor::shape() const {
  return readable(*this, "shape()").shape;
}
DType Tensor::dtype() const {
  return readable(*this, "dtype()").dtype;
}

Tensor Tensor::requires_grad(bool on) const {
  TensorImpl& impl = detail::input(*this, "requires_grad()");
  if (impl.recorded()) {
    throw TapeError(fmt::format(
        "requires_grad(): the tensor of shape {} was computed by an op, and gradients already "
        "flow through it; only leaves (parameters, inputs) can be marked",
        impl.shape.str()));
  }
  impl.requires_grad = on;
  return *this;
}

bool Tensor::needs_grad() const {
  return readable(*this, "needs_grad()").requires_grad;
}
bool Tensor::is_leaf() const {
  return !readable(*this, "is_leaf()").recorded();
}

Tensor Tensor::grad() const {
  if (impl_ == nullptr) throw ValueError("grad(): the tensor is empty");
  TensorImpl& impl = *impl_;
  if (!impl.requires_grad) {
    throw TapeError(
        fmt::format("grad(): the tensor of shape {} does not require a gradient; mark a leaf with "
                    "requires_grad() before recording",
                    impl.shape.str()));
  }
  auto out = detail::make_output(impl.shape, impl.dtype);
  if (impl.has_grad()) {
    std::memcpy(out->value.data(), impl.grad.data(), impl.bytes());
  } else {
    std::memset(out->value.data(), 0, impl.bytes());
  }
  return Tensor(std::move(out));
}

void Tensor::zero_grad() const {
  TensorImpl* impl = impl_.get();
  if (impl != nullptr) impl->clear_grad();
}

void Tensor::backward() const {
  TensorImpl& impl = detail::input(*this, "backward()");
  if (impl.numel() != 1) {
    throw TapeError(fmt::format(
        "backward() needs a single-element output or an explicit seed gradient of shape {}; "
        "call backward(seed), or reduce the output with sum() or mean() first",
        impl.shape.str()));
  }
  backward(full_seed_one());
}

void Tensor::backward(const Tensor& seed) const {
  TensorImpl& impl = detail::input(*this, "backward()");
  const TensorImpl& s = detail::input(seed, "backward()");
  if (!(s.shape == impl.shape) || s.dtype != impl.dtype) {
    throw ShapeError(
        fmt::format("backward(seed): the seed must match the output: got {} {}, expected {} {}",
                    dtype_name(s.dtype), s.shape.str(), dtype_name(impl.dtype), impl.shape.str()));
  }
  if (!impl.requires_grad) {
    throw TapeError(fmt::format(
        "backward(): the tensor of shape {} does not depend on anything that requires a gradient "
        "(or it was computed under NoGradGuard)",
        impl.shape.str()));
  }
  auto add_seed = [&] { detail::accumulate_grad(impl, s); };
  if (!impl.recorded()) {
    add_seed();
    return;
  }
  if (!impl.tape_state->usable(impl.generation)) {
    detail::throw_unusable(*impl.tape_state, impl.generation, "backward()",
                           fmt::format("this tensor of shape {}", impl.shape.str()));
  }
  detail::core(*impl.tape()).backward_from_node(impl.node, add_seed);
}

Tensor Tensor::full_seed_one() const {
  auto out = detail::make_output(impl_->shape, impl_->dtype);
  dispatch(impl_->dtype, [&]<class T>() { out->data<T>()[0] = T(1); });
  return Tensor(std::move(out));
}

double Tensor::item() const {
  const TensorImpl& impl = readable(*this, "item()");
  if (impl.numel() != 1) {
    throw ShapeError(fmt::format("item(): needs a single-element tensor; this one has shape {}",
                                 impl.shape.str()));
  }
  return detail::load(impl, 0);
}

double Tensor::get(std::span<const std::int64_t> index) const {
  const TensorImpl& impl = readable(*this, "get()");
  return detail::load(impl, detail::flat_index(impl.shape, index, "get()"));
}

std::vector<double> Tensor::to_vector() const {
  const TensorImpl& impl = readable(*this, "to_vector()");
  std::vector<double> out(static_cast<std::size_t>(impl.numel()));
  for (std::int64_t i = 0; i < impl.numel(); ++i)
    out[static_cast<std::size_t>(i)] = detail::load(impl, i);
  return out;
}

Tensor Tensor::detach() const {
  const TensorImpl& impl = readable(*this, "detach()");
  auto out = detail::make_output(impl.shape, impl.dtype);
  std::memcpy(out->value.data(), impl.value.data(), impl.bytes());
  return Tensor(std::move(out));
}

void Tensor::check_dtype(DType want) const {
  const TensorImpl& impl = readable(*this, "data()");
  if (impl.dtype != want) {
    throw DTypeError(fmt::format("data<{}>() on a {} tensor of shape {}", dtype_name(want),
                                 dtype_name(impl.dtype), impl.shape.str()));
  }
}

void Tensor::check_mutable() const {
  if (impl_->recorded()) {
    throw TapeError(fmt::format(
        "mutable_data(): the tensor of shape {} was computed by an op and its backward may read "
        "it; only leaves can be changed in place",
        impl_->shape.str()));
  }
}

}  // namespace tapegrad
