// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/io/safetensors.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "io/atomic_file.hpp"
#include "io/input_file.hpp"
#include "io/json_text.hpp"
#include "tapegrad/core/error.hpp"

namespace tapegrad::io {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; add byte swapping for this platform");

namespace {

constexpr std::uint64_t kMaxHeader = 100u << 20;  // a header larger than 100 MB is not one
constexpr std::uint64_t kMaxFile = std::uint64_t{16} << 30;  // read whole: at most 16 GiB

const char* dtype_code(DType d) {
  return d == DType::f32 ? "F32" : "F64";
}

// ---- the dtypes of the format, and how each is read ---------------------------------------------
enum class Kind { f32, f64, f16, bf16, sint, uint, opaque };
struct Stored {
  std::string_view code;
  std::uint64_t size;  // bytes per element
  Kind kind;
};
constexpr Stored kStored[] = {
    {"F64", 8, Kind::f64},     {"F32", 4, Kind::f32},        {"F16", 2, Kind::f16},
    {"BF16", 2, Kind::bf16},   {"I8", 1, Kind::sint},        {"I16", 2, Kind::sint},
    {"I32", 4, Kind::sint},    {"I64", 8, Kind::sint},       {"U8", 1, Kind::uint},
    {"U16", 2, Kind::uint},    {"U32", 4, Kind::uint},       {"U64", 8, Kind::uint},
    {"BOOL", 1, Kind::opaque}, {"F8_E4M3", 1, Kind::opaque}, {"F8_E5M2", 1, Kind::opaque},
};

const Stored* stored_dtype(std::string_view code) {
  for (const Stored& s : kStored) {
    if (s.code == code) return &s;
  }
  return nullptr;
}

template <class T>
T little_endian(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// IEEE binary16 to binary32: every half is a float, so this is exact (subnormals, ±0, ±inf;
// a NaN stays a NaN with its sign and payload).
float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  const std::uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {  // ±0 and subnormals: mantissa * 2^-24
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign != 0 ? -magnitude : magnitude;
  }
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

// bfloat16 is the upper half of a binary32: exact.
float bfloat16_to_float(std::uint16_t b) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

// The tensor in F32 (from F32, F16, BF16) or F64 (from F64 and the integers), exactly; nothing
// when a 64-bit integer is beyond ±2^53, where float64 would round it (every integer up to 2^53
// in magnitude is a double).
std::optional<Tensor> convert(const Stored& stored, const Shape& shape, const char* bytes) {
  const bool single =
      stored.kind == Kind::f32 || stored.kind == Kind::f16 || stored.kind == Kind::bf16;
  auto impl = std::make_shared<TensorImpl>(shape, single ? DType::f32 : DType::f64);
  const auto n = static_cast<std::size_t>(impl->numel());
  if (stored.kind == Kind::f32 || stored.kind == Kind::f64) {
    std::memcpy(impl->value.data(), bytes, impl->bytes());
    return Tensor(std::move(impl));
  }
  if (single) {
    float* out = impl->data<float>();
    for (std::size_t i = 0; i < n; ++i) {
      const auto h = little_endian<std::uint16_t>(bytes + 2 * i);
      out[i] = stored.kind == Kind::f16 ? half_to_float(h) : bfloat16_to_float(h);
    }
    return Tensor(std::move(impl));
  }
  double* out = impl->data<double>();
  for (std::size_t i = 0; i < n; ++i) {
    const char* p = bytes + stored.size * i;
    double v = 0;
    if (stored.kind == Kind::sint) {
      switch (stored.size) {
        case 1:
          v = little_endian<std::int8_t>(p);
          break;
        case 2:
          v = little_endian<std::int16_t>(p);
          break;
        case 4:
          v = little_endian<std::int32_t>(p);
          break;
        default: {
          const auto x = little_endian<std::int64_t>(p);
          if (x > (std::int64_t{1} << 53) || x < -(std::int64_t{1} << 53)) return std::nullopt;
          v = static_cast<double>(x);
        }
      }
    } else {
      switch (stored.size) {
        case 1:
          v = little_endian<std::uint8_t>(p);
          break;
        case 2:
          v = little_endian<std::uint16_t>(p);
          break;
        case 4:
          v = little_endian<std::uint32_t>(p);
          break;
        default: {
          const auto x = little_endian<std::uint64_t>(p);
          if (x > (std::uint64_t{1} << 53)) return std::nullopt;
          v = static_cast<double>(x);
        }
      }
    }
    out[i] = v;
  }
  return Tensor(std::move(impl));
}

// ---- a strict parser for the header: objects, strings, arrays of non-negative integers --------
class HeaderParser {
 public:
  HeaderParser(std::string_view text, std::string file) : text_(text), file_(std::move(file)) {}

  SafetensorsFile parse(std::vector<std::pair<std::uint64_t, std::uint64_t>>& offsets,
                        std::vector<std::string>& dtypes,
                        std::vector<std::vector<std::int64_t>>& shapes) {
    SafetensorsFile result;
    std::set<std::string> names;
    bool has_metadata = false;
    expect('{');
    if (!peek('}')) {
      do {
        const std::string key = string();
        expect(':');
        if (key == "__metadata__") {
          if (has_metadata) fail("__metadata__ appears twice");
          has_metadata = true;
          expect('{');
          if (!peek('}')) {
            do {
              std::string k = string();
              expect(':');
              if (!result.metadata.emplace(k, string()).second)
                fail(fmt::format("metadata key '{}' appears twice", k));
            } while (accept(','));
          }
          expect('}');
          continue;
        }
        if (!names.insert(key).second) fail(fmt::format("tensor '{}' appears twice", key));
        std::string dtype;
        std::vector<std::int64_t> shape;
        std::vector<std::int64_t> range;
        bool has_dtype = false, has_shape = false, has_offsets = false;
        expect('{');
        do {
          const std::string field = string();
          expect(':');
          const auto once = [&](bool& seen) {
            if (seen) fail(fmt::format("tensor '{}' has the field '{}' twice", key, field));
            seen = true;
          };
          if (field == "dtype") {
            once(has_dtype);
            dtype = string();
          } else if (field == "shape") {
            once(has_shape);
            shape = integers();
          } else if (field == "data_offsets") {
            once(has_offsets);
            range = integers();
          } else {
            fail(fmt::format("tensor '{}' has an unknown field '{}'", key, field));
          }
        } while (accept(','));
        expect('}');
        if (!has_dtype || !has_shape || !has_offsets || range.size() != 2) {
          fail(fmt::format("tensor '{}' needs dtype, shape and data_offsets [begin, end]", key));
        }
        result.tensors.push_back({key, Tensor()});
        offsets.emplace_back(range[0], range[1]);
        dtypes.push_back(dtype);
        shapes.push_back(shape);
      } while (accept(','));
    }
    expect('}');
    skip_space();
    if (pos_ != text_.size()) fail("text after the header's closing brace");
    return result;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ValueError(
        fmt::format("{}: bad safetensors header at byte {}: {}", file_, pos_ + 8, what));
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\t' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool peek(char c) {
    skip_space();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  bool accept(char c) {
    if (!peek(c)) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!accept(c)) fail(fmt::format("expected '{}'", c));
  }
  std::string string() {
    expect('"');
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) fail("unterminated string");
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) fail("unterminated escape");
      const char e = text_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          if (pos_ + 4 > text_.size()) fail("short \\u escape");
          unsigned code = 0;
          for (int i = 0; i < 4; ++i) {
            const char h = text_[pos_++];
            code <<= 4;
            if (h >= '0' && h <= '9')
              code |= static_cast<unsigned>(h - '0');
            else if (h >= 'a' && h <= 'f')
              code |= static_cast<unsigned>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F')
              code |= static_cast<unsigned>(h - 'A' + 10);
            else
              fail("bad \\u escape");
          }
          // UTF-8 for the basic plane (surrogate pairs are passed through as two units).
          if (code < 0x80) {
            out += static_cast<char>(code);
          } else if (code < 0x800) {
            out += static_cast<char>(0xc0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3f));
          } else {
            out += static_cast<char>(0xe0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (code & 0x3f));
          }
          break;
        }
        default:
          fail(fmt::format("bad escape '\\{}'", e));
      }
    }
  }
  std::vector<std::int64_t> integers() {
    std::vector<std::int64_t> out;
    expect('[');
    if (accept(']')) return out;
    do {
      skip_space();
      const std::size_t start = pos_;
      std::int64_t v = 0;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        if (v > (std::int64_t{1} << 53)) fail("integer too large");
        v = v * 10 + (text_[pos_++] - '0');
      }
      if (pos_ == start) fail("expected a non-negative integer");
      out.push_back(v);
      if (out.size() > 64) fail("array too long");
    } while (accept(','));
    expect(']');
    return out;
  }

  std::string_view text_;
  std::string file_;
  std::size_t pos_ = 0;
};

}  // namespace

