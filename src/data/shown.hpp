// SPDX-License-Identifier: Apache-2.0
// Text from a data file as an error message quotes it. Internal: the CSV reader and the tool.
#pragma once

#include <string>
#include <string_view>
#include <vector>
#include "core/internal_api.hpp"

namespace tapegrad::data {

// At most 40 bytes (cut at a character boundary, "..." added), control characters escaped as
// \xNN: a binary file or a 1 MiB field still gives a readable line.
std::string shown(std::string_view text);
// 'a', 'b', 'c' (each shown()): the first ten, then how many more.
TAPEGRAD_INTERNAL_API std::string quoted_list(const std::vector<std::string>& names);

}  // namespace tapegrad::data
