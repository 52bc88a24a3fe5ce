// SPDX-License-Identifier: Apache-2.0
/// @file
/// tapegrad: reverse-mode automatic differentiation on one tape for scalars and tensors.
/// The one include a user needs.
///
/// @mainpage tapegrad
/// tapegrad is a C++20 library for reverse-mode automatic differentiation. Every op on a
/// tapegrad::Var (a double-valued scalar) or a tapegrad::Tensor appends one node to a
/// tapegrad::Tape; `backward()` walks the tape once, newest node first, and leaves' gradients
/// accumulate. `#include <tapegrad/tapegrad.hpp>` (this header) gives the whole API; the examples
/// write `namespace tg = tapegrad;`.
///
/// Where to start:
/// - tapegrad::Var, tapegrad::Tensor and tapegrad::Tape; grad(), hvp() and jacobian() in
///   tapegrad/autodiff/grad.hpp; gradcheck() to check a gradient against finite differences;
/// - the ops: tapegrad/ops/elementwise.hpp (with the derivative rules, namespace tapegrad::rules),
///   reductions, linear algebra, shapes, activations and losses in tapegrad/ops/; your own ops
///   through tapegrad/ops/custom.hpp (docs/adding_an_op.md in the repository walks through it);
/// - networks: tapegrad::nn (layers, nn::mlp(), training loop), tapegrad::optim (SGD, Adam),
///   tapegrad::data (data sets, CSV) and tapegrad::metrics.

/// @namespace tapegrad
/// The whole API: Var, Tensor, the tape and the ops.
/// @namespace tapegrad::registered
/// The registry entries of the built-in ops, one per op, under the op's name (ops/registry.hpp).
/// @namespace tapegrad::nn
/// Neural networks made of ops: modules (Linear, Sequential, nn::mlp()), initialisation, losses
/// for training, the training loop and checkpoints.
/// @namespace tapegrad::optim
/// Optimisers that update parameter tensors from their gradients: SGD (with momentum) and Adam.
/// @namespace tapegrad::data
/// Data sets: the bundled ones, CSV files, standardisation and batches.
/// @namespace tapegrad::io
/// Files: safetensors reading and writing, and output files written atomically.
/// @namespace tapegrad::metrics
/// Evaluation of predictions: errors, accuracy, confusion matrices.
/// @namespace tapegrad::testing
/// GoogleTest helpers for gradient checks (check/gtest.hpp).
#pragma once

#include "tapegrad/autodiff/grad.hpp"
#include "tapegrad/check/gradcheck.hpp"
#include "tapegrad/core/dtype.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/core/indices.hpp"
#include "tapegrad/core/op.hpp"
#include "tapegrad/core/parallel.hpp"
#include "tapegrad/core/random.hpp"
#include "tapegrad/core/shape.hpp"
#include "tapegrad/core/tape.hpp"
#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"
#include "tapegrad/data/dataset.hpp"
#include "tapegrad/format.hpp"
#include "tapegrad/io/output_files.hpp"
#include "tapegrad/io/safetensors.hpp"
#include "tapegrad/metrics.hpp"
#include "tapegrad/nn/distributed.hpp"
#include "tapegrad/nn/init.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/state_dict.hpp"
#include "tapegrad/nn/train.hpp"
#include "tapegrad/ops/activations.hpp"
#include "tapegrad/ops/creation.hpp"
#include "tapegrad/ops/custom.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/losses.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/registry.hpp"
#include "tapegrad/ops/shape_ops.hpp"
#include "tapegrad/optim/optimizer.hpp"
#include "tapegrad/version.hpp"
