// SPDX-License-Identifier: Apache-2.0
// Internal, not API: the parts of the tape that handles (Var, Tensor) and the scalar recording
// path must reach inline — the state block a handle checks its tape through, the tape's
// growable arrays, and the thread's mode bits. Included by tapegrad/core/tape.hpp; may change
// in any release.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {
class Tape;
namespace detail {
struct AnomalyLog;

// This thread's number for tape ownership (1, 2, ... in the order threads first use a tape); 0
// until then. constinit: read inline, without a TLS wrapper call.
extern constinit thread_local std::uint32_t thread_token;
[[gnu::cold]] std::uint32_t assign_thread_token();
inline std::uint32_t this_thread_token() {
  const std::uint32_t t = thread_token;
  return t != 0 ? t : assign_thread_token();
}

// What a handle (Var, Tensor) reaches its tape through. A Tape takes one of these from a global
// pool and gives it back when it is destroyed; blocks are never freed, so a handle that outlives
// its tape (or the thread whose own tape it was) still reads valid memory, and finds a key that
// is not its own. The key packs the tape's generation (low half; changed by every reset() and by
// the destruction) with the thread the tape is bound to (high half; 0 once destroyed): a handle
// may touch its tape only when the key equals (this thread, the handle's generation) — one load
// and one compare on the recording path.
struct TapeState {
  // Plain, not atomic: it changes only when the tape is reset, destroyed or handed to another
  // thread by a TapeGuard (which orders it through `binding`), never while a thread that may use
  // the tape records on it. GCC keeps relaxed atomic loads apart from the arithmetic around them,
  // which cost the recording path much more than the check itself.
  std::uint64_t key = 0;
  // The owner thread (high half) and how many TapeGuards are active on the tape (low half),
  // changed together so that a guard on another thread takes the tape over only when it is idle.
  std::atomic<std::uint64_t> binding{0};
  Tape* tape = nullptr;          // read only after a key check has passed
  std::uint32_t generation = 0;  // the last generation handed out (by this block's tapes)
  bool thread_default = false;   // a thread's own tape: never handed to another thread
  // Why every op must record a node of its own (kHigherOrder: Tape::higher_order(); kAnomaly:
  // the owner thread is in anomaly mode), here beside the key the ops read anyway: the scalar
  // fast path tests this one byte, nothing else.
  // Plain, like `key`: set by HigherOrderGuard and AnomalyGuard on the thread that records on the
  // tape, and when a tape is made or handed over.
  static constexpr std::uint8_t kHigherOrder = 1, kAnomaly = 2;
  std::uint8_t modes = 0;
  std::uint8_t mode_bits() const { return modes; }
  void set_mode(std::uint8_t bit, bool on) {
    modes = static_cast<std::uint8_t>(on ? modes | bit : modes & ~bit);
  }

  static constexpr std::uint64_t key_of(std::uint32_t thread, std::uint32_t generation) {
    return static_cast<std::uint64_t>(thread) << 32 | generation;
  }
  // Whether a handle of `generation` may use the tape on this thread.
  bool usable(std::uint32_t generation) const { return key == key_of(thread_token, generation); }
  // Whether the tape still has this generation (it was neither reset nor destroyed since),
  // whatever thread asks: enough for reading a tensor's values.
  bool alive(std::uint32_t generation) const {
    return static_cast<std::uint32_t>(key) == generation;
  }
  std::uint32_t owner() const { return static_cast<std::uint32_t>(key >> 32); }
};
// A handle's key (its state block, nullptr for a constant, and generation), as Var's and
// VarExpr's tape(), check_live() and check_usable() read it. A constant is always live.
inline Tape* tape_of(const TapeState* state) {
  return state != nullptr ? state->tape : nullptr;
}
inline bool live(const TapeState* state, std::uint32_t generation) {
  return state == nullptr || state->alive(generation);
}
inline bool usable(const TapeState* state, std::uint32_t generation) {
  return state == nullptr || state->usable(generation);
}

// Throws the TapeError that explains why a handle of `generation` cannot use `state` on this
// thread: its tape was reset or destroyed, or belongs to another thread. (A thread without a
// token has never made or guarded a tape, so it owns none: no check passes there by mistake.)
// `what`: "this Var (value 1.5)", "this tensor of shape (2, 3)".
[[noreturn]] void throw_unusable(const TapeState& state, std::uint32_t generation, const char* op,
                                 const std::string& what);

// A growable array of trivially copyable T for the tape's hot path: push is inline with one
// capacity check; growth goes through realloc (for large arrays the C library remaps pages
// rather than copying them); clear() keeps the memory.
template <class T>
class PodStack {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  PodStack() = default;
  ~PodStack() { std::free(data_); }
  PodStack(const PodStack&) = delete;
  PodStack& operator=(const PodStack&) = delete;

