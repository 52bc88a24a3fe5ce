// SPDX-License-Identifier: Apache-2.0
// state_dict, load_state_dict, save_model and load_model: PyTorch's layout (Linear weights
// (out, in)), every check before any change.
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

#include "support/errors.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace tg = tapegrad;
namespace nn = tapegrad::nn;
using tapegrad::testing::message_of;

std::vector<std::vector<double>> values(const nn::Module& m) {
  std::vector<std::vector<double>> out;
  for (const tg::Tensor& p : m.parameters()) out.push_back(p.to_vector());
  return out;
}

TEST(StateDict, LinearWeightsAreStoredOutInAsPyTorchHoldsThem) {
  const nn::Linear layer(3, 2, {.seed = 4});
  const std::vector<tg::NamedTensor> state = nn::state_dict(layer);
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state[0].name, "weight");
  EXPECT_EQ(state[0].tensor.shape(), tg::Shape({2, 3}));
  for (int o = 0; o < 2; ++o) {
    for (int i = 0; i < 3; ++i) EXPECT_EQ(state[0].tensor.get(o, i), layer.weight().get(i, o));
  }
  EXPECT_EQ(state[1].name, "bias");
  EXPECT_EQ(state[1].tensor.impl(), layer.bias().impl());  // the parameter itself
  // A network names its layers' entries as named_parameters() does.
  const nn::Sequential net = nn::mlp({4, 5, 3});
  std::vector<std::string> names;
  for (const tg::NamedTensor& t : nn::state_dict(net))
    names.push_back(t.name + t.tensor.shape().str());
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight(5, 4)", "0.bias(5)", "2.weight(3, 5)",
                                             "2.bias(3)"}));
}

TEST(StateDict, LoadingWhatStateDictGaveRestoresTheParametersBitwise) {
  const nn::Sequential from = nn::mlp({4, 6, 3}, {.seed = 1});
  const nn::Sequential to = nn::mlp({4, 6, 3}, {.seed = 2});
  ASSERT_NE(values(from), values(to));
  nn::load_state_dict(to, nn::state_dict(from));
  EXPECT_EQ(values(from), values(to));
  // Into float32 parameters: rounded to nearest.
  const nn::Sequential f32 = nn::mlp({4, 6, 3}, {.seed = 3, .dtype = tg::DType::f32});
  nn::load_state_dict(f32, nn::state_dict(from));
  EXPECT_EQ(f32.parameters()[0].get(1, 2), static_cast<float>(from.parameters()[0].get(1, 2)));
}

TEST(StateDict, AStateOfTheWrongLayoutIsRefusedAndChangesNothing) {
  const nn::Sequential net = nn::mlp({4, 6, 3}, {.seed = 1});
  const auto before = values(net);
  // The layers' own layout, (in, out), is not PyTorch's.
  const std::string message = message_of<tg::ValueError>(
      [&] { nn::load_state_dict(net, net.named_parameters(), "layers' own tensors"); });
  EXPECT_NE(message.find("layers' own tensors: does not match the model: '0.weight' is float64 "
                         "(4, 6) in the file, float64 (6, 4) in the model"),
            std::string::npos)
      << message;
  std::vector<tg::NamedTensor> partial = nn::state_dict(nn::mlp({4, 6, 3}, {.seed = 9}));
  partial.pop_back();
  EXPECT_NE(message_of<tg::ValueError>([&] {
              nn::load_state_dict(net, partial);
            }).find("missing '2.bias'"),
            std::string::npos);
  EXPECT_EQ(values(net), before);
}

class ModelFiles : public tapegrad::testing::TempDirTest {};

TEST_F(ModelFiles, ASavedModelLoadsIntoTheSameArchitectureAndPredictsTheSame) {
  const nn::Sequential trained = nn::mlp({4, 8, 3}, {.hidden = nn::Activation::relu(), .seed = 1});
  nn::save_model(path("m.safetensors"), trained, {{"note", "digits"}});
  // The file is PyTorch's layout, readable by any safetensors reader.
  const tg::io::SafetensorsFile file = tg::io::load_safetensors(path("m.safetensors"));
  EXPECT_EQ(file.metadata.at("weight_layout"), "out_in");
  EXPECT_EQ(file.tensors.at(0).name, "0.weight");
  EXPECT_EQ(file.tensors.at(0).tensor.shape(), tg::Shape({8, 4}));

  const nn::Sequential loaded = nn::mlp({4, 8, 3}, {.hidden = nn::Activation::relu(), .seed = 7});
  const auto metadata = nn::load_model(path("m.safetensors"), loaded);
  EXPECT_EQ(metadata.at("note"), "digits");
  EXPECT_EQ(values(loaded), values(trained));
  const tg::Tensor x = tg::randn({5, 4}, 3);
  EXPECT_EQ(nn::predict(loaded, x).to_vector(), nn::predict(trained, x).to_vector());
}

TEST_F(ModelFiles, AnotherLayoutOrArchitectureIsRefusedByName) {
  const nn::Sequential net = nn::mlp({4, 8, 3}, {.seed = 1});
  tg::io::save_safetensors(path("in_out.safetensors"), net.named_parameters(),
                           {{"weight_layout", "in_out"}});
  EXPECT_NE(message_of<tg::ValueError>([&] {
              nn::load_model(path("in_out.safetensors"), net);
            }).find("metadata 'weight_layout' is 'in_out'; load_model reads 'out_in'"),
            std::string::npos);
  nn::save_model(path("small.safetensors"), nn::mlp({4, 2, 3}));
  EXPECT_NE(message_of<tg::ValueError>([&] {
              nn::load_model(path("small.safetensors"), net);
            }).find("'0.weight' is float64 (2, 4) in the file, float64 (8, 4) in the model"),
            std::string::npos);
  EXPECT_NE(message_of<tg::ValueError>([&] {
              nn::save_model(path("x.safetensors"), net, {{"weight_layout", "in_out"}});
            }).find("metadata 'weight_layout' is set by save_model itself"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path("x.safetensors")));
}

}  // namespace