void save_safetensors(const std::filesystem::path& path, std::span<const NamedTensor> tensors,
                      const std::map<std::string, std::string>& metadata) {
  // Validate everything before touching the disk.
  std::set<std::string> names;
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      header += fmt::format("{}{}:{}", first ? "" : ",", json_quote(k), json_quote(v));
      first = false;
    }
    header += "}";
  }
  std::uint64_t offset = 0;
  for (const NamedTensor& t : tensors) {
    if (!t.tensor.defined()) {
      throw ValueError(fmt::format("save_safetensors: tensor '{}' is empty (undefined)", t.name));
    }
    if (t.name.empty() || t.name == "__metadata__" || !names.insert(t.name).second) {
      throw ValueError(
          fmt::format("save_safetensors: tensor name '{}' is empty, reserved or repeated", t.name));
    }
    const std::uint64_t bytes = t.tensor.impl()->bytes();
    header +=
        fmt::format("{}{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
                    header.size() > 1 ? "," : "", json_quote(t.name), dtype_code(t.tensor.dtype()),
                    fmt::join(t.tensor.shape().dims(), ","), offset, offset + bytes);
    offset += bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // data starts 8-byte aligned

  AtomicFile file(path);
  const std::uint64_t length = header.size();
  file.write(&length, sizeof length);
  file.write(header);
  for (const NamedTensor& t : tensors)
    file.write(t.tensor.impl()->value.data(), t.tensor.impl()->bytes());
  file.commit();
}

