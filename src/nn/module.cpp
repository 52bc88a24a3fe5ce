// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/nn/module.hpp"

#include <charconv>
#include <cmath>
#include <span>

#include <fmt/format.h>
#include <fmt/ranges.h>

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

std::vector<StoredParameter> Module::stored_parameters() const {
  std::vector<StoredParameter> out;
  for (NamedTensor& p : named_parameters()) out.push_back({std::move(p.name), std::move(p.tensor)});
  return out;
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

std::vector<StoredParameter> Linear::stored_parameters() const {
  std::vector<StoredParameter> out{{"weight", weight_, true}};
  if (bias_.defined()) out.push_back({"bias", bias_});
  return out;
}

std::string Linear::describe() const {
  return fmt::format("Linear({} -> {}{})", in_, out_, bias_.defined() ? "" : ", no bias");
}

// ---- Activation ------------------------------------------------------------------------------
namespace {
// The registered activation called `name` (or with that alias), or nullptr.
const Op* find_activation(std::string_view name) {
  const Op* op = find_op(name);
  return op != nullptr && op->traits.activation && op->tensor != nullptr ? op : nullptr;
}

const Op& activation_named(std::string_view name) {
  const Op* op = find_activation(name);
  if (op == nullptr) {
    throw ValueError(fmt::format("unknown activation '{}'; known: {}", name, Activation::known()));
  }
  return *op;
}
}  // namespace

Activation::Activation() : Activation(identity()) {}

Activation::Activation(const Op& op) : Activation(op, op.traits.default_parameter) {}

Activation::Activation(const Op& op, double parameter) : op(&op), parameter(parameter) {
  if (find_op(op.name) != &op || find_activation(op.name) == nullptr) {
    throw ValueError(
        fmt::format("'{}' is not a registered activation; known: {}", op.name, known()));
  }
  // A NaN or infinite slope, alpha or threshold trains to NaN.
  if ((!op.has_parameter() && parameter != 0) || !std::isfinite(parameter)) {
    throw ValueError(fmt::format("activation {}: {} is not a valid parameter", op.name, parameter));
  }
}

Tensor Activation::operator()(const Tensor& x) const {
  return op->tensor(std::span<const Tensor>(&x, 1), parameter);
}

std::string Activation::name() const {
  if (op->has_parameter()) return fmt::format("{}({:g})", op->name, parameter);
  return std::string(op->name);
}

std::string Activation::spec() const {
  // fmt's shortest form that reads back as the same double.
  if (op->has_parameter()) return fmt::format("{}:{}", op->name, parameter);
  return std::string(op->name);
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
  const Op* op = find_activation(name);
  if (op == nullptr) {
    throw ValueError(fmt::format("unknown activation '{}'; known: {}", text, known()));
  }
  if (colon == std::string_view::npos) return Activation(*op);
  double parameter = 0;
  const auto [end, ec] =
      std::from_chars(value_text.data(), value_text.data() + value_text.size(), parameter);
  // A NaN or infinite slope, alpha or threshold trains to NaN: refused here.
  if (ec != std::errc() || end != value_text.data() + value_text.size() || !op->has_parameter() ||
      !std::isfinite(parameter)) {
    throw ValueError(fmt::format("activation '{}': '{}' is not a valid parameter for {}", text,
                                 value_text, name));
  }
  return Activation(*op, parameter);
}

std::string Activation::known() {
  std::vector<std::string> names;
  for (const Op* op : registered_ops()) {
    if (find_activation(op->name) == nullptr) continue;
    std::string entry(op->name);
    if (op->has_parameter()) entry += fmt::format("[:{}]", op->traits.parameter);
    if (!op->traits.alias.empty()) entry += fmt::format(" ({})", op->traits.alias);
    names.push_back(std::move(entry));
  }
  return fmt::format("{}", fmt::join(names, ", "));
}

Activation Activation::identity() {
  return Activation(activation_named("identity"));
}
Activation Activation::tanh() {
  return Activation(activation_named("tanh"));
}
Activation Activation::sigmoid() {
  return Activation(activation_named("sigmoid"));
}
Activation Activation::relu() {
  return Activation(activation_named("relu"));
}

bool Activation::is_identity() const {
  return op == find_op("identity");
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

std::vector<StoredParameter> Sequential::stored_parameters() const {
  std::vector<StoredParameter> out;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    for (StoredParameter& p : layers_[i]->stored_parameters()) {
      out.push_back({fmt::format("{}.{}", i, p.name), std::move(p.parameter), p.transposed});
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
  const Init init = options.init.value_or(
      options.hidden.op->traits.relu_like ? Init::he_uniform : Init::glorot_uniform);
  Sequential net;
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    // A distinct, reproducible stream per layer.
    const std::uint64_t seed = options.seed * 0x9e3779b97f4a7c15ULL + i + 1;
    net.emplace<Linear>(sizes[i], sizes[i + 1],
                        LinearOptions{options.bias, init, seed, options.dtype});
    const bool last = i + 2 == sizes.size();
    const Activation& a = last ? options.output : options.hidden;
    if (!a.is_identity()) net.emplace<ActivationLayer>(a);
  }
  return net;
}

Sequential mlp(std::initializer_list<std::int64_t> sizes, const MlpOptions& options) {
  return mlp(std::span<const std::int64_t>(sizes.begin(), sizes.size()), options);
}

}  // namespace tapegrad::nn
