// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/ops/registry.hpp"

#include <algorithm>
#include <cctype>
#include <deque>
#include <map>
#include <mutex>

#include <fmt/format.h>

// The headers whose op lines register the built-in ops. Included here so that every program
// that can look a name up (it links this file) runs their registrations, even when none of its
// own files includes them and the library is linked statically.
#include "tapegrad/ops/activations.hpp"  // IWYU pragma: keep
#include "tapegrad/ops/elementwise.hpp"  // IWYU pragma: keep

namespace tapegrad {

namespace {

// One registered op and the strings its views point into.
struct Entry {
  std::string name, alias, parameter;
  Op op;
};

class Registry {
 public:
  const Op& add(const Op& op) {
    check(op);
    const std::lock_guard lock(mutex_);
    for (std::string_view key : {op.name, op.traits.alias}) {
      if (!key.empty() && index_.contains(key))
        throw ValueError(fmt::format("op '{}' is registered already", key));
    }
    Entry& e = entries_.emplace_back(Entry{std::string(op.name), std::string(op.traits.alias),
                                           std::string(op.traits.parameter), op});
    // A deque keeps its elements in place: the views stay valid.
    e.op.name = e.name;
    e.op.traits.alias = e.alias;
    e.op.traits.parameter = e.parameter;
    index_.emplace(e.op.name, &e.op);
    if (!e.alias.empty()) index_.emplace(e.op.traits.alias, &e.op);
    return e.op;
  }

  const Op* find(std::string_view name) const {
    const std::lock_guard lock(mutex_);
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : it->second;
  }

  std::vector<const Op*> all() const {
    const std::lock_guard lock(mutex_);
    std::vector<const Op*> out;
    for (const Entry& e : entries_) out.push_back(&e.op);
    std::ranges::sort(out, {}, &Op::name);
    return out;
  }

 private:
  static bool is_name(std::string_view s) {
    if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
    return std::ranges::all_of(
        s, [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
  }

  static void check(const Op& op) {
    const auto fail = [&](std::string_view why) {
      throw ValueError(fmt::format("register_op('{}'): {}", op.name, why));
    };
    if (!is_name(op.name)) fail("a name is letters, digits and '_', not starting with a digit");
    if (!op.traits.alias.empty() && !is_name(op.traits.alias))
      fail("an alias is letters, digits and '_', not starting with a digit");
    if (op.arity != 1 && op.arity != 2)
      fail(fmt::format("arity {}: ops take 1 or 2 inputs", op.arity));
    if (op.var == nullptr && op.tensor == nullptr) fail("needs a Var or a Tensor function");
    if (op.has_parameter() && op.arity != 1) fail("only unary ops take a parameter");
    if (op.traits.activation && (op.arity != 1 || op.tensor == nullptr))
      fail("an activation is a unary op with a Tensor function");
  }

  mutable std::mutex mutex_;
  std::deque<Entry> entries_;
  std::map<std::string_view, const Op*, std::less<>> index_;
};

// Function-local: built on first use, so registrations from other files' static initialisers
// never meet an unconstructed registry.
Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

const Op& register_op(const Op& op) {
  return registry().add(op);
}

const Op* find_op(std::string_view name) {
  return registry().find(name);
}

std::vector<const Op*> registered_ops() {
  return registry().all();
}

}  // namespace tapegrad
