// SPDX-License-Identifier: Apache-2.0
// Whether text can go into JSON as it is: JSON text is UTF-8, and the readers of safetensors
// headers refuse anything else. Internal: the library and the tool (which both link
// nlohmann/json privately).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tapegrad::io {

// What makes `text` invalid UTF-8 ("invalid UTF-8 byte at index 3: 0xE9"), or "" when it is
// valid. nlohmann/json decides, as it does when it writes the text.
inline std::string utf8_problem(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();
    return {};
  } catch (const nlohmann::json::type_error& e) {
    std::string_view what = e.what();  // "[json.exception.type_error.316] invalid UTF-8 ..."
    if (const std::size_t at = what.find("] "); at != std::string_view::npos) {
      what.remove_prefix(at + 2);
    }
    return std::string(what);
  }
}

}  // namespace tapegrad::io