SafetensorsFile load_safetensors(const std::filesystem::path& path) {
  return parse_safetensors(read_regular_file(path, kMaxFile, "model"), path.string());
}

SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& file) {
  if (bytes.size() < 8) {
    throw ValueError(fmt::format("{}: truncated: {} bytes, less than the 8-byte header length",
                                 file, bytes.size()));
  }
  std::uint64_t length = 0;
  std::memcpy(&length, bytes.data(), 8);
  if (length > kMaxHeader || length > bytes.size() - 8) {
    throw ValueError(
        fmt::format("{}: not a safetensors file or truncated: the header claims {} bytes, "
                    "the file has {} after the length",
                    file, length, bytes.size() - 8));
  }
  std::vector<std::pair<std::uint64_t, std::uint64_t>> offsets;
  std::vector<std::string> dtypes;
  std::vector<std::vector<std::int64_t>> shapes;
  SafetensorsFile result =
      HeaderParser(bytes.substr(8, length), file).parse(offsets, dtypes, shapes);
  const std::uint64_t data_size = bytes.size() - 8 - length;
  const char* data = bytes.data() + 8 + length;

  // Offsets: each in range and of the tensor's size; together, no overlaps.
  std::vector<std::size_t> order(offsets.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return offsets[a] < offsets[b]; });
  std::uint64_t covered = 0;
  std::vector<bool> read(order.size(), false);
  for (std::size_t k : order) {
    const auto& [begin, end] = offsets[k];
    const std::string& name = result.tensors[k].name;
    const Stored* stored = stored_dtype(dtypes[k]);
    if (shapes[k].size() > static_cast<std::size_t>(Shape::kMaxDims)) {
      throw ValueError(fmt::format("{}: tensor '{}' has {} axes; at most {}", file, name,
                                   shapes[k].size(), Shape::kMaxDims));
    }
    std::uint64_t numel = 1;
    for (std::int64_t d : shapes[k]) {
      if (d != 0 && numel > (std::uint64_t{1} << 40) / static_cast<std::uint64_t>(d)) {
        throw ValueError(fmt::format("{}: tensor '{}' is impossibly large", file, name));
      }
      numel *= static_cast<std::uint64_t>(d);
    }
    if (begin > end || end > data_size) {
      throw ValueError(
          fmt::format("{}: truncated or corrupt: tensor '{}' has data_offsets [{}, {}] but "
                      "the data section has {} bytes",
                      file, name, begin, end, data_size));
    }
    // A dtype this reader does not know has a size it cannot check: only its place is checked.
    if (stored != nullptr && end - begin != numel * stored->size) {
      throw ValueError(fmt::format(
          "{}: tensor '{}' ({} of shape [{}]) needs {} bytes; its offsets give {}", file, name,
          dtypes[k], fmt::join(shapes[k], ", "), numel * stored->size, end - begin));
    }
    if (begin < covered) {
      throw ValueError(
          fmt::format("{}: tensor '{}' overlaps the data of another tensor", file, name));
    }
    if (begin > covered) {
      throw ValueError(fmt::format(
          "{}: corrupt: bytes [{}, {}) of the data section belong to no tensor (before '{}')", file,
          covered, begin, name));
    }
    covered = end;
    // Allocated only now that the data are known to be there: at most 8 bytes per stored byte.
    if (stored == nullptr || stored->kind == Kind::opaque) {
      result.unread.emplace(name, dtypes[k]);
      continue;
    }
    const Shape shape(std::span<const std::int64_t>(shapes[k]));
    std::optional<Tensor> tensor = convert(*stored, shape, data + begin);
    if (!tensor) {
      result.unread.emplace(name, fmt::format("{} with values beyond ±2^53, which float64 cannot "
                                              "hold exactly",
                                              dtypes[k]));
      continue;
    }
    result.tensors[k].tensor = std::move(*tensor);
    read[k] = true;
  }
  if (covered != data_size) {
    throw ValueError(fmt::format(
        "{}: corrupt: the data section has {} bytes but its tensors cover only {} (trailing bytes)",
        file, data_size, covered));
  }
  std::vector<NamedTensor> sorted;
  for (std::size_t k : order) {
    if (read[k]) sorted.push_back(std::move(result.tensors[k]));
  }
  result.tensors = std::move(sorted);
  return result;
}

