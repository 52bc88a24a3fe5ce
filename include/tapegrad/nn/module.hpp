// SPDX-License-Identifier: Apache-2.0
/// @file
/// Layers and networks, made of graph ops only: the tape knows nothing about them.
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/core/tensor.hpp"
#include "tapegrad/nn/init.hpp"
#include "tapegrad/ops/registry.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad::nn {

/// A parameter as model files and state dicts hold it (nn/state_dict.hpp): under its name, as
/// the layer holds it or transposed. Linear's weight is held (in, out) and stored (out, in), the
/// layout of PyTorch's nn.Linear.
struct StoredParameter {
  std::string name;         ///< as named_parameters() names it
  Tensor parameter;         ///< the layer's own leaf
  bool transposed = false;  ///< stored as the transpose of `parameter` (2-D)
};

/// A layer or a network of layers: a function of a batch with named parameters. Parameters are
/// leaf tensors that require a gradient; forward() records on the current tape.
class Module {
 public:
  virtual ~Module() = default;
  /// x: (N, in) -> (N, out)
  virtual Tensor forward(const Tensor& x) const = 0;
  /// forward(x).
  Tensor operator()(const Tensor& x) const { return forward(x); }
  /// Parameters with stable names ("0.weight", "0.bias", ...), in a fixed order.
  virtual std::vector<NamedTensor> named_parameters() const { return {}; }
  /// named_parameters() as PyTorch's state_dict() lays them out. The default stores every
  /// parameter as it is; a layer whose layout differs from PyTorch's overrides it.
  virtual std::vector<StoredParameter> stored_parameters() const;
  /// One line, e.g. "Linear(64 -> 128)".
  virtual std::string describe() const = 0;

  /// The tensors of named_parameters(), in the same order (handles: an optimiser updates them).
  std::vector<Tensor> parameters() const;
  /// The number of parameter elements, summed over all parameters.
  std::int64_t parameter_count() const;
  /// Forgets every parameter's accumulated gradient (Tensor::zero_grad()).
  void zero_grad() const;
  /// A table: one row per layer with its parameter count, and the total.
  virtual std::string summary() const;
};

/// Options of a Linear layer.
struct LinearOptions {
  bool bias = true;                  ///< with a bias parameter b
  Init init = Init::glorot_uniform;  ///< how W starts (b starts at 0)
  std::uint64_t seed = 0;            ///< the seed of W's random start
  DType dtype = DType::f64;          ///< the parameters' element type
};

/// y = x W + b with W: (in, out) and b: (out), broadcast over the rows. The bias is its own
/// parameter: the same as the classic extra input wired to 1, without widening x.
class Linear : public Module {
 public:
  /// A layer from `in` features to `out`; throws ValueError unless both are positive.
  Linear(std::int64_t in, std::int64_t out, const LinearOptions& options = {});
  Tensor forward(const Tensor& x) const override;
  std::vector<NamedTensor> named_parameters() const override;
  /// The weight transposed, (out, in), as nn.Linear stores it; the bias as it is.
  std::vector<StoredParameter> stored_parameters() const override;
  std::string describe() const override;

  const Tensor& weight() const { return weight_; }    ///< W: (in, out)
  const Tensor& bias() const { return bias_; }        ///< b: (out); undefined without bias
  std::int64_t in_features() const { return in_; }    ///< in
  std::int64_t out_features() const { return out_; }  ///< out

 private:
  std::int64_t in_, out_;
  Tensor weight_, bias_;
};

/// An activation function with its parameter, usable as a value or a layer: a registered op
/// (ops/registry.hpp) that declares itself an activation — tanh, relu, leaky_relu, ...,
/// identity (also called linear), and softmax and log_softmax along the last axis. A new one is
/// found by name as soon as its op line registers it: nothing here names it.
struct Activation {
  /// The identity.
  Activation();
  /// The registered activation `op` with its parameter's default, or with `parameter`; throws
  /// ValueError for an op that is not a registered activation, a parameter given to an op that
  /// takes none, or a parameter that is not a finite number.
  explicit Activation(const Op& op);
  /// The registered activation `op` with `parameter` (throws as above).
  Activation(const Op& op, double parameter);

