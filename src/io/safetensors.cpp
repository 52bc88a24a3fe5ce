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
#include <nlohmann/json.hpp>

#include "io/atomic_file.hpp"
#include "io/input_file.hpp"
#include "io/utf8.hpp"
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

// ---- the header: nlohmann/json's SAX parser, read straight into the tensor list -----------------
// No document tree is built: every event is checked as it comes, so a header of a million
// nested arrays is refused at its second level, not after allocating them. A repeated key
// anywhere is refused (a JSON parser would keep one of them silently).
class HeaderReader final : public nlohmann::json_sax<nlohmann::json> {
 public:
  struct Entry {
    std::string dtype;
    std::vector<std::int64_t> shape;
    std::vector<std::int64_t> offsets;
  };

  explicit HeaderReader(std::string file) : file_(std::move(file)) {}

  SafetensorsFile read(std::string_view text, std::vector<Entry>& entries) {
    entries_ = &entries;
    nlohmann::json::sax_parse(text.begin(), text.end(), this, nlohmann::json::input_format_t::json,
                              /*strict=*/true);
    if (!done_) fail("the header must be one JSON object");
    return std::move(result_);
  }

  bool null() override { return unexpected("null"); }
  bool boolean(bool) override { return unexpected("a boolean"); }
  bool number_integer(number_integer_t) override { return number(-1); }
  bool number_unsigned(number_unsigned_t v) override {
    return number(v > (std::uint64_t{1} << 53) ? -2 : static_cast<std::int64_t>(v));
  }
  bool number_float(number_float_t, const string_t&) override { return number(-1); }
  bool binary(binary_t&) override { return unexpected("binary data"); }

  bool string(string_t& s) override {
    if (where_ == Where::metadata) {
      if (!result_.metadata.emplace(key_, std::move(s)).second) {
        fail(fmt::format("metadata key '{}' appears twice", key_));
      }
      return true;
    }
    if (where_ == Where::tensor && field_ == Field::dtype) {
      entries_->back().dtype = std::move(s);
      return true;
    }
    return unexpected("a string");
  }

  bool start_object(std::size_t) override {
    switch (where_) {
      case Where::start:
        where_ = Where::top;
        return true;
      case Where::top:
        if (key_ == "__metadata__") {
          if (has_metadata_) fail("__metadata__ appears twice");
          has_metadata_ = true;
          where_ = Where::metadata;
          return true;
        }
        if (!names_.insert(key_).second) fail(fmt::format("tensor '{}' appears twice", key_));
        result_.tensors.push_back({key_, Tensor()});
        entries_->emplace_back();
        seen_ = 0;
        where_ = Where::tensor;
        return true;
      default:
        return unexpected("an object");
    }
  }

  bool key(string_t& k) override {
    if (where_ == Where::top || where_ == Where::metadata) {
      key_ = std::move(k);
      return true;
    }
    // A tensor's field.
    const std::string& tensor = result_.tensors.back().name;
    if (k == "dtype") {
      field_ = Field::dtype;
    } else if (k == "shape") {
      field_ = Field::shape;
    } else if (k == "data_offsets") {
      field_ = Field::offsets;
    } else {
      fail(fmt::format("tensor '{}' has an unknown field '{}'", tensor, k));
    }
    const unsigned bit = 1u << static_cast<unsigned>(field_);
    if ((seen_ & bit) != 0) fail(fmt::format("tensor '{}' has the field '{}' twice", tensor, k));
    seen_ |= bit;
    return true;
  }

  bool end_object() override {
    if (where_ == Where::metadata) {
      where_ = Where::top;
    } else if (where_ == Where::tensor) {
      const Entry& e = entries_->back();
      if (seen_ != 7u || e.offsets.size() != 2) {
        fail(fmt::format("tensor '{}' needs dtype, shape and data_offsets [begin, end]",
                         result_.tensors.back().name));
      }
      where_ = Where::top;
    } else {
      where_ = Where::end;
      done_ = true;
    }
    return true;
  }

  bool start_array(std::size_t) override {
    if (where_ != Where::tensor || field_ == Field::dtype) return unexpected("an array");
    where_ = Where::array;
    return true;
  }

