// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: any text given to the expression parser and evaluator either works or raises
// ExpressionError / tapegrad::Error — never a crash, a hang or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string_view>

#include <tapegrad/core/error.hpp>
#include <tapegrad/core/tape.hpp>

#include "cli/expression.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace cli = tapegrad::cli;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto root = cli::parse(text);
    tapegrad::Tape tape;
    tapegrad::TapeGuard guard(tape);
    std::map<std::string, tapegrad::Var> values;
    for (const std::string& name : cli::variables(*root)) values.emplace(name, tapegrad::Var(0.5));
    const auto e = cli::evaluate(*root, values);
    if (e.value.requires_grad()) e.value.backward();
    for (const auto& entry : e.entries) {
      if (entry.var.requires_grad()) (void)entry.var.grad();
    }
    (void)cli::label(*root);
  } catch (const cli::ExpressionError& e) {
    (void)e.explain(text);
  } catch (const tapegrad::Error&) {
  }
  return 0;
}