void load_parameters(std::span<const NamedTensor> into, const std::filesystem::path& path) {
  const SafetensorsFile file = load_safetensors(path);
  check_read(into, file, path.string());
  load_parameters(into, file.tensors, path.string());
}

void check_read(std::span<const NamedTensor> needed, const SafetensorsFile& file,
                std::string_view source) {
  std::vector<std::string> problems;
  for (const NamedTensor& p : needed) {
    const auto it = file.unread.find(p.name);
    if (it != file.unread.end()) {
      problems.push_back(fmt::format("'{}' is {}, which tapegrad cannot convert to {}", p.name,
                                     it->second, dtype_name(p.tensor.dtype())));
    }
  }
  if (!problems.empty()) {
    throw ValueError(fmt::format("{}: {} (tapegrad reads F64, F32, F16, BF16 and I8 ... U64)",
                                 source, fmt::join(problems, "; ")));
  }
}

void load_parameters(std::span<const NamedTensor> into, std::span<const NamedTensor> from,
                     std::string_view source) {
  std::map<std::string, const Tensor*> stored;
  for (const NamedTensor& t : from) stored[t.name] = &t.tensor;
  std::vector<std::string> problems;
  std::set<std::string> wanted;
  for (const NamedTensor& p : into) {
    wanted.insert(p.name);
    const auto it = stored.find(p.name);
    if (it == stored.end()) {
      problems.push_back(fmt::format("missing '{}'", p.name));
      continue;
    }
    const Tensor& s = *it->second;
    if (!(s.shape() == p.tensor.shape())) {
      problems.push_back(fmt::format("'{}' is {} {} in the file, {} {} in the model", p.name,
                                     dtype_name(s.dtype()), s.shape().str(),
                                     dtype_name(p.tensor.dtype()), p.tensor.shape().str()));
    }
  }
  for (const NamedTensor& t : from) {
    if (!wanted.contains(t.name)) problems.push_back(fmt::format("unexpected '{}'", t.name));
  }
  if (!problems.empty()) {
    throw ValueError(
        fmt::format("{}: does not match the model: {}", source, fmt::join(problems, "; ")));
  }
  for (const NamedTensor& p : into) {
    if (!p.tensor.is_leaf()) {
      throw TapeError(fmt::format("load_parameters: '{}' is not a leaf tensor", p.name));
    }
  }
  for (const NamedTensor& p : into) {
    const TensorImpl& s = *stored.at(p.name)->impl();
    TensorImpl& d = *p.tensor.impl();
    if (s.dtype == d.dtype) {
      std::memcpy(d.value.data(), s.value.data(), d.bytes());
    } else if (d.dtype == DType::f32) {  // rounds to nearest, ties to even
      std::copy_n(s.data<double>(), d.numel(), d.data<float>());
    } else {  // exact
      std::copy_n(s.data<float>(), d.numel(), d.data<double>());
    }
    ++d.version;  // an in-place change, as through mutable_data()
  }
}

}  // namespace tapegrad::io
