// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: any bytes given to the model-file reader either load or raise a
// tapegrad::Error — never a crash, an overflow or an unbounded allocation.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <tapegrad/core/error.hpp>
#include <tapegrad/io/safetensors.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto file = tapegrad::io::parse_safetensors(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    for (const auto& t : file.tensors) (void)t.tensor.to_vector();
  } catch (const tapegrad::Error&) {
  }
  return 0;
}
