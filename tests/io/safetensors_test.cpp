// SPDX-License-Identifier: Apache-2.0
#include <bit>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

#include "support/errors.hpp"
#include "support/output_files.hpp"

namespace tg = tapegrad;
namespace io = tapegrad::io;
using tg::Tensor;

namespace {

class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() /
              (std::string("tapegrad_st_") +
               ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::filesystem::path operator/(const char* name) const { return path_ / name; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  const std::filesystem::path& path() const { return path_; }
  std::size_t entries() const {
    return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(path_), {}));
  }

 private:
  std::filesystem::path path_;
};

std::string bytes_of(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const std::filesystem::path& p, const std::string& b) {
  std::ofstream(p, std::ios::binary) << b;
}

std::string error_loading(const std::filesystem::path& p) {
  try {
    (void)io::load_safetensors(p);
  } catch (const tg::ValueError& e) {
    return e.what();
  }
  return "(no error)";
}

// A file built byte by byte as the format describes: header length, JSON header, data.
std::string spec_file(const std::string& header, const std::string& data) {
  std::string file(8, '\0');
  const std::uint64_t n = header.size();
  std::memcpy(file.data(), &n, 8);
  return file + header + data;
}

std::string error_parsing(const std::string& bytes) {
  try {
    (void)io::parse_safetensors(bytes, "f.safetensors");
  } catch (const tg::ValueError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Safetensors, RoundTripKeepsNamesShapesDtypesValuesAndMetadata) {
  TempDir dir;
  const std::vector<tg::NamedTensor> tensors = {
      {"w", tg::randn({3, 4}, 1, tg::DType::f32)},
      {"b", Tensor::from({1.5, -2.0})},
      {"scalar", tg::full({}, 7.0)},
      {"empty", tg::zeros({0, 3})},
  };
  io::save_safetensors(dir / "m.safetensors", tensors, {{"note", "quote \" and\nnewline"}});
  EXPECT_EQ(dir.entries(), 1u);  // no temporary file left
  const io::SafetensorsFile f = io::load_safetensors(dir / "m.safetensors");
  ASSERT_EQ(f.tensors.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(f.tensors[i].name, tensors[i].name);
    EXPECT_EQ(f.tensors[i].tensor.shape(), tensors[i].tensor.shape());
    EXPECT_EQ(f.tensors[i].tensor.dtype(), tensors[i].tensor.dtype());
    EXPECT_EQ(f.tensors[i].tensor.to_vector(), tensors[i].tensor.to_vector());
  }
  EXPECT_EQ(f.metadata.at("note"), "quote \" and\nnewline");
}

TEST(Safetensors, ReadsAFileWrittenByTheSpecification) {
  // Built byte by byte as the format describes: header length, JSON, little-endian data.
  const std::string header =
      R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"__metadata__":{"k":"v"}})";
  std::string file(8, '\0');
  const std::uint64_t n = header.size();
  std::memcpy(file.data(), &n, 8);
  file += header;
  const double values[] = {0.25, -3.0};
  file.append(reinterpret_cast<const char*>(values), sizeof values);
  TempDir dir;
  write_bytes(dir / "spec.safetensors", file);
  const io::SafetensorsFile f = io::load_safetensors(dir / "spec.safetensors");
  EXPECT_EQ(f.tensors.at(0).tensor.to_vector(), (std::vector<double>{0.25, -3.0}));
  EXPECT_EQ(f.metadata.at("k"), "v");
}

