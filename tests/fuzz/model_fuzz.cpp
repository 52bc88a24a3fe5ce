// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the whole model loader the tool's eval and predict use — metadata, then the
// network built from it, then its parameters — on any bytes. Either a model loads and runs a
// forward pass of the right shape, or a tapegrad::Error is raised; never a crash, an overflow or
// an allocation the bytes do not justify.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <tapegrad/tapegrad.hpp>

#include "cli/model_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  try {
    const auto [spec, model] = tapegrad::cli::parse_model(
        std::string_view(reinterpret_cast<const char*>(bytes), size), "fuzz");
    // One row through the standardisation and the network, as eval runs it.
    const tapegrad::Tensor row = tapegrad::zeros({1, spec.sizes.front()});
    const tapegrad::Tensor x =
        tapegrad::data::Standardizer::from(spec.mean, spec.scale).transform(row);
    const tapegrad::Tensor out =
        tapegrad::nn::predict(model, tapegrad::cast(x, tapegrad::DType::f32));
    if (out.dim() != 2 || out.shape()[0] != 1 || out.shape()[1] != spec.sizes.back()) std::abort();
  } catch (const tapegrad::Error&) {
  }
  return 0;
}
