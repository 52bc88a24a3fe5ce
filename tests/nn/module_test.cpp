// SPDX-License-Identifier: Apache-2.0
#include <cmath>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <tapegrad/check/gtest.hpp>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
namespace nn = tapegrad::nn;
using tg::Shape;
using tg::Tensor;

namespace {

TEST(Linear, ShapesNamesAndCount) {
  const nn::Linear layer(3, 2, {.seed = 1});
  EXPECT_EQ(layer.weight().shape(), (Shape{3, 2}));
  EXPECT_EQ(layer.bias().shape(), (Shape{2}));
  EXPECT_EQ(layer.parameter_count(), 8);
  const auto params = layer.named_parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].name, "weight");
  EXPECT_EQ(params[1].name, "bias");
  EXPECT_EQ(layer(tg::ones({5, 3})).shape(), (Shape{5, 2}));
  const nn::Linear no_bias(3, 2, {.bias = false});
  EXPECT_EQ(no_bias.parameter_count(), 6);
  EXPECT_EQ(no_bias.describe(), "Linear(3 -> 2, no bias)");
}

TEST(Linear, ComputesXWPlusB) {
  const nn::Linear layer(2, 1, {.init = nn::Init::zeros});
  layer.weight().mutable_data<double>()[0] = 2.0;
  layer.weight().mutable_data<double>()[1] = -1.0;
  layer.bias().mutable_data<double>()[0] = 0.5;
  EXPECT_EQ(layer(Tensor::from({{1., 1.}, {3., 2.}})).to_vector(), (std::vector<double>{1.5, 4.5}));
}

TEST(Linear, WrongInputWidthNamesTheLayer) {
  const nn::Linear layer(4, 2);
  try {
    (void)layer(tg::ones({3, 5}));
    FAIL();
  } catch (const tg::ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("Linear(4 -> 2)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(3, 5)"), std::string::npos) << e.what();
  }
}

TEST(Mlp, StructureNamesAndSummary) {
  const nn::Sequential net = nn::mlp({64, 128, 64, 10}, {.hidden = nn::Activation::tanh()});
  EXPECT_EQ(net.size(), 5u);  // Linear, tanh, Linear, tanh, Linear
  EXPECT_EQ(net.parameter_count(), 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10);
  const auto params = net.named_parameters();
  EXPECT_EQ(params.front().name, "0.weight");
  EXPECT_EQ(params.back().name, "4.bias");
  const std::string summary = net.summary();
  EXPECT_NE(summary.find("Linear(64 -> 128)"), std::string::npos) << summary;
  EXPECT_NE(summary.find("Activation(tanh)"), std::string::npos) << summary;
  EXPECT_NE(summary.find(fmt::format("{}", net.parameter_count())), std::string::npos);
  EXPECT_EQ(net(tg::ones({7, 64})).shape(), (Shape{7, 10}));
  EXPECT_EQ(fmt::format("{}", net), summary);
}

TEST(Mlp, SameSeedSameBitsDifferentSeedDifferent) {
  const auto a = nn::mlp({4, 8, 3}, {.seed = 5}).named_parameters();
  const auto b = nn::mlp({4, 8, 3}, {.seed = 5}).named_parameters();
  const auto c = nn::mlp({4, 8, 3}, {.seed = 6}).named_parameters();
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].tensor.to_vector(), b[i].tensor.to_vector());
  }
  EXPECT_NE(a[0].tensor.to_vector(), c[0].tensor.to_vector());
  EXPECT_NE(a[0].tensor.to_vector(), a[2].tensor.to_vector());  // layers get their own stream
}