  bool end_array() override {
    where_ = Where::tensor;
    return true;
  }

  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::json::exception& e) override {
    // e.what(): "[json.exception.parse_error.101] parse error at line 1, column 9: ..."
    std::string_view what = e.what();
    if (const std::size_t at = what.find("] "); at != std::string_view::npos) {
      what.remove_prefix(at + 2);
    }
    throw ValueError(
        fmt::format("{}: bad safetensors header at byte {}: {}", file_, position + 8, what));
  }

 private:
  enum class Where { start, top, metadata, tensor, array, end };
  enum class Field : unsigned { dtype, shape, offsets };

  [[noreturn]] void fail(const std::string& what) const {
    throw ValueError(fmt::format("{}: bad safetensors header: {}", file_, what));
  }

  bool unexpected(const char* what) const {
    switch (where_) {
      case Where::start:
        fail(fmt::format("the header must be a JSON object, not {}", what));
      case Where::top:
        fail(fmt::format("'{}' must be an object (a tensor or __metadata__), not {}", key_, what));
      case Where::metadata:
        fail(fmt::format("metadata '{}' must be a string, not {}", key_, what));
      default:
        fail(fmt::format("tensor '{}': {} must be {}, not {}", result_.tensors.back().name,
                         field_name(), field_ == Field::dtype ? "a string" : "an array of integers",
                         what));
    }
    return false;
  }

  const char* field_name() const {
    return field_ == Field::dtype ? "dtype" : field_ == Field::shape ? "shape" : "data_offsets";
  }

  // A non-negative integer of an array (-1: not one; -2: beyond 2^53).
  bool number(std::int64_t v) {
    if (where_ != Where::array) return unexpected("a number");
    const std::string& tensor = result_.tensors.back().name;
    if (v == -1)
      fail(fmt::format("tensor '{}': {} must hold non-negative integers", tensor, field_name()));
    if (v == -2)
      fail(fmt::format("tensor '{}': {} holds an integer beyond 2^53", tensor, field_name()));
    auto& out = field_ == Field::shape ? entries_->back().shape : entries_->back().offsets;
    if (out.size() >= 64) fail(fmt::format("tensor '{}': {} is too long", tensor, field_name()));
    out.push_back(v);
    return true;
  }

  std::string file_;
  SafetensorsFile result_;
  std::vector<Entry>* entries_ = nullptr;
  std::set<std::string> names_;
  std::string key_;
  Where where_ = Where::start;
  Field field_ = Field::dtype;
  unsigned seen_ = 0;
  bool has_metadata_ = false;
  bool done_ = false;
};

}  // namespace

void save_safetensors(const std::filesystem::path& path, std::span<const NamedTensor> tensors,
                      const std::map<std::string, std::string>& metadata) {
  // Validate everything before touching the disk. The header keeps this order: the metadata,
  // then the tensors as their data follow.
  const auto utf8 = [](const std::string& text, const std::string& what) {
    if (const std::string problem = utf8_problem(text); !problem.empty()) {
      throw ValueError(fmt::format(
          "save_safetensors: {} is not valid UTF-8 ({}); a safetensors header is JSON, which "
          "other readers require to be UTF-8",
          what, problem));
    }
  };
  std::set<std::string> names;
  nlohmann::ordered_json json = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) {
      utf8(k, "a metadata key");
      utf8(v, fmt::format("metadata '{}'", k));
      meta[k] = v;
    }
    json["__metadata__"] = std::move(meta);
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
    utf8(t.name, "a tensor name");
    const std::uint64_t bytes = t.tensor.impl()->bytes();
    const auto dims = t.tensor.shape().dims();
    json[t.name] = {{"dtype", dtype_code(t.tensor.dtype())},
                    {"shape", std::vector<std::int64_t>(dims.begin(), dims.end())},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string header = json.dump();
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
  std::vector<HeaderReader::Entry> entries;
  SafetensorsFile result = HeaderReader(file).read(bytes.substr(8, length), entries);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> offsets;
  std::vector<std::string> dtypes;
  std::vector<std::vector<std::int64_t>> shapes;
  for (HeaderReader::Entry& e : entries) {
    offsets.emplace_back(e.offsets[0], e.offsets[1]);
    dtypes.push_back(std::move(e.dtype));
    shapes.push_back(std::move(e.shape));
  }
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
    const Shape shape{std::span<const std::int64_t>(shapes[k])};
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
