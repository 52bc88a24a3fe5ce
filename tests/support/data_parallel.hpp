// SPDX-License-Identifier: Apache-2.0
// The training that the data-parallel tests run on a group of ranks and alone, to compare: over
// threads (tests/nn/data_parallel_test.cpp) and over MPI (tests/distributed/mpi_test.cpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace tapegrad::testing {

// 100 rows of 4 features, 3 classes: not a multiple of the batch, the ranks or the chunks.
struct Problem {
  Tensor x = randn({100, 4}, 3);
  Tensor y = cast(floor(uniform({100}, 0, 3, 5)), DType::f64);
};

struct Trained {
  std::vector<double> parameters;  // all of them, one after another
  std::vector<double> losses;      // one per epoch
};

// Trains a fresh MLP with Adam. With a group, each rank's model starts from its own seed
// (7 + rank), so only the broadcast of rank 0's parameters makes them equal.
inline Trained train(const Problem& p, const nn::TrainOptions& base, nn::Communicator* group) {
  const int rank = group != nullptr ? group->rank() : 0;
  const nn::Sequential net = nn::mlp({4, 8, 3}, {.seed = static_cast<std::uint64_t>(7 + rank)});
  optim::Adam adam(net.parameters(), {.lr = 0.01});
  nn::TrainOptions options = base;
  options.group = group;
  Trained run;
  for (const nn::EpochStats& e : nn::train(net, adam, nn::cross_entropy_loss(), p.x, p.y, options))
    run.losses.push_back(e.loss);
  for (const Tensor& t : net.parameters()) {
    const std::vector<double> v = t.to_vector();
    run.parameters.insert(run.parameters.end(), v.begin(), v.end());
  }
  return run;
}

// The largest parameter difference relative to the largest magnitude of a's parameters
// (infinite when the two have different parameter counts).
inline double relative_difference(const Trained& a, const Trained& b) {
  if (a.parameters.size() != b.parameters.size()) return std::numeric_limits<double>::infinity();
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.parameters.size(); ++i) {
    diff = std::max(diff, std::abs(a.parameters[i] - b.parameters[i]));
    scale = std::max(scale, std::abs(a.parameters[i]));
  }
  return diff / scale;
}

}  // namespace tapegrad::testing
