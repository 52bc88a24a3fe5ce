// SPDX-License-Identifier: Apache-2.0
// Internal: the gradient reduction data-parallel training and average_gradients share.
#pragma once

#include <span>

#include "tapegrad/core/tensor.hpp"
#include "tapegrad/nn/distributed.hpp"

namespace tapegrad::nn::detail {

// Replaces each parameter's gradient by its sum over the ranks (in rank order) times `scale`;
// `extra` (a loss, say) is summed in the same message, unscaled. All parameters of one dtype go
// in one message.
void sum_gradients(std::span<const Tensor> parameters, Communicator& group, double scale,
                   std::span<double> extra = {});

}  // namespace tapegrad::nn::detail