TEST(Safetensors, TruncatedAndCorruptFilesGiveClearErrors) {
  TempDir dir;
  io::save_safetensors(dir / "m.safetensors", std::vector<tg::NamedTensor>{{"w", tg::ones({100})}});
  const std::string good = bytes_of(dir / "m.safetensors");
  write_bytes(dir / "short.safetensors", good.substr(0, good.size() - 10));
  EXPECT_NE(error_loading(dir / "short.safetensors").find("truncated or corrupt: tensor 'w'"),
            std::string::npos);
  write_bytes(dir / "tiny.safetensors", good.substr(0, 5));
  EXPECT_NE(error_loading(dir / "tiny.safetensors").find("truncated"), std::string::npos);
  std::string huge = good;
  huge[7] = '\x7f';  // header length far beyond the file
  write_bytes(dir / "huge.safetensors", huge);
  EXPECT_NE(error_loading(dir / "huge.safetensors").find("not a safetensors file or truncated"),
            std::string::npos);
  std::string json = good;
  json[8] = '[';  // the header must be an object
  write_bytes(dir / "json.safetensors", json);
  EXPECT_NE(error_loading(dir / "json.safetensors").find("bad safetensors header"),
            std::string::npos);
  std::string dtype = good;
  dtype.replace(dtype.find("F64"), 3, "F16");
  write_bytes(dir / "dtype.safetensors", dtype);
  EXPECT_NE(error_loading(dir / "dtype.safetensors")
                .find("tensor 'w' (F16 of shape [100]) needs 200 bytes; its offsets give 800"),
            std::string::npos)
      << error_loading(dir / "dtype.safetensors");
  EXPECT_NE(error_loading(dir / "missing.safetensors").find("cannot open"), std::string::npos);
}

TEST(Safetensors, DataBytesThatBelongToNoTensorAreCorruption) {
  const std::string eight(8, '\0');
  const std::string one = R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})";
  EXPECT_EQ(error_parsing(spec_file(one, eight)), "(no error)");
  EXPECT_NE(error_parsing(spec_file(one, eight + "xx")).find("cover only 8 (trailing bytes)"),
            std::string::npos);
  const std::string gap = R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}})";
  EXPECT_NE(error_parsing(spec_file(gap, eight + eight))
                .find("bytes [0, 8) of the data section belong to no tensor (before 'a')"),
            std::string::npos);
}

TEST(Safetensors, RepeatedHeaderFieldsAreRejected) {
  const std::string eight(8, '\0');
  EXPECT_NE(error_parsing(
                spec_file(R"({"a":{"dtype":"F64","dtype":"F32","shape":[1],"data_offsets":[0,8]}})",
                          eight))
                .find("tensor 'a' has the field 'dtype' twice"),
            std::string::npos);
  EXPECT_NE(error_parsing(spec_file(R"({"__metadata__":{"k":"1","k":"2"}})", ""))
                .find("metadata key 'k' appears twice"),
            std::string::npos);
  EXPECT_NE(error_parsing(spec_file(R"({"__metadata__":{},"__metadata__":{}})", ""))
                .find("__metadata__ appears twice"),
            std::string::npos);
  EXPECT_NE(error_parsing(spec_file(R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},)"
                                    R"("a":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}})",
                                    eight + eight))
                .find("tensor 'a' appears twice"),
            std::string::npos);
}