  const Op* op;          ///< the registered op; never null
  double parameter = 0;  ///< step: threshold; leaky_relu: slope; elu: alpha; else 0

  /// The op applied to x with the parameter.
  Tensor operator()(const Tensor& x) const;
  std::string name() const;  ///< "tanh", "leaky_relu(0.01)"
  /// The text parse() reads back as this activation exactly: "tanh", "leaky_relu:0.01".
  std::string spec() const;
  /// "tanh", "relu", "leaky_relu", "leaky_relu:0.2", "elu:1.0", "linear", ...; throws ValueError
  /// for an unknown name or a parameter that is not a finite number.
  static Activation parse(std::string_view text);
  /// The registered activations as parse() reads them: "elu[:alpha], identity (linear), ...".
  static std::string known();
  static Activation identity();  ///< the identity (also called linear)
  static Activation tanh();      ///< tanh
  static Activation sigmoid();   ///< sigmoid
  static Activation relu();      ///< relu
  /// Whether the op is the identity (nn::mlp() adds no layer for it).
  bool is_identity() const;
  /// The same op with the same parameter.
  bool operator==(const Activation& other) const = default;
};

/// An Activation as a layer without parameters: "Activation(tanh)" in describe().
class ActivationLayer : public Module {
 public:
  /// The layer applying `activation`.
  explicit ActivationLayer(Activation activation) : activation_(activation) {}
  Tensor forward(const Tensor& x) const override { return activation_(x); }
  std::string describe() const override;
  const Activation& activation() const { return activation_; }  ///< the activation applied

 private:
  Activation activation_;
};

/// Layers applied in order; parameters are named "<index>.<name>".
class Sequential : public Module {
 public:
  Sequential() = default;
  /// Appends a layer (shared, not copied); returns *this. Throws ValueError for a null layer.
  Sequential& add(std::shared_ptr<Module> layer);
  /// Appends a Layer made from `args`: net.emplace<Linear>(2, 4); returns *this.
  template <class Layer, class... Args>
  Sequential& emplace(Args&&... args) {
    return add(std::make_shared<Layer>(std::forward<Args>(args)...));
  }
  Tensor forward(const Tensor& x) const override;
  std::vector<NamedTensor> named_parameters() const override;
  /// The layers' stored parameters, named "<index>.<name>".
  std::vector<StoredParameter> stored_parameters() const override;
  std::string describe() const override;
  std::string summary() const override;
  std::size_t size() const { return layers_.size(); }  ///< the number of layers
  /// Layer i; throws std::out_of_range when i >= size().
  const Module& operator[](std::size_t i) const { return *layers_.at(i); }

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

/// Options of nn::mlp().
struct MlpOptions {
  Activation hidden = Activation::tanh();      ///< after every Linear layer but the last
  Activation output = Activation::identity();  ///< after the last Linear layer
  bool bias = true;                            ///< Linear layers with a bias
  /// Glorot for saturating activations, He for the ReLU family, unless set.
  std::optional<Init> init = std::nullopt;
  /// Seeds the layers' weights: each layer draws from a stream of its own derived from it.
  std::uint64_t seed = 0;
  DType dtype = DType::f64;  ///< the parameters' element type
};

/// sizes = {in, hidden..., out}: Linear layers with `hidden` between them and `output` last
/// (an identity adds no layer). Throws ValueError for fewer than two sizes.
Sequential mlp(std::span<const std::int64_t> sizes, const MlpOptions& options = {});
/// mlp({2, 8, 1}).
Sequential mlp(std::initializer_list<std::int64_t> sizes, const MlpOptions& options = {});

}  // namespace tapegrad::nn

// fmt::print("{}", model) prints the layer table of summary() (left out of the API reference,
// as are the formatters of format.hpp).
/// @cond
template <class M>
requires std::derived_from<M, tapegrad::nn::Module>
struct fmt::formatter<M> : fmt::formatter<std::string_view> {
  auto format(const M& m, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(m.summary(), ctx);
  }
};
/// @endcond

#pragma GCC visibility pop
