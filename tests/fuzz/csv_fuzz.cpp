// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: any bytes given to the CSV reader either give a well-formed data set or
// raise a tapegrad::Error — never a crash, an overflow or an unbounded allocation. The first
// byte picks the options (header mode, target, delimiter, columns by name); the rest is the text.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <tapegrad/core/error.hpp>
#include <tapegrad/data/dataset.hpp>

namespace data = tapegrad::data;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size == 0) return 0;
  const unsigned pick = bytes[0];
  const std::string_view text(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  data::CsvOptions options;
  options.header = static_cast<data::CsvOptions::Header>(pick % 3);
  switch ((pick / 3) % 4) {
    case 1:
      options.target = std::int64_t{(pick & 0x20) ? 0 : -2};
      break;
    case 2:
      options.target = std::string("y");
      break;
    case 3:
      options.target = data::CsvOptions::NoTarget{};
      break;
    default:
      break;
  }
  options.delimiter = (pick & 0x40) ? ';' : ',';
  if (pick & 0x80) options.features = {"a", "b"};
  // Small limits, so that inputs of the fuzzer's length meet them.
  options.max_line_bytes = 4096;
  options.max_columns = 256;
  try {
    const data::Dataset d = data::parse_csv(text, "fuzz", options);
    const auto rows = static_cast<std::size_t>(d.size());
    const auto features = static_cast<std::size_t>(d.num_features());
    if (d.features.dim() != 2 || rows == 0 || features == 0) std::abort();
    if (!d.feature_names.empty() && d.feature_names.size() != features) std::abort();
    if (d.targets.numel() != 0 && static_cast<std::size_t>(d.targets.numel()) != rows) std::abort();
    for (const double v : d.features.to_vector())
      if (!std::isfinite(v)) std::abort();
    for (const double v : d.targets.to_vector())
      if (!std::isfinite(v)) std::abort();
    (void)d.num_classes();
  } catch (const tapegrad::Error&) {
  }
  return 0;
}
