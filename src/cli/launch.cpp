// SPDX-License-Identifier: Apache-2.0
#include "cli/launch.hpp"

#include <charconv>
#include <cstdlib>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <tapegrad/core/error.hpp>

namespace tapegrad::cli {

namespace {

// The set variable `name` as an integer from `low` to `high`.
int read_integer(const char* name, int low, int high) {
  const char* text = std::getenv(name);
  const std::string_view value = text;
  int out = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || end != value.data() + value.size() || out < low || out > high) {
    throw ValueError(fmt::format(
        "the MPI launcher's {}='{}' is not an integer from {} to {}; start the tool with mpirun, "
        "or unset it",
        name, value, low, high));
  }
  return out;
}

}  // namespace

Launch launch_from_environment() {
  constexpr int kMostRanks = 1 << 20;
  for (const auto& [size, rank] : {std::pair{"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"},
                                   std::pair{"PMI_SIZE", "PMI_RANK"}}) {
    if (std::getenv(size) == nullptr) continue;
    Launch launch;
    launch.size = read_integer(size, 1, kMostRanks);
    launch.rank = std::getenv(rank) != nullptr ? read_integer(rank, 0, launch.size - 1) : 0;
    return launch;
  }
  return {};
}

}  // namespace tapegrad::cli
