// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/nn/module.hpp"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "tapegrad/core/error.hpp"
#include "tapegrad/ops/activations.hpp"
#include "tapegrad/ops/creation.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/linalg.hpp"

namespace tapegrad::nn {

// ---- Module ----------------------------------------------------------------------------------
std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (NamedTensor& p : named_parameters()) out.push_back(std::move(p.tensor));
  return out;
}

std::int64_t Module::parameter_count() const {
  std::int64_t n = 0;
  for (const NamedTensor& p : named_parameters()) n += p.tensor.numel();
  return n;
}

void Module::zero_grad() const {
  for (const NamedTensor& p : named_parameters()) p.tensor.zero_grad();
}

std::string Module::summary() const {
  return fmt::format("{}\nparameters: {}", describe(), parameter_count());
}

// ---- Linear ----------------------------------------------------------------------------------
Linear::Linear(std::int64_t in, std::int64_t out, const LinearOptions& options)
    : in_(in), out_(out) {
  if (in <= 0 || out <= 0) {
    throw ValueError(fmt::format("Linear: sizes must be positive; got {} -> {}", in, out));
  }
  weight_ = init_weight(options.init, in, out, options.seed, options.dtype).requires_grad();
  if (options.bias) bias_ = zeros({out}, options.dtype).requires_grad();
}

Tensor Linear::forward(const Tensor& x) const {
  if (x.dim() != 2 || x.shape()[1] != in_) {
    throw ShapeError(
        fmt::format("{}: the input must be (N, {}); got {}", describe(), in_, x.shape().str()));
  }
  return bias_.defined() ? linear(x, weight_, bias_) : matmul(x, weight_);
}

std::vector<NamedTensor> Linear::named_parameters() const {
  std::vector<NamedTensor> out{{"weight", weight_}};
  if (bias_.defined()) out.push_back({"bias", bias_});
  return out;
}

std::string Linear::describe() const {
  return fmt::format("Linear({} -> {}{})", in_, out_, bias_.defined() ? "" : ", no bias");
}

// ---- Activation ------------------------------------------------------------------------------
namespace {
struct KindName {
  Activation::Kind kind;
  std::string_view name;
};
constexpr KindName kKinds[] = {
    {Activation::Kind::identity, "identity"},
    {Activation::Kind::identity, "linear"},
    {Activation::Kind::step, "step"},
    {Activation::Kind::sigmoid, "sigmoid"},
    {Activation::Kind::tanh, "tanh"},
    {Activation::Kind::relu, "relu"},
    {Activation::Kind::leaky_relu, "leaky_relu"},
    {Activation::Kind::elu, "elu"},
    {Activation::Kind::softplus, "softplus"},
    {Activation::Kind::softmax, "softmax"},
    {Activation::Kind::log_softmax, "log_softmax"},
};

double default_parameter(Activation::Kind kind) {
  switch (kind) {
    case Activation::Kind::leaky_relu:
      return 0.01;
    case Activation::Kind::elu:
      return 1.0;
    default:
      return 0.0;
  }
}

bool has_parameter(Activation::Kind kind) {
  return kind == Activation::Kind::step || kind == Activation::Kind::leaky_relu ||
         kind == Activation::Kind::elu;
}
}  // namespace

Tensor Activation::operator()(const Tensor& x) const {
  switch (kind) {
    case Kind::identity:
      return x;
    case Kind::step:
      return step(x, parameter);
    case Kind::sigmoid:
      return tapegrad::sigmoid(x);
    case Kind::tanh:
      return tapegrad::tanh(x);
    case Kind::relu:
      return tapegrad::relu(x);
    case Kind::leaky_relu:
      return leaky_relu(x, parameter);
    case Kind::elu:
      return elu(x, parameter);
    case Kind::softplus:
      return softplus(x);
    case Kind::softmax:
      return softmax(x, -1);
    case Kind::log_softmax:
      return log_softmax(x, -1);
  }
  throw ValueError("unknown activation");
}

std::string Activation::name() const {
  std::string_view base = "?";
  for (const KindName& k : kKinds) {
    if (k.kind == kind) {
      base = k.name;
      break;
    }
  }
  if (has_parameter(kind)) return fmt::format("{}({:g})", base, parameter);
  return std::string(base);
}

std::string Activation::spec() const {
  std::string name_and_parameter = name();
  if (!has_parameter(kind)) return name_and_parameter;
  // fmt's shortest form that reads back as the same double.
  return fmt::format("{}:{}", name_and_parameter.substr(0, name_and_parameter.find('(')),
                     parameter);
}