  std::size_t size() const { return static_cast<std::size_t>(end_ - data_); }
  std::size_t capacity() const { return static_cast<std::size_t>(cap_ - data_); }
  T* data() { return data_; }
  const T* data() const { return data_; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  void push_back(const T& v) {
    if (end_ == cap_) [[unlikely]]
      grow(1);
    *end_++ = v;
  }
  // Room for n more pushes without a check.
  void reserve_more(std::size_t n) {
    if (static_cast<std::size_t>(cap_ - end_) < n) [[unlikely]]
      grow(n);
  }
  void push_unchecked(const T& v) { *end_++ = v; }
  // True when the next push must grow the array.
  bool full() const { return end_ == cap_; }
  // Room for one more push, the capacity growing to at most `limit` (> size()): a caller that
  // grows only through here never holds more than `limit` elements, so it checks its limit only
  // when the array is full, off the hot path.
  void grow_within(std::size_t limit) { grow(1, limit); }
  // Grows to n elements, the new ones value-initialised (zero); never shrinks.
  void extend_to(std::size_t n) {
    if (n <= size()) return;
    reserve_more(n - size());
    std::fill(end_, data_ + n, T{});
    end_ = data_ + n;
  }
  void clear() { end_ = data_; }

 private:
  [[gnu::noinline]] void grow(std::size_t n, std::size_t limit = kMaxElements) {
    const std::size_t size = this->size();
    if (n > limit - size) throw std::bad_alloc();  // the callers check their limits first
    std::size_t cap = capacity() < limit / 2 ? capacity() * 2 : limit;
    if (cap < size + n) cap = size + n;
    if (cap < 1024) cap = std::min<std::size_t>(1024, limit);
    void* p = std::realloc(data_, cap * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    data_ = static_cast<T*>(p);
    end_ = data_ + size;
    cap_ = data_ + cap;
  }
  static constexpr std::size_t kMaxElements = SIZE_MAX / sizeof(T);
  T* data_ = nullptr;
  T* end_ = nullptr;
  T* cap_ = nullptr;
};

[[noreturn]] void throw_operands_full(std::size_t operands);

// The scalar nodes' operands, (input slot, partial) pairs, as two parallel arrays growing
// together under one capacity check: 12 bytes an operand where a struct of both is padded to 16.
// At most kLimit of them (TapeError beyond): a node's operands end at a 32-bit index.
template <std::size_t kLimit = 0xffffffffu>
class BasicOperandStack {
 public:
  BasicOperandStack() = default;
  ~BasicOperandStack() {
    std::free(partial_);
    std::free(input_);
  }
  BasicOperandStack(const BasicOperandStack&) = delete;
  BasicOperandStack& operator=(const BasicOperandStack&) = delete;

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return cap_; }
  const double* partials() const { return partial_; }
  const std::uint32_t* inputs() const { return input_; }
  double partial(std::size_t k) const { return partial_[k]; }
  std::uint32_t input(std::size_t k) const { return input_[k]; }
  void push_back(std::uint32_t in, double partial) {
    if (size_ == cap_) [[unlikely]]
      grow(1);
    push_unchecked(in, partial);
  }
  // Room for n more pushes without a check.
  void reserve_more(std::size_t n) {
    if (cap_ - size_ < n) [[unlikely]]
      grow(n);
  }
  void push_unchecked(std::uint32_t in, double partial) {
    partial_[size_] = partial;
    input_[size_] = in;
    ++size_;
  }
  void clear() { size_ = 0; }

 private:
  [[gnu::noinline]] void grow(std::size_t n) {
    if (n > kLimit - size_) throw_operands_full(size_);
    std::size_t cap = cap_ < kLimit / 2 ? cap_ * 2 : kLimit;
    if (cap < size_ + n) cap = size_ + n;
    if (cap < 1024) cap = std::min<std::size_t>(1024, kLimit);
    // A failed realloc leaves its block as it was, and cap_ changes only once both grew: a
    // bad_alloc leaves the stack usable at its old capacity.
    void* p = std::realloc(partial_, cap * sizeof(double));
    if (p == nullptr) throw std::bad_alloc();
    partial_ = static_cast<double*>(p);
    void* q = std::realloc(input_, cap * sizeof(std::uint32_t));
    if (q == nullptr) throw std::bad_alloc();
    input_ = static_cast<std::uint32_t*>(q);
    cap_ = cap;
  }
  double* partial_ = nullptr;
  std::uint32_t* input_ = nullptr;
  std::size_t size_ = 0;
  std::size_t cap_ = 0;
};
using OperandStack = BasicOperandStack<>;

// Bump allocator in fixed chunks. reset() keeps the chunks for the next step.
class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  void* allocate(std::size_t bytes, std::size_t align);
  void reset();
  std::size_t capacity() const;

 private:
  struct Chunk {
    std::unique_ptr<std::byte[]> data;
    std::size_t size;
  };
  std::vector<Chunk> chunks_;
  std::size_t chunk_ = 0;   // chunk being filled
  std::size_t offset_ = 0;  // first free byte in it
};

// The calling thread's modes in one byte, so that an op reads both with one load.
// constinit: no dynamic initialisation, so no TLS wrapper call on every access.
inline constexpr std::uint8_t kGradMode = 1;     // off inside a NoGradGuard
inline constexpr std::uint8_t kAnomalyMode = 2;  // on inside an AnomalyGuard
extern constinit thread_local std::uint8_t thread_modes;
// Sets or clears `bit` for a guard's lifetime; each guard restores only its own bit.
class ModeBit {
 public:
  ModeBit(std::uint8_t bit, bool on) : bit_(bit), previous_((thread_modes & bit) != 0) { set(on); }
  ~ModeBit() { restore(); }
  void restore() { set(previous_); }
  ModeBit(const ModeBit&) = delete;
  ModeBit& operator=(const ModeBit&) = delete;

 private:
  void set(bool on) {
    thread_modes = static_cast<std::uint8_t>(on ? thread_modes | bit_ : thread_modes & ~bit_);
  }
  std::uint8_t bit_;
  bool previous_;
};

// Gives every tape bound to the calling thread the thread's anomaly mode.
void sync_anomaly_mode();
}  // namespace detail
}  // namespace tapegrad

#pragma GCC visibility pop
