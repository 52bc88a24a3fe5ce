// tapegrad: reverse-mode automatic differentiation on one tape for scalars and tensors.
// The one include a user needs.
#pragma once

#include "tapegrad/nn/init.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/train.hpp"
#include "tapegrad/optim/optimizer.hpp"
#include "tapegrad/check/gradcheck.hpp"
#include "tapegrad/core/dtype.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/core/shape.hpp"
#include "tapegrad/core/tape.hpp"
#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"
#include "tapegrad/format.hpp"
#include "tapegrad/ops/activations.hpp"
#include "tapegrad/ops/creation.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/losses.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape_ops.hpp"
#include "tapegrad/version.hpp"