TEST(Safetensors, SaveOntoADirectoryIsAClearErrorAndLeavesNoTemporaryFile) {
  TempDir dir;
  std::filesystem::create_directories(dir / "m.safetensors" / "inside");
  try {
    io::save_safetensors(dir / "m.safetensors", std::vector<tg::NamedTensor>{{"w", tg::ones({2})}});
    FAIL() << "saving onto a non-empty directory must throw";
  } catch (const tg::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("m.safetensors is a directory"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(dir.entries(), 1u);  // the directory only: the temporary file was removed
}

// ---- how a model file is written (issue 14, "Writing outputs") -------------------------------
const std::vector<tg::NamedTensor> kModel = {{"w", Tensor::from({1.0, 2.0, 3.0})}};

// The temporary used to be `<path>.tmp<pid>`, opened without O_EXCL|O_NOFOLLOW: a link planted
// there was followed and the file it named overwritten (then the link was renamed into place).
TEST(Safetensors, SaveNeverWritesThroughALinkPlantedAtAPredictableTemporaryName) {
  TempDir dir;
  write_bytes(dir / "victim", "precious");
  const std::string model = (dir / "m.safetensors").string();
  for (const std::string& planted : {fmt::format("{}.tmp{}", model, ::getpid()), model + ".tmp"}) {
    std::filesystem::create_symlink(dir / "victim", planted);
  }
  io::save_safetensors(model, kModel);
  EXPECT_EQ(bytes_of(dir / "victim"), "precious");
  EXPECT_FALSE(std::filesystem::is_symlink(model));
  EXPECT_EQ(io::load_safetensors(model).tensors.at(0).tensor.to_vector(),
            (std::vector<double>{1, 2, 3}));
  EXPECT_TRUE(tg::testing::partial_files(dir.path()).empty());
}

TEST(Safetensors, SaveThroughASymlinkReplacesItsTargetAndKeepsTheLink) {
  TempDir dir;
  std::filesystem::create_directories(dir / "models");
  write_bytes(dir / "models" / "real.safetensors", "old");
  std::filesystem::create_symlink("models/real.safetensors", dir / "latest");  // relative
  std::filesystem::create_symlink(dir / "latest", dir / "chain");              // a link to a link
  io::save_safetensors(dir / "chain", kModel);
  EXPECT_TRUE(std::filesystem::is_symlink(dir / "chain"));
  EXPECT_TRUE(std::filesystem::is_symlink(dir / "latest"));
  EXPECT_EQ(std::filesystem::read_symlink(dir / "latest"), "models/real.safetensors");
  EXPECT_EQ(io::load_safetensors(dir / "models" / "real.safetensors").tensors.size(), 1u);
  EXPECT_TRUE(tg::testing::partial_files(dir.path()).empty());
  EXPECT_TRUE(tg::testing::partial_files(dir / "models").empty());
  // A dangling link is written through too: its target is created.
  std::filesystem::create_symlink("models/new.safetensors", dir / "next");
  io::save_safetensors(dir / "next", kModel);
  EXPECT_TRUE(std::filesystem::is_symlink(dir / "next"));
  EXPECT_TRUE(std::filesystem::is_regular_file(dir / "models" / "new.safetensors"));
}

TEST(Safetensors, SaveKeepsThePermissionsOfTheFileItReplaces) {
  TempDir dir;
  const auto model = dir / "m.safetensors";
  const auto mode_of = [&] {
    struct stat st {};
    EXPECT_EQ(::stat(model.c_str(), &st), 0);
    return st.st_mode & 07777;
  };
  const mode_t umask_before = ::umask(0002);
  io::save_safetensors(model, kModel);
  EXPECT_EQ(mode_of(), 0664u);  // a new file: 0666 less the umask
  for (const mode_t mode : {0600u, 0640u, 0444u}) {
    SCOPED_TRACE(mode);
    ASSERT_EQ(::chmod(model.c_str(), mode), 0);
    io::save_safetensors(model, kModel);
    EXPECT_EQ(mode_of(), mode);
  }
  ::umask(umask_before);
}

// A model read from a FIFO would wait for a writer, from /dev/zero it would never end: both are
// refused before a byte is read, as a directory is.
TEST(Safetensors, LoadReadsRegularFilesOnly) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  const std::vector<std::pair<std::filesystem::path, std::string>> cases = {
      {dir.path(), "is a directory; model is read from regular files only"},
      {dir / "fifo", "is a named pipe (FIFO); model is read from regular files only"},
      {"/dev/zero", "is a character device; model is read from regular files only"}};
  for (const auto& [path, message] : cases) {
    SCOPED_TRACE(path.string());
    const std::string m =
        tg::testing::message_of<tg::ValueError>([&] { (void)io::load_safetensors(path); });
    EXPECT_NE(m.find(path.string() + ": " + message), std::string::npos) << m;
  }
}

TEST(Safetensors, SaveRefusesWhatIsNotARegularFileAndTouchesNothing) {
  TempDir dir;
  std::filesystem::create_directories(dir / "empty_dir");
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  struct Case {
    std::filesystem::path path;
    const char* kind;
  };
  std::vector<Case> cases = {{dir / "empty_dir", "is a directory"},
                             {dir / "fifo", "is a named pipe (FIFO)"}};
  const std::filesystem::path device = tg::testing::character_device_for_tests(dir.path());
  if (!device.empty()) cases.push_back({device, "is a character device"});
  std::filesystem::create_symlink(dir / "fifo", dir / "link_to_fifo");
  cases.push_back({dir / "link_to_fifo", "(a link to "});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path.string());
    const auto before = std::filesystem::symlink_status(c.path).type();
    try {
      io::save_safetensors(c.path, kModel);
      ADD_FAILURE() << "saving onto " << c.path << " must throw";
    } catch (const tg::ValueError& e) {
      EXPECT_NE(std::string(e.what()).find(c.path.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.kind), std::string::npos) << e.what();
    }
    EXPECT_EQ(std::filesystem::symlink_status(c.path).type(), before);
  }
  EXPECT_TRUE(std::filesystem::is_fifo(dir / "fifo"));
  if (!device.empty()) {
    EXPECT_TRUE(std::filesystem::is_character_file(device));
  }
  EXPECT_TRUE(tg::testing::partial_files(dir.path()).empty());
  // A new name is fine; a new name in a directory that does not exist is a clear error.
  const std::string missing = tg::testing::message_of<tg::ValueError>(
      [&] { io::save_safetensors(dir / "no" / "m", kModel); });
  EXPECT_NE(missing.find("the directory " + (dir / "no").string() + " does not exist"),
            std::string::npos)
      << missing;
}