TEST(Mlp, GradientOfTheLossWithRespectToEveryParameter) {
  const nn::Sequential net = nn::mlp({3, 4, 2}, {.hidden = nn::Activation::tanh(), .seed = 2});
  const Tensor x = tg::randn({5, 3}, 3);
  const std::int64_t labels[] = {0, 1, 1, 0, 1};
  std::vector<Tensor> params = net.parameters();
  // Check d loss / d params by perturbing copies: f rebuilds the forward pass from its inputs.
  EXPECT_GRADCHECK(
      [&](std::span<const Tensor> p) {
        const Tensor h = tg::tanh(tg::matmul(x, p[0]) + p[1]);
        return tg::softmax_cross_entropy(tg::matmul(h, p[2]) + p[3], labels);
      },
      params);
  // And the module computes exactly that function.
  const Tensor h = tg::tanh(tg::matmul(x, params[0]) + params[1]);
  EXPECT_EQ(net(x).to_vector(), (tg::matmul(h, params[2]) + params[3]).to_vector());
}

TEST(Init, RangesAndMoments) {
  const Tensor g = nn::init_weight(nn::Init::glorot_uniform, 100, 50, 1);
  const double a = std::sqrt(6.0 / 150);
  EXPECT_LE(tg::max(g).value(), a);
  EXPECT_GE(tg::min(g).value(), -a);
  const Tensor h = nn::init_weight(nn::Init::he_normal, 400, 300, 2);
  const double var = tg::mean(h * h).value();
  EXPECT_NEAR(var, 2.0 / 400, 0.1 * 2.0 / 400);
  EXPECT_EQ(tg::sum(tg::abs(nn::init_weight(nn::Init::zeros, 3, 3, 0))).value(), 0.0);
  EXPECT_EQ(nn::parse_init("xavier_uniform"), nn::Init::glorot_uniform);
  EXPECT_EQ(nn::parse_init("kaiming_normal"), nn::Init::he_normal);
  EXPECT_THROW((void)nn::parse_init("magic"), tg::ValueError);
}

TEST(Activation, ParseAndName) {
  EXPECT_EQ(nn::Activation::parse("tanh"), nn::Activation::tanh());
  EXPECT_EQ(nn::Activation::parse("tanh").op, tg::find_op("tanh"));
  EXPECT_EQ(nn::Activation::parse("linear"), nn::Activation::identity());
  EXPECT_EQ(nn::Activation::parse("linear").name(), "identity");
  EXPECT_TRUE(nn::Activation().is_identity());
  const nn::Activation leaky = nn::Activation::parse("leaky_relu:0.2");
  EXPECT_EQ(leaky.parameter, 0.2);
  EXPECT_EQ(leaky.name(), "leaky_relu(0.2)");
  EXPECT_EQ(nn::Activation::parse("elu").parameter, 1.0);
  EXPECT_THROW((void)nn::Activation::parse("swish"), tg::ValueError);
  EXPECT_THROW((void)nn::Activation::parse("tanh:3"), tg::ValueError);
  EXPECT_THROW((void)nn::Activation::parse("elu:abc"), tg::ValueError);
  // A parameter that is not finite would train to NaN.
  for (const char* text : {"elu:nan", "leaky_relu:inf", "step:-inf", "leaky_relu(nan)"}) {
    EXPECT_THROW((void)nn::Activation::parse(text), tg::ValueError) << text;
  }
  const Tensor x = Tensor::from({-1., 2.});
  EXPECT_EQ(nn::Activation::parse("relu")(x).to_vector(), (std::vector<double>{0, 2}));
}

TEST(Activation, SpecParsesBackToTheSameActivationForEveryKind) {
  for (const char* text : {"identity", "step", "step:0.5", "sigmoid", "tanh", "relu", "leaky_relu",
                           "leaky_relu:0.123456789012345", "elu", "elu:0.7", "softplus", "softsign",
                           "softmax", "log_softmax"}) {
    SCOPED_TRACE(text);
    const nn::Activation a = nn::Activation::parse(text);
    const nn::Activation back = nn::Activation::parse(a.spec());
    EXPECT_EQ(back.op, a.op);
    EXPECT_EQ(back.parameter, a.parameter);
  }
  EXPECT_EQ(nn::Activation::parse("leaky_relu:0.2").spec(), "leaky_relu:0.2");
  // name()'s form, as older model files hold it, is read too.
  EXPECT_EQ(nn::Activation::parse("leaky_relu(0.01)").parameter, 0.01);
  EXPECT_EQ(nn::Activation::parse("step(0.5)").op, tg::find_op("step"));
}

