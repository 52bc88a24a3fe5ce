// SPDX-License-Identifier: Apache-2.0
#include "data/shown.hpp"

#include <fmt/format.h>

namespace tapegrad::data {

std::string shown(std::string_view text) {
  constexpr std::size_t kShown = 40;
  const bool cut = text.size() > kShown;
  if (cut) {
    std::size_t end = kShown;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    text = text.substr(0, end);
  }
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) {
      out += fmt::format("\\x{:02x}", byte);
    } else {
      out += c;
    }
  }
  return cut ? out + "..." : out;
}

std::string quoted_list(const std::vector<std::string>& names) {
  constexpr std::size_t kListed = 10;
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < names.size() && i < kListed; ++i)
    parts.push_back(fmt::format("'{}'", shown(names[i])));
  std::string out = fmt::format("{}", fmt::join(parts, ", "));
  if (names.size() > kListed) out += fmt::format(" and {} more", names.size() - kListed);
  return out;
}

}  // namespace tapegrad::data