// A process killed with SIGKILL leaves its temporary: the next save of the same target removes
// the temporaries of processes that no longer exist, and only those, and only of that target.
TEST(Safetensors, SaveRemovesStaleTemporariesOfDeadProcesses) {
  TempDir dir;
  const pid_t dead = tg::testing::dead_pid();
  const std::string stale =
      fmt::format(".m.safetensors.tapegrad-partial.{}.0123456789abcdef", dead);
  const std::string alive =
      fmt::format(".m.safetensors.tapegrad-partial.{}.fedcba9876543210", ::getppid());
  const std::string other = fmt::format(".other.tapegrad-partial.{}.0123456789abcdef", dead);
  for (const std::string& name : {stale, alive, other}) write_bytes(dir / name, "partial");
  io::save_safetensors(dir / "m.safetensors", kModel);
  EXPECT_FALSE(std::filesystem::exists(dir / stale));
  EXPECT_TRUE(std::filesystem::exists(dir / alive));  // its writer may still be at work
  EXPECT_TRUE(std::filesystem::exists(dir / other));  // another target's
}

// A write the system refuses (here the file size limit, as a full disk would) is an IoError
// naming the file and the reason; the previous model and nothing else is left.
TEST(Safetensors, AFailedWriteIsAnIoErrorAndLeavesThePreviousFile) {
  TempDir dir;
  const auto model = dir / "m.safetensors";
  io::save_safetensors(model, kModel);
  const std::string before = bytes_of(model);
  const std::vector<tg::NamedTensor> large = {{"w", tg::zeros({100000})}};
  const pid_t child = ::fork();
  if (child == 0) {  // the limit and the ignored SIGXFSZ stay in the child
    const rlimit limit{4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    std::signal(SIGXFSZ, SIG_IGN);
    try {
      io::save_safetensors(model, large);
    } catch (const tg::IoError& e) {
      const std::string what = e.what();
      ::_exit(what.find(model.string()) != std::string::npos &&
                      what.find(std::strerror(EFBIG)) != std::string::npos
                  ? 0
                  : 3);
    } catch (...) {
      ::_exit(2);
    }
    ::_exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: no error; 2: not an IoError; 3: a vague message";
  EXPECT_EQ(bytes_of(model), before);
  EXPECT_EQ(dir.entries(), 1u);
}

TEST(Safetensors, FailedSaveLeavesThePreviousFile) {
  TempDir dir;
  io::save_safetensors(dir / "m.safetensors", std::vector<tg::NamedTensor>{{"w", tg::ones({2})}});
  const std::string before = bytes_of(dir / "m.safetensors");
  EXPECT_THROW(
      io::save_safetensors(dir / "m.safetensors", std::vector<tg::NamedTensor>{{"w", Tensor()}}),
      tg::ValueError);
  EXPECT_THROW(io::save_safetensors(
                   dir / "m.safetensors",
                   std::vector<tg::NamedTensor>{{"w", tg::ones({1})}, {"w", tg::ones({1})}}),
               tg::ValueError);
  EXPECT_EQ(bytes_of(dir / "m.safetensors"), before);
  EXPECT_EQ(dir.entries(), 1u);
}

TEST(Safetensors, LoadParametersChecksEverythingBeforeChangingAnything) {
  TempDir dir;
  const tg::nn::Sequential saved = tg::nn::mlp({3, 4, 2}, {.seed = 1});
  std::vector<tg::NamedTensor> params = saved.named_parameters();
  io::save_safetensors(dir / "m.safetensors", params);
  const tg::nn::Sequential fresh = tg::nn::mlp({3, 4, 2}, {.seed = 2});
  io::load_parameters(fresh.named_parameters(), dir / "m.safetensors");
  for (std::size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(fresh.named_parameters()[i].tensor.to_vector(), params[i].tensor.to_vector());
  }
  const tg::nn::Sequential wider = tg::nn::mlp({3, 5, 2}, {.seed = 3});
  const auto before = wider.named_parameters()[1].tensor.to_vector();
  try {
    io::load_parameters(wider.named_parameters(), dir / "m.safetensors");
    FAIL();
  } catch (const tg::ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'0.weight' is float64 (3, 4) in the file, float64 (3, 5) in the model"),
              std::string::npos)
        << msg;
  }
  EXPECT_EQ(wider.named_parameters()[1].tensor.to_vector(), before);
  const tg::nn::Sequential deeper = tg::nn::mlp({3, 4, 4, 2}, {.seed = 3});
  try {
    io::load_parameters(deeper.named_parameters(), dir / "m.safetensors");
    FAIL();
  } catch (const tg::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("missing '4.weight'"), std::string::npos) << e.what();
  }
  // Into another dtype: converted, float64 to float32 rounding to nearest.
  const tg::nn::Sequential f32 = tg::nn::mlp({3, 4, 2}, {.dtype = tg::DType::f32});
  io::load_parameters(f32.named_parameters(), dir / "m.safetensors");
  const auto stored = params[0].tensor.to_vector();
  const auto loaded = f32.named_parameters()[0].tensor.data<float>();
  ASSERT_EQ(loaded.size(), stored.size());
  for (std::size_t i = 0; i < stored.size(); ++i) {
    EXPECT_EQ(loaded[i], static_cast<float>(stored[i]));
  }
}