// Every name and default the model files and --activation have always used, read from the
// registry now: a model file written before it still loads as the same activation.
TEST(Activation, NamesAndDefaultsAreAsBeforeTheRegistry) {
  struct Known {
    const char* text;
    const char* name;
    const char* spec;
    double parameter;
  };
  for (const Known& k :
       {Known{"identity", "identity", "identity", 0}, Known{"linear", "identity", "identity", 0},
        Known{"step", "step(0)", "step:0", 0}, Known{"sigmoid", "sigmoid", "sigmoid", 0},
        Known{"tanh", "tanh", "tanh", 0}, Known{"relu", "relu", "relu", 0},
        Known{"leaky_relu", "leaky_relu(0.01)", "leaky_relu:0.01", 0.01},
        Known{"elu", "elu(1)", "elu:1", 1.0}, Known{"softplus", "softplus", "softplus", 0},
        Known{"softmax", "softmax", "softmax", 0},
        Known{"log_softmax", "log_softmax", "log_softmax", 0}}) {
    SCOPED_TRACE(k.text);
    const nn::Activation a = nn::Activation::parse(k.text);
    EXPECT_EQ(a.name(), k.name);
    EXPECT_EQ(a.spec(), k.spec);
    EXPECT_EQ(a.parameter, k.parameter);
  }
  const std::string known = nn::Activation::known();
  for (const char* entry : {"identity (linear)", "step[:threshold]", "leaky_relu[:slope]",
                            "elu[:alpha]", "softsign", "softmax", "log_softmax"}) {
    EXPECT_NE(known.find(entry), std::string::npos) << entry << " in " << known;
  }
  EXPECT_EQ(known.find("sin"), std::string::npos) << "sin is no activation: " << known;
  try {
    (void)nn::Activation::parse("swish");
    FAIL();
  } catch (const tg::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("known: " + known), std::string::npos) << e.what();
  }
  // An op that is registered but not as an activation is refused.
  EXPECT_THROW((void)nn::Activation::parse("sin"), tg::ValueError);
  EXPECT_THROW((void)nn::Activation(*tg::find_op("sin")), tg::ValueError);
}

TEST(Activation, SoftsignIsAnActivationOnTensorsAndInAnMlp) {
  const nn::Activation a = nn::Activation::parse("softsign");
  EXPECT_EQ(a.name(), "softsign");
  const Tensor x = Tensor::from({-3., 0., 1.});
  EXPECT_EQ(a(x).to_vector(), (std::vector<double>{-0.75, 0, 0.5}));
  // Saturating, like tanh: Glorot initialisation, so the same weights as a tanh network.
  const nn::Sequential s = nn::mlp({3, 4, 2}, {.hidden = a, .seed = 2});
  const nn::Sequential t = nn::mlp({3, 4, 2}, {.hidden = nn::Activation::tanh(), .seed = 2});
  EXPECT_EQ(s.parameters()[0].to_vector(), t.parameters()[0].to_vector());
  EXPECT_NE(s.describe().find("Activation(softsign)"), std::string::npos) << s.describe();
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor in = tg::uniform({5, 3}, -1, 1, 4);
  tg::sum(s(in)).backward();
  EXPECT_EQ(s.parameters()[0].grad().shape(), (tg::Shape{3, 4}));
}

TEST(Activation, TheReluFamilyStartsWithHeInitialisation) {
  for (const char* name : {"relu", "leaky_relu", "elu"}) {
    SCOPED_TRACE(name);
    const nn::Sequential he =
        nn::mlp({3, 4, 2}, {.hidden = nn::Activation::parse(name), .seed = 2});
    const nn::Sequential explicit_he =
        nn::mlp({3, 4, 2},
                {.hidden = nn::Activation::parse(name), .init = nn::Init::he_uniform, .seed = 2});
    EXPECT_EQ(he.parameters()[0].to_vector(), explicit_he.parameters()[0].to_vector());
  }
}

}  // namespace
