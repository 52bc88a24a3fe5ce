// SPDX-License-Identifier: Apache-2.0
/// @file
/// The one random number generator of tapegrad: xoshiro256** seeded through splitmix64. Small,
/// fast and specified exactly, so that a seed gives the same numbers on every platform (the
/// standard library's distributions and shuffles are implementation-defined).
#pragma once

#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// xoshiro256**: 64-bit outputs, a period of 2^256 - 1, the same stream for a seed everywhere.
class Rng {
 public:
  /// The stream of `seed` (its state filled by splitmix64).
  explicit Rng(std::uint64_t seed) {
    for (auto& s : state_) s = splitmix(seed);
  }
  /// Two seeds (say, a user's seed and an epoch number) as one independent stream.
  Rng(std::uint64_t seed, std::uint64_t stream)
      : Rng(splitmix_value(seed) ^ splitmix_value(~stream)) {}

  /// The next 64 random bits.
  std::uint64_t next() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }
  /// Uniform on [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// Uniform on {0, ..., n - 1} (n > 0), without modulo bias.
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t limit = -n % n;  // 2^64 mod n: reject the short last block
    while (true) {
      const std::uint64_t r = next();
      if (r >= limit) return r % n;
    }
  }

 private:
  static std::uint64_t splitmix(std::uint64_t& x) {
    x += 0x9e3779b97f4a7c15ULL;
    return splitmix_value(x);
  }
  static std::uint64_t splitmix_value(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t state_[4];
};

/// 0..n-1 shuffled (Fisher–Yates) by rng.
inline std::vector<std::int64_t> permutation(std::int64_t n, Rng& rng) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<std::size_t>(rng.below(static_cast<std::uint64_t>(i + 1)));
    std::swap(order[static_cast<std::size_t>(i)], order[j]);
  }
  return order;
}

}  // namespace tapegrad

#pragma GCC visibility pop
