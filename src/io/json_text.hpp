// SPDX-License-Identifier: Apache-2.0
// A JSON string literal, quoted and escaped: shared by the model files and the tool's --json.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace tapegrad::io {

inline std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace tapegrad::io