Activation Activation::parse(std::string_view text) {
  // "name:p", and "name(p)" as name() writes it (model files written before spec() existed).
  std::size_t colon = text.find(':');
  std::string_view value_text;
  if (colon != std::string_view::npos) {
    value_text = text.substr(colon + 1);
  } else if (const std::size_t open = text.find('(');
             open != std::string_view::npos && text.back() == ')') {
    colon = open;
    value_text = text.substr(open + 1, text.size() - open - 2);
  }
  const std::string_view name = text.substr(0, colon);
  for (const KindName& k : kKinds) {
    if (k.name != name) continue;
    Activation a{k.kind, default_parameter(k.kind)};
    if (colon != std::string_view::npos) {
      const std::string_view value = value_text;
      const auto [end, ec] =
          std::from_chars(value.data(), value.data() + value.size(), a.parameter);
      // A NaN or infinite slope, alpha or threshold trains to NaN: refused here.
      if (ec != std::errc() || end != value.data() + value.size() || !has_parameter(k.kind) ||
          !std::isfinite(a.parameter)) {
        throw ValueError(fmt::format("activation '{}': '{}' is not a valid parameter for {}", text,
                                     value, name));
      }
    }
    return a;
  }
  throw ValueError(fmt::format(
      "unknown activation '{}'; known: identity (linear), step[:threshold], sigmoid, tanh, relu, "
      "leaky_relu[:slope], elu[:alpha], softplus, softmax, log_softmax",
      text));
}

std::string ActivationLayer::describe() const {
  return fmt::format("Activation({})", activation_.name());
}

// ---- Sequential ------------------------------------------------------------------------------
Sequential& Sequential::add(std::shared_ptr<Module> layer) {
  if (!layer) throw ValueError("Sequential::add: null layer");
  layers_.push_back(std::move(layer));
  return *this;
}

Tensor Sequential::forward(const Tensor& x) const {
  Tensor h = x;
  for (const auto& layer : layers_) h = layer->forward(h);
  return h;
}

std::vector<NamedTensor> Sequential::named_parameters() const {
  std::vector<NamedTensor> out;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    for (NamedTensor& p : layers_[i]->named_parameters()) {
      out.push_back({fmt::format("{}.{}", i, p.name), std::move(p.tensor)});
    }
  }
  return out;
}

std::string Sequential::describe() const {
  std::vector<std::string> parts;
  for (const auto& layer : layers_) parts.push_back(layer->describe());
  return fmt::format("Sequential({})", fmt::join(parts, ", "));
}

std::string Sequential::summary() const {
  std::string s = fmt::format("{:<4} {:<32} {:>10}\n", "#", "layer", "parameters");
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    s += fmt::format("{:<4} {:<32} {:>10}\n", i, layers_[i]->describe(),
                     layers_[i]->parameter_count());
  }
  s += fmt::format("{:<37} {:>10}", "total", parameter_count());
  return s;
}

// ---- MLP -------------------------------------------------------------------------------------
Sequential mlp(std::span<const std::int64_t> sizes, const MlpOptions& options) {
  if (sizes.size() < 2) {
    throw ValueError(
        fmt::format("mlp: needs at least an input and an output size; got {} sizes", sizes.size()));
  }
  const auto relu_family = [](Activation::Kind k) {
    return k == Activation::Kind::relu || k == Activation::Kind::leaky_relu ||
           k == Activation::Kind::elu;
  };
  const Init init = options.init.value_or(relu_family(options.hidden.kind) ? Init::he_uniform
                                                                           : Init::glorot_uniform);
  Sequential net;
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    // A distinct, reproducible stream per layer.
    const std::uint64_t seed = options.seed * 0x9e3779b97f4a7c15ULL + i + 1;
    net.emplace<Linear>(sizes[i], sizes[i + 1],
                        LinearOptions{options.bias, init, seed, options.dtype});
    const bool last = i + 2 == sizes.size();
    const Activation& a = last ? options.output : options.hidden;
    if (a.kind != Activation::Kind::identity) net.emplace<ActivationLayer>(a);
  }
  return net;
}

Sequential mlp(std::initializer_list<std::int64_t> sizes, const MlpOptions& options) {
  return mlp(std::span<const std::int64_t>(sizes.begin(), sizes.size()), options);
}

}  // namespace tapegrad::nn