TEST(Safetensors, LoadParametersNamesTensorsTheModelDoesNotHave) {
  TempDir dir;
  const tg::nn::Sequential deeper = tg::nn::mlp({3, 4, 4, 2}, {.seed = 1});
  io::save_safetensors(dir / "m.safetensors", deeper.named_parameters());
  const tg::nn::Sequential shallow = tg::nn::mlp({3, 4, 2}, {.seed = 2});
  try {
    io::load_parameters(shallow.named_parameters(), dir / "m.safetensors");
    FAIL();
  } catch (const tg::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("unexpected '4.weight'"), std::string::npos) << e.what();
  }
}

}  // namespace

namespace {
TEST(Safetensors, LoadingParametersBetweenForwardAndBackwardIsAnInPlaceChange) {
  TempDir dir;
  const Tensor w = Tensor::from({2., 3.}).requires_grad();
  const std::vector<tg::NamedTensor> params = {{"w", w}};
  io::save_safetensors(dir / "w.safetensors", params, {});
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const tg::Var loss = tg::sum(w * w);
  io::load_parameters(params, dir / "w.safetensors");
  EXPECT_THROW(loss.backward(), tg::TapeError);
}
}  // namespace

namespace {

// One tensor of `dtype` holding `data` (little-endian), as any writer of the format makes it.
std::string one_tensor(const std::string& dtype, std::int64_t n, const std::string& data) {
  return spec_file(fmt::format(R"({{"t":{{"dtype":"{}","shape":[{}],"data_offsets":[0,{}]}}}})",
                               dtype, n, data.size()),
                   data);
}

template <class T>
std::string raw(std::initializer_list<T> values) {
  std::string out;
  for (T v : values) out.append(reinterpret_cast<const char*>(&v), sizeof v);
  return out;
}

std::vector<std::uint32_t> float_bits(const Tensor& t) {
  std::vector<std::uint32_t> out;
  for (float v : t.data<float>()) out.push_back(std::bit_cast<std::uint32_t>(v));
  return out;
}

TEST(Safetensors, F16IsReadAsF32Exactly) {
  // +0, -0, the smallest and largest subnormals (2^-24, 1023 * 2^-24), the smallest normal
  // 2^-14, 1, -2, 1/3 rounded to half, the largest half 65504, -2^-24, +inf, -inf, and NaNs.
  const auto f = io::parse_safetensors(
      one_tensor("F16", 14,
                 raw<std::uint16_t>({0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0xc000, 0x3555,
                                     0x7bff, 0x8001, 0x7c00, 0xfc00, 0x7e00, 0xfd01})),
      "f16");
  ASSERT_EQ(f.tensors.size(), 1u);
  const Tensor& t = f.tensors[0].tensor;
  EXPECT_EQ(t.dtype(), tg::DType::f32);
  const std::vector<std::uint32_t> expected = {
      0x00000000,  // +0
      0x80000000,  // -0
      0x33800000,  // 2^-24 = 5.9604644775390625e-08
      0x387fc000,  // 1023 * 2^-24 = 6.097555160522461e-05
      0x38800000,  // 2^-14 = 6.103515625e-05
      0x3f800000,  // 1
      0xc0000000,  // -2
      0x3eaaa000,  // 0.333251953125
      0x477fe000,  // 65504
      0xb3800000,  // -2^-24
      0x7f800000,  // +inf
      0xff800000,  // -inf
      0x7fc00000,  // the quiet NaN
      0xffa02000,  // a negative NaN keeps its sign and payload
  };
  EXPECT_EQ(float_bits(t), expected);
  const auto v = t.to_vector();
  EXPECT_EQ(v[2], 5.9604644775390625e-08);
  EXPECT_EQ(v[3], 6.097555160522461e-05);
  EXPECT_EQ(v[7], 0.333251953125);
  EXPECT_EQ(v[8], 65504.0);
  EXPECT_TRUE(std::isinf(v[10]) && v[10] > 0);
  EXPECT_TRUE(std::isnan(v[12]) && std::isnan(v[13]));
}

TEST(Safetensors, BF16IsReadAsF32Exactly) {
  const auto f = io::parse_safetensors(
      one_tensor("BF16", 10,
                 raw<std::uint16_t>({0x3f80, 0xc040, 0x3eab, 0x0001, 0x8000, 0x7f7f, 0x7f80, 0xff80,
                                     0x7fc0, 0x0080})),
      "bf16");
  const Tensor& t = f.tensors.at(0).tensor;
  EXPECT_EQ(t.dtype(), tg::DType::f32);
  const auto v = t.to_vector();
  EXPECT_EQ(v[0], 1.0);
  EXPECT_EQ(v[1], -3.0);
  EXPECT_EQ(v[2], 0.333984375);
  EXPECT_EQ(v[3], std::ldexp(1.0, -133));  // the smallest subnormal bfloat16
  EXPECT_EQ(v[4], 0.0);
  EXPECT_TRUE(std::signbit(v[4]));
  EXPECT_EQ(v[5], 3.3895313892515355e38);  // the largest finite bfloat16
  EXPECT_EQ(v[6], INFINITY);
  EXPECT_EQ(v[7], -INFINITY);
  EXPECT_TRUE(std::isnan(v[8]));
  EXPECT_EQ(v[9], std::ldexp(1.0, -126));  // the smallest normal
  EXPECT_EQ(float_bits(t)[8], 0x7fc00000u);
}

TEST(Safetensors, IntegersAreReadAsF64Exactly) {
  const auto values = [](const std::string& dtype, std::int64_t n, const std::string& data) {
    const auto f = io::parse_safetensors(one_tensor(dtype, n, data), dtype);
    EXPECT_TRUE(f.unread.empty()) << dtype;
    EXPECT_EQ(f.tensors.at(0).tensor.dtype(), tg::DType::f64) << dtype;
    return f.tensors.at(0).tensor.to_vector();
  };
  using V = std::vector<double>;
  EXPECT_EQ(values("I8", 3, raw<std::int8_t>({-128, 0, 127})), (V{-128, 0, 127}));
  EXPECT_EQ(values("U8", 2, raw<std::uint8_t>({0, 255})), (V{0, 255}));
  EXPECT_EQ(values("I16", 2, raw<std::int16_t>({-32768, 32767})), (V{-32768, 32767}));
  EXPECT_EQ(values("U16", 1, raw<std::uint16_t>({65535})), (V{65535}));
  EXPECT_EQ(values("I32", 2, raw<std::int32_t>({-2147483647 - 1, 2147483647})),
            (V{-2147483648.0, 2147483647.0}));
  EXPECT_EQ(values("U32", 1, raw<std::uint32_t>({4294967295u})), (V{4294967295.0}));
  constexpr std::int64_t k53 = std::int64_t{1} << 53;
  EXPECT_EQ(values("I64", 3, raw<std::int64_t>({-k53, -1, k53})),
            (V{-9007199254740992.0, -1, 9007199254740992.0}));
  EXPECT_EQ(values("U64", 1, raw<std::uint64_t>({std::uint64_t{1} << 53})),
            (V{9007199254740992.0}));
}

TEST(Safetensors, TensorsThatCannotBeConvertedAreLeftUnreadNotTheWholeFile) {
  constexpr std::int64_t k53 = std::int64_t{1} << 53;
  const std::string header = R"({"big":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},)"
                             R"("flag":{"dtype":"BOOL","shape":[2],"data_offsets":[8,10]},)"
                             R"("new":{"dtype":"F4","shape":[4],"data_offsets":[10,12]},)"
                             R"("w":{"dtype":"F16","shape":[1],"data_offsets":[12,14]}})";
  const auto f = io::parse_safetensors(
      spec_file(header, raw<std::int64_t>({k53 + 1}) + std::string("\1\0", 2) + "ab" +
                            raw<std::uint16_t>({0x3c00})),
      "mixed");
  ASSERT_EQ(f.tensors.size(), 1u);
  EXPECT_EQ(f.tensors[0].name, "w");
  EXPECT_EQ(f.tensors[0].tensor.to_vector(), std::vector<double>{1.0});
  EXPECT_EQ(f.unread.at("flag"), "BOOL");
  EXPECT_EQ(f.unread.at("new"), "F4");
  EXPECT_NE(f.unread.at("big").find("I64 with values beyond ±2^53"), std::string::npos);
  // A known size is still checked.
  EXPECT_NE(error_parsing(one_tensor("BOOL", 3, "ab")).find("needs 3 bytes; its offsets give 2"),
            std::string::npos);
}

TEST(Safetensors, LoadParametersConvertsToTheModelsDtypeAndNamesWhatItCannotRead) {
  TempDir dir;
  // 2^24 + 1 and 2^24 + 3 lie halfway between floats: rounded to the even one.
  write_bytes(dir / "i.safetensors",
              one_tensor("I32", 3, raw<std::int32_t>({16777217, 16777219, -7})));
  const Tensor f32 = tg::zeros({3}, tg::DType::f32);
  io::load_parameters(std::vector<tg::NamedTensor>{{"t", f32}}, dir / "i.safetensors");
  EXPECT_EQ(f32.to_vector(), (std::vector<double>{16777216, 16777220, -7}));
  const Tensor f64 = tg::zeros({3}, tg::DType::f64);
  io::load_parameters(std::vector<tg::NamedTensor>{{"t", f64}}, dir / "i.safetensors");
  EXPECT_EQ(f64.to_vector(), (std::vector<double>{16777217, 16777219, -7}));
  // F16 into float64: exact.
  write_bytes(dir / "h.safetensors", one_tensor("F16", 2, raw<std::uint16_t>({0x0001, 0x3555})));
  const Tensor h = tg::zeros({2}, tg::DType::f64);
  io::load_parameters(std::vector<tg::NamedTensor>{{"t", h}}, dir / "h.safetensors");
  EXPECT_EQ(h.to_vector(), (std::vector<double>{5.9604644775390625e-08, 0.333251953125}));
  write_bytes(dir / "b.safetensors", one_tensor("BOOL", 3, std::string("\1\0\1", 3)));
  try {
    io::load_parameters(std::vector<tg::NamedTensor>{{"t", f32}}, dir / "b.safetensors");
    FAIL();
  } catch (const tg::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("'t' is BOOL, which tapegrad cannot convert to float32"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(f32.to_vector(), (std::vector<double>{16777216, 16777220, -7}));  // unchanged
}

}  // namespace

namespace {

TEST(SafetensorsJson, SurrogatePairsDecodeToUtf8NotCesu8) {
  const auto f = io::parse_safetensors(
      spec_file(R"({"__metadata__":{"smile":"\ud83d\ude00","e":"caf\u00e9","raw":"😀"}})", ""), "u");
  EXPECT_EQ(f.metadata.at("smile"), "\xF0\x9F\x98\x80");  // U+1F600 in 4 bytes
  EXPECT_EQ(f.metadata.at("raw"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(f.metadata.at("e"), "caf\xC3\xA9");
  // A lone surrogate is no character.
  EXPECT_NE(error_parsing(spec_file(R"({"__metadata__":{"k":"\ud83d"}})", ""))
                .find("bad safetensors header at byte"),
            std::string::npos);
}

TEST(SafetensorsJson, AHeaderThatIsNotUtf8IsRefused) {
  const std::string message =
      error_parsing(spec_file("{\"__metadata__\":{\"k\":\"caf\xE9\"}}", ""));
  EXPECT_NE(message.find("bad safetensors header at byte"), std::string::npos) << message;
  EXPECT_NE(message.find("UTF-8"), std::string::npos) << message;
}

TEST(SafetensorsJson, NamesThatAreNotUtf8AreNotWrittenIntoAHeader) {
  TempDir dir;
  const std::vector<tg::NamedTensor> one = {{"w", tg::ones({2})}};
  try {
    io::save_safetensors(dir / "m.safetensors", one, {{"features", "price\nsize in m\xB2"}});
    FAIL();
  } catch (const tg::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("metadata 'features' is not valid UTF-8 (invalid UTF-8 "
                                         "byte at index 15: 0xB2)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(io::save_safetensors(dir / "m.safetensors",
                                    std::vector<tg::NamedTensor>{{"w\xFF", tg::ones({2})}}),
               tg::ValueError);
  EXPECT_EQ(dir.entries(), 0u);  // nothing written
  // Valid UTF-8 beyond ASCII round-trips byte for byte.
  io::save_safetensors(dir / "m.safetensors",
                       std::vector<tg::NamedTensor>{{"poids.\xC3\xA9", tg::ones({2})}},
                       {{"\xF0\x9F\x98\x80", "m\xC2\xB2 \"quoted\" \\ \x01"}});
  const auto f = io::load_safetensors(dir / "m.safetensors");
  EXPECT_EQ(f.tensors.at(0).name, "poids.\xC3\xA9");
  EXPECT_EQ(f.metadata.at("\xF0\x9F\x98\x80"), "m\xC2\xB2 \"quoted\" \\ \x01");
}

TEST(SafetensorsJson, TheHeaderMustHaveTheFormatsShape) {
  const auto refused = [](const std::string& header, const std::string& expected) {
    const std::string message = error_parsing(spec_file(header, std::string(8, '\0')));
    EXPECT_NE(message.find(expected), std::string::npos) << header << "\n" << message;
  };
  refused(R"([])", "the header must be a JSON object, not an array");
  refused(R"({"__metadata__":{"k":1}})", "metadata 'k' must be a string, not a number");
  refused(R"({"a":[1]})", "'a' must be an object (a tensor or __metadata__), not an array");
  refused(R"({"a":{"dtype":"F64","shape":[-1],"data_offsets":[0,8]}})",
          "tensor 'a': shape must hold non-negative integers");
  refused(R"({"a":{"dtype":"F64","shape":[1.0],"data_offsets":[0,8]}})",
          "tensor 'a': shape must hold non-negative integers");
  refused(R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,9007199254740993]}})",
          "tensor 'a': data_offsets holds an integer beyond 2^53");
  refused(R"({"a":{"dtype":7,"shape":[1],"data_offsets":[0,8]}})",
          "tensor 'a': dtype must be a string, not a number");
  refused(R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8],"x":1}})",
          "tensor 'a' has an unknown field 'x'");
  refused(R"({"a":{"dtype":"F64","shape":[1]}})",
          "tensor 'a' needs dtype, shape and data_offsets [begin, end]");
  refused(R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}} x)",
          "bad safetensors header at byte");
  refused(R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]})", "bad safetensors header");
  // Deep nesting is refused at its first unexpected level, without building it.
  refused(R"({"a":{"dtype":"F64","shape":)" + std::string(1000000, '['),
          "tensor 'a': shape must be an array of integers, not an array");
}

}  // namespace
